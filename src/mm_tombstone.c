/*-------------------------------------------------------------------------
 *
 * mm_tombstone.c
 *		Tombstones: the versions of deleted keys.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * A DELETE message carries only a key, so a delete would otherwise have no
 * version to compare.  The local delete writes (table, key, version) into
 * multimaster.tombstones in the same transaction; the tombstone row is
 * replicated like any other and reaches each peer ahead of the delete.  A
 * receiver deletes its row only if the tombstone is newer than it, and
 * drops an incoming row that is not newer than the tombstone of its key.
 *
 * A tombstone names its table as "schema"."table" and its key by value
 * (mm_key.c): the hash of the key under its own equality, and its values'
 * binary encoding.  Equal keys with different encodings (numeric 1.0 and
 * 1.00) may each have a tombstone; a lookup takes the newest of all the
 * tombstones whose key equals the row's, so they still act as one.  The
 * key column holds the key as text for people and is never looked at.
 *
 * Writers of a key's tombstone hold the key lock (mm_key_lock) until they
 * commit, so that a writer finding neither row nor tombstone waits for
 * them instead of missing an uncommitted tombstone.
 *
 * Reads and writes go straight to the heap and index, not through SPI: no
 * planning per delete, and no privileges on the tombstone table needed by
 * the roles whose writes fire the trigger.
 *
 * IDENTIFICATION
 *		src/mm_tombstone.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/skey.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"

#include "mm_apply.h"
#include "mm_compat.h"
#include "mm_key.h"
#include "mm_purge.h"
#include "mm_tombstone.h"

/*
 * Look up the tombstones of the key 'ref' of the table described by 'info',
 * and return in 'v' the newest under the table's policy.
 *
 * SnapshotSelf sees committed tombstones and those written earlier in this
 * transaction (the apply worker writes the tombstone one step before the
 * delete it precedes); one written by a transaction still in progress is
 * waited for by the key lock instead.  It is also cheaper than taking an
 * MVCC snapshot per lookup, which measurably slows the apply worker.
 */
bool
mm_tombstone_find(const MMRelInfo *info, MMKeyRef *ref, MMVersion *v)
{
	Relation	rel;
	Relation	idxrel;
	IndexScanDesc scan;
	ScanKeyData skey[2];
	TupleTableSlot *slot;
	bool		found = false;

	rel = table_open(mm_tombstones_relid(), AccessShareLock);
	idxrel = index_open(mm_primary_key_index(rel), AccessShareLock);

	ScanKeyInit(&skey[0], 1, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(info->table_ident));
	skey[0].sk_collation = idxrel->rd_indcollation[0];
	ScanKeyInit(&skey[1], 2, BTEqualStrategyNumber, F_INT4EQ,
				Int32GetDatum((int32) mm_keyref_hash(ref)));

	slot = table_slot_create(rel, NULL);
	scan = mm_index_beginscan(rel, idxrel, SnapshotSelf, 2, 0);
	index_rescan(scan, skey, 2, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		bytea	   *stored;
		MMVersion	cand;

		stored = DatumGetByteaPP(slot_getattr(slot, Anum_tomb_key_data, &isnull));
		if (isnull || !mm_key_matches(ref->key, ref->slot, mm_keyref_data(ref), stored))
			continue;
		slot_getallattrs(slot);
		mm_version_from_values(slot->tts_values[Anum_tomb_origin - 1],
							   slot->tts_isnull[Anum_tomb_origin - 1],
							   slot->tts_values[Anum_tomb_version - 1],
							   slot->tts_isnull[Anum_tomb_version - 1],
							   slot->tts_values[Anum_tomb_generation - 1],
							   slot->tts_isnull[Anum_tomb_generation - 1],
							   &cand);
		if (!found || mm_version_cmp(&cand, v, info) > 0)
			*v = cand;
		found = true;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idxrel, AccessShareLock);
	table_close(rel, AccessShareLock);

	return found;
}

/*
 * Tables of which this transaction found no tombstone at all while holding
 * their whole-table key lock (mm_key.c): a bulk write of many keys of one
 * table then looks the table up once, not each key.  The lock keeps other
 * transactions from writing a tombstone of the table until this one ends;
 * this one's own tombstone writes forget the list (mm_tombstones_written).
 * In TopTransactionContext.
 */
static List *tombless_tables = NIL;
static bool tombless_callback = false;

static void
tombless_xact_callback(XactEvent event, void *arg)
{
	tombless_tables = NIL;		/* freed with TopTransactionContext */
}

