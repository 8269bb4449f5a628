/*-------------------------------------------------------------------------
 *
 * mm_key.c
 *		Primary-key identity: equality, hashing, a fixed encoding, locks.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * A tombstone must name its key so that every node, whatever its session
 * settings, finds it again for every value its primary key considers equal.
 * Text from output functions cannot do that: TimeZone, DateStyle,
 * extra_float_digits or bytea_output change it, and equal values print
 * differently (numeric 1.0 and 1.00, citext, nondeterministic collations).
 * So a key is identified by:
 *
 *	- a hash from the hash function that belongs with the primary key's own
 *	  equality operator (equal keys hash alike, on every node);
 *	- an encoding of its values by their binary send functions, with the
 *	  client encoding pinned to the database's, so that it depends on no
 *	  setting; two encodings are the same key when their bytes are equal,
 *	  or else when the decoded values are equal under that operator.
 *
 * multimaster._key_hash(row), _key_data(row) and _key_value() give SQL the
 * same identity, for comparing a table's keys across nodes.
 *
 * The same hash serialises the writers of one key (mm_key_lock): a lookup
 * that finds neither row nor tombstone cannot see another transaction's
 * uncommitted tombstone, so it first waits for whoever writes that key.
 * Lock order: the key's row, when it has one, before the key lock.  A
 * writer of an absent key takes the key lock first and then looks again:
 * if the row appeared while it waited, it gives the key lock back
 * (mm_key_unlock) and starts over from the row (mm_key_lock_absent in
 * mm_apply.c).  Holding the key lock of an absent key, it then waits for
 * no row, so two writers of a key cannot wait for each other.
 *
 * Table names used as identity are quoted always, not through
 * quote_identifier(), whose output depends on quote_all_identifiers and on
 * each version's keyword list.
 *
 * IDENTIFICATION
 *		src/mm_key.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "mm_compat.h"
#include "mm_key.h"

/* advisory lock class of key locks; user advisory locks use 1 and 2 */
#define MM_KEYLOCK_CLASS	0x6D6D

/*
 * Describe the primary key 'pk_index' of 'rel'.  With 'identity' (the
 * trigger's use), also how to hash and encode it, with an error naming the
 * column when a key type cannot be identified the same way on every node;
 * without it (the output plugin, which must never fail on a table), only
 * its equality and text output.
 */
void
mm_key_build(MMKeyInfo *key, Relation rel, Oid pk_index, bool identity,
			 MemoryContext cxt)
{
	Relation	idxrel = index_open(pk_index, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	key->ncols = IndexRelationGetNumberOfKeyAttributes(idxrel);
	key->cols = MemoryContextAllocZero(cxt, key->ncols * sizeof(MMKeyCol));

	for (i = 0; i < key->ncols; i++)
	{
		MMKeyCol   *col = &key->cols[i];
		AttrNumber	attnum = idxrel->rd_index->indkey.values[i];
		Form_pg_attribute att;
		Oid			typid;
		Oid			elemtype;
		Oid			eqop;
		RegProcedure hashproc,
					rhs_hashproc;
		Oid			sendfn,
					recvfn,
					outfn;
		bool		isvarlena;

		if (attnum <= 0 && identity)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("primary key of \"%s\" contains an expression",
							RelationGetRelationName(rel))));
		if (attnum <= 0)
		{
			key->ncols = i;		/* compare the leading columns only */
			break;
		}
		att = TupleDescAttr(desc, attnum - 1);
		typid = getBaseType(att->atttypid);

		eqop = get_opfamily_member(idxrel->rd_opfamily[i],
								   idxrel->rd_opcintype[i],
								   idxrel->rd_opcintype[i],
								   BTEqualStrategyNumber);
		if (!OidIsValid(eqop))
			elog(ERROR, "missing equality operator for primary key column %d of \"%s\"",
				 i + 1, RelationGetRelationName(rel));
		getTypeOutputInfo(att->atttypid, &outfn, &isvarlena);
		col->attnum = attnum;
		col->collation = idxrel->rd_indcollation[i];
		fmgr_info_cxt(get_opcode(eqop), &col->eq, cxt);
		fmgr_info_cxt(outfn, &col->out, cxt);
		if (!identity)
			continue;

		/*
		 * Composite and array values are sent with the OIDs of their member
		 * types, which differ between nodes for types created by users.
		 */
		elemtype = get_element_type(typid);
		if (type_is_rowtype(typid) ||
			(OidIsValid(elemtype) && elemtype >= FirstNormalObjectId))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("primary key column \"%s\" of \"%s\" has type %s, which multimaster cannot identify across nodes",
							NameStr(att->attname), RelationGetRelationName(rel),
							format_type_be(att->atttypid)),
					 errdetail("Composite values and arrays of user-defined types carry type OIDs that differ between nodes."),
					 errhint("Use a primary key of scalar columns.")));

		if (!get_op_hash_functions(eqop, &hashproc, &rhs_hashproc))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("primary key column \"%s\" of \"%s\" has type %s, which has no hash function for its equality",
							NameStr(att->attname), RelationGetRelationName(rel),
							format_type_be(att->atttypid)),
					 errdetail("Deleted keys are found again by hashing the primary key with its own equality."),
					 errhint("Use a primary key whose operator class has a hash operator class in the same family.")));

		getTypeBinaryOutputInfo(att->atttypid, &sendfn, &isvarlena);
		getTypeBinaryInputInfo(att->atttypid, &recvfn, &col->recv_ioparam);
		fmgr_info_cxt(hashproc, &col->hash, cxt);
		fmgr_info_cxt(sendfn, &col->send, cxt);
		fmgr_info_cxt(recvfn, &col->recv, cxt);
	}
	index_close(idxrel, AccessShareLock);
}

