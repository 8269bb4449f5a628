/*-------------------------------------------------------------------------
 *
 * mm_trigger.c
 *		The row triggers: stamp local writes, resolve replicated ones.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * multimaster.conflict_trigger() fires BEFORE INSERT OR UPDATE OR DELETE
 * FOR EACH ROW, enabled ALWAYS so that it also fires in the apply worker.
 * Which side of a write we are on is told by the session's replication
 * origin: the apply worker (and tablesync) set one, local sessions do not.
 *
 *	local INSERT	stamp a version newer than the key's tombstone, if any
 *	local UPDATE	stamp a version newer than the old row; a changed key
 *					also leaves a tombstone for the old key
 *	local DELETE	write a tombstone newer than the row
 *	apply INSERT	upsert keeping the greater version (mm_apply.c)
 *	apply UPDATE	apply only if newer than the local row
 *	apply DELETE	apply only if the key's tombstone is newer than the row
 *
 * multimaster.tombstone_trigger() does the same for the tombstones
 * themselves, ordered by the policy of the table they belong to.
 *
 * IDENTIFICATION
 *		src/mm_trigger.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "replication/origin.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "mm_apply.h"
#include "mm_catalog.h"
#include "mm_conflict.h"
#include "mm_key.h"
#include "mm_purge.h"
#include "mm_tombstone.h"
#include "mm_version.h"

PG_FUNCTION_INFO_V1(mm_conflict_trigger);
PG_FUNCTION_INFO_V1(mm_tombstone_trigger);

static inline bool
in_apply_session(void)
{
	return replorigin_session_origin != InvalidRepOriginId;
}

static void
check_trigger_context(FunctionCallInfo fcinfo, const char *funcname)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function %s must be called as a trigger", funcname)));
	if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function %s must be fired BEFORE ... FOR EACH ROW", funcname),
				 errhint("CREATE TRIGGER \"%s\" BEFORE INSERT OR UPDATE OR DELETE ON ... FOR EACH ROW EXECUTE FUNCTION %s(...);",
						 MM_TRIGGER_NAME, funcname)));
}

static inline Datum
pass_through(TriggerData *td)
{
	return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(td->tg_event) ?
						   td->tg_newtuple : td->tg_trigtuple);
}

/*
 * The tuple with version v written into its version columns.
 *
 * With newslot (a local UPDATE: the slot of its new row, 'tuple'), also
 * every value stored out of line that the UPDATE left as it was, put back
 * in line.  An UPDATE is
 * shipped as an INSERT of the whole new row (mm_output.c), but
 * heap_update() keeps such a value's TOAST pointer and logs nothing of it,
 * so the WAL's new tuple lacks it.  Fetched here (still compressed, if it
 * was), the value is toasted anew with the row, and the WAL carries it.
 * That costs a copy of the values that actually lie out of line, only in
 * the rows that have them; REPLICA IDENTITY FULL, the other way to carry
 * them, logs every old row of the table whole.  With FULL set by the user
 * the plugin takes them from the old row, and nothing is done here.
 */
static HeapTuple
stamp(HeapTuple tuple, Relation rel, const MMRelInfo *info, const MMVersion *v,
	  TupleTableSlot *newslot)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			fixed_cols[3];
	Datum		fixed_values[3];
	bool		fixed_nulls[3] = {false, false, false};
	int		   *cols = fixed_cols;
	Datum	   *values = fixed_values;
	bool	   *nulls = fixed_nulls;
	int			ncols = 3;

	if (newslot != NULL && info->n_toastable > 0 &&
		info->replident != REPLICA_IDENTITY_FULL)
	{
		int			i;

		cols = palloc(sizeof(int) * (3 + info->n_toastable));
		values = palloc(sizeof(Datum) * (3 + info->n_toastable));
		nulls = palloc0(sizeof(bool) * (3 + info->n_toastable));
		for (i = 0; i < info->n_toastable; i++)
		{
			AttrNumber	attnum = info->toastable_attnums[i];
			bool		isnull;
			Datum		d = slot_getattr(newslot, attnum, &isnull);

			if (!isnull && VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(d)))
			{
				cols[ncols] = attnum;
				values[ncols] = PointerGetDatum(detoast_external_attr((struct varlena *) DatumGetPointer(d)));
				ncols++;
			}
		}
	}

	cols[0] = info->origin_attnum;
	values[0] = Int32GetDatum(v->origin);
	cols[1] = info->version_attnum;
	values[1] = TimestampTzGetDatum(v->ts);
	cols[2] = info->generation_attnum;
	values[2] = Int64GetDatum(v->generation);

	return heap_modify_tuple_by_cols(tuple, desc, ncols, cols, values, nulls);
}

