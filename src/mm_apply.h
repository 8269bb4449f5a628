/*-------------------------------------------------------------------------
 *
 * mm_apply.h
 *		Deciding and applying an incoming row: find by key, compare, write.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * IDENTIFICATION
 *		src/mm_apply.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MM_APPLY_H
#define MM_APPLY_H

#include "mm_catalog.h"
#include "mm_key.h"
#include "mm_version.h"

typedef enum MMUpsertResult
{
	MM_UPSERT_INSERTED,			/* key was absent: row inserted */
	MM_UPSERT_UPDATED,			/* incoming version newer: row replaced */
	MM_UPSERT_SKIPPED_EQUAL,	/* same version already there (echo) */
	MM_UPSERT_SKIPPED_OLDER,	/* local row is newer */
	MM_UPSERT_SKIPPED_DELETED	/* key's tombstone is newer */
} MMUpsertResult;

/*
 * For a local write through mm_upsert() (a delete's tombstone): the version
 * is computed on the locked existing row, past both it and 'prev'.
 */
typedef struct MMLocalStamp
{
	const MMVersion *prev;
	int32		node;
} MMLocalStamp;

extern void mm_apply_init(void);
extern void mm_apply_note(void);

/* true while the trigger itself writes to 'relid' */
extern bool mm_applying(Oid relid);

/* what mm_find_by_key() found */
typedef enum MMFound
{
	MM_FOUND_NONE,				/* no row of that key */
	MM_FOUND_LOCKED,			/* a row, now locked */
	MM_FOUND_OWN				/* a row this very command wrote: not locked */
} MMFound;

extern MMFound mm_find_by_key(Relation rel, const MMRelInfo *info,
							  LockTupleMode mode, TupleTableSlot *searchslot,
							  TupleTableSlot *outslot);
/*
 * Where the row of a key of a registered table lives: the table itself, or
 * the leaf partition of a partitioned one that holds the key.
 */
typedef struct MMRoute
{
	Relation	rel;			/* the table or the leaf (opened by the route) */
	MMRelInfo  *info;
	TupleTableSlot *keyslot;	/* the key, in rel's row type */
	bool		routed;			/* rel, info and keyslot are the route's own */
} MMRoute;

extern bool mm_route_key(Relation rel, MMRelInfo *info, TupleTableSlot *keyslot,
						 LOCKMODE lockmode, MMRoute *route);
extern void mm_route_end(MMRoute *route);
extern void mm_apply_tombstone_to_row(Relation rel, const MMRelInfo *info,
									  TupleTableSlot *keyslot, const MMVersion *tomb);
extern bool mm_key_present(Relation rel, const MMRelInfo *info,
						   TupleTableSlot *keyslot);
extern bool mm_key_lock_absent(Relation rel, const MMRelInfo *info,
							   TupleTableSlot *keyslot, MMKeyRef *ref);
extern bool mm_apply_insert_is_new(Relation rel, const MMRelInfo *info,
								   TupleTableSlot *slot, MMKeyRef *ref);
extern MMUpsertResult mm_upsert(Relation rel, const MMRelInfo *info,
								TupleTableSlot *newslot, MMKeyRef *ref,
								bool is_tombstone, const MMLocalStamp *stamp);

#endif							/* MM_APPLY_H */