uint32
mm_key_hash(const MMKeyInfo *key, TupleTableSlot *slot)
{
	uint32		h = 0;
	int			i;

	for (i = 0; i < key->ncols; i++)
	{
		MMKeyCol   *col = &key->cols[i];
		bool		isnull;
		Datum		d = slot_getattr(slot, col->attnum, &isnull);
		uint32		ch = 0;

		if (!isnull)
			ch = DatumGetUInt32(FunctionCall1Coll(&col->hash, col->collation, d));
		h = hash_combine(h, ch);
	}
	return h;
}

/*
 * Send and receive functions of text-like types convert to and from the
 * client encoding; the stored encoding must not depend on it.
 */
static int
pin_client_encoding(void)
{
	int			saved = pg_get_client_encoding();

	if (saved != GetDatabaseEncoding())
		SetClientEncoding(GetDatabaseEncoding());
	return saved;
}

static void
unpin_client_encoding(int saved)
{
	if (saved != GetDatabaseEncoding())
		SetClientEncoding(saved);
}

/*
 * The key's values as (int32 length, send-function bytes) per column, a
 * length of -1 for a NULL.
 */
bytea *
mm_key_encode(const MMKeyInfo *key, TupleTableSlot *slot)
{
	StringInfoData buf;
	int			saved = pin_client_encoding();
	bytea	   *result;
	int			i;

	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, VARHDRSZ);
	PG_TRY();
	{
		for (i = 0; i < key->ncols; i++)
		{
			MMKeyCol   *col = &key->cols[i];
			bool		isnull;
			Datum		d = slot_getattr(slot, col->attnum, &isnull);

			if (isnull)
				pq_sendint32(&buf, -1);
			else
			{
				bytea	   *b = SendFunctionCall(&col->send, d);

				pq_sendint32(&buf, VARSIZE(b) - VARHDRSZ);
				appendBinaryStringInfo(&buf, VARDATA(b), VARSIZE(b) - VARHDRSZ);
				pfree(b);
			}
		}
	}
	PG_FINALLY();
	{
		unpin_client_encoding(saved);
	}
	PG_END_TRY();

	result = (bytea *) buf.data;
	SET_VARSIZE(result, buf.len);
	return result;
}

/*
 * Does the stored encoding 'stored' name the key of the row in 'slot',
 * whose own encoding is 'mine'?  Equal bytes say yes at once; otherwise the stored values are decoded and
 * compared with the key's own equality (1.0 = 1.00, 'A' = 'a' for citext).
 */