/* Has the table no tombstone, as far as this transaction can be sure? */
bool
mm_tombstones_none(const MMRelInfo *info)
{
	Relation	rel;
	Relation	idxrel;
	IndexScanDesc scan;
	ScanKeyData skey;
	TupleTableSlot *slot;
	bool		none;

	if (!mm_key_table_locked(info->table_hash))
		return false;
	if (list_member_oid(tombless_tables, info->root_relid))
		return true;

	rel = table_open(mm_tombstones_relid(), AccessShareLock);
	idxrel = index_open(mm_primary_key_index(rel), AccessShareLock);
	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(info->table_ident));
	skey.sk_collation = idxrel->rd_indcollation[0];
	slot = table_slot_create(rel, NULL);
	scan = mm_index_beginscan(rel, idxrel, SnapshotSelf, 1, 0);
	index_rescan(scan, &skey, 1, NULL, 0);
	none = !index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idxrel, AccessShareLock);
	table_close(rel, AccessShareLock);

	if (none)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		if (!tombless_callback)
		{
			RegisterXactCallback(tombless_xact_callback, NULL);
			tombless_callback = true;
		}
		tombless_tables = lappend_oid(tombless_tables, info->root_relid);
		MemoryContextSwitchTo(old);
	}
	return none;
}

/* A tombstone was written by this transaction: forget what was found. */
void
mm_tombstones_written(void)
{
	tombless_tables = NIL;
}

/*
 * The ordering of each table's tombstones, by "schema"."table", so that an
 * incoming tombstone costs no name lookup.  Dropped whole on any relcache
 * invalidation (a rename, a new trigger, a policy change all send one).
 */
#define MM_IDENT_MAX	(4 * NAMEDATALEN + 8)

typedef struct MMTombOrder
{
	char		ident[MM_IDENT_MAX];	/* hash key */
	MMPolicy	policy;
	int32		priority_node;
	Oid			relid;			/* the table, when it has the trigger here */
} MMTombOrder;

static HTAB *tomb_orders = NULL;

static void
tomb_order_invalidate(Datum arg, Oid relid)
{
	if (tomb_orders != NULL)
	{
		hash_destroy(tomb_orders);
		tomb_orders = NULL;
	}
}

void
mm_tombstone_init(void)
{
	CacheRegisterRelcacheCallback(tomb_order_invalidate, (Datum) 0);
}

/*
 * Ordering of the tombstones of 'table_ident': that table's policy, or
 * last_update_wins when it has no multimaster trigger here.  Returns the
 * table's OID when it has that trigger, else InvalidOid.
 */
