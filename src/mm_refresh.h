/*-------------------------------------------------------------------------
 *
 * mm_refresh.h
 *		Subscription refresh after multimaster.add_table(), in the background.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * IDENTIFICATION
 *		src/mm_refresh.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MM_REFRESH_H
#define MM_REFRESH_H

extern bool mm_auto_refresh;

#endif							/* MM_REFRESH_H */
