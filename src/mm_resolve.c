/*-------------------------------------------------------------------------
 *
 * mm_resolve.c
 *		Resolving a secondary unique conflict by the table's policy.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * Two nodes that insert different primary keys with the same value of
 * another unique key stop each other's links: neither row can be applied
 * where the other is (the apply path says so, naming both rows, both
 * nodes and the call below).  Keys cannot decide it, versions can:
 * multimaster.resolve_unique_conflict(tbl, key_a, key_b) reads both rows'
 * versions on every node, keeps the row the table's policy orders greater,
 * and on every node deletes the other with a tombstone, or, where it has
 * not arrived, writes its tombstone ahead of it.  The stopped links then
 * apply the winner and skip the loser when they retry.
 *
 * IDENTIFICATION
 *		src/mm_resolve.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "mm_apply.h"
#include "mm_catalog.h"
#include "mm_conflict.h"
#include "mm_key.h"
#include "mm_nodes.h"
#include "mm_remote.h"
#include "mm_tombstone.h"
#include "mm_version.h"

PG_FUNCTION_INFO_V1(mm_row_version);
PG_FUNCTION_INFO_V1(mm_resolve_unique_local);
PG_FUNCTION_INFO_V1(mm_resolve_unique_conflict);

/* Open a table registered with multimaster, or fail saying what it is. */
Relation
mm_open_registered(Oid relid, LOCKMODE lockmode)
{
	Relation	rel = try_relation_open(relid, lockmode);
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	bool		registered;

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	SPI_connect();
	if (SPI_execute_with_args("SELECT 1 FROM multimaster.tables t WHERE t.relid OPERATOR(pg_catalog.=) $1",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read multimaster.tables");
	registered = SPI_processed > 0;
	SPI_finish();
	if (!registered)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s is not registered with multimaster",
						mm_qualified_relname(relid))));
	return rel;
}

/*
 * multimaster._row_version(tbl regclass, key text[])
 *		-> (origin int, version bigint, generation bigint)
 * The version of the row of that key here, all NULL if there is none.  The
 * clock goes as the raw timestamptz (microseconds), so nothing is lost in
 * text.
 */
Datum
mm_row_version(PG_FUNCTION_ARGS)
{
	Relation	rel = mm_open_registered(PG_GETARG_OID(0), AccessShareLock);
	MMRelInfo  *info = mm_relinfo_get(rel, NULL);
	TupleTableSlot *keyslot = mm_key_slot_from_text(rel, &info->key, PG_GETARG_ARRAYTYPE_P(1));
	TupleDesc	rdesc;
	Datum		values[3];
	bool		nulls[3] = {true, true, true};
	MMRoute		route;

	if (get_call_result_type(fcinfo, NULL, &rdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (mm_route_key(rel, info, keyslot, AccessShareLock, &route))
	{
		TupleTableSlot *row = table_slot_create(route.rel, NULL);

		if (mm_find_by_key(route.rel, route.info, LockTupleKeyShare,
						   route.keyslot, row) != MM_FOUND_NONE)
		{
			MMVersion	v;

			mm_version_from_slot(row, route.info, &v);
			values[0] = Int32GetDatum(v.origin);
			values[1] = Int64GetDatum((int64) v.ts);
			values[2] = Int64GetDatum(v.generation);
			nulls[0] = nulls[1] = nulls[2] = false;
		}
		ExecDropSingleTupleTableSlot(row);
		mm_route_end(&route);
	}
	ExecDropSingleTupleTableSlot(keyslot);
	table_close(rel, NoLock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(rdesc), values, nulls)));
}

/*
 * multimaster._resolve_unique_local(tbl regclass, loser text[], origin int,
 *		version bigint, generation bigint, winner text[]) -> text
 * On this node: the row 'loser' goes, with a tombstone past the given
 * version (its greatest version on any node): deleted if it is here, its
 * tombstone written ahead of it if not.  Logged as a conflict.  Returns
 * what was done.
 */
