/*-------------------------------------------------------------------------
 *
 * mm_conflict.h
 *		The conflict log (multimaster.conflicts).
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * IDENTIFICATION
 *		src/mm_conflict.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MM_CONFLICT_H
#define MM_CONFLICT_H

#include "executor/tuptable.h"

#include "mm_catalog.h"
#include "mm_version.h"

extern bool mm_log_conflicts;
extern bool mm_log_conflict_rows;

extern bool mm_is_conflict(const MMVersion *remote, const MMVersion *local,
						   bool remote_wins);
extern void mm_log_conflict(const char *table_name, const char *key,
							const char *kind, const char *resolution,
							const MMVersion *local, TupleTableSlot *localslot,
							const MMVersion *remote, TupleTableSlot *remoteslot);

#endif							/* MM_CONFLICT_H */