bool
mm_key_matches(const MMKeyInfo *key, TupleTableSlot *slot, bytea *mine,
			   bytea *stored)
{
	TupleTableSlot *other;
	bool		equal;

	if (VARSIZE_ANY_EXHDR(stored) == VARSIZE(mine) - VARHDRSZ &&
		memcmp(VARDATA_ANY(stored), VARDATA(mine), VARSIZE(mine) - VARHDRSZ) == 0)
		return true;

	other = MakeSingleTupleTableSlot(slot->tts_tupleDescriptor, &TTSOpsVirtual);
	mm_key_decode(key, stored, other);
	slot_getallattrs(slot);
	equal = mm_key_equal(key, slot->tts_values, slot->tts_isnull,
						 other->tts_values, other->tts_isnull);
	ExecDropSingleTupleTableSlot(other);
	return equal;
}

/*
 * The next column of an encoded key, advancing *p: its bytes and length,
 * or a length of -1 for a NULL.
 */
static const char *
next_part(const char **p, const char *end, int32 *len)
{
	const char *part;

	if (end - *p < 4)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid multimaster key encoding")));
	memcpy(len, *p, 4);
	*len = (int32) pg_ntoh32(*len);
	*p += 4;
	if (*len < 0)
		return NULL;
	if (end - *p < *len)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid multimaster key encoding")));
	part = *p;
	*p += *len;
	return part;
}

/*
 * Put the key encoded in 'stored' into the key columns of 'slot' (a slot of
 * the key's table; its other columns are set NULL) and store it.
 */
void
mm_key_decode(const MMKeyInfo *key, bytea *stored, TupleTableSlot *slot)
{
	const char *p = VARDATA_ANY(stored);
	const char *end = p + VARSIZE_ANY_EXHDR(stored);
	int			saved;
	int			i;

	ExecClearTuple(slot);
	for (i = 0; i < slot->tts_tupleDescriptor->natts; i++)
		slot->tts_isnull[i] = true;

	saved = pin_client_encoding();
	PG_TRY();
	{
		for (i = 0; i < key->ncols; i++)
		{
			MMKeyCol   *col = &key->cols[i];
			int32		len;
			const char *part = next_part(&p, end, &len);
			StringInfoData vbuf;

			if (part == NULL)
				continue;
			initStringInfo(&vbuf);
			appendBinaryStringInfo(&vbuf, part, len);
			slot->tts_values[col->attnum - 1] =
				ReceiveFunctionCall(&col->recv, &vbuf, col->recv_ioparam, -1);
			slot->tts_isnull[col->attnum - 1] = false;
		}
	}
	PG_FINALLY();
	{
		unpin_client_encoding(saved);
	}
	PG_END_TRY();
	ExecStoreVirtualTuple(slot);
}

/* Are two keys, given as full rows of values, equal under the key's equality? */
bool
mm_key_equal(const MMKeyInfo *key, Datum *values1, bool *nulls1,
			 Datum *values2, bool *nulls2)
{
	int			i;

	for (i = 0; i < key->ncols; i++)
	{
		MMKeyCol   *col = &key->cols[i];
		int			a = col->attnum - 1;

		if (nulls1[a] || nulls2[a])
		{
			if (nulls1[a] != nulls2[a])
				return false;
			continue;
		}
		if (!DatumGetBool(FunctionCall2Coll(&col->eq, col->collation,
											values1[a], values2[a])))
			return false;
	}
	return true;
}

bool
mm_key_equal_slots(const MMKeyInfo *key, TupleTableSlot *a, TupleTableSlot *b)
{
	slot_getallattrs(a);
	slot_getallattrs(b);
	return mm_key_equal(key, a->tts_values, a->tts_isnull,
						b->tts_values, b->tts_isnull);
}

static void
append_key_part(StringInfo buf, const char *val)
{
	const char *p;
	bool		quote = (*val == '\0');

	for (p = val; *p && !quote; p++)
		if (*p == '"' || *p == '\\' || *p == '(' || *p == ')' || *p == ',' ||
			isspace((unsigned char) *p))
			quote = true;

	if (!quote)
	{
		appendStringInfoString(buf, val);
		return;
	}
	appendStringInfoChar(buf, '"');
	for (p = val; *p; p++)
	{
		if (*p == '"' || *p == '\\')
			appendStringInfoChar(buf, *p);
		appendStringInfoChar(buf, *p);
	}
	appendStringInfoChar(buf, '"');
}

