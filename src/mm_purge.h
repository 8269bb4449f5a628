/*-------------------------------------------------------------------------
 *
 * mm_purge.h
 *		Tombstone purge behind a horizon every peer has passed.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * IDENTIFICATION
 *		src/mm_purge.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MM_PURGE_H
#define MM_PURGE_H

#include "datatype/timestamp.h"

extern int	mm_tombstone_retention;
extern int	mm_conflict_retention;
extern int	mm_purge_wait;

extern int64 mm_purge(Interval *older_than, int elevel);
extern void mm_purge_worker_ensure(void);

#endif							/* MM_PURGE_H */