static void newer_of_floor(const MMRelInfo *info, MMVersion *prev);

/*
 * Lock the key of 'keyslot' for a local write of it: its row, with a
 * key-share lock, when it has one (whose version goes to *rowver), else
 * (rowver->isnull) the key lock.
 *
 * A key-share lock on the row is enough: every writer of the key's
 * tombstone holds the row's exclusive lock first (a local DELETE, an
 * incoming tombstone, mm_resolve), so none is being written while we hold
 * it, and the executor's own wait for the row (ON CONFLICT's update, a
 * unique check) never happens with the key lock held, which would let two
 * writers wait for each other (mm_key.c: row before key).
 *
 * A row of this key that a concurrent transaction is deleting must not be
 * overtaken: our insert would wait for that delete at its unique check,
 * after we stamped it, and carry a version older than the delete's
 * tombstone (peers would then drop it).  Looking the key up waits for such
 * a writer, and the key-share lock on a live row keeps it from being
 * deleted until we commit: our insert then meets it (a duplicate key, or
 * ON CONFLICT's update, which stamps on the locked row).  An absent key
 * stays absent once its lock is held (mm_key_lock_absent).
 */
static void
lock_key(Relation rel, const MMRelInfo *info, TupleTableSlot *keyslot,
		 MMKeyRef *ref, MMVersion *rowver)
{
	TupleTableSlot *existing = table_slot_create(rel, NULL);

	for (;;)
	{
		rowver->isnull = true;
		if (mm_find_by_key(rel, info, LockTupleKeyShare, keyslot,
						   existing) != MM_FOUND_NONE)
		{
			mm_version_from_slot(existing, info, rowver);
			break;
		}
		if (mm_key_lock_absent(rel, info, keyslot, ref))
			break;
		CHECK_FOR_INTERRUPTS();
	}
	ExecDropSingleTupleTableSlot(existing);
}

/*
 * prev := the newer of prev, the key's tombstone, and the table's floor
 * (what purged tombstones left).  The caller holds the key lock or the
 * row's (lock_key), so that a tombstone of the key still being written by
 * another transaction is waited for rather than missed.
 */
static void
newer_of_tombstone(const MMRelInfo *info, MMKeyRef *ref, MMVersion *prev)
{
	MMVersion	tomb;

	if (mm_tombstone_find(info, ref, &tomb) &&
		mm_version_cmp(&tomb, prev, info) > 0)
		*prev = tomb;
	newer_of_floor(info, prev);
}

/* prev := the newer of prev and the table's floor (purged tombstones). */
static void
newer_of_floor(const MMRelInfo *info, MMVersion *prev)
{
	if (info->has_floor)
	{
		if (prev->isnull)
		{
			prev->isnull = false;
			prev->origin = 0;
			prev->ts = info->floor_ts;
			prev->generation = info->floor_generation;
		}
		else
		{
			prev->ts = Max(prev->ts, info->floor_ts);
			prev->generation = Max(prev->generation, info->floor_generation);
		}
	}
}

static int32
writer_node(const MMRelInfo *info)
{
	return info->node_id != 0 ? info->node_id : mm_local_node_id(false);
}

