/*-------------------------------------------------------------------------
 *
 * mm_status.c
 *		Watching the mesh: peer slots, waiting for sync, comparing tables.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * "Synced with a peer" is judged on the peer: its slot for this node has
 * confirmed (the apply worker here reports only what it has applied and
 * flushed) a position at or past the peer's WAL position at the time of
 * the call.  Idle walsenders keep confirming through keepalives, so this
 * holds even when the peer's last WAL is not a replicated change.
 *
 * IDENTIFICATION
 *		src/mm_status.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_subscription.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "mm_catalog.h"
#include "mm_names.h"
#include "mm_nodes.h"
#include "mm_remote.h"

PG_FUNCTION_INFO_V1(mm_wait_for_sync);
PG_FUNCTION_INFO_V1(mm_compare_table);
PG_FUNCTION_INFO_V1(mm_peer_slot);

typedef struct SyncPeer
{
	char	   *subname;
	char	   *slot;
	Oid			subid;
	MMRemote	r;
	char	   *target;			/* peer's WAL position at the call */
	bool		done;
} SyncPeer;

/*
 * Are all tables of the subscription synchronised?  Not read-only: each
 * call must take a new snapshot, to see the tablesync workers' progress.
 */
static bool
tables_ready(Oid subid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(subid)};
	bool		isnull;

	if (SPI_execute_with_args("SELECT pg_catalog.count(*) FROM pg_catalog.pg_subscription_rel "
							  "WHERE srsubid OPERATOR(pg_catalog.=) $1 "
							  "AND srsubstate OPERATOR(pg_catalog.<>) 'r'::pg_catalog.\"char\"",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_subscription_rel");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									   1, &isnull)) == 0;
}

/*
 * multimaster.wait_for_sync(timeout interval) returns boolean
 */
Datum
mm_wait_for_sync(PG_FUNCTION_ARGS)
{
	Interval   *timeout = PG_GETARG_INTERVAL_P(0);
	TimestampTz deadline;
	SyncPeer   *peers;
	int			npeers,
				i,
				pending;
	bool		ok = true;
	MemoryContext caller = CurrentMemoryContext;

	deadline = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													   TimestampTzGetDatum(GetCurrentTimestamp()),
													   IntervalPGetDatum(timeout)));

	SPI_connect();
	if (SPI_execute("SELECT s.oid, s.subname, s.subconninfo, s.subslotname, s.subenabled "
					"FROM pg_catalog.pg_subscription s "
					"JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.subdbid "
					"WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database() "
					"AND s.subname::pg_catalog.text OPERATOR(pg_catalog.~) '" MM_LINK_NAME_PATTERN "'::pg_catalog.text", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_subscription");

	npeers = (int) SPI_processed;
	peers = MemoryContextAllocZero(caller, Max(npeers, 1) * sizeof(SyncPeer));
	for (i = 0; i < npeers; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(caller);

		peers[i].subid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		peers[i].subname = pstrdup(SPI_getvalue(tup, desc, 2));
		peers[i].slot = SPI_getvalue(tup, desc, 4);
		if (!DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull)) || peers[i].slot == NULL)
		{
			ereport(NOTICE,
					(errmsg("subscription \"%s\" is disabled or has no slot, so it cannot sync",
							peers[i].subname)));
			peers[i].done = true;
			ok = false;
		}
		else
		{
			char	   *err = NULL;
			char	   *dsn = SPI_getvalue(tup, desc, 3);

			if (!mm_remote_connect(&peers[i].r, dsn,
								   psprintf("the peer of subscription \"%s\"", peers[i].subname),
								   true, &err))
			{
				ereport(NOTICE,
						(errmsg("the peer of subscription \"%s\" cannot be reached",
								peers[i].subname),
						 errdetail_internal("%s", err)));
				peers[i].done = true;
				ok = false;
			}
		}
		MemoryContextSwitchTo(old);
	}

	PG_TRY();
	{
		for (i = 0; i < npeers; i++)
			if (!peers[i].done)
				peers[i].target = mm_remote_value(&peers[i].r,
												  "SELECT pg_catalog.pg_current_wal_lsn()::text",
												  0, NULL);

		for (;;)
		{
			pending = 0;
			for (i = 0; i < npeers; i++)
			{
				const char *params[2];
				char	   *reached;

				if (peers[i].done)
					continue;
				params[0] = peers[i].target;
				params[1] = peers[i].slot;
				reached = mm_remote_value(&peers[i].r,
										  "SELECT confirmed_flush_lsn OPERATOR(pg_catalog.>=) $1::pg_catalog.pg_lsn "
										  "FROM pg_catalog.pg_replication_slots "
										  "WHERE slot_name OPERATOR(pg_catalog.=) $2::pg_catalog.name",
										  2, params);
				if (reached && strcmp(reached, "t") == 0 && tables_ready(peers[i].subid))
				{
					peers[i].done = true;
					mm_remote_close(&peers[i].r);
				}
				else
					pending++;
			}
			if (pending == 0 || GetCurrentTimestamp() >= deadline)
				break;
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 100L, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}

		for (i = 0; i < npeers; i++)
			if (!peers[i].done)
			{
				ereport(NOTICE,
						(errmsg("subscription \"%s\" has not caught up with its peer's position %s",
								peers[i].subname, peers[i].target)));
				ok = false;
			}
	}
	PG_FINALLY();
	{
		for (i = 0; i < npeers; i++)
			mm_remote_close(&peers[i].r);
	}
	PG_END_TRY();

	SPI_finish();
	PG_RETURN_BOOL(ok);
}