Datum
mm_resolve_unique_local(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel;
	MMRelInfo  *info;
	TupleTableSlot *keyslot;
	TupleTableSlot *row;
	MMVersion	loser;
	MMVersion	tomb;
	MMKeyRef	ref;
	const char *action;
	char	   *winner_text;
	TupleTableSlot *winslot;
	MMRoute		route;
	bool		found;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) ||
		PG_ARGISNULL(4) || PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("no argument of multimaster._resolve_unique_local() may be NULL")));
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only a superuser may resolve multimaster conflicts")));

	rel = mm_open_registered(relid, RowExclusiveLock);
	info = mm_relinfo_get(rel, NULL);
	keyslot = mm_key_slot_from_text(rel, &info->key, PG_GETARG_ARRAYTYPE_P(1));
	winslot = mm_key_slot_from_text(rel, &info->key, PG_GETARG_ARRAYTYPE_P(5));
	winner_text = mm_key_text(&info->key, winslot);
	loser.isnull = false;
	loser.origin = PG_GETARG_INT32(2);
	loser.ts = (TimestampTz) PG_GETARG_INT64(3);
	loser.generation = PG_GETARG_INT64(4);
	mm_keyref_init(&ref, &info->key, keyslot);

	/* the row, if any, before the key (mm_key.c) */
	found = false;
	for (;;)
	{
		if (mm_route_key(rel, info, keyslot, RowExclusiveLock, &route))
		{
			row = table_slot_create(route.rel, NULL);
			if (mm_find_by_key(route.rel, route.info, LockTupleExclusive,
							   route.keyslot, row) != MM_FOUND_NONE)
			{
				Oid			argtypes[1] = {TIDOID};
				Datum		values[1] = {PointerGetDatum(&row->tts_tid)};

				/*
				 * An ordinary local delete: the trigger writes the
				 * tombstone.  A ctid names a row only within one relation:
				 * the partition.
				 */
				mm_version_from_slot(row, route.info, &loser);
				SPI_connect();
				if (SPI_execute_with_args(psprintf("DELETE FROM ONLY %s WHERE ctid OPERATOR(pg_catalog.=) $1",
												   mm_qualified_relname(RelationGetRelid(route.rel))),
										  1, argtypes, values, NULL, false, 0) != SPI_OK_DELETE)
					elog(ERROR, "could not delete the losing row");
				SPI_finish();
				found = true;
			}
			ExecDropSingleTupleTableSlot(row);
			mm_route_end(&route);
		}
		if (found)
			break;
		/* no row: the key lock, unless a row was written while we waited */
		if (!mm_key_lock(info->table_hash, mm_keyref_hash(&ref)))
			break;
		if (!mm_route_key(rel, info, keyslot, RowExclusiveLock, &route))
			break;
		found = mm_key_present(route.rel, route.info, route.keyslot);
		mm_route_end(&route);
		if (!found)
			break;
		found = false;
		mm_key_unlock(info->table_hash, mm_keyref_hash(&ref));
		CHECK_FOR_INTERRUPTS();
	}
	if (found)
		action = "deleted";
	else
	{
		mm_tombstone_write(info, &ref, &loser, mm_local_node_id(false));
		action = "tombstone written ahead of it";
	}
	if (!mm_tombstone_find(info, &ref, &tomb))
	{
		memset(&tomb, 0, sizeof(tomb));
		tomb.isnull = true;
	}
	mm_log_conflict(info->table_name, mm_keyref_text(&ref), "unique_conflict",
					psprintf("kept key %s, deleted key %s", winner_text, mm_keyref_text(&ref)),
					&loser, NULL, &tomb, NULL);

	ExecDropSingleTupleTableSlot(winslot);
	ExecDropSingleTupleTableSlot(keyslot);
	table_close(rel, NoLock);
	PG_RETURN_TEXT_P(cstring_to_text(action));
}

/* The greatest version of one row over the nodes, if any has it. */
typedef struct RowSeen
{
	bool		found;
	MMVersion	v;
} RowSeen;

static void
see_row(MMRemote *r, const char *tbl, const char *key, const MMRelInfo *info, RowSeen *seen)
{
	const char *params[2] = {tbl, key};
	PGresult   *res = mm_remote_exec(r,
									 "SELECT origin, version, generation "
									 "FROM multimaster._row_version($1::pg_catalog.regclass, $2::pg_catalog.text[])",
									 2, params);

	if (!PQgetisnull(res, 0, 0))
	{
		MMVersion	v;

		v.isnull = false;
		v.origin = atoi(PQgetvalue(res, 0, 0));
		v.ts = (TimestampTz) strtoi64(PQgetvalue(res, 0, 1), NULL, 10);
		v.generation = strtoi64(PQgetvalue(res, 0, 2), NULL, 10);
		if (!seen->found || mm_version_cmp(&v, &seen->v, info) > 0)
			seen->v = v;
		seen->found = true;
	}
	PQclear(res);
}