static Datum
local_write(TriggerData *td, const MMRelInfo *info)
{
	Relation	rel = td->tg_relation;
	MMVersion	prev,
				next;
	int32		node = writer_node(info);
	MMKeyRef	ref;

	mm_check_local_write(info);

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		/*
		 * A bulk write holds the whole table's key lock (after the first
		 * keys): no other transaction deletes a row of the table or writes
		 * a tombstone of it until this one ends, so a row found here would
		 * only meet our insert, and a table without tombstones has none to
		 * stamp past.  One lookup of the table instead of two per row.
		 */
		if (mm_key_table_locked(info->table_hash) && mm_tombstones_none(info))
		{
			prev.isnull = true;
			newer_of_floor(info, &prev);
			mm_version_next(info, td->tg_trigslot, &prev, node, &next);
			return PointerGetDatum(stamp(td->tg_trigtuple, rel, info, &next, NULL));
		}

		/*
		 * The stamp also goes past the row found and the key's tombstone
		 * even when a row was found: an INSERT ... ON CONFLICT whose
		 * conflicting row is deleted before its update runs inserts after
		 * all, with the version stamped here (this trigger does not fire
		 * again), which must then order after that delete.
		 */
		mm_keyref_init(&ref, &info->key, td->tg_trigslot);
		lock_key(rel, info, td->tg_trigslot, &ref, &prev);
		newer_of_tombstone(info, &ref, &prev);
		mm_version_next(info, td->tg_trigslot, &prev, node, &next);
		return PointerGetDatum(stamp(td->tg_trigtuple, rel, info, &next, NULL));
	}

	mm_version_from_slot(td->tg_trigslot, info, &prev);

	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		if (!mm_key_equal_slots(&info->key, td->tg_trigslot, td->tg_newslot))
		{
			/* the old key is deleted, the new one written */
			MMVersion	newprev = prev;
			MMVersion	newrow;
			MMKeyRef	newref;

			mm_keyref_init(&newref, &info->key, td->tg_newslot);
			lock_key(rel, info, td->tg_newslot, &newref, &newrow);
			if (!newrow.isnull && mm_version_cmp(&newrow, &newprev, info) > 0)
				newprev = newrow;
			newer_of_tombstone(info, &newref, &newprev);
			mm_version_next(info, td->tg_newslot, &newprev, node, &next);
			mm_keyref_init(&ref, &info->key, td->tg_trigslot);
			mm_tombstone_write(info, &ref, &prev, node);
		}
		else
			mm_version_next(info, td->tg_newslot, &prev, node, &next);
		return PointerGetDatum(stamp(td->tg_newtuple, rel, info, &next, td->tg_newslot));
	}

	/* DELETE: the tombstone's version goes past the row's and the key's */
	mm_keyref_init(&ref, &info->key, td->tg_trigslot);
	mm_tombstone_write(info, &ref, &prev, node);
	return PointerGetDatum(td->tg_trigtuple);
}

static Datum
apply_write(TriggerData *td, const MMRelInfo *info)
{
	MMVersion	remote,
				local;
	int			cmp;
	MMKeyRef	ref;

	mm_apply_note();
	mm_keyref_init(&ref, &info->key, td->tg_trigslot);

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		slot_getallattrs(td->tg_trigslot);
		if (mm_apply_insert_is_new(td->tg_relation, info, td->tg_trigslot, &ref))
			return PointerGetDatum(td->tg_trigtuple);	/* the worker inserts it */
		(void) mm_upsert(td->tg_relation, info, td->tg_trigslot, &ref, false, NULL);
		return PointerGetDatum(NULL);	/* mm_upsert did the writing */
	}

	mm_version_from_slot(td->tg_trigslot, info, &local);

	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		mm_version_from_slot(td->tg_newslot, info, &remote);
		cmp = mm_version_cmp(&remote, &local, info);
		if (cmp > 0)
		{
			if (mm_is_conflict(&remote, &local, true))
				mm_log_conflict(info->table_name, mm_keyref_text(&ref),
								"update_update", "apply_remote",
								&local, td->tg_trigslot, &remote, td->tg_newslot);
			return PointerGetDatum(td->tg_newtuple);
		}
		if (mm_is_conflict(&remote, &local, false))
			mm_log_conflict(info->table_name, mm_keyref_text(&ref),
							"update_update", "keep_local",
							&local, td->tg_trigslot, &remote, td->tg_newslot);
		return PointerGetDatum(NULL);
	}

	/* DELETE: its version travelled ahead of it as a tombstone */
	if (!mm_tombstone_find(info, &ref, &remote))
		return PointerGetDatum(td->tg_trigtuple);	/* unversioned delete */

	if (mm_version_cmp(&remote, &local, info) > 0)
	{
		if (mm_is_conflict(&remote, &local, true))
			mm_log_conflict(info->table_name, mm_keyref_text(&ref), "delete_update",
							"apply_remote", &local, td->tg_trigslot,
							&remote, NULL);
		return PointerGetDatum(td->tg_trigtuple);
	}
	if (mm_is_conflict(&remote, &local, false))
		mm_log_conflict(info->table_name, mm_keyref_text(&ref), "delete_update",
						"keep_local", &local, td->tg_trigslot, &remote, NULL);
	return PointerGetDatum(NULL);
}