/*
 * The key as text for people (messages, the conflict log, the tombstone's
 * key column): a single column as its type prints it, several like a
 * record literal.  It follows the session's settings, so it is never used
 * to find anything.
 */
char *
mm_key_text(const MMKeyInfo *key, TupleTableSlot *slot)
{
	StringInfoData buf;
	int			i;

	if (key->ncols == 1)
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, key->cols[0].attnum, &isnull);

		return isnull ? pstrdup("") : OutputFunctionCall(&key->cols[0].out, d);
	}

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	for (i = 0; i < key->ncols; i++)
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, key->cols[i].attnum, &isnull);

		if (i > 0)
			appendStringInfoChar(&buf, ',');
		if (!isnull)
			append_key_part(&buf, OutputFunctionCall(&key->cols[i].out, d));
	}
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * The key as an SQL text array, ARRAY['v1', 'v2'], one element per key
 * column in its output form: for messages that tell the user what to call
 * (the functions taking a key read it back with the columns' input
 * functions).
 */
char *
mm_key_array_literal(const MMKeyInfo *key, TupleTableSlot *slot)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "ARRAY[");
	for (i = 0; i < key->ncols; i++)
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, key->cols[i].attnum, &isnull);

		if (i > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, isnull ? "NULL" :
							   quote_literal_cstr(OutputFunctionCall(&key->cols[i].out, d)));
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

/*
 * A virtual slot of 'rel' holding the key given as one text value per key
 * column (read with the columns' input functions and this session's
 * settings); the other columns are NULL.  The caller drops the slot.
 */
TupleTableSlot *
mm_key_slot_from_text(Relation rel, const MMKeyInfo *key, ArrayType *arr)
{
	Datum	   *elems;
	bool	   *elem_nulls;
	int			nelems;
	TupleTableSlot *slot;
	int			i;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("a key must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &elem_nulls, &nelems);
	if (nelems != key->ncols)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("primary key of \"%s\" has %d columns, %d values given",
						RelationGetRelationName(rel), key->ncols, nelems)));

	slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsVirtual);
	ExecClearTuple(slot);
	for (i = 0; i < slot->tts_tupleDescriptor->natts; i++)
		slot->tts_isnull[i] = true;
	for (i = 0; i < key->ncols; i++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel),
											  key->cols[i].attnum - 1);
		Oid			infunc,
					ioparam;

		if (elem_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("primary key values must not be NULL")));
		getTypeInputInfo(att->atttypid, &infunc, &ioparam);
		slot->tts_values[key->cols[i].attnum - 1] =
			OidInputFunctionCall(infunc, TextDatumGetCString(elems[i]),
								 ioparam, att->atttypmod);
		slot->tts_isnull[key->cols[i].attnum - 1] = false;
	}
	ExecStoreVirtualTuple(slot);
	return slot;
}

void
mm_keyref_init(MMKeyRef *ref, const MMKeyInfo *key, TupleTableSlot *slot)
{
	memset(ref, 0, sizeof(MMKeyRef));
	ref->key = key;
	ref->slot = slot;
}

uint32
mm_keyref_hash(MMKeyRef *ref)
{
	if (!ref->has_hash)
	{
		Assert(ref->key);
		ref->hash = mm_key_hash(ref->key, ref->slot);
		ref->has_hash = true;
	}
	return ref->hash;
}

bytea *
mm_keyref_data(MMKeyRef *ref)
{
	if (ref->data == NULL)
	{
		Assert(ref->key);
		ref->data = mm_key_encode(ref->key, ref->slot);
	}
	return ref->data;
}

const char *
mm_keyref_text(MMKeyRef *ref)
{
	if (ref->text == NULL)
		ref->text = ref->key ? mm_key_text(ref->key, ref->slot) : pstrdup("");
	return ref->text;
}

