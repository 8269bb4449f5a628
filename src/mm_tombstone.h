/*-------------------------------------------------------------------------
 *
 * mm_tombstone.h
 *		Tombstones: the versions of deleted keys.
 *
 * IDENTIFICATION
 *		src/mm_tombstone.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MM_TOMBSTONE_H
#define MM_TOMBSTONE_H

#include "mm_catalog.h"
#include "mm_version.h"

extern char *mm_key_text(const MMRelInfo *info, TupleTableSlot *slot);
extern bool mm_key_changed(const MMRelInfo *info, TupleTableSlot *oldslot,
						   TupleTableSlot *newslot);
extern bool mm_tombstone_find(const char *table_name, const char *key,
							  MMVersion *v);
extern void mm_tombstone_write(const MMRelInfo *owner, const char *key,
							   const MMVersion *prev, int32 node);
extern void mm_tombstone_order(const char *table_name, MMRelInfo *order);

#endif							/* MM_TOMBSTONE_H */
