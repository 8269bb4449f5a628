/*-------------------------------------------------------------------------
 *
 * mm_ddl.c
 *		Schema changes on every node, recorded so that none goes unnoticed.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * Logical replication carries rows, not DDL.  multimaster.replicate_ddl()
 * runs one command on every node, in node id order, each node in one
 * transaction that also records the command in that node's
 * multimaster.ddl_history under an id of the call.  A node where it fails
 * stops the call: the nodes before it have the change, the others do not,
 * and the history says which.  multimaster.ddl_status() shows, per command,
 * the nodes that have it; replicate_ddl_finish(id) runs it where it is
 * missing, replicate_ddl_undo(id, command) runs an inverse where it was
 * applied.  Afterwards the registered tables are compared across nodes,
 * with a warning naming any that differ.
 *
 * By default the call first waits until every node has applied everything
 * its peers sent (wait_for_sync on each), so that no change written under
 * the old schema is still in flight when the schema changes.  Writes may go
 * on meanwhile; a change that needs the new schema reaches a node that has
 * it already or waits (its link retries) until the node has it.
 *
 * IDENTIFICATION
 *		src/mm_ddl.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "nodes/parsenodes.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/timestamp.h"

#include "mm_catalog.h"
#include "mm_nodes.h"
#include "mm_probe.h"
#include "mm_remote.h"

PG_FUNCTION_INFO_V1(mm_replicate_ddl);
PG_FUNCTION_INFO_V1(mm_replicate_ddl_finish);
PG_FUNCTION_INFO_V1(mm_replicate_ddl_undo);
PG_FUNCTION_INFO_V1(mm_ddl_status);
PG_FUNCTION_INFO_V1(mm_replicate_ddl_concurrently);

/* A command that cannot run inside a transaction block. */
static bool
outside_transaction(const char *command)
{
	char	   *lower = asc_tolower(command, strlen(command));

	while (*lower == ' ' || *lower == '\t' || *lower == '\n')
		lower++;
	return strstr(lower, "concurrently") != NULL || strncmp(lower, "vacuum", 6) == 0;
}

/* A command that waits for every older snapshot, this call's own too. */
static bool
waits_for_snapshots(const char *command)
{
	return strstr(asc_tolower(command, strlen(command)), "concurrently") != NULL;
}

/*
 * Run 'command' on one node and record it under 'id' in its history, as one
 * transaction where the command allows.  The command runs with the
 * connecting role's own search_path there, as if typed on that node.
 * Returns NULL, or the node's error.
 */
static char *
apply_on(MeshNode *node, const char *id, const char *command, int32 issued_by)
{
	bool		own_xact = !outside_transaction(command);
	char		byid[16];
	const char *params[3];
	char	   *msg = NULL;
	PGresult   *res;

	snprintf(byid, sizeof(byid), "%d", issued_by);
	params[0] = id;
	params[1] = command;
	params[2] = byid;
	if (own_xact)
		PQclear(mm_remote_exec(&node->r, "BEGIN", 0, NULL));
	PQclear(mm_remote_exec(&node->r, "RESET search_path", 0, NULL));
	res = mm_remote_query(&node->r, command, 0, NULL, &msg);
	if (res == NULL)
	{
		if (own_xact)
			(void) mm_remote_try(&node->r, "ROLLBACK", 0, NULL);
		(void) mm_remote_try(&node->r, "SET search_path = pg_catalog, pg_temp", 0, NULL);
		return msg ? msg : pstrdup("unknown error");
	}
	PQclear(res);
	PQclear(mm_remote_exec(&node->r, "SET search_path = pg_catalog, pg_temp", 0, NULL));
	PQclear(mm_remote_exec(&node->r,
						   "INSERT INTO multimaster.ddl_history (ddl_id, command, issued_by) "
						   "VALUES ($1, $2, $3::pg_catalog.int4)",
						   3, params));
	if (own_xact)
		PQclear(mm_remote_exec(&node->r, "COMMIT", 0, NULL));
	return NULL;
}

/* Does the node's history hold 'id'? */
static bool
has_applied(MeshNode *node, const char *id, char **command)
{
	const char *params[1] = {id};
	char	   *c = mm_remote_value(&node->r,
									"SELECT command FROM multimaster.ddl_history WHERE ddl_id OPERATOR(pg_catalog.=) $1",
									1, params);

	if (c && command)
		*command = c;
	return c != NULL;
}