static void
append_quoted(StringInfo buf, const char *name)
{
	const char *p;

	appendStringInfoChar(buf, '"');
	for (p = name; *p; p++)
	{
		if (*p == '"')
			appendStringInfoChar(buf, '"');
		appendStringInfoChar(buf, *p);
	}
	appendStringInfoChar(buf, '"');
}

/* "schema"."table", always quoted: the name tombstones are stored under */
char *
mm_table_ident(Oid nspid, const char *relname)
{
	StringInfoData buf;
	char	   *nspname = get_namespace_name(nspid);

	if (nspname == NULL)
		elog(ERROR, "cache lookup failed for namespace %u", nspid);
	initStringInfo(&buf);
	append_quoted(&buf, nspname);
	appendStringInfoChar(&buf, '.');
	append_quoted(&buf, relname);
	return buf.data;
}

uint32
mm_table_hash(const char *ident)
{
	return hash_bytes((const unsigned char *) ident, strlen(ident));
}

/*
 * Serialise the writers of one key until the end of the transaction.  Two
 * different keys may share a lock (a hash collision): they then merely
 * wait for each other.
 *
 * A transaction that writes many keys of one table (a bulk INSERT or
 * DELETE, an initial copy) would fill the lock table with one lock per
 * key, so after MM_KEYLOCK_ESCALATE keys of a table it takes one lock on
 * the whole table instead.  Every writer of a key therefore also holds the
 * table's lock in a mode that conflicts with the escalated one only: key
 * writers do not block each other through it.
 */
#define MM_TABLELOCK_CLASS	0x6D6E
#define MM_KEYLOCK_ESCALATE 64

typedef struct MMKeyLockCount
{
	uint32		table_hash;		/* hash key */
	int			nkeys;
	bool		escalated;
} MMKeyLockCount;

static HTAB *keylock_counts = NULL;	/* in TopTransactionContext */
static bool keylock_callbacks = false;

static void
keylock_xact_callback(XactEvent event, void *arg)
{
	keylock_counts = NULL;		/* freed with TopTransactionContext */
}

/* a subtransaction's locks go when it aborts: count again from scratch */
static void
keylock_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && keylock_counts != NULL)
	{
		hash_destroy(keylock_counts);
		keylock_counts = NULL;
	}
}

static MMKeyLockResult
key_lock(uint32 table_hash, uint32 key_hash, bool wait)
{
	LOCKTAG		tag;
	MMKeyLockCount *entry;
	bool		found;
	LockAcquireResult res;

	if (!keylock_callbacks)
	{
		RegisterXactCallback(keylock_xact_callback, NULL);
		RegisterSubXactCallback(keylock_subxact_callback, NULL);
		keylock_callbacks = true;
	}
	if (keylock_counts == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(uint32);
		ctl.entrysize = sizeof(MMKeyLockCount);
		ctl.hcxt = TopTransactionContext;
		keylock_counts = hash_create("multimaster key locks", 16, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = hash_search(keylock_counts, &table_hash, HASH_ENTER, &found);
	if (!found)
	{
		entry->nkeys = 0;
		entry->escalated = false;
	}
	if (entry->escalated)
		return MM_KEYLOCK_HELD;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, table_hash, 0, MM_TABLELOCK_CLASS);
	if (entry->nkeys >= MM_KEYLOCK_ESCALATE)
	{
		if (LockAcquire(&tag, ExclusiveLock, false, !wait) == LOCKACQUIRE_NOT_AVAIL)
			return MM_KEYLOCK_BUSY;
		entry->escalated = true;
		return MM_KEYLOCK_HELD;
	}
	if (LockAcquire(&tag, RowExclusiveLock, false, !wait) == LOCKACQUIRE_NOT_AVAIL)
		return MM_KEYLOCK_BUSY;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, table_hash, key_hash,
						 MM_KEYLOCK_CLASS);
	res = LockAcquire(&tag, ExclusiveLock, false, !wait);
	if (res == LOCKACQUIRE_NOT_AVAIL)
	{
		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, table_hash, 0, MM_TABLELOCK_CLASS);
		(void) LockRelease(&tag, RowExclusiveLock, false);
		return MM_KEYLOCK_BUSY;
	}
	if (res != LOCKACQUIRE_OK)
		return MM_KEYLOCK_HELD;
	entry->nkeys++;
	return MM_KEYLOCK_TAKEN;
}

