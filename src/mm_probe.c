/*-------------------------------------------------------------------------
 *
 * mm_probe.c
 *		Checks a mesh call makes before it creates anything: on the caller,
 *		on each node, and across the nodes.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * Every node is reached and inspected (extension, superuser, wal_level,
 * free slots, senders and workers, the output plugin allowed) and any
 * problem is reported with the node and the fix, so that a call that
 * cannot succeed fails before it has touched any node.
 *
 * IDENTIFICATION
 *		src/mm_probe.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/varlena.h"

#include "mm_link.h"
#include "mm_names.h"
#include "mm_nodes.h"
#include "mm_probe.h"
#include "mm_remote.h"

void
mm_require_superuser(const char *what)
{
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s", what),
				 errhint("Only superusers can change multimaster configuration.")));
}

static bool
plugin_allowed(const char *setting)
{
	char	   *copy;
	List	   *elems;
	ListCell   *lc;

	if (setting == NULL)
		return true;			/* server predates output_plugin_libraries */
	copy = pstrdup(setting);
	if (!SplitIdentifierString(copy, ',', &elems))
		return false;
	foreach(lc, elems)
		if (strcmp((char *) lfirst(lc), MM_OUTPUT_PLUGIN) == 0)
			return true;
	return false;
}

/*
 * Connect to a node and check that it can take part in a mesh of n nodes.
 * publisher: it will serve n-1 subscribers; subscriber: it will run n-1
 * apply workers.
 */
void
mm_probe_node(MeshNode *node, int n)
{
	PGresult   *res;
	int			needed = n - 1;
	const char *label = node->r.label;

	res = mm_remote_exec(&node->r,
						 "SELECT pg_catalog.current_setting('wal_level'),"
						 " pg_catalog.current_setting('max_replication_slots')::int,"
						 " (SELECT count(*) FROM pg_catalog.pg_replication_slots)::int,"
						 " pg_catalog.current_setting('max_wal_senders')::int,"
						 " pg_catalog.current_setting('max_logical_replication_workers')::int,"
						 " pg_catalog.current_setting('max_worker_processes')::int,"
						 " (SELECT setting FROM pg_catalog.pg_settings WHERE name = 'output_plugin_libraries'),"
						 " (SELECT system_identifier FROM pg_catalog.pg_control_system())::text"
						 "   || '/' || pg_catalog.current_database(),"
						 " (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user),"
						 " (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'multimaster')",
						 0, NULL);

	if (strcmp(PQgetvalue(res, 0, 8), "t") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the role used to connect to %s is not a superuser", label),
				 errdetail("Creating replication slots and subscriptions requires a superuser."),
				 errhint("Connect as a superuser in the connection string (user=...).")));
	if (PQgetisnull(res, 0, 9))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension multimaster is not installed on %s", label),
				 errhint("Run CREATE EXTENSION multimaster in that database.")));
	if (strcmp(PQgetvalue(res, 0, 0), "logical") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("wal_level is \"%s\" on %s", PQgetvalue(res, 0, 0), label),
				 errdetail("Logical replication needs wal_level = logical."),
				 errhint("Set wal_level = logical in postgresql.conf of that server and restart it.")));
	if (!plugin_allowed(PQgetisnull(res, 0, 6) ? NULL : PQgetvalue(res, 0, 6)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s does not allow the multimaster output plugin", label),
				 errdetail("output_plugin_libraries is \"%s\".", PQgetvalue(res, 0, 6)),
				 errhint("On that node run: ALTER SYSTEM SET output_plugin_libraries = pgoutput, test_decoding, multimaster; SELECT pg_reload_conf();")));

	node->sysid_db = pstrdup(PQgetvalue(res, 0, 7));
	node->extversion = pstrdup(PQgetvalue(res, 0, 9));
	node->slots = mm_link_slots(&node->r);
	node->subs = mm_link_subscriptions(&node->r);

	{
		int			max_slots = atoi(PQgetvalue(res, 0, 1));
		int			used = atoi(PQgetvalue(res, 0, 2));
		int			free_slots = max_slots - used;
		int			ours = list_length(node->slots);
		int			max_senders = atoi(PQgetvalue(res, 0, 3));
		int			max_lrw = atoi(PQgetvalue(res, 0, 4));
		int			max_workers = atoi(PQgetvalue(res, 0, 5));

		/* slots of a previous call are reused */
		if (free_slots + Min(ours, needed) < needed)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("%s has %d free replication slots, the mesh needs %d",
							label, free_slots, needed - Min(ours, needed)),
					 errhint("Raise max_replication_slots (now %d) on that server and restart it.",
							 max_slots)));
		if (max_senders < needed)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("max_wal_senders is %d on %s, the mesh needs at least %d",
							max_senders, label, needed),
					 errhint("Raise max_wal_senders on that server and restart it.")));
		if (max_lrw < needed)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("max_logical_replication_workers is %d on %s, the mesh needs at least %d",
							max_lrw, label, needed),
					 errdetail("Each node runs one apply worker per peer."),
					 errhint("Raise max_logical_replication_workers on that server and restart it.")));
		if (max_workers < needed + 1)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("max_worker_processes is %d on %s, the mesh needs at least %d",
							max_workers, label, needed + 1),
					 errhint("Raise max_worker_processes on that server and restart it.")));
	}
	PQclear(res);

	res = mm_remote_exec(&node->r,
						 "SELECT node_id, node_name, priority FROM multimaster.nodes WHERE is_local",
						 0, NULL);
	node->had_identity = PQntuples(res) > 0;
	if (node->had_identity)
	{
		node->id = atoi(PQgetvalue(res, 0, 0));
		node->name = pstrdup(PQgetvalue(res, 0, 1));
		node->priority = atoi(PQgetvalue(res, 0, 2));
	}
	PQclear(res);

	res = mm_remote_exec(&node->r,
						 "SELECT node_id FROM multimaster.nodes WHERE NOT is_local",
						 0, NULL);
	node->known_peers = NIL;
	for (int k = 0; k < PQntuples(res); k++)
		node->known_peers = lappend_int(node->known_peers, atoi(PQgetvalue(res, k, 0)));
	PQclear(res);

	node->had_publication =
		mm_remote_value(&node->r,
						"SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = '" MM_PUBLICATION "'",
						0, NULL) != NULL;
}