/* After a change: the registered tables must still be alike everywhere. */
static void
compare_tables(MeshNode *nodes, int n)
{
	PGresult   *res = mm_remote_exec(&nodes[0].r,
									 "SELECT t.relid::pg_catalog.regclass::pg_catalog.text FROM multimaster.tables t ORDER BY 1",
									 0, NULL);
	int			i;

	for (i = 0; i < PQntuples(res); i++)
	{
		MemoryContext cxt = CurrentMemoryContext;

		PG_TRY();
		{
			mm_check_same_table(nodes, n, PQgetvalue(res, i, 0));
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			FlushErrorState();
			ereport(WARNING,
					(errmsg("after the change, %s", edata->message),
					 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
					 errhint("Changes of that table may not apply everywhere until the nodes agree; see multimaster.ddl_status().")));
			FreeErrorData(edata);
		}
		PG_END_TRY();
	}
	PQclear(res);
}

static char *
node_list(MeshNode *nodes, int n, bool *mask, bool want)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < n; i++)
		if (mask[i] == want)
			appendStringInfo(&buf, "%s%d", buf.len > 0 ? ", " : "", nodes[i].id);
	return buf.len > 0 ? buf.data : pstrdup("none");
}

/*
 * Run a recorded command on the nodes of 'nodes' that lack it (all of them
 * for a new one); the first failure stops, naming what has it.
 */
static int
apply_where_missing(MeshNode *nodes, int n, const char *id, const char *command)
{
	bool	   *applied = palloc0(n * sizeof(bool));
	int32		self = mm_local_node_id(false);
	int			count = 0;
	int			i;

	for (i = 0; i < n; i++)
		applied[i] = has_applied(&nodes[i], id, NULL);
	for (i = 0; i < n; i++)
	{
		char	   *err;

		if (applied[i])
			continue;
		CHECK_FOR_INTERRUPTS();
		err = apply_on(&nodes[i], id, command, self);
		if (err)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("schema change %s failed on %s", id, nodes[i].r.label),
					 errdetail_internal("%s\nApplied on nodes: %s. Not applied on nodes: %s.",
										err, node_list(nodes, n, applied, true),
										node_list(nodes, n, applied, false)),
					 errhint("Fix the cause, then SELECT multimaster.replicate_ddl_finish('%s'); or undo it where it was applied with SELECT multimaster.replicate_ddl_undo('%s', '<inverse command>');",
							 id, id)));
		applied[i] = true;
		count++;
	}
	return count;
}

/*
 * The start that replicate_ddl() and replicate_ddl_concurrently() share:
 * only a superuser, a command must be given; a new change id and
 * connections to every known node.  replicate_ddl() runs in a transaction
 * of its own, which a CONCURRENTLY command would wait for.
 * replicate_ddl_concurrently() ends the caller's transaction itself (its
 * caller checked that it may): what it reads and connects here lives in
 * its non-atomic SPI connection, which outlives those commits.  Returns
 * the command.
 */
static char *
ddl_begin(FunctionCallInfo fcinfo, bool concurrently, char **id,
		  MeshNode **nodes, int *n)
{
	char	   *command;

	mm_require_superuser("change the schema of the multimaster mesh");
	if (!concurrently)
		PreventInTransactionBlock(true, "multimaster.replicate_ddl()");
	if (PG_ARGISNULL(0) || VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(0)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a command must be given")));
	if (concurrently)
		SPI_connect_ext(SPI_OPT_NONATOMIC);
	command = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!concurrently && waits_for_snapshots(command))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a CONCURRENTLY command would wait on this node for this very call to end"),
				 errdetail("It waits for every transaction older than it, and a function call is one."),
				 errhint("CALL multimaster.replicate_ddl_concurrently('...'); runs it on every node without holding a transaction here.")));
	*id = psprintf("%d-" INT64_FORMAT, mm_local_node_id(false), (int64) GetCurrentTimestamp());
	*nodes = mm_connect_known_nodes(n, false);
	return command;
}

/*
 * multimaster.replicate_ddl(command text, wait_for_sync boolean) returns text
 */