/*
 * Returns true when this call took the key's own lock, which the
 * transaction did not hold before: only then may mm_key_unlock() give it
 * back.  false when it was held already, or the table's lock covers it.
 */
bool
mm_key_lock(uint32 table_hash, uint32 key_hash)
{
	return key_lock(table_hash, key_hash, true) == MM_KEYLOCK_TAKEN;
}

/*
 * mm_key_lock() if the lock is free now; MM_KEYLOCK_BUSY, holding nothing
 * more, if another transaction holds it (or the table's).
 */
MMKeyLockResult
mm_key_trylock(uint32 table_hash, uint32 key_hash)
{
	return key_lock(table_hash, key_hash, false);
}

/*
 * Give back a key lock that mm_key_lock() took (it returned true), before
 * the end of the transaction: for a writer that took it for an absent key
 * and then found a row of the key after all.  Row locks come before key
 * locks, so that writer must not wait for the row while holding the key.
 */
void
mm_key_unlock(uint32 table_hash, uint32 key_hash)
{
	LOCKTAG		tag;
	MMKeyLockCount *entry;

	entry = keylock_counts == NULL ? NULL :
		hash_search(keylock_counts, &table_hash, HASH_FIND, NULL);
	if (entry == NULL || entry->escalated || entry->nkeys == 0)
		elog(ERROR, "multimaster key lock %u/%u is not held", table_hash, key_hash);

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, table_hash, key_hash,
						 MM_KEYLOCK_CLASS);
	if (!LockRelease(&tag, ExclusiveLock, false))
		elog(ERROR, "multimaster key lock %u/%u is not held", table_hash, key_hash);
	entry->nkeys--;
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, table_hash, 0, MM_TABLELOCK_CLASS);
	(void) LockRelease(&tag, RowExclusiveLock, false);
}

/*
 * Does this transaction hold the whole-table key lock of 'table_hash'?
 * Then no other transaction writes an absent key of that table, nor a
 * tombstone of it, until this one ends.
 */
bool
mm_key_table_locked(uint32 table_hash)
{
	MMKeyLockCount *entry;

	if (keylock_counts == NULL)
		return false;
	entry = hash_search(keylock_counts, &table_hash, HASH_FIND, NULL);
	return entry != NULL && entry->escalated;
}

/*
 * SQL access to a row's key identity, for statements that compare a table
 * across nodes (compare_table_keys(), repair_table()): every node computes
 * the same hash and encoding for equal keys, whatever its settings.
 */
typedef struct MMRowKeyCache
{
	Oid			typid;			/* row type the rest was built for */
	MMKeyInfo	key;
	TupleTableSlot *slot;
	HeapTupleData tuple;		/* the current row, stored in slot */
} MMRowKeyCache;

