/*-------------------------------------------------------------------------
 *
 * mm_purge.c
 *		Tombstone purge that cannot bring a deleted row back, and the
 *		background worker that runs it.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * A tombstone T of key K on this node N may go only once no write of K
 * older than T can still arrive here.  Writes reach N only from the node
 * that made them (the plugin ships a node's own changes only), and a node
 * that holds T, or anything newer of K, or has purged T and raised its
 * floor, stamps its later writes of K above T.  So the tombstones N holds
 * when a purge starts may go once, for every peer P:
 *
 *	1. P holds them too: P has confirmed every node Q's stream up to where
 *	   N had applied it when the purge started (for Q = N, up to N's WAL
 *	   insert position then);
 *	2. N has applied P's stream up to P's WAL insert position taken after
 *	   (1) held: every write P made without knowing T has then arrived
 *	   here and lost against T.
 *
 * Both are read on the publishers' slots (confirmed_flush_lsn), which
 * walsenders advance while idle too.  A subscriber confirms only what it
 * has applied and flushed, and a local write of K waits for an applied
 * tombstone of K (row lock or key lock) or sees it, so a write P commits
 * before (1) holds lies before P's position in (2).
 *
 * The tombstones purged are those visible in a snapshot taken before the
 * positions are read, matched by ctid and xmin: one written or replaced
 * since waits for the next purge.  A peer that cannot be reached, a
 * disabled link or a missing slot keeps every tombstone until the purge
 * after it is back; the purge then removes nothing and says why.
 *
 * Background: with multimaster.tombstone_retention > 0, one worker per
 * database purges tombstones older than that (and, with
 * multimaster.conflict_retention > 0, the conflict log too).  It is started by the first
 * tombstone written here (a local DELETE or one applied from a peer), at
 * most one per database (it holds a session advisory lock), and exits when
 * the extension is dropped or both retentions set to 0; the next tombstone
 * or conflict written starts it again, also after a server restart.
 *
 * IDENTIFICATION
 *		src/mm_purge.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "mm_catalog.h"
#include "mm_link.h"
#include "mm_names.h"
#include "mm_nodes.h"
#include "mm_purge.h"
#include "mm_remote.h"

int			mm_tombstone_retention = 7 * 24 * 3600;
int			mm_conflict_retention = 30 * 24 * 3600;
int			mm_purge_wait = 60;

/* advisory lock class of the purge worker: one per database */
#define MM_PURGE_LOCK_CLASS 0x6D70

PG_FUNCTION_INFO_V1(mm_purge_tombstones);
PGDLLEXPORT void mm_purge_worker_main(Datum main_arg);

static XLogRecPtr
lsn_parse(const char *s)
{
	return DatumGetLSN(DirectFunctionCall1(pg_lsn_in, CStringGetDatum(s)));
}

/*
 * Where this node has applied the stream of the node with id 'peer': the
 * replication origin of its subscription from it.  False if there is no
 * such subscription.
 */