Datum
mm_replicate_ddl(PG_FUNCTION_ARGS)
{
	bool		sync = PG_ARGISNULL(1) ? true : PG_GETARG_BOOL(1);
	MeshNode   *nodes;
	int			n,
				i;
	char	   *id;
	char	   *command = ddl_begin(fcinfo, false, &id, &nodes, &n);

	PG_TRY();
	{
		if (sync)
		{
			char	   *timeout = psprintf("%d s", mm_remote_timeout);
			const char *params[1] = {timeout};

			for (i = 0; i < n; i++)
			{
				char	   *ok;

				CHECK_FOR_INTERRUPTS();
				ok = mm_remote_value(&nodes[i].r,
									 "SELECT multimaster.wait_for_sync($1::pg_catalog.interval)",
									 1, params);
				if (ok == NULL || strcmp(ok, "t") != 0)
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errmsg("%s has not applied everything its peers sent, so the schema was not changed on any node",
									nodes[i].r.label),
							 errhint("Look at multimaster.status on that node, then try again; for a change that is safe while changes are in flight, pass wait_for_sync => false.")));
			}
		}
		(void) apply_where_missing(nodes, n, id, command);
		compare_tables(nodes, n);
	}
	PG_FINALLY();
	{
		mm_close_nodes(nodes, n);
	}
	PG_END_TRY();
	PG_RETURN_TEXT_P(cstring_to_text(id));
}

/*
 * multimaster.replicate_ddl_finish(ddl_id text) returns integer: the number
 * of nodes it was applied on now.
 */
Datum
mm_replicate_ddl_finish(PG_FUNCTION_ARGS)
{
	char	   *id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *command = NULL;
	MeshNode   *nodes;
	int			n,
				i,
				count = 0;

	mm_require_superuser("change the schema of the multimaster mesh");
	PreventInTransactionBlock(true, "multimaster.replicate_ddl_finish()");
	nodes = mm_connect_known_nodes(&n, false);
	PG_TRY();
	{
		for (i = 0; i < n && command == NULL; i++)
			(void) has_applied(&nodes[i], id, &command);
		if (command == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("no node has a schema change %s", id),
					 errhint("multimaster.ddl_status() lists the recorded changes.")));
		count = apply_where_missing(nodes, n, id, command);
		compare_tables(nodes, n);
	}
	PG_FINALLY();
	{
		mm_close_nodes(nodes, n);
	}
	PG_END_TRY();
	PG_RETURN_INT32(count);
}

/*
 * multimaster.replicate_ddl_undo(ddl_id text, command text) returns integer:
 * runs 'command' on every node that has the change, and forgets the change
 * there, in one transaction per node.
 */
Datum
mm_replicate_ddl_undo(PG_FUNCTION_ARGS)
{
	char	   *id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *command = text_to_cstring(PG_GETARG_TEXT_PP(1));
	MeshNode   *nodes;
	int			n,
				i,
				count = 0;

	mm_require_superuser("change the schema of the multimaster mesh");
	PreventInTransactionBlock(true, "multimaster.replicate_ddl_undo()");
	if (outside_transaction(command))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("an undo must be able to run inside a transaction block"),
				 errhint("Run a command such as DROP INDEX CONCURRENTLY with multimaster.replicate_ddl().")));
	nodes = mm_connect_known_nodes(&n, false);
	PG_TRY();
	{
		for (i = 0; i < n; i++)
		{
			const char *params[1] = {id};
			char	   *msg = NULL;
			PGresult   *res;

			if (!has_applied(&nodes[i], id, NULL))
				continue;
			CHECK_FOR_INTERRUPTS();
			PQclear(mm_remote_exec(&nodes[i].r, "BEGIN", 0, NULL));
			PQclear(mm_remote_exec(&nodes[i].r, "RESET search_path", 0, NULL));
			res = mm_remote_query(&nodes[i].r, command, 0, NULL, &msg);
			if (res == NULL)
			{
				(void) mm_remote_try(&nodes[i].r, "ROLLBACK", 0, NULL);
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("the undo of schema change %s failed on %s", id, nodes[i].r.label),
						 errdetail_internal("%s", msg),
						 errhint("It was undone on %d node(s) before; fix the cause and call replicate_ddl_undo() again.", count)));
			}
			PQclear(res);
			PQclear(mm_remote_exec(&nodes[i].r, "SET search_path = pg_catalog, pg_temp", 0, NULL));
			PQclear(mm_remote_exec(&nodes[i].r,
								   "DELETE FROM multimaster.ddl_history WHERE ddl_id OPERATOR(pg_catalog.=) $1",
								   1, params));
			PQclear(mm_remote_exec(&nodes[i].r, "COMMIT", 0, NULL));
			count++;
		}
		compare_tables(nodes, n);
	}
	PG_FINALLY();
	{
		mm_close_nodes(nodes, n);
	}
	PG_END_TRY();
	PG_RETURN_INT32(count);
}