/* The row argument in a slot of its table, with the table's key. */
static MMRowKeyCache *
row_key(FunctionCallInfo fcinfo)
{
	HeapTupleHeader td = PG_GETARG_HEAPTUPLEHEADER(0);
	Oid			typid = HeapTupleHeaderGetTypeId(td);
	MMRowKeyCache *c = fcinfo->flinfo->fn_extra;

	if (c == NULL || c->typid != typid)
	{
		MemoryContext cxt = fcinfo->flinfo->fn_mcxt;
		MemoryContext old;
		Oid			relid = get_typ_typrelid(typid);
		Relation	rel;
		Oid			pk_index;

		if (!OidIsValid(relid) ||
			(get_rel_relkind(relid) != RELKIND_RELATION &&
			 get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE))
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("multimaster key identity needs a row of a table, not a value of type %s",
							format_type_be(typid)),
					 errdetail("The key is found through the primary key of the row's table."),
					 errhint("Pass the table's whole row, as in f(t) FROM tbl t.")));
		rel = relation_open(relid, AccessShareLock);
		pk_index = mm_primary_key_index(rel);
		if (!OidIsValid(pk_index))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table \"%s\" has no primary key", RelationGetRelationName(rel)),
					 errdetail("Keys are identified by the values of the primary key columns."),
					 errhint("Add a primary key to the table.")));
		if (c != NULL)
			ExecDropSingleTupleTableSlot(c->slot);
		else
			c = MemoryContextAllocZero(cxt, sizeof(MMRowKeyCache));
		mm_key_build(&c->key, rel, pk_index, true, cxt);
		old = MemoryContextSwitchTo(cxt);
		c->slot = MakeSingleTupleTableSlot(CreateTupleDescCopy(RelationGetDescr(rel)),
										   &TTSOpsHeapTuple);
		MemoryContextSwitchTo(old);
		relation_close(rel, AccessShareLock);
		c->typid = typid;
		fcinfo->flinfo->fn_extra = c;
	}
	c->tuple.t_len = HeapTupleHeaderGetDatumLength(td);
	ItemPointerSetInvalid(&c->tuple.t_self);
	c->tuple.t_tableOid = InvalidOid;
	c->tuple.t_data = td;
	ExecStoreHeapTuple(&c->tuple, c->slot, false);
	return c;
}

/*
 * multimaster._key_hash(row record) -> integer: the hash of the row's
 * primary key under its own equality, as in multimaster.tombstones.
 */
PG_FUNCTION_INFO_V1(mm_key_hash_sql);
Datum
mm_key_hash_sql(PG_FUNCTION_ARGS)
{
	MMRowKeyCache *c = row_key(fcinfo);

	PG_RETURN_INT32((int32) mm_key_hash(&c->key, c->slot));
}

/*
 * multimaster._key_data(row record) -> bytea: the row's primary key in the
 * fixed binary encoding of multimaster.tombstones.
 */
PG_FUNCTION_INFO_V1(mm_key_data_sql);
Datum
mm_key_data_sql(PG_FUNCTION_ARGS)
{
	MMRowKeyCache *c = row_key(fcinfo);

	PG_RETURN_BYTEA_P(mm_key_encode(&c->key, c->slot));
}

/*
 * multimaster._key_value(key_data bytea, col integer, type_of anyelement)
 *		-> anyelement
 * Column 'col' (from 1) of an encoded key, as a value of the type of
 * 'type_of' (a NULL of the column's type): what a statement compares the
 * table's key columns with, by their own equality, to find the row of a key.
 */
PG_FUNCTION_INFO_V1(mm_key_value_sql);
Datum
mm_key_value_sql(PG_FUNCTION_ARGS)
{
	Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, 2);
	bytea	   *stored;
	int32		col;
	const char *p;
	const char *end;
	const char *part = NULL;
	int32		len = -1;
	int			i;
	Oid			recvfn,
				ioparam;
	StringInfoData vbuf;
	int			saved;
	Datum		result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (!OidIsValid(typid))
		elog(ERROR, "could not determine the type of the key value");
	stored = PG_GETARG_BYTEA_PP(0);
	col = PG_GETARG_INT32(1);
	p = VARDATA_ANY(stored);
	end = p + VARSIZE_ANY_EXHDR(stored);
	if (col < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key column number must be at least 1")));
	for (i = 1; i <= col; i++)
		part = next_part(&p, end, &len);
	if (part == NULL)
		PG_RETURN_NULL();

	getTypeBinaryInputInfo(typid, &recvfn, &ioparam);
	initStringInfo(&vbuf);
	appendBinaryStringInfo(&vbuf, part, len);
	saved = pin_client_encoding();
	PG_TRY();
	{
		result = OidReceiveFunctionCall(recvfn, &vbuf, ioparam, -1);
		if (vbuf.cursor != vbuf.len)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("column %d of the multimaster key is not a value of type %s",
							col, format_type_be(typid)),
					 errdetail("Its encoding has %d bytes left over.", vbuf.len - vbuf.cursor),
					 errhint("Give a NULL of the key column's own type.")));
	}
	PG_FINALLY();
	{
		unpin_client_encoding(saved);
	}
	PG_END_TRY();
	PG_RETURN_DATUM(result);
}
