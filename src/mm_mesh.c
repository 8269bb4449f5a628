/*-------------------------------------------------------------------------
 *
 * mm_mesh.c
 *		Building and taking down the mesh: the SQL entry points that set up
 *		identities, the publication, slots and subscriptions on every node.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * Setup is checked before it starts (mm_probe.c): any problem is reported
 * with the node and the fix before anything is created.  What is created
 * (mm_link.c) is recorded, and undone in reverse order if a later step
 * fails (mm_undo.c), so a failed call leaves no half mesh behind.  Existing
 * pieces are reused, which makes every call idempotent.
 *
 * IDENTIFICATION
 *		src/mm_mesh.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "mm_catalog.h"
#include "mm_link.h"
#include "mm_names.h"
#include "mm_nodes.h"
#include "mm_probe.h"
#include "mm_remote.h"
#include "mm_undo.h"

PG_FUNCTION_INFO_V1(mm_create_mesh);
PG_FUNCTION_INFO_V1(mm_subscribe);
PG_FUNCTION_INFO_V1(mm_unsubscribe);
PG_FUNCTION_INFO_V1(mm_add_table_mesh);
PG_FUNCTION_INFO_V1(mm_remove_table_mesh);
PG_FUNCTION_INFO_V1(mm_refresh_mesh);
PG_FUNCTION_INFO_V1(mm_drop_mesh);
PG_FUNCTION_INFO_V1(mm_remove_node);
PG_FUNCTION_INFO_V1(mm_broadcast_ddl);


static void
assign_identities(MeshNode *nodes, int n)
{
	int			i,
				j;

	for (i = 0; i < n; i++)
	{
		if (nodes[i].had_identity)
			continue;
		nodes[i].id = nodes[i].pos;
		nodes[i].name = psprintf("node%d", nodes[i].id);
		nodes[i].priority = 0;
	}
	mm_check_same_version(nodes, n);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
		{
			if (strcmp(nodes[i].sysid_db, nodes[j].sysid_db) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s and %s are the same database", nodes[i].r.label, nodes[j].r.label),
						 errhint("List each node once.")));
			if (nodes[i].id == nodes[j].id || strcmp(nodes[i].name, nodes[j].name) == 0)
			{
				MeshNode   *fresh = nodes[i].had_identity ? &nodes[j] : &nodes[i];

				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_OBJECT),
						 errmsg("%s and %s would both be node %d (\"%s\")",
								nodes[i].r.label, nodes[j].r.label, nodes[i].id,
								nodes[i].id == nodes[j].id ? nodes[i].name : nodes[j].name),
						 nodes[i].had_identity && nodes[j].had_identity ?
						 errdetail("Both were initialized with that identity.") :
						 errdetail("Nodes without an identity take their position in the list as id."),
						 errhint("Give %s an unused id and name with multimaster.init_node() first.",
								 fresh->r.label)));
			}
		}
}

/*
 * multimaster.create_mesh(dsns text[])
 */
Datum
mm_create_mesh(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	MeshNode   *nodes;
	int			n,
				i,
				j;
	MMUndo	   *undo;

	mm_require_superuser("create a multimaster mesh");
	PreventInTransactionBlock(true, "multimaster.create_mesh()");

	nodes = mm_connect_dsns(arr, &n);
	undo = mm_undo_begin(nodes, n);

	/* check everything before creating anything */
	PG_TRY();
	{
		for (i = 0; i < n; i++)
			mm_probe_node(&nodes[i], n);
		assign_identities(nodes, n);
	}
	PG_CATCH();
	{
		mm_undo_fail(undo);
	}
	PG_END_TRY();

	PG_TRY();
	{
		for (i = 0; i < n; i++)
		{
			if (!nodes[i].had_identity)
			{
				char		idbuf[16];
				const char *params[2];

				snprintf(idbuf, sizeof(idbuf), "%d", nodes[i].id);
				params[0] = idbuf;
				params[1] = nodes[i].name;
				PQclear(mm_remote_exec(&nodes[i].r,
									   "SELECT multimaster.init_node($1::int, $2)",
									   2, params));
				mm_add_undo(&undo->steps, &nodes[i].r, mm_undo_sql,
							"DELETE FROM multimaster.nodes WHERE is_local; "
							"SELECT multimaster._invalidate_cache()");
			}
		}
		for (i = 0; i < n; i++)
			for (j = 0; j < n; j++)
			{
				mm_register_peer(&nodes[i].r, nodes[j].id, nodes[j].name,
								 nodes[j].priority, nodes[j].dsn);
				/* a peer this call made known is forgotten again */
				if (i != j && !list_member_int(nodes[i].known_peers, nodes[j].id))
					mm_add_undo(&undo->steps, &nodes[i].r, mm_undo_sql,
								psprintf("DELETE FROM multimaster.nodes "
										 "WHERE node_id OPERATOR(pg_catalog.=) %d AND NOT is_local; "
										 "SELECT multimaster._invalidate_cache()",
										 nodes[j].id));
			}
		for (i = 0; i < n; i++)
			mm_ensure_publication(&nodes[i], &undo->steps);
		for (i = 0; i < n; i++)
			for (j = 0; j < n; j++)
				if (i != j)
					mm_create_link(&nodes[i], &nodes[j], i == 0, &undo->steps);
	}
	PG_CATCH();
	{
		mm_undo_fail(undo);
	}
	PG_END_TRY();

	mm_close_nodes(nodes, n);
	PG_RETURN_VOID();
}