/*
 * multimaster.resolve_unique_conflict(tbl regclass, key_a text[], key_b text[])
 *		-> TABLE (node_id int, node_name text, kept text, deleted text, action text)
 */
Datum
mm_resolve_unique_conflict(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid;
	Relation	rel;
	MMRelInfo  *info;
	TupleTableSlot *slot_a,
			   *slot_b;
	char	   *tbl;
	char	   *keys[2];
	char	   *texts[2];
	RowSeen		seen[2];
	MeshNode   *nodes;
	int			n,
				i,
				win;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only a superuser may resolve multimaster conflicts")));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the table and both keys must be given")));
	PreventInTransactionBlock(true, "multimaster.resolve_unique_conflict()");
	InitMaterializedSRF(fcinfo, 0);

	relid = PG_GETARG_OID(0);
	rel = mm_open_registered(relid, AccessShareLock);
	info = mm_relinfo_get(rel, NULL);
	slot_a = mm_key_slot_from_text(rel, &info->key, PG_GETARG_ARRAYTYPE_P(1));
	slot_b = mm_key_slot_from_text(rel, &info->key, PG_GETARG_ARRAYTYPE_P(2));
	if (mm_key_equal_slots(&info->key, slot_a, slot_b))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("both keys are %s: give the keys of the two conflicting rows",
						mm_key_text(&info->key, slot_a))));
	tbl = mm_qualified_relname(relid);
	/* the keys travel as text[] in their output form, read back on each node */
	{
		Oid			outfunc;
		bool		varlena;

		getTypeOutputInfo(TEXTARRAYOID, &outfunc, &varlena);
		keys[0] = OidOutputFunctionCall(outfunc, PG_GETARG_DATUM(1));
		keys[1] = OidOutputFunctionCall(outfunc, PG_GETARG_DATUM(2));
	}
	texts[0] = mm_key_text(&info->key, slot_a);
	texts[1] = mm_key_text(&info->key, slot_b);
	memset(seen, 0, sizeof(seen));

	nodes = mm_connect_known_nodes(&n, false);
	PG_TRY();
	{
		for (i = 0; i < n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			see_row(&nodes[i].r, tbl, keys[0], info, &seen[0]);
			see_row(&nodes[i].r, tbl, keys[1], info, &seen[1]);
		}
		if (!seen[0].found || !seen[1].found)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("no node has the row of %s with key %s", info->table_name,
							texts[seen[0].found ? 1 : 0]),
					 errdetail("A unique conflict is between two rows that exist; the other one stands alone already.")));
		win = mm_version_cmp(&seen[0].v, &seen[1].v, info) >= 0 ? 0 : 1;

		for (i = 0; i < n; i++)
		{
			RowSeen    *lose = &seen[1 - win];
			char		origin[16],
						ts[32],
						gen[32];
			const char *params[6];
			char	   *action;
			Datum		values[5];
			bool		nulls[5] = {false, false, false, false, false};

			CHECK_FOR_INTERRUPTS();
			snprintf(origin, sizeof(origin), "%d", lose->v.origin);
			snprintf(ts, sizeof(ts), INT64_FORMAT, (int64) lose->v.ts);
			snprintf(gen, sizeof(gen), INT64_FORMAT, lose->v.generation);
			params[0] = tbl;
			params[1] = keys[1 - win];
			params[2] = origin;
			params[3] = ts;
			params[4] = gen;
			params[5] = keys[win];
			action = mm_remote_value(&nodes[i].r,
									 "SELECT multimaster._resolve_unique_local($1::pg_catalog.regclass, "
									 "$2::pg_catalog.text[], $3::pg_catalog.int4, $4::pg_catalog.int8, "
									 "$5::pg_catalog.int8, $6::pg_catalog.text[])",
									 6, params);
			values[0] = Int32GetDatum(nodes[i].id);
			values[1] = CStringGetTextDatum(nodes[i].name);
			values[2] = CStringGetTextDatum(texts[win]);
			values[3] = CStringGetTextDatum(texts[1 - win]);
			values[4] = CStringGetTextDatum(action ? action : "");
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	PG_FINALLY();
	{
		mm_close_nodes(nodes, n);
	}
	PG_END_TRY();

	ExecDropSingleTupleTableSlot(slot_a);
	ExecDropSingleTupleTableSlot(slot_b);
	table_close(rel, AccessShareLock);
	return (Datum) 0;
}