/*
 * multimaster.compare_table(tbl regclass)
 *		-> (node_id, node_name, row_count, checksum, consistent)
 *
 * The checksum is the classic sum(hashtext(row::text)) over whole rows,
 * versions included, computed on every node in a session with the same
 * TimeZone, DateStyle and float settings so that equal rows hash equally.
 */
Datum
mm_compare_table(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid = PG_GETARG_OID(0);
	char	   *relname;
	char	   *sql;
	MeshNode   *nodes;
	int			n,
				i;
	char	  **counts;
	char	  **sums;
	bool		consistent = true;

	InitMaterializedSRF(fcinfo, 0);

	relname = mm_qualified_relname(relid);
	/* the same output settings everywhere, so that equal rows hash equally */
	sql = psprintf("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; "
				   "SET IntervalStyle = 'postgres'; SET extra_float_digits = 3; "
				   "SET bytea_output = 'hex'; "
				   "SELECT count(*)::text, coalesce(sum(pg_catalog.hashtext(t::text)), 0)::text "
				   "FROM %s t", relname);

	nodes = mm_connect_known_nodes(&n, true);
	counts = palloc0(Max(n, 1) * sizeof(char *));
	sums = palloc0(Max(n, 1) * sizeof(char *));
	PG_TRY();
	{
		for (i = 0; i < n; i++)
		{
			PGresult   *res;

			if (nodes[i].r.conn == NULL)
			{
				consistent = false;
				continue;
			}
			res = mm_remote_exec(&nodes[i].r, sql, 0, NULL);
			counts[i] = pstrdup(PQgetvalue(res, 0, 0));
			sums[i] = pstrdup(PQgetvalue(res, 0, 1));
			PQclear(res);
			if (i > 0 && counts[0] && (strcmp(counts[i], counts[0]) != 0 ||
									   strcmp(sums[i], sums[0]) != 0))
				consistent = false;
		}
	}
	PG_FINALLY();
	{
		mm_close_nodes(nodes, n);
	}
	PG_END_TRY();
	if (n == 0)
		consistent = false;

	for (i = 0; i < n; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = Int32GetDatum(nodes[i].id);
		values[1] = CStringGetTextDatum(nodes[i].name);
		if (counts[i])
		{
			values[2] = Int64GetDatum(pg_strtoint64(counts[i]));
			values[3] = Int64GetDatum(pg_strtoint64(sums[i]));
		}
		else
			nulls[2] = nulls[3] = true;
		values[4] = BoolGetDatum(consistent);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * multimaster._peer_slot(subscription oid)
 *
 * Position and retained WAL of the slot of one of this database's
 * multimaster subscriptions, on its peer, or the error reaching it.  It
 * takes a subscription, never a connection string, so that granting it to
 * a monitoring role (the status view needs it) lets that role reach only
 * the configured peers, as the server does for replication anyway.
 */
Datum
mm_peer_slot(PG_FUNCTION_ARGS)
{
	Oid			subid = PG_GETARG_OID(0);
	Subscription *sub;
	int32		publisher,
				subscriber;
	TupleDesc	desc;
	Datum		values[5];
	bool		nulls[5] = {true, true, true, true, true};
	MMRemote	r;
	char	   *err = NULL;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	sub = GetSubscription(subid, true);
	if (sub == NULL || sub->dbid != MyDatabaseId ||
		!mm_link_parse(sub->name, &publisher, &subscriber))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%u is not a multimaster subscription of this database", subid)));

	if (sub->slotname == NULL)
	{
		values[4] = CStringGetTextDatum("the subscription has no slot");
		nulls[4] = false;
	}
	else if (!mm_remote_connect(&r, sub->conninfo, "peer", true, &err))
	{
		values[4] = CStringGetTextDatum(psprintf("peer unreachable: %s", err));
		nulls[4] = false;
	}
	else
	{
		const char *params[1] = {sub->slotname};
		PGresult   *res = mm_remote_query(&r,
										  "SELECT pg_catalog.pg_current_wal_lsn()::text, "
										  " s.confirmed_flush_lsn::text, "
										  " pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn)::bigint::text, "
										  " s.active::text "
										  "FROM pg_catalog.pg_replication_slots s "
										  "WHERE s.slot_name OPERATOR(pg_catalog.=) $1::pg_catalog.name",
										  1, params, &err);

		if (res == NULL)
		{
			values[4] = CStringGetTextDatum(err);
			nulls[4] = false;
		}
		else if (PQntuples(res) == 0)
		{
			values[4] = CStringGetTextDatum(psprintf("slot \"%s\" does not exist on the peer", sub->slotname));
			nulls[4] = false;
		}
		else
		{
			int			c;

			for (c = 0; c < 4; c++)
			{
				char	   *v = PQgetisnull(res, 0, c) ? NULL : PQgetvalue(res, 0, c);

				if (v == NULL)
					continue;
				nulls[c] = false;
				switch (c)
				{
					case 0:
					case 1:
						values[c] = DirectFunctionCall1(pg_lsn_in, CStringGetDatum(v));
						break;
					case 2:
						values[c] = Int64GetDatum(pg_strtoint64(v));
						break;
					case 3:
						values[c] = BoolGetDatum(strcmp(v, "true") == 0);
						break;
				}
			}
		}
		PQclear(res);
		mm_remote_close(&r);
	}

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