/*
 * multimaster.refresh_mesh()
 */
Datum
mm_refresh_mesh(PG_FUNCTION_ARGS)
{
	MeshNode   *nodes;
	int			n,
				i;
	MMUndo	   *undo;

	mm_require_superuser("refresh the multimaster mesh");
	PreventInTransactionBlock(true, "multimaster.refresh_mesh()");

	nodes = mm_connect_known_nodes(&n, true);
	undo = mm_undo_begin(nodes, n);
	PG_TRY();
	{
		for (i = 0; i < n; i++)
			mm_refresh_node(&nodes[i].r, false);
	}
	PG_CATCH();
	{
		mm_undo_fail(undo);
	}
	PG_END_TRY();
	mm_close_nodes(nodes, n);
	PG_RETURN_VOID();
}

/*
 * multimaster.add_table_mesh(tbl regclass, policy text, version_source text)
 */
Datum
mm_add_table_mesh(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *relname;
	const char *params[3];
	MeshNode   *nodes;
	int			n,
				i;
	MMUndo	   *undo;

	mm_require_superuser("register a table with multimaster");
	PreventInTransactionBlock(true, "multimaster.add_table_mesh()");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table and policy must not be NULL")));
	relid = PG_GETARG_OID(0);
	relname = mm_qualified_relname(relid);
	params[0] = relname;
	params[1] = TextDatumGetCString(PG_GETARG_DATUM(1));
	params[2] = PG_ARGISNULL(2) ? "hlc" : TextDatumGetCString(PG_GETARG_DATUM(2));

	nodes = mm_connect_known_nodes(&n, false);
	undo = mm_undo_begin(nodes, n);
	PG_TRY();
	{
		mm_check_same_table(nodes, n, relname);
		for (i = 0; i < n; i++)
		{
			/* refreshed below, once registered everywhere */
			PQclear(mm_remote_exec(&nodes[i].r,
								   "SET multimaster.auto_refresh = off", 0, NULL));
			PQclear(mm_remote_exec(&nodes[i].r,
								   "SELECT multimaster.add_table($1::regclass, $2, $3)",
								   3, params));
		}
		for (i = 0; i < n; i++)
			mm_refresh_node(&nodes[i].r, false);
	}
	PG_CATCH();
	{
		mm_undo_fail(undo);
	}
	PG_END_TRY();
	mm_close_nodes(nodes, n);
	PG_RETURN_VOID();
}

/* wait_for_sync() on every node; an error names the first that timed out */
static void
wait_all_synced(MeshNode *nodes, int n, const char *relname)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		char	   *synced = mm_remote_value(&nodes[i].r,
											 "SELECT multimaster.wait_for_sync()",
											 0, NULL);

		if (synced == NULL || strcmp(synced, "t") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%s did not apply the changes in flight in time", nodes[i].r.label),
					 errdetail("Table %s is no longer published by any node; it may still be registered on some.", relname),
					 errhint("Check multimaster.status on that node, then call multimaster.remove_table_mesh() again to finish.")));
	}
}

/*
 * multimaster.remove_table_mesh(tbl regclass, drop_columns boolean)
 *
 * Removing a table on one node while peers write would stop the links into
 * that node: their changes of it are in their WAL already.  So, in order:
 * every node stops publishing it (later changes are not sent), every node
 * applies whatever was sent before (wait_for_sync), and only then does
 * every node unregister it.  Each step is idempotent: after a failure (a
 * node unreachable, a sync timeout) the same call finishes the job.
 */