/*
 * multimaster.ddl_status()
 *		-> (ddl_id, command, node_id, node_name, applied_at)
 * Every recorded change times every node: applied_at NULL where a node
 * lacks it (or cannot be reached).
 */
Datum
mm_ddl_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MeshNode   *nodes;
	int			n,
				i;

	InitMaterializedSRF(fcinfo, 0);
	nodes = mm_connect_known_nodes(&n, true);
	PG_TRY();
	{
		/* every change any node recorded, then where each one is */
		StringInfoData ids;
		PGresult  **hist = palloc0(n * sizeof(PGresult *));
		List	   *seen = NIL;
		List	   *commands = NIL;
		ListCell   *lc,
				   *lc2;

		initStringInfo(&ids);
		for (i = 0; i < n; i++)
		{
			int			k;

			if (nodes[i].r.conn == NULL)
				continue;
			hist[i] = mm_remote_exec(&nodes[i].r,
									 "SELECT ddl_id, command, pg_catalog.date_part('epoch', applied_at)::pg_catalog.text "
									 "FROM multimaster.ddl_history ORDER BY applied_at, ddl_id",
									 0, NULL);
			for (k = 0; k < PQntuples(hist[i]); k++)
				if (!list_member(seen, makeString(PQgetvalue(hist[i], k, 0))))
				{
					seen = lappend(seen, makeString(pstrdup(PQgetvalue(hist[i], k, 0))));
					commands = lappend(commands, pstrdup(PQgetvalue(hist[i], k, 1)));
				}
		}
		forboth(lc, seen, lc2, commands)
		{
			const char *id = strVal(lfirst(lc));

			for (i = 0; i < n; i++)
			{
				Datum		values[5];
				bool		nulls[5] = {false, false, false, false, true};
				int			k;

				values[0] = CStringGetTextDatum(id);
				values[1] = CStringGetTextDatum((char *) lfirst(lc2));
				values[2] = Int32GetDatum(nodes[i].id);
				values[3] = CStringGetTextDatum(nodes[i].name);
				for (k = 0; hist[i] && k < PQntuples(hist[i]); k++)
					if (strcmp(PQgetvalue(hist[i], k, 0), id) == 0)
					{
						values[4] = DirectFunctionCall1(float8_timestamptz,
														Float8GetDatum(strtod(PQgetvalue(hist[i], k, 2), NULL)));
						nulls[4] = false;
					}
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			}
		}
		for (i = 0; i < n; i++)
			PQclear(hist[i]);
	}
	PG_FINALLY();
	{
		mm_close_nodes(nodes, n);
	}
	PG_END_TRY();
	return (Datum) 0;
}

/*
 * CALL multimaster.replicate_ddl_concurrently(command text): replicate_ddl()
 * for commands such as CREATE INDEX CONCURRENTLY, which wait for every
 * transaction older than them: a procedure, so that it can end its own
 * transaction (and the caller's snapshot) before the command runs on this
 * node.  It does not wait for sync: such commands are meant to run while
 * writes go on.
 */
Datum
mm_replicate_ddl_concurrently(PG_FUNCTION_ARGS)
{
	CallContext *call = (CallContext *) fcinfo->context;
	char	   *command;
	char	   *id;
	MeshNode   *nodes;
	int			n;

	if (call == NULL || !IsA(call, CallContext) || call->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("multimaster.replicate_ddl_concurrently() must be called with CALL, outside a transaction block")));
	command = ddl_begin(fcinfo, true, &id, &nodes, &n);
	PG_TRY();
	{
		/* from here on this session holds no snapshot */
		SPI_commit();
		(void) apply_where_missing(nodes, n, id, command);
		compare_tables(nodes, n);
	}
	PG_FINALLY();
	{
		mm_close_nodes(nodes, n);
	}
	PG_END_TRY();
	SPI_finish();
	ereport(NOTICE,
			(errmsg("schema change %s applied on every node", id)));
	PG_RETURN_VOID();
}