static bool
local_progress(int32 peer, int32 self, XLogRecPtr *lsn)
{
	Oid			argtypes[2] = {NAMEOID, OIDOID};
	Datum		values[2];
	bool		isnull;
	Datum		d;

	values[0] = DirectFunctionCall1(namein, CStringGetDatum(mm_link_name(peer, self)));
	values[1] = ObjectIdGetDatum(MyDatabaseId);
	if (SPI_execute_with_args("SELECT pg_catalog.pg_replication_origin_progress("
							  "pg_catalog.concat('pg_', s.oid), false) "
							  "FROM pg_catalog.pg_subscription s "
							  "WHERE s.subname OPERATOR(pg_catalog.=) $1 "
							  "AND s.subdbid OPERATOR(pg_catalog.=) $2",
							  2, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_subscription");
	if (SPI_processed == 0)
		return false;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	*lsn = isnull ? InvalidXLogRecPtr : DatumGetLSN(d);
	return true;
}

/*
 * The peers this node knows but cannot reach, having no connection string
 * for them (a node that only subscribed to this one registers so): NULL if
 * none, else a description.
 */
static char *
peers_without_dsn(void)
{
	char	   *names;

	if (SPI_execute("SELECT pg_catalog.string_agg(pg_catalog.format('node %s (\"%s\")', n.node_id, n.node_name), ', ' ORDER BY n.node_id) "
					"FROM multimaster.nodes n WHERE NOT n.is_local AND n.dsn IS NULL",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read multimaster.nodes");
	names = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	return names ? psprintf("this node has no connection string for %s", names) : NULL;
}

/*
 * The two conditions of the file header, for every peer.  Called inside
 * SPI, after the snapshot of the tombstones to purge was taken.
 */
static bool
horizon_passed(MeshNode *nodes, int n, char **why)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   mm_purge_wait * 1000L);
	XLogRecPtr	own = GetXLogInsertRecPtr();
	XLogRecPtr *held = palloc0(n * sizeof(XLogRecPtr));
	MMSlotTarget *targets = palloc0(n * n * sizeof(MMSlotTarget));
	int			ntargets = 0;
	int			self = -1;
	int			q,
				p;

	for (q = 0; q < n; q++)
	{
		if (nodes[q].pos == 0)
			self = q;
		else if (nodes[q].r.conn == NULL)
		{
			*why = psprintf("node %d (\"%s\") cannot be reached", nodes[q].id, nodes[q].name);
			return false;
		}
	}
	if (self < 0)
	{
		*why = pstrdup("this node has no multimaster identity");
		return false;
	}

	/* how far this node had each stream when the purge started */
	for (q = 0; q < n; q++)
	{
		if (q == self)
			held[q] = own;
		else if (!local_progress(nodes[q].id, nodes[self].id, &held[q]))
		{
			*why = psprintf("this node has no subscription \"%s\"",
							mm_link_name(nodes[q].id, nodes[self].id));
			return false;
		}
	}

	/* 1. every peer holds what this node held */
	for (q = 0; q < n; q++)
		for (p = 0; p < n; p++)
		{
			if (p == q || p == self || held[q] == InvalidXLogRecPtr)
				continue;
			targets[ntargets].node = q;
			targets[ntargets].slot = mm_link_name(nodes[q].id, nodes[p].id);
			targets[ntargets].target = held[q];
			ntargets++;
		}
	if (!mm_wait_slots(nodes, targets, ntargets, deadline, why))
		return false;

	/* 2. this node has what every peer wrote before that */
	ntargets = 0;
	for (p = 0; p < n; p++)
	{
		char	   *pos;

		if (p == self)
			continue;
		pos = mm_remote_value(&nodes[p].r,
							  "SELECT pg_catalog.pg_current_wal_insert_lsn()::pg_catalog.text",
							  0, NULL);
		targets[ntargets].node = p;
		targets[ntargets].slot = mm_link_name(nodes[p].id, nodes[self].id);
		targets[ntargets].target = lsn_parse(pos);
		targets[ntargets].done = false;
		ntargets++;
	}
	return mm_wait_slots(nodes, targets, ntargets, deadline, why);
}

/*
 * Purge this node's tombstones older than 'older_than' that every peer has
 * passed.  Returns how many went; a purge the peers do not allow yet
 * removes none and reports why at 'elevel'.
 */
int64
mm_purge(Interval *older_than, int elevel)
{
	Snapshot	snap;
	MeshNode   *nodes = NULL;
	int			n = 0;
	char	   *why = NULL;
	bool		passed = true;
	int64		purged = 0;
	SPIPlanPtr	plan;
	Oid			argtypes[2] = {TIDARRAYOID, XIDARRAYOID};
	Oid			interval_type = INTERVALOID;
	Datum		values[2];
	Datum	   *tids,
			   *xids;
	uint64		i,
				rows;

	/* the tombstones to purge: those this snapshot sees */
	snap = RegisterSnapshot(GetLatestSnapshot());

	SPI_connect();
	if (mm_local_node_id(true) > 0)
	{
		why = peers_without_dsn();
		if (why != NULL)
			passed = false;
		else
		{
			nodes = mm_connect_known_nodes(&n, true);
			PG_TRY();
			{
				if (n > 1)
					passed = horizon_passed(nodes, n, &why);
			}
			PG_FINALLY();
			{
				mm_close_nodes(nodes, n);
			}
			PG_END_TRY();
		}
	}
	if (!passed)
	{
		ereport(elevel,
				(errmsg("no tombstone was purged: not every peer has passed them yet"),
				 errdetail_internal("%s", why),
				 errhint("Tombstones are kept until every node has seen them and sent everything it wrote before; they go at a later purge.")));
		SPI_finish();
		UnregisterSnapshot(snap);
		return 0;
	}

	plan = SPI_prepare("SELECT t.ctid, t.xmin FROM multimaster.tombstones t "
					   "WHERE t.mm_version OPERATOR(pg_catalog.<) "
					   "(pg_catalog.now() OPERATOR(pg_catalog.-) $1)",
					   1, &interval_type);
	if (plan == NULL)
		elog(ERROR, "could not prepare the tombstone scan: %s", SPI_result_code_string(SPI_result));
	values[0] = IntervalPGetDatum(older_than);
	if (SPI_execute_snapshot(plan, values, NULL, snap, InvalidSnapshot,
							 true, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read multimaster.tombstones");
	rows = SPI_processed;
	if (rows > 0)
	{
		SPITupleTable *tt = SPI_tuptable;

		tids = palloc(rows * sizeof(Datum));
		xids = palloc(rows * sizeof(Datum));
		for (i = 0; i < rows; i++)
		{
			bool		isnull;

			tids[i] = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull);
			xids[i] = SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull);
		}
		values[0] = PointerGetDatum(construct_array(tids, (int) rows, TIDOID,
													sizeof(ItemPointerData), false, TYPALIGN_SHORT));
		values[1] = PointerGetDatum(construct_array(xids, (int) rows, XIDOID,
													sizeof(TransactionId), true, TYPALIGN_INT));

		/*
		 * What is purged raises the table's floor: a later write of any key
		 * of it orders after every purged tombstone, as it would have after
		 * the tombstone itself (peers may still hold it).
		 */
		if (SPI_execute_with_args("WITH gone AS ("
								  " DELETE FROM multimaster.tombstones t"
								  " USING ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS c(tid, x)"
								  " WHERE t.ctid OPERATOR(pg_catalog.=) c.tid"
								  " AND t.xmin OPERATOR(pg_catalog.=) c.x"
								  " RETURNING t.table_name, t.mm_version, t.mm_generation"
								  "), per_table AS ("
								  " INSERT INTO multimaster.tombstone_floors AS f"
								  " (table_name, mm_version, mm_generation)"
								  " SELECT g.table_name, pg_catalog.max(g.mm_version),"
								  " pg_catalog.max(g.mm_generation)"
								  " FROM gone g WHERE g.mm_version IS NOT NULL"
								  " GROUP BY g.table_name"
								  " ON CONFLICT ON CONSTRAINT tombstone_floors_pkey DO UPDATE"
								  " SET mm_version = GREATEST(f.mm_version, excluded.mm_version),"
								  " mm_generation = GREATEST(f.mm_generation, excluded.mm_generation)"
								  " RETURNING 1"
								  ") SELECT pg_catalog.count(*) FROM gone",
								  2, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not purge multimaster.tombstones");
		{
			bool		isnull;

			purged = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 1, &isnull));
		}
		if (purged > 0)
			mm_invalidate_caches();
	}
	SPI_finish();
	UnregisterSnapshot(snap);
	return purged;
}

/*
 * multimaster.purge_tombstones(older_than interval) returns bigint
 */
Datum
mm_purge_tombstones(PG_FUNCTION_ARGS)
{
	Interval   *older_than;
	Interval	zero;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only a superuser may purge multimaster tombstones")));
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retention must be a non-negative interval")));
	older_than = PG_GETARG_INTERVAL_P(0);
	memset(&zero, 0, sizeof(zero));
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(older_than),
										  IntervalPGetDatum(&zero))) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retention must be a non-negative interval")));
	PG_RETURN_INT64(mm_purge(older_than, NOTICE));
}

