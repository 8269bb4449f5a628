/*-------------------------------------------------------------------------
 *
 * multimaster.c
 *		Module initialization, configuration, small SQL-callable helpers.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * One shared library plays three roles: the row triggers (mm_trigger.c),
 * the logical decoding output plugin (mm_output.c), and the SQL functions
 * that build and inspect the mesh.  It needs no shared_preload_libraries:
 * every backend loads it on first use.
 *
 * IDENTIFICATION
 *		src/multimaster.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"

#include "mm_apply.h"
#include "mm_catalog.h"
#include "mm_conflict.h"
#include "mm_tombstone.h"
#include "mm_version.h"
#include "mm_nodes.h"
#include "mm_purge.h"
#include "mm_refresh.h"
#include "mm_remote.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

PG_FUNCTION_INFO_V1(mm_check_policy);
PG_FUNCTION_INFO_V1(mm_invalidate_cache);
PG_FUNCTION_INFO_V1(mm_local_node_id_sql);

void
_PG_init(void)
{
	DefineCustomBoolVariable("multimaster.log_conflicts",
							 "Records resolved conflicts in multimaster.conflicts.",
							 NULL,
							 &mm_log_conflicts,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("multimaster.log_conflict_rows",
							 "Also records the local and remote rows of each conflict.",
							 "The rows are stored as text in multimaster.conflicts.",
							 &mm_log_conflict_rows,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("multimaster.auto_refresh",
							 "Refreshes the mesh's subscriptions after multimaster.add_table().",
							 "A background worker does it once the registering transaction commits.",
							 &mm_auto_refresh,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("multimaster.connect_timeout",
							"Seconds a connection to a node may take before it is given up.",
							"Applies whatever connect_timeout the connection string sets.",
							&mm_connect_timeout,
							10, 1, 3600,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multimaster.remote_timeout",
							"Seconds a statement on another node may run before it is cancelled.",
							NULL,
							&mm_remote_timeout,
							300, 1, 86400,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multimaster.max_future_version",
							"Seconds ahead of the clock a version taken from a user column may be.",
							"A later reading is refused: it would pin the row mesh-wide.",
							&mm_max_future_version,
							300, 0, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multimaster.tombstone_retention",
							"Age after which the background worker purges tombstones; 0 turns it off.",
							"A tombstone goes only once every peer has passed it as well.",
							&mm_tombstone_retention,
							7 * 24 * 3600, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multimaster.conflict_retention",
							"Age after which the background worker removes conflict log entries; 0 keeps them.",
							NULL,
							&mm_conflict_retention,
							30 * 24 * 3600, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multimaster.purge_wait",
							"Seconds a tombstone purge waits for the peers to pass its horizon.",
							"When they have not, no tombstone is purged this time.",
							&mm_purge_wait,
							60, 0, 3600,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomStringVariable("multimaster.node_dsn",
							   "Connection string by which the other nodes reach this one, for join_mesh().",
							   "Empty: the address this node's connection to the peer comes from, or this server's socket directory.",
							   &mm_node_dsn,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	MarkGUCPrefixReserved("multimaster");

	mm_catalog_init();
	mm_apply_init();
	mm_tombstone_init();
}

/*
 * multimaster.check_policy(text): canonical policy name, or an error.
 */
Datum
mm_check_policy(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_TEXT_P(cstring_to_text(mm_policy_name(mm_parse_policy(name))));
}

/*
 * multimaster._invalidate_cache(): node identity, priorities or tombstone
 * floors changed.
 * The invalidation reaches every backend when this transaction commits.
 */
Datum
mm_invalidate_cache(PG_FUNCTION_ARGS)
{
	mm_invalidate_caches();
	PG_RETURN_VOID();
}

Datum
mm_local_node_id_sql(PG_FUNCTION_ARGS)
{
	int32		id = mm_local_node_id(true);

	if (id == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT32(id);
}
