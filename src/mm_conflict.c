/*-------------------------------------------------------------------------
 *
 * mm_conflict.c
 *		The conflict log (multimaster.conflicts).
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * A change is logged when it meets a version it does not descend from:
 * the incoming and local versions were written concurrently, as far as
 * generations tell (the loser's generation is not below the winner's).
 * An old version arriving after a newer one built on top of it is plain
 * reordering, not a conflict, and an echo (equal versions) is neither.
 *
 * Logging happens in the applying transaction, so the log and the data
 * commit or roll back together.  This is the one place that uses SPI:
 * conflicts are rare, and the plan is prepared once per backend.
 *
 * The log is written as the owner of the extension's tables, not as the
 * current user: from PostgreSQL 16 on, the apply worker applies a table's
 * changes as the table's owner (subscriptions without run_as_owner), who
 * has no right on multimaster.conflicts, and an error there would stop the
 * link for good.
 *
 * IDENTIFICATION
 *		src/mm_conflict.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/syscache.h"

#include "mm_conflict.h"
#include "mm_purge.h"

bool		mm_log_conflicts = true;
bool		mm_log_conflict_rows = false;

static SPIPlanPtr log_plans[2] = {NULL, NULL};	/* without, with per-peer counts */

#define LOG_NARGS 12

bool
mm_is_conflict(const MMVersion *remote, const MMVersion *local, bool remote_wins)
{
	if (remote->isnull || local->isnull || mm_version_equal(remote, local))
		return false;
	if (remote->origin == local->origin)
		return false;			/* one node's writes are ordered */
	return remote_wins ? remote->generation <= local->generation
		: remote->generation >= local->generation;
}

/* The owner of the conflict log table: the role that owns the extension's. */
static Oid
log_owner(void)
{
	Oid			relid = mm_catalog_relid("conflicts", false);
	HeapTuple	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tp))->relowner;
	ReleaseSysCache(tp);
	return owner;
}

static char *
row_text(TupleTableSlot *slot)
{
	bool		should_free;
	HeapTuple	tup;
	Datum		d;

	if (slot == NULL || TTS_EMPTY(slot))
		return NULL;
	tup = ExecFetchSlotHeapTuple(slot, false, &should_free);
	d = heap_copy_tuple_as_datum(tup, slot->tts_tupleDescriptor);
	return OidOutputFunctionCall(F_RECORD_OUT, d);
}

static void
set_version(Datum *values, char *nulls, int i, const MMVersion *v)
{
	if (v == NULL || v->isnull)
	{
		nulls[i] = nulls[i + 1] = nulls[i + 2] = 'n';
		return;
	}
	values[i] = Int32GetDatum(v->origin);
	values[i + 1] = TimestampTzGetDatum(v->ts);
	values[i + 2] = Int64GetDatum(v->generation);
}

void
mm_log_conflict(const char *table_name, const char *key,
				const char *kind, const char *resolution,
				const MMVersion *local, TupleTableSlot *localslot,
				const MMVersion *remote, TupleTableSlot *remoteslot)
{
	Datum		values[LOG_NARGS];
	char		nulls[LOG_NARGS];
	int			rc;
	int			counted;
	Oid			save_userid;
	int			save_sec_context;

	if (!mm_log_conflicts)
		return;

	memset(nulls, ' ', sizeof(nulls));
	values[0] = CStringGetTextDatum(table_name);
	if (key)
		values[1] = CStringGetTextDatum(key);
	else
		nulls[1] = 'n';
	values[2] = CStringGetTextDatum(kind);
	values[3] = CStringGetTextDatum(resolution);
	set_version(values, nulls, 4, local);
	set_version(values, nulls, 7, remote);
	nulls[10] = nulls[11] = 'n';
	if (mm_log_conflict_rows)
	{
		char	   *l = row_text(localslot);
		char	   *r = row_text(remoteslot);

		if (l)
		{
			values[10] = CStringGetTextDatum(l);
			nulls[10] = ' ';
		}
		if (r)
		{
			values[11] = CStringGetTextDatum(r);
			nulls[11] = ' ';
		}
	}

	mm_purge_worker_ensure();

	/*
	 * As the log's owner, in a restricted context (no SET ROLE and the like
	 * from whatever the statement might fire).  An error ends the
	 * transaction, whose abort restores the user.
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(log_owner(), save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * Version 1.0 of the extension (before ALTER EXTENSION UPDATE, during a
	 * rolling upgrade) has no per-peer counts yet: log without them.
	 */
	counted = OidIsValid(mm_catalog_relid("conflict_counts", true));
	if (log_plans[counted] == NULL)
	{
		Oid			types[LOG_NARGS] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID,
			INT4OID, TIMESTAMPTZOID, INT8OID,
		INT4OID, TIMESTAMPTZOID, INT8OID, TEXTOID, TEXTOID};
		SPIPlanPtr	plan;

		/* the per-peer count keeps multimaster.status cheap on a long log */
		plan = SPI_prepare(counted ?
						   "WITH c AS (INSERT INTO multimaster.conflicts "
						   "(table_name, key, kind, resolution, "
						   " local_origin, local_version, local_generation, "
						   " remote_origin, remote_version, remote_generation, "
						   " local_row, remote_row) "
						   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
						   "RETURNING remote_origin) "
						   "INSERT INTO multimaster.conflict_counts AS cc (remote_origin, conflicts) "
						   "SELECT coalesce(c.remote_origin, 0), 1 FROM c "
						   "ON CONFLICT (remote_origin) DO UPDATE "
						   "SET conflicts = cc.conflicts OPERATOR(pg_catalog.+) 1" :
						   "INSERT INTO multimaster.conflicts "
						   "(table_name, key, kind, resolution, "
						   " local_origin, local_version, local_generation, "
						   " remote_origin, remote_version, remote_generation, "
						   " local_row, remote_row) "
						   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
						   LOG_NARGS, types);
		if (plan == NULL)
			elog(ERROR, "could not prepare conflict log statement: %s",
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		log_plans[counted] = plan;
	}

	rc = SPI_execute_plan(log_plans[counted], values, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not log conflict: %s", SPI_result_code_string(rc));

	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
}