Datum
mm_remove_table_mesh(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *relname;
	const char *params[2];
	MeshNode   *nodes;
	int			n,
				i;
	MMUndo	   *undo;

	mm_require_superuser("unregister a table from multimaster");
	PreventInTransactionBlock(true, "multimaster.remove_table_mesh()");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be NULL")));
	relid = PG_GETARG_OID(0);
	relname = mm_qualified_relname(relid);
	params[0] = relname;
	params[1] = (PG_ARGISNULL(1) || PG_GETARG_BOOL(1)) ? "true" : "false";

	nodes = mm_connect_known_nodes(&n, false);
	undo = mm_undo_begin(nodes, n);
	PG_TRY();
	{
		for (i = 0; i < n; i++)
			PQclear(mm_remote_exec(&nodes[i].r,
								   "SELECT multimaster._unpublish_table($1::regclass)",
								   1, params));
		wait_all_synced(nodes, n, relname);
		for (i = 0; i < n; i++)
			PQclear(mm_remote_exec(&nodes[i].r,
								   "SELECT multimaster._remove_table_local($1::regclass, $2::boolean)",
								   2, params));

		/*
		 * Deletes on a node not yet unregistered still wrote
		 * tombstones, which reached nodes unregistered before it:
		 * once they have arrived everywhere, sweep them away.
		 */
		wait_all_synced(nodes, n, relname);
		for (i = 0; i < n; i++)
			PQclear(mm_remote_exec(&nodes[i].r,
								   "SELECT multimaster._remove_table_local($1::regclass, $2::boolean)",
								   2, params));
		for (i = 0; i < n; i++)
			mm_refresh_node(&nodes[i].r, false);
	}
	PG_CATCH();
	{
		mm_undo_fail(undo);
	}
	PG_END_TRY();
	mm_close_nodes(nodes, n);
	PG_RETURN_VOID();
}

/*
 * multimaster.drop_mesh()
 */
Datum
mm_drop_mesh(PG_FUNCTION_ARGS)
{
	MeshNode   *nodes;
	int			n,
				i;

	mm_require_superuser("drop the multimaster mesh");
	PreventInTransactionBlock(true, "multimaster.drop_mesh()");

	nodes = mm_connect_known_nodes(&n, true);
	PG_TRY();
	{
		/* subscriptions first everywhere, so that slots become inactive */
		for (i = 0; i < n; i++)
			mm_drop_node_links(&nodes[i].r, 0, false);
		for (i = 0; i < n; i++)
		{
			mm_drop_node_links(&nodes[i].r, 0, true);
			if (nodes[i].r.conn)
				(void) mm_remote_try(&nodes[i].r,
									 "DELETE FROM multimaster.nodes WHERE NOT is_local", 0, NULL);
		}
	}
	PG_FINALLY();
	{
		mm_close_nodes(nodes, n);
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}

/*
 * Before its links go, the removed node's stream is cut at one position for
 * all: its publication stops publishing (a change committed after that is
										  * decoded with the new publication and sent to nobody), then every other
 * node applies everything before the cut.  Without it, the last writes of
 * the removed node would reach some nodes and not others, and they would
 * stay different (no node relays another's writes).  When the node cannot
 * be reached, the others may hold different subsets of its last writes:
 * say so.
 */
static void
cut_node_stream(MeshNode *nodes, int n, int32 target_id)
{
	MeshNode   *target = NULL;
	MMSlotTarget *targets = palloc0(n * sizeof(MMSlotTarget));
	int			ntargets = 0;
	char	   *why = NULL;
	char	   *lsn;
	XLogRecPtr	cut;
	int			i;

	for (i = 0; i < n; i++)
		if (nodes[i].id == target_id)
			target = &nodes[i];
	if (target == NULL || target->r.conn == NULL)
	{
		ereport(WARNING,
				(errmsg("node %d cannot be reached: the other nodes may hold different parts of its last writes",
						target_id),
				 errhint("Compare the tables with multimaster.compare_table() once it is removed.")));
		return;
	}
	PQclear(mm_remote_exec(&target->r, "ALTER PUBLICATION " MM_PUBLICATION " SET (publish = '')", 0, NULL));
	lsn = mm_remote_value(&target->r, "SELECT pg_catalog.pg_current_wal_insert_lsn()::pg_catalog.text",
						  0, NULL);
	cut = DatumGetLSN(DirectFunctionCall1(pg_lsn_in, CStringGetDatum(lsn)));
	for (i = 0; i < n; i++)
	{
		if (&nodes[i] == target || nodes[i].r.conn == NULL)
			continue;
		targets[ntargets].node = target - nodes;
		targets[ntargets].slot = mm_link_name(target_id, nodes[i].id);
		targets[ntargets].target = cut;
		ntargets++;
	}
	if (!mm_wait_slots(nodes, targets, ntargets,
					   TimestampTzPlusMilliseconds(GetCurrentTimestamp(), mm_remote_timeout * 1000L),
					   &why))
		ereport(WARNING,
				(errmsg("not every node has applied the last writes of node %d", target_id),
				 errdetail_internal("%s", why),
				 errhint("Compare the tables with multimaster.compare_table() once it is removed.")));
}

/*
 * multimaster.remove_node(node_name text)
 */
Datum
mm_remove_node(PG_FUNCTION_ARGS)
{
	char	   *target = text_to_cstring(PG_GETARG_TEXT_PP(0));
	MeshNode   *nodes;
	int			n,
				i;
	int32		target_id = 0;

	mm_require_superuser("remove a node from the multimaster mesh");
	PreventInTransactionBlock(true, "multimaster.remove_node()");

	nodes = mm_connect_known_nodes(&n, true);
	for (i = 0; i < n; i++)
		if (strcmp(nodes[i].name, target) == 0)
			target_id = nodes[i].id;
	if (target_id == 0)
	{
		mm_close_nodes(nodes, n);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("node \"%s\" is not part of the mesh", target),
				 errhint("The nodes are listed in multimaster.nodes.")));
	}

	PG_TRY();
	{
		const char *params[1];
		char		idbuf[16];

		snprintf(idbuf, sizeof(idbuf), "%d", target_id);
		params[0] = idbuf;

		cut_node_stream(nodes, n, target_id);

		/* the removed node stops receiving, the others stop receiving from it */
		for (i = 0; i < n; i++)
			mm_drop_node_links(&nodes[i].r, nodes[i].id == target_id ? 0 : target_id, false);
		for (i = 0; i < n; i++)
		{
			if (nodes[i].r.conn == NULL)
				continue;
			if (nodes[i].id == target_id)
			{
				mm_drop_node_links(&nodes[i].r, 0, true);
				(void) mm_remote_try(&nodes[i].r,
									 "DELETE FROM multimaster.nodes WHERE NOT is_local", 0, NULL);
			}
			else
				(void) mm_remote_try(&nodes[i].r,
									 "DELETE FROM multimaster.nodes WHERE node_id = $1::int AND NOT is_local",
									 1, params);
		}
	}
	PG_FINALLY();
	{
		mm_close_nodes(nodes, n);
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}