/* ------------------------------------------------------------------------
 * Background purge
 * ------------------------------------------------------------------------ */

static void
purge_lock_tag(LOCKTAG *tag, Oid dbid)
{
	SET_LOCKTAG_ADVISORY(*tag, dbid, 0, MM_PURGE_LOCK_CLASS, 1);
}

/*
 * Start this database's purge worker unless it runs (or cannot run).
 * Called where tombstones are written; does something at most once a
 * minute per backend.
 */
void
mm_purge_worker_ensure(void)
{
	static TimestampTz last_check = 0;
	TimestampTz now;
	LOCKTAG		tag;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	if ((mm_tombstone_retention <= 0 && mm_conflict_retention <= 0) || !IsUnderPostmaster)
		return;
	now = GetCurrentTimestamp();
	if (last_check != 0 && now < TimestampTzPlusMilliseconds(last_check, 60 * 1000L))
		return;
	last_check = now;

	/* the worker holds this lock for its whole life */
	purge_lock_tag(&tag, MyDatabaseId);
	if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		return;
	LockRelease(&tag, ExclusiveLock, true);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "multimaster");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "mm_purge_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "multimaster tombstone purge");
	snprintf(worker.bgw_type, BGW_MAXLEN, "multimaster purge");
	worker.bgw_main_arg = ObjectIdGetDatum(MyDatabaseId);
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		ereport(LOG,
				(errmsg("could not start the multimaster tombstone purge worker"),
				 errhint("Raise max_worker_processes, or purge with multimaster.purge_tombstones().")));
}

