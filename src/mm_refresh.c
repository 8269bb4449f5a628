/*-------------------------------------------------------------------------
 *
 * mm_refresh.c
 *		Subscription refresh after multimaster.add_table(), in the background.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * A table added to a publication replicates only once each subscriber has
 * run ALTER SUBSCRIPTION ... REFRESH PUBLICATION.  That statement cannot
 * run inside a function, and it is useless before the registering
 * transaction commits (the peers would not see the table in the
 * publication yet).  So add_table() starts a short-lived background worker
 * that waits for the registering transaction to end and, if it committed:
 *
 *	- refreshes this node's own multimaster subscriptions, so the table
 *	  arrives from every peer that already publishes it;
 *	- on every peer that has the table registered too, refreshes the
 *	  subscription that receives this node's changes.
 *
 * Whichever node registers the table last thus completes every link, in
 * whatever order add_table() is called across the nodes.
 *
 * IDENTIFICATION
 *		src/mm_refresh.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "mm_catalog.h"
#include "mm_link.h"
#include "mm_names.h"
#include "mm_nodes.h"
#include "mm_refresh.h"
#include "mm_remote.h"

bool		mm_auto_refresh = true;

PG_FUNCTION_INFO_V1(mm_schedule_refresh);
PGDLLEXPORT void mm_refresh_worker_main(Datum main_arg);

typedef struct RefreshRequest
{
	TransactionId xid;
	Oid			userid;
	Oid			relid;
} RefreshRequest;

/*
 * multimaster._schedule_refresh(tbl regclass): called by add_table().
 */
Datum
mm_schedule_refresh(PG_FUNCTION_ARGS)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	RefreshRequest req;

	if (!mm_auto_refresh)
		PG_RETURN_BOOL(false);

	req.xid = GetTopTransactionId();
	req.userid = GetUserId();
	req.relid = PG_GETARG_OID(0);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "multimaster");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "mm_refresh_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "multimaster refresh for table %u", req.relid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "multimaster refresh");
	worker.bgw_main_arg = ObjectIdGetDatum(MyDatabaseId);
	memcpy(worker.bgw_extra, &req, sizeof(req));
	worker.bgw_notify_pid = 0;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start a background worker to refresh the subscriptions"),
				 errhint("Raise max_worker_processes, or run SELECT multimaster.refresh_mesh(); once the table is registered on every node.")));
		PG_RETURN_BOOL(false);
	}
	PG_RETURN_BOOL(true);
}

void
mm_refresh_worker_main(Datum main_arg)
{
	RefreshRequest req;
	bool		committed;
	MeshNode   *nodes;
	int			n,
				i;
	int32		self_id;
	char	   *relname;

	memcpy(&req, MyBgworkerEntry->bgw_extra, sizeof(req));
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(main_arg), req.userid, 0);
	/* a worker's search_path is "$user", public: nothing may resolve there */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	/* wait for add_table()'s transaction to finish */
	StartTransactionCommand();
	XactLockTableWait(req.xid, NULL, NULL, XLTW_None);
	committed = TransactionIdDidCommit(req.xid);
	CommitTransactionCommand();
	if (!committed)
		proc_exit(0);

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());

	relname = get_rel_name(req.relid);
	if (relname == NULL)
		proc_exit(0);			/* dropped meanwhile */
	relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(req.relid)),
										 relname);
	self_id = mm_local_node_id(false);

	nodes = mm_connect_known_nodes(&n, true);
	for (i = 0; i < n; i++)
	{
		MMRemote   *r = &nodes[i].r;

		if (r->conn == NULL)
			continue;
		if (nodes[i].id == self_id)
			mm_refresh_node(r, true);
		else
		{
			const char *params[1] = {relname};
			PGresult   *res = mm_remote_query(r,
											  "SELECT 1 FROM multimaster.tables "
											  "WHERE relid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1)",
											  1, params, NULL);

			if (res && PQntuples(res) > 0)
				mm_refresh_link(r, mm_link_name(self_id, nodes[i].id), true);
			PQclear(res);
		}
	}
	mm_close_nodes(nodes, n);

	PopActiveSnapshot();
	CommitTransactionCommand();
	proc_exit(0);
}
