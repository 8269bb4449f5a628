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
 * prev := the newer of prev, the key's tombstone, and the table's floor
 * (what purged tombstones left).  For a key that has no row: the key lock
 * is taken first, so that a tombstone of it still being written by another
 * transaction is waited for rather than missed.
 */
static void
newer_of_tombstone(const MMRelInfo *info, MMKeyRef *ref, MMVersion *prev)
{
	MMVersion	tomb;

	mm_key_lock(info->table_hash, mm_keyref_hash(ref));
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
		TupleTableSlot *existing;
		bool		exists;

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

		existing = table_slot_create(rel, NULL);

		/*
		 * A row of this key that a concurrent transaction is deleting must
		 * not be overtaken: our insert would wait for that delete at its
		 * unique check, after we stamped it, and carry a version older than
		 * the delete's tombstone (peers would then drop it).  Looking the
		 * key up waits for such a writer, and a key-share lock on a live row
		 * keeps it from being deleted until we commit: our insert then
		 * meets it (a duplicate key, or ON CONFLICT's update, which stamps
		 * on the locked row), so only an absent key needs its tombstone.
		 */
		exists = mm_find_by_key(rel, info, LockTupleKeyShare,
								td->tg_trigslot, existing) != MM_FOUND_NONE;
		prev.isnull = true;
		if (exists)
			mm_version_from_slot(existing, info, &prev);
		ExecDropSingleTupleTableSlot(existing);

		/*
		 * The stamp also goes past the row found and the key's tombstone
		 * even when a row was found: an INSERT ... ON CONFLICT whose
		 * conflicting row is deleted before its update runs inserts after
		 * all, with the version stamped here (this trigger does not fire
		 * again), which must then order after that delete.
		 */
		mm_keyref_init(&ref, &info->key, td->tg_trigslot);
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
			MMKeyRef	newref;

			mm_keyref_init(&newref, &info->key, td->tg_newslot);
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

/*
 * Lock, if it exists, the row of table 'owner' whose key is encoded in
 * 'key_data'; with 'apply', once the tombstone is stored, delete that row
 * if the key's tombstone is newer (see mm_apply_tombstone_to_row).
 */
static void
owner_row(Oid owner, bytea *key_data, bool apply)
{
	Relation	orel = try_table_open(owner, RowExclusiveLock);
	Trigger    *trigger = NULL;
	MMRelInfo  *oinfo;
	TupleTableSlot *keyslot;
	TupleTableSlot *rowslot;
	int			i;

	if (orel == NULL)
		return;
	/* it may have been unregistered since its name was looked up */
	for (i = 0; orel->trigdesc && i < orel->trigdesc->numtriggers; i++)
		if (strcmp(orel->trigdesc->triggers[i].tgname, MM_TRIGGER_NAME) == 0)
			trigger = &orel->trigdesc->triggers[i];
	if (trigger == NULL)
	{
		table_close(orel, NoLock);
		return;
	}

	oinfo = mm_relinfo_get(orel, trigger);
	keyslot = MakeSingleTupleTableSlot(RelationGetDescr(orel), &TTSOpsVirtual);
	rowslot = table_slot_create(orel, NULL);
	mm_key_decode(&oinfo->key, key_data, keyslot);
	if (!apply)
	{
		MMRoute		route;

		if (mm_route_key(orel, oinfo, keyslot, RowExclusiveLock, &route))
		{
			TupleTableSlot *found = route.routed ?
				table_slot_create(route.rel, NULL) : rowslot;

			(void) mm_find_by_key(route.rel, route.info, LockTupleExclusive,
								  route.keyslot, found);
			if (found != rowslot)
				ExecDropSingleTupleTableSlot(found);
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
	 * deadlock with it.
	 */
	if (OidIsValid(owner))
		owner_row(owner, DatumGetByteaPP(slot->tts_values[Anum_tomb_key_data - 1]), false);

	/* the key's writers wait for this tombstone (see mm_key.c) */
	mm_key_lock(mm_table_hash(table_ident),
				(uint32) DatumGetInt32(slot->tts_values[Anum_tomb_key_hash - 1]));

	memset(&ref, 0, sizeof(ref));
	d = slot_getattr(slot, Anum_tomb_key, &isnull);
	ref.text = isnull ? pstrdup("") : TextDatumGetCString(d);
	if (mm_upsert(td->tg_relation, &info, slot, &ref, true, NULL) != MM_UPSERT_SKIPPED_EQUAL &&
		OidIsValid(owner))
		owner_row(owner, DatumGetByteaPP(slot->tts_values[Anum_tomb_key_data - 1]), true);
	return PointerGetDatum(NULL);
}