Datum
mm_conflict_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	MMRelInfo  *info;

	check_trigger_context(fcinfo, "multimaster.conflict_trigger");

	if (mm_applying(RelationGetRelid(td->tg_relation)))
		return pass_through(td);

	info = mm_relinfo_get(td->tg_relation, td->tg_trigger);

	if (in_apply_session())
		return apply_write(td, info);
	return local_write(td, info);
}

/* what owner_row() does with the row of a tombstone's key */
typedef enum OwnerRowAction
{
	OWNER_ROW_LOCK,				/* lock it, if it exists */
	OWNER_ROW_PROBE,			/* only look whether it exists (or is being
								 * written) */
	OWNER_ROW_APPLY				/* once the tombstone is stored, delete it if
								 * the key's tombstone is newer (see
								 * mm_apply_tombstone_to_row) */
} OwnerRowAction;

/*
 * Do 'action' to the row of table 'owner' whose key is encoded in
 * 'key_data'.  true if such a row was found (LOCK, PROBE).
 */
static bool
owner_row(Oid owner, bytea *key_data, OwnerRowAction action)
{
	bool		found = false;

	Relation	orel = try_table_open(owner, RowExclusiveLock);
	Trigger    *trigger = NULL;
	MMRelInfo  *oinfo;
	TupleTableSlot *keyslot;
	TupleTableSlot *rowslot;
	int			i;

	if (orel == NULL)
		return false;
	/* it may have been unregistered since its name was looked up */
	for (i = 0; orel->trigdesc && i < orel->trigdesc->numtriggers; i++)
		if (strcmp(orel->trigdesc->triggers[i].tgname, MM_TRIGGER_NAME) == 0)
			trigger = &orel->trigdesc->triggers[i];
	if (trigger == NULL)
	{
		table_close(orel, NoLock);
		return false;
	}

	oinfo = mm_relinfo_get(orel, trigger);
	keyslot = MakeSingleTupleTableSlot(RelationGetDescr(orel), &TTSOpsVirtual);
	rowslot = table_slot_create(orel, NULL);
	mm_key_decode(&oinfo->key, key_data, keyslot);
	if (action != OWNER_ROW_APPLY)
	{
		MMRoute		route;

		if (mm_route_key(orel, oinfo, keyslot, RowExclusiveLock, &route))
		{
			if (action == OWNER_ROW_PROBE)
				found = mm_key_present(route.rel, route.info, route.keyslot);
			else
			{
				TupleTableSlot *row = route.routed ?
					table_slot_create(route.rel, NULL) : rowslot;

				found = mm_find_by_key(route.rel, route.info, LockTupleExclusive,
									   route.keyslot, row) != MM_FOUND_NONE;
				if (row != rowslot)
					ExecDropSingleTupleTableSlot(row);
			}
			mm_route_end(&route);
		}
	}
	else
	{
		MMKeyRef	ref;
		MMVersion	tomb;

		mm_keyref_init(&ref, &oinfo->key, keyslot);
		if (mm_tombstone_find(oinfo, &ref, &tomb))
			mm_apply_tombstone_to_row(orel, oinfo, keyslot, &tomb);
	}
	ExecDropSingleTupleTableSlot(rowslot);
	ExecDropSingleTupleTableSlot(keyslot);
	table_close(orel, NoLock);
	return found;
}