Oid
mm_tombstone_order(const char *table_ident, MMRelInfo *order)
{
	List	   *names;
	Oid			relid;
	Oid			result = InvalidOid;
	MMTombOrder *entry = NULL;
	bool		found;

	if (strlen(table_ident) < MM_IDENT_MAX)
	{
		if (tomb_orders == NULL)
		{
			HASHCTL		ctl;

			ctl.keysize = MM_IDENT_MAX;
			ctl.entrysize = sizeof(MMTombOrder);
			ctl.hcxt = CacheMemoryContext;
			tomb_orders = hash_create("multimaster tombstone orders", 64, &ctl,
									  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		}
		entry = hash_search(tomb_orders, table_ident, HASH_FIND, &found);
		if (entry)
		{
			order->policy = entry->policy;
			order->priority_node = entry->priority_node;
			return entry->relid;
		}
	}

	order->policy = MM_POLICY_LAST_UPDATE_WINS;
	order->priority_node = 0;

	names = textToQualifiedNameList(cstring_to_text(table_ident));
	relid = RangeVarGetRelid(makeRangeVarFromNameList(names), AccessShareLock, true);
	if (OidIsValid(relid))
	{
		Relation	rel = table_open(relid, NoLock);
		TriggerDesc *td = rel->trigdesc;
		int			i;

		for (i = 0; td && i < td->numtriggers; i++)
		{
			if (strcmp(td->triggers[i].tgname, MM_TRIGGER_NAME) == 0)
			{
				MMRelInfo  *info = mm_relinfo_get(rel, &td->triggers[i]);

				order->policy = info->policy;
				order->priority_node = info->priority_node;
				result = relid;
				break;
			}
		}
		table_close(rel, NoLock);
	}

	/* opening the table may have processed invalidations: enter it last */
	if (strlen(table_ident) < MM_IDENT_MAX && tomb_orders != NULL)
	{
		entry = hash_search(tomb_orders, table_ident, HASH_ENTER, &found);
		entry->policy = order->policy;
		entry->priority_node = order->priority_node;
		entry->relid = result;
	}
	return result;
}

/*
 * Record the local delete of the key 'ref' of the table described by
 * 'owner', whose row had version 'prev'.  The tombstone's version is made
 * past both that and any tombstone the key already has, on the locked
 * tombstone row; the owner's policy orders them.
 */
void
mm_tombstone_write(const MMRelInfo *owner, MMKeyRef *ref,
				   const MMVersion *prev, int32 node)
{
	Relation	rel;
	MMRelInfo	info;
	TupleTableSlot *slot;
	MMLocalStamp stamp;
	MMKeyRef	tref;

	mm_key_lock(owner->table_hash, mm_keyref_hash(ref));
	mm_purge_worker_ensure();

	rel = table_open(mm_tombstones_relid(), RowExclusiveLock);
	info = *mm_relinfo_get(rel, NULL);
	info.policy = owner->policy;
	info.priority_node = owner->priority_node;
	info.source = owner->source;	/* a column source falls back to the clock */

	slot = table_slot_create(rel, NULL);
	ExecClearTuple(slot);
	memset(slot->tts_isnull, 0, Natts_tomb * sizeof(bool));
	slot->tts_values[Anum_tomb_table_name - 1] = CStringGetTextDatum(owner->table_ident);
	slot->tts_values[Anum_tomb_key_hash - 1] = Int32GetDatum((int32) mm_keyref_hash(ref));
	slot->tts_values[Anum_tomb_key_data - 1] = PointerGetDatum(mm_keyref_data(ref));
	slot->tts_values[Anum_tomb_key - 1] = CStringGetTextDatum(mm_keyref_text(ref));
	slot->tts_isnull[Anum_tomb_origin - 1] = true;
	slot->tts_isnull[Anum_tomb_version - 1] = true;
	slot->tts_isnull[Anum_tomb_generation - 1] = true;
	ExecStoreVirtualTuple(slot);

	stamp.prev = prev;
	stamp.node = node;
	memset(&tref, 0, sizeof(tref));
	tref.text = (char *) mm_keyref_text(ref);
	(void) mm_upsert(rel, &info, slot, &tref, true, &stamp);

	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
}

static Relation
open_table_arg(Oid relid, LOCKMODE lockmode)
{
	Relation	rel = try_relation_open(relid, lockmode);

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	return rel;
}

/*
 * multimaster._table_name(regclass): the name tombstones of the table are
 * stored under.
 */
PG_FUNCTION_INFO_V1(mm_table_name_sql);
Datum
mm_table_name_sql(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	PG_RETURN_TEXT_P(cstring_to_text(mm_table_ident(get_rel_namespace(relid), relname)));
}

/*
 * multimaster.tombstone_key(tbl regclass, VARIADIC key_values text[]):
 * how a key, given as one text value per primary-key column (read with
 * this session's settings), is named in multimaster.tombstones.
 */
PG_FUNCTION_INFO_V1(mm_tombstone_key);
Datum
mm_tombstone_key(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	Relation	rel;
	Oid			pk_index;
	MMKeyInfo	key;
	TupleTableSlot *slot;
	TupleDesc	rdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	HeapTuple	result;

	if (get_call_result_type(fcinfo, NULL, &rdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	rel = open_table_arg(relid, AccessShareLock);
	pk_index = mm_primary_key_index(rel);
	if (!OidIsValid(pk_index))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no primary key", RelationGetRelationName(rel))));
	mm_key_build(&key, rel, pk_index, true, CurrentMemoryContext);

	slot = mm_key_slot_from_text(rel, &key, arr);

	values[0] = CStringGetTextDatum(mm_table_ident(RelationGetNamespace(rel),
												   RelationGetRelationName(rel)));
	values[1] = Int32GetDatum((int32) mm_key_hash(&key, slot));
	values[2] = PointerGetDatum(mm_key_encode(&key, slot));
	values[3] = CStringGetTextDatum(mm_key_text(&key, slot));
	result = heap_form_tuple(BlessTupleDesc(rdesc), values, nulls);

	ExecDropSingleTupleTableSlot(slot);
	relation_close(rel, AccessShareLock);
	PG_RETURN_DATUM(HeapTupleGetDatum(result));
}

/*
 * multimaster._tombstone_version(tbl regclass, key_data bytea)
 *		-> (origin int, version bigint, generation bigint)
 * The newest tombstone here of the key given in the fixed encoding of
 * multimaster.tombstones (key_data), found by value like every tombstone
 * lookup; all NULL if there is none.  The clock goes as the raw
 * timestamptz (microseconds), so nothing is lost in text.
 */
PG_FUNCTION_INFO_V1(mm_tombstone_version);
Datum
mm_tombstone_version(PG_FUNCTION_ARGS)
{
	Relation	rel = mm_open_registered(PG_GETARG_OID(0), AccessShareLock);
	MMRelInfo  *info = mm_relinfo_get(rel, NULL);
	TupleTableSlot *keyslot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsVirtual);
	MMKeyRef	ref;
	MMVersion	v;
	TupleDesc	rdesc;
	Datum		values[3];
	bool		nulls[3] = {true, true, true};

	if (get_call_result_type(fcinfo, NULL, &rdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	mm_key_decode(&info->key, PG_GETARG_BYTEA_PP(1), keyslot);
	mm_keyref_init(&ref, &info->key, keyslot);
	if (mm_tombstone_find(info, &ref, &v))
	{
		values[0] = Int32GetDatum(v.origin);
		values[1] = Int64GetDatum((int64) v.ts);
		values[2] = Int64GetDatum(v.generation);
		nulls[0] = nulls[1] = nulls[2] = false;
	}
	ExecDropSingleTupleTableSlot(keyslot);
	table_close(rel, NoLock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(rdesc), values, nulls)));
}

/*
 * multimaster._move_tombstones(old_name text, new_name text): after a table
 * or its schema was renamed, file its tombstones under the new name.  A
 * tombstone already there (from a peer renamed first) keeps the newer of
 * the two.  Returns the number of tombstones moved.
 */
PG_FUNCTION_INFO_V1(mm_move_tombstones);
Datum
mm_move_tombstones(PG_FUNCTION_ARGS)
{
	char	   *old_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *new_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Relation	rel;
	Relation	idxrel;
	MMRelInfo	info;
	IndexScanDesc scan;
	ScanKeyData skey;
	TupleTableSlot *slot;
	Snapshot	snap;
	List	   *tuples = NIL;
	ListCell   *lc;
	uint32		table_hash = mm_table_hash(new_name);
	int64		moved = 0;

	if (strcmp(old_name, new_name) == 0)
		PG_RETURN_INT64(0);

	rel = table_open(mm_tombstones_relid(), RowExclusiveLock);
	info = *mm_relinfo_get(rel, NULL);
	mm_tombstone_order(new_name, &info);

	/* collect first: the scan must not meet the rows it writes */
	idxrel = index_open(mm_primary_key_index(rel), AccessShareLock);
	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(old_name));
	skey.sk_collation = idxrel->rd_indcollation[0];
	snap = RegisterSnapshot(GetLatestSnapshot());
	slot = table_slot_create(rel, NULL);
	scan = mm_index_beginscan(rel, idxrel, snap, 1, 0);
	index_rescan(scan, &skey, 1, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
		tuples = lappend(tuples, ExecCopySlotHeapTuple(slot));
	index_endscan(scan);
	index_close(idxrel, AccessShareLock);

	foreach(lc, tuples)
	{
		HeapTuple	tup = (HeapTuple) lfirst(lc);
		Datum		values[Natts_tomb];
		bool		nulls[Natts_tomb];
		MMKeyRef	ref;

		heap_deform_tuple(tup, RelationGetDescr(rel), values, nulls);
		simple_table_tuple_delete(rel, &tup->t_self, snap);

		values[Anum_tomb_table_name - 1] = CStringGetTextDatum(new_name);
		ExecClearTuple(slot);
		memcpy(slot->tts_values, values, sizeof(values));
		memcpy(slot->tts_isnull, nulls, sizeof(nulls));
		ExecStoreVirtualTuple(slot);

		mm_key_lock(table_hash, (uint32) DatumGetInt32(values[Anum_tomb_key_hash - 1]));
		memset(&ref, 0, sizeof(ref));
		ref.text = nulls[Anum_tomb_key - 1] ? "" : TextDatumGetCString(values[Anum_tomb_key - 1]);
		(void) mm_upsert(rel, &info, slot, &ref, true, NULL);
		moved++;
	}

	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snap);
	table_close(rel, NoLock);
	PG_RETURN_INT64(moved);
}