/*
 * multimaster.subscribe(peer_dsn text, copy_data boolean)
 */
Datum
mm_subscribe(PG_FUNCTION_ARGS)
{
	char	   *peer_dsn = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		copy_data = PG_GETARG_BOOL(1);
	MeshNode	nodes[2];
	MMUndo	   *undo;

	mm_require_superuser("subscribe to a multimaster peer");
	PreventInTransactionBlock(true, "multimaster.subscribe()");

	memset(nodes, 0, sizeof(nodes));
	nodes[0].dsn = mm_self_dsn();
	nodes[0].pos = 1;
	nodes[1].dsn = peer_dsn;
	mm_warn_if_password(peer_dsn, "the peer");
	nodes[1].pos = 2;
	mm_remote_connect(&nodes[0].r, nodes[0].dsn, "this node", false, NULL);
	undo = mm_undo_begin(nodes, 2);
	PG_TRY();
	{
		mm_remote_connect(&nodes[1].r, peer_dsn, "the peer", false, NULL);
		nodes[1].r.label = psprintf("the peer (%s:%s)", PQhost(nodes[1].r.conn),
									PQport(nodes[1].r.conn));
		mm_probe_node(&nodes[0], 2);
		mm_probe_node(&nodes[1], 2);
		mm_check_same_version(nodes, 2);
		if (!nodes[0].had_identity)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("this node has no multimaster identity yet"),
					 errhint("Call multimaster.init_node(node_id, node_name) first.")));
		if (!nodes[1].had_identity)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%s has no multimaster identity yet", nodes[1].r.label),
					 errhint("Call multimaster.init_node(node_id, node_name) on the peer first.")));
		if (strcmp(nodes[0].sysid_db, nodes[1].sysid_db) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a node cannot subscribe to itself")));
		if (nodes[0].id == nodes[1].id)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("%s has the same node id %d as this node", nodes[1].r.label,
							nodes[0].id),
					 errhint("Every node of a mesh needs its own id.")));

		mm_register_peer(&nodes[0].r, nodes[1].id, nodes[1].name, nodes[1].priority,
						 peer_dsn);
		mm_register_peer(&nodes[1].r, nodes[0].id, nodes[0].name, nodes[0].priority,
						 NULL);
		mm_ensure_publication(&nodes[1], &undo->steps);
		mm_create_link(&nodes[1], &nodes[0], copy_data, &undo->steps);
	}
	PG_CATCH();
	{
		mm_undo_fail(undo);
	}
	PG_END_TRY();
	mm_close_nodes(nodes, 2);
	PG_RETURN_VOID();
}