Datum
mm_tombstone_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	MMRelInfo	info;
	TupleTableSlot *slot;
	MMKeyRef	ref;
	bool		isnull;
	char	   *table_ident;
	Oid			owner;
	Datum		d;
	bytea	   *key_data;
	uint32		table_hash;
	uint32		key_hash;

	check_trigger_context(fcinfo, "multimaster.tombstone_trigger");

	/* local tombstone writes are made by mm_tombstone_write(), or purges */
	if (mm_applying(RelationGetRelid(td->tg_relation)) || !in_apply_session())
		return pass_through(td);

	/* each node purges its own tombstones */
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		return PointerGetDatum(NULL);
	mm_purge_worker_ensure();

	info = *mm_relinfo_get(td->tg_relation, td->tg_trigger);
	slot = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newslot : td->tg_trigslot;
	d = slot_getattr(slot, Anum_tomb_table_name, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("incoming tombstone has no table name")));
	table_ident = TextDatumGetCString(d);
	owner = mm_tombstone_order(table_ident, &info);

	/*
	 * An incoming INSERT of a tombstone, or an UPDATE of one: the multimaster
	 * plugin ships every change of a tombstone as an INSERT, but the catch-up
	 * of a table copy (tablesync) on a new subscription reads a plain
	 * pgoutput stream, which ships a tombstone made newer as an UPDATE,
	 * while another worker copies the table it belongs to.  That table's
	 * DELETE of the key may have come first and met only the older
	 * tombstone, which kept the row: so an UPDATE is applied exactly as an
	 * INSERT, the newer tombstone removing the older row.  (The UPDATE has
	 * locked the tombstone row already; mm_upsert() updates it, and the
	 * executor's own update is skipped.)
	 */
	mm_apply_note();
	slot_getallattrs(slot);
	if (slot->tts_isnull[Anum_tomb_key_hash - 1] || slot->tts_isnull[Anum_tomb_key_data - 1])
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("incoming tombstone of %s has no key", table_ident)));

	/*
	 * Lock the row the DELETE that follows will delete, before the key and
	 * the tombstone: a local DELETE of that row holds the row first and
	 * writes the tombstone after, so taking them in the other order would
	 * deadlock with it.  The key's writers wait for this tombstone (see
	 * mm_key.c); a row written while we waited for its key is locked first
	 * on a second round.
	 */
	key_data = DatumGetByteaPP(slot->tts_values[Anum_tomb_key_data - 1]);
	table_hash = mm_table_hash(table_ident);
	key_hash = (uint32) DatumGetInt32(slot->tts_values[Anum_tomb_key_hash - 1]);
	for (;;)
	{
		bool		row = OidIsValid(owner) &&
			owner_row(owner, key_data, OWNER_ROW_LOCK);

		if (!mm_key_lock(table_hash, key_hash) || row || !OidIsValid(owner) ||
			!owner_row(owner, key_data, OWNER_ROW_PROBE))
			break;
		mm_key_unlock(table_hash, key_hash);
		CHECK_FOR_INTERRUPTS();
	}

	memset(&ref, 0, sizeof(ref));
	d = slot_getattr(slot, Anum_tomb_key, &isnull);
	ref.text = isnull ? pstrdup("") : TextDatumGetCString(d);
	if (mm_upsert(td->tg_relation, &info, slot, &ref, true, NULL) != MM_UPSERT_SKIPPED_EQUAL &&
		OidIsValid(owner))
		(void) owner_row(owner, key_data, OWNER_ROW_APPLY);
	return PointerGetDatum(NULL);
}
