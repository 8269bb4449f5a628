/*-------------------------------------------------------------------------
 *
 * mm_key.h
 *		Primary-key identity: equality, hashing, a fixed encoding, locks.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * IDENTIFICATION
 *		src/mm_key.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MM_KEY_H
#define MM_KEY_H

#include "access/htup.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/rel.h"

/* One column of a primary key, with the functions of its operator class. */
typedef struct MMKeyCol
{
	AttrNumber	attnum;
	Oid			collation;		/* the index column's collation */
	FmgrInfo	eq;				/* the PK opclass's equality */
	FmgrInfo	hash;			/* a hash function consistent with eq */
	FmgrInfo	send;			/* binary output: the stored encoding */
	FmgrInfo	recv;
	Oid			recv_ioparam;
	FmgrInfo	out;			/* text output, for messages only */
} MMKeyCol;

typedef struct MMKeyInfo
{
	int			ncols;
	MMKeyCol   *cols;
} MMKeyInfo;

/*
 * One key of one row, its identity computed on first use: most writes need
 * none of it (a key that exists), the rest only the hash (no tombstone).
 */
typedef struct MMKeyRef
{
	const MMKeyInfo *key;		/* NULL: only 'text' is known */
	TupleTableSlot *slot;
	bool		has_hash;
	uint32		hash;
	bytea	   *data;
	char	   *text;
} MMKeyRef;

extern void mm_keyref_init(MMKeyRef *ref, const MMKeyInfo *key,
						   TupleTableSlot *slot);
extern uint32 mm_keyref_hash(MMKeyRef *ref);
extern bytea *mm_keyref_data(MMKeyRef *ref);
extern const char *mm_keyref_text(MMKeyRef *ref);

extern void mm_key_build(MMKeyInfo *key, Relation rel, Oid pk_index,
						 bool identity, MemoryContext cxt);

extern uint32 mm_key_hash(const MMKeyInfo *key, TupleTableSlot *slot);
extern bytea *mm_key_encode(const MMKeyInfo *key, TupleTableSlot *slot);
extern bool mm_key_matches(const MMKeyInfo *key, TupleTableSlot *slot,
						   bytea *mine, bytea *stored);
extern void mm_key_decode(const MMKeyInfo *key, bytea *stored,
						  TupleTableSlot *slot);
extern bool mm_key_equal(const MMKeyInfo *key,
						 Datum *values1, bool *nulls1,
						 Datum *values2, bool *nulls2);
extern bool mm_key_equal_slots(const MMKeyInfo *key, TupleTableSlot *a,
							   TupleTableSlot *b);
extern char *mm_key_text(const MMKeyInfo *key, TupleTableSlot *slot);
extern char *mm_key_array_literal(const MMKeyInfo *key, TupleTableSlot *slot);
extern TupleTableSlot *mm_key_slot_from_text(Relation rel, const MMKeyInfo *key,
											  ArrayType *arr);

extern char *mm_table_ident(Oid nspid, const char *relname);
extern uint32 mm_table_hash(const char *ident);
/* what mm_key_trylock() did */
typedef enum MMKeyLockResult
{
	MM_KEYLOCK_TAKEN,			/* took the key's lock: mm_key_unlock() may
								 * give it back */
	MM_KEYLOCK_HELD,			/* held already (or the table's lock) */
	MM_KEYLOCK_BUSY				/* another transaction holds it: not taken */
} MMKeyLockResult;

extern bool mm_key_lock(uint32 table_hash, uint32 key_hash);
extern MMKeyLockResult mm_key_trylock(uint32 table_hash, uint32 key_hash);
extern void mm_key_unlock(uint32 table_hash, uint32 key_hash);
extern bool mm_key_table_locked(uint32 table_hash);

#endif							/* MM_KEY_H */