void
mm_purge_worker_main(Datum main_arg)
{
	Oid			dbid = DatumGetObjectId(main_arg);
	LOCKTAG		tag;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	/* no user: the bootstrap superuser */
	BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	pgstat_report_appname("multimaster purge");

	purge_lock_tag(&tag, dbid);
	if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		proc_exit(0);			/* another one runs */

	for (;;)
	{
		long		sleep_ms;
		bool		installed;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (mm_tombstone_retention <= 0 && mm_conflict_retention <= 0)
			break;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		installed = OidIsValid(get_extension_oid("multimaster", true));
		if (installed && mm_tombstone_retention > 0)
		{
			Interval	older_than;

			memset(&older_than, 0, sizeof(older_than));
			older_than.time = (int64) mm_tombstone_retention * USECS_PER_SEC;
			pgstat_report_activity(STATE_RUNNING, "purging multimaster tombstones");
			(void) mm_purge(&older_than, LOG);
		}
		/* (version 1.0 of the extension, before its update, has no purge_conflicts) */
		if (installed && mm_conflict_retention > 0 &&
			OidIsValid(mm_catalog_relid("conflict_counts", true)))
		{
			Oid			argtypes[1] = {INTERVALOID};
			Datum		values[1];
			Interval	older_than;

			memset(&older_than, 0, sizeof(older_than));
			older_than.time = (int64) mm_conflict_retention * USECS_PER_SEC;
			values[0] = IntervalPGetDatum(&older_than);
			pgstat_report_activity(STATE_RUNNING, "purging the multimaster conflict log");
			SPI_connect();
			if (SPI_execute_with_args("SELECT multimaster.purge_conflicts($1)", 1, argtypes,
									  values, NULL, false, 0) != SPI_OK_SELECT)
				elog(ERROR, "could not purge the conflict log");
			SPI_finish();
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		if (!installed)
			break;

		/* purge again after half the shorter retention, at most every 10 minutes */
		sleep_ms = 600 * 1000L;
		if (mm_tombstone_retention > 0)
			sleep_ms = Min(sleep_ms, (long) mm_tombstone_retention * 500L);
		if (mm_conflict_retention > 0)
			sleep_ms = Min(sleep_ms, (long) mm_conflict_retention * 500L);
		sleep_ms = Max(sleep_ms, 1000L);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	proc_exit(0);
}
