/*-------------------------------------------------------------------------
 *
 * mm_version.h
 *		Row versions, the hybrid logical clock, and the policies' orders.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * IDENTIFICATION
 *		src/mm_version.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MM_VERSION_H
#define MM_VERSION_H

#include "access/htup.h"
#include "executor/tuptable.h"
#include "utils/timestamp.h"

#include "mm_catalog.h"

/*
 * The version of a row or tombstone: who wrote it, its clock value and its
 * generation (number of writes in its history).  A row that predates
 * multimaster has no version and sorts below every versioned one.
 */
typedef struct MMVersion
{
	bool		isnull;
	int32		origin;
	TimestampTz ts;
	int64		generation;
} MMVersion;

extern int	mm_max_future_version;

extern void mm_version_from_slot(TupleTableSlot *slot, const MMRelInfo *info,
								 MMVersion *v);
extern void mm_version_from_values(Datum origin, bool origin_null,
								   Datum ts, bool ts_null,
								   Datum gen, bool gen_null, MMVersion *v);
extern int	mm_version_cmp(const MMVersion *a, const MMVersion *b,
						   const MMRelInfo *info);
extern bool mm_version_equal(const MMVersion *a, const MMVersion *b);
extern void mm_version_next(const MMRelInfo *info, TupleTableSlot *newslot,
							const MMVersion *prev, int32 node_id,
							MMVersion *next);

#endif							/* MM_VERSION_H */