/* Every node of a mesh runs the same version of the extension. */
void
mm_check_same_version(MeshNode *nodes, int n)
{
	int			i;

	for (i = 1; i < n; i++)
		if (strcmp(nodes[i].extversion, nodes[0].extversion) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%s runs multimaster %s, %s runs %s",
							nodes[i].r.label, nodes[i].extversion,
							nodes[0].r.label, nodes[0].extversion),
					 errdetail("Every node of a mesh must run the same version of the extension."),
					 errhint("Run ALTER EXTENSION multimaster UPDATE on the older nodes first.")));
}

/*
 * Before anything is registered: the table exists on every node with the
 * same columns (by name and type; the stock apply worker maps columns by
 * name, and a column missing on a node stops its links).  Names are not
 * quoted: quote_ident() follows quote_all_identifiers, which may differ
 * between nodes.
 */
void
mm_check_same_table(MeshNode *nodes, int n, const char *relname)
{
	const char *params[1] = {relname};
	char	   *first = NULL;
	int			i;

	for (i = 0; i < n; i++)
	{
		char	   *cols;

		CHECK_FOR_INTERRUPTS();
		cols = mm_remote_value(&nodes[i].r,
							   "SELECT CASE WHEN pg_catalog.to_regclass($1) IS NULL THEN NULL ELSE "
							   " coalesce((SELECT pg_catalog.string_agg(a.attname::pg_catalog.text "
							   "   OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) "
							   "   pg_catalog.format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attname) "
							   "  FROM pg_catalog.pg_attribute a "
							   "  WHERE a.attrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1) "
							   "    AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped "
							   "    AND a.attname OPERATOR(pg_catalog.<>) ALL "
							   "        (ARRAY['" MM_ORIGIN_COLUMN "', '" MM_VERSION_COLUMN "', '"
							   MM_GENERATION_COLUMN "']::pg_catalog.name[])), '') END",
							   1, params);
		if (cols == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("table %s does not exist on %s", relname, nodes[i].r.label),
					 errhint("Create it on every node first (multimaster.broadcast_ddl() can), then try again.")));
		if (first == NULL)
			first = cols;
		else if (strcmp(first, cols) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("table %s has other columns on %s than on %s",
							relname, nodes[i].r.label, nodes[0].r.label),
					 errdetail("%s: %s; %s: %s.", nodes[0].r.label, first, nodes[i].r.label, cols),
					 errhint("Make the table the same on every node, then try again.")));
	}
}