/*
 * multimaster.unsubscribe(peer_dsn text)
 */
Datum
mm_unsubscribe(PG_FUNCTION_ARGS)
{
	char	   *peer_dsn = text_to_cstring(PG_GETARG_TEXT_PP(0));
	MMRemote	self,
				peer;
	char	   *err = NULL;
	char	   *name = NULL;
	int32		local_id = mm_local_node_id(false);
	bool		reachable;

	mm_require_superuser("unsubscribe from a multimaster peer");
	PreventInTransactionBlock(true, "multimaster.unsubscribe()");

	mm_remote_connect(&self, mm_self_dsn(), "this node", false, NULL);
	reachable = mm_remote_connect(&peer, peer_dsn, "the peer", true, &err);
	PG_TRY();
	{
		if (reachable)
		{
			char	   *peer_id = mm_remote_value(&peer,
												  "SELECT node_id FROM multimaster.nodes WHERE is_local",
												  0, NULL);

			if (peer_id)
				name = mm_link_name(atoi(peer_id), local_id);
		}
		else
		{
			const char *params[1] = {peer_dsn};

			name = mm_remote_value(&self,
								   "SELECT s.subname FROM pg_catalog.pg_subscription s "
								   "WHERE s.subconninfo OPERATOR(pg_catalog.=) $1::pg_catalog.text AND s.subname::pg_catalog.text OPERATOR(pg_catalog.~) '" MM_LINK_NAME_PATTERN "'::pg_catalog.text",
								   1, params);
		}
		if (name == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("this node has no multimaster subscription to that peer"),
					 reachable ? 0 : errdetail_internal("The peer could not be reached: %s", err)));

		(void) mm_drop_subscription(&self, name);
		if (reachable)
			(void) mm_drop_slot(&peer, name);
		else
			ereport(WARNING,
					(errmsg("replication slot \"%s\" on the unreachable peer was not dropped", name),
					 errhint("Drop it there with pg_drop_replication_slot(); a slot left behind retains WAL.")));
	}
	PG_FINALLY();
	{
		mm_remote_close(&self);
		mm_remote_close(&peer);
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}

/*
 * multimaster.broadcast_ddl(command text)
 *
 * Not atomic across nodes: each node commits on its own.  The nodes are
 * taken in id order and the first failure stops the broadcast, naming the
 * nodes already done, so that the operator knows where to resume.
 */
Datum
mm_broadcast_ddl(PG_FUNCTION_ARGS)
{
	char	   *command = text_to_cstring(PG_GETARG_TEXT_PP(0));
	MeshNode   *nodes;
	int			n,
				i;
	StringInfoData done;

	mm_require_superuser("broadcast a command to the multimaster mesh");
	PreventInTransactionBlock(true, "multimaster.broadcast_ddl()");

	initStringInfo(&done);
	nodes = mm_connect_known_nodes(&n, false);
	PG_TRY();
	{
		for (i = 0; i < n; i++)
		{
			char	   *msg = NULL;
			PGresult   *res;

			CHECK_FOR_INTERRUPTS();

			/*
			 * The user's command means what it would typed on that node:
			 * the connecting role's own search_path there, not the one
			 * pinned for the extension's statements.
			 */
			PQclear(mm_remote_exec(&nodes[i].r, "RESET search_path", 0, NULL));
			res = mm_remote_query(&nodes[i].r, command, 0, NULL, &msg);
			if (res == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_CONNECTION_EXCEPTION),
						 errmsg("command failed on %s", nodes[i].r.label),
						 errdetail_internal("%s", msg),
						 done.len > 0 ?
						 errhint("It was already run on %s; run it on the remaining nodes once fixed.", done.data) :
						 errhint("It was not run on any node.")));
			PQclear(res);
			appendStringInfo(&done, "%s%s", done.len > 0 ? ", " : "", nodes[i].r.label);
		}
	}
	PG_FINALLY();
	{
		mm_close_nodes(nodes, n);
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}
