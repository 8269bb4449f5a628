/*-------------------------------------------------------------------------
 *
 * mm_tombstone.h
 *		Tombstones: the versions of deleted keys.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * IDENTIFICATION
 *		src/mm_tombstone.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MM_TOMBSTONE_H
#define MM_TOMBSTONE_H

#include "mm_catalog.h"
#include "mm_key.h"
#include "mm_version.h"

/* columns of multimaster.tombstones */
#define Anum_tomb_table_name	1
#define Anum_tomb_key_hash		2
#define Anum_tomb_key_data		3
#define Anum_tomb_key			4
#define Anum_tomb_origin		5
#define Anum_tomb_version		6
#define Anum_tomb_generation	7
#define Natts_tomb				7

extern void mm_tombstone_init(void);
extern bool mm_tombstones_none(const MMRelInfo *info);
extern void mm_tombstones_written(void);
extern bool mm_tombstone_find(const MMRelInfo *info, MMKeyRef *ref,
							  MMVersion *v);
extern void mm_tombstone_write(const MMRelInfo *owner, MMKeyRef *ref,
							   const MMVersion *prev, int32 node);
extern Oid	mm_tombstone_order(const char *table_ident, MMRelInfo *order);

#endif							/* MM_TOMBSTONE_H */
