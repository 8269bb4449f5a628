/*-------------------------------------------------------------------------
 *
 * mm_remote.c
 *		libpq connections from a backend to the nodes of the mesh.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * Mesh setup runs every statement, on this node too, through its own libpq
 * connection in autocommit mode: slot creation and subscription DDL must not
 * run inside the caller's transaction, and each step must be visible to the
 * other nodes as soon as it is done.  This file is the only one that calls
 * libpq: connections are made and queries waited for on the latch, so a
 * cancel, statement_timeout or termination interrupts them (as in
 * postgres_fdw), and each wait has a time limit that no connection string
 * can lift.  Every session pins its search_path.  Values travel as
 * parameters; the only SQL text built elsewhere quotes identifiers and
 * literals.
 *
 * Messages never include a connection string: it may carry a password.
 *
 * IDENTIFICATION
 *		src/mm_remote.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/postmaster.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "mm_remote.h"

int			mm_connect_timeout = 10;	/* seconds */
int			mm_remote_timeout = 300;	/* seconds */

/* TimestampTz 'seconds' from now */
static TimestampTz
deadline_in(int seconds)
{
	return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), (int64) seconds * 1000);
}

/* milliseconds left until 'deadline', at least 0 */
static long
ms_left(TimestampTz deadline)
{
	long		secs;
	int			usecs;

	TimestampDifference(GetCurrentTimestamp(), deadline, &secs, &usecs);
	return secs * 1000 + usecs / 1000;
}

/*
 * Connect without blocking, waiting on the latch so that a cancel or a
 * termination interrupts it, and giving up after multimaster.connect_timeout
 * whatever the connection string says (its connect_timeout may be 0).  TCP
 * keepalives notice a peer that vanishes.  The session's search_path is then
 * pinned: nothing sent to a peer may resolve a name through a schema that a
 * user there can write to.
 *
 * On failure either raise an error naming the node, or (missing_ok) return
 * false with the reason in *errmsg_out.
 */
bool
mm_remote_connect(MMRemote *r, const char *dsn, const char *label,
				  bool missing_ok, char **errmsg_out)
{
	/* the connection string comes last, so that its settings win */
	const char *keys[] = {"connect_timeout", "fallback_application_name",
		"keepalives", "keepalives_idle", "keepalives_interval",
	"keepalives_count", "dbname", NULL};
	char		timeout[16];
	const char *vals[] = {timeout, "multimaster", "1", "30", "10", "3", dsn, NULL};
	TimestampTz deadline = deadline_in(mm_connect_timeout);
	char	   *msg = NULL;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	snprintf(timeout, sizeof(timeout), "%d", mm_connect_timeout);
	r->label = pstrdup(label);
	r->conn = PQconnectStartParams(keys, vals, true);
	if (r->conn == NULL)
		msg = pstrdup("out of memory");
	else if (PQstatus(r->conn) == CONNECTION_BAD)
		msg = pchomp(PQerrorMessage(r->conn));

	while (msg == NULL && st != PGRES_POLLING_OK)
	{
		int			events;
		int			rc;
		long		left = ms_left(deadline);

		if (st == PGRES_POLLING_FAILED)
		{
			msg = pchomp(PQerrorMessage(r->conn));
			break;
		}
		if (left <= 0)
		{
			msg = psprintf("timeout expired after %d s (multimaster.connect_timeout)",
						   mm_connect_timeout);
			break;
		}
		events = (st == PGRES_POLLING_READING ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE);
		rc = WaitLatchOrSocket(MyLatch,
							   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | events,
							   PQsocket(r->conn), left, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			if (QueryCancelPending || ProcDiePending)
			{
				PQfinish(r->conn);
				r->conn = NULL;
			}
			CHECK_FOR_INTERRUPTS();
			if (r->conn == NULL)
			{
				msg = pstrdup("interrupted");
				break;
			}
		}
		if (rc & events)
			st = PQconnectPoll(r->conn);
	}

	if (msg == NULL)
	{
		PGresult   *res = mm_remote_query(r, "SET search_path = pg_catalog, pg_temp",
										  0, NULL, &msg);

		PQclear(res);
	}
	if (msg == NULL)
		return true;

	if (r->conn)
		PQfinish(r->conn);
	r->conn = NULL;
	if (missing_ok)
	{
		if (errmsg_out)
			*errmsg_out = msg;
		return false;
	}
	ereport(ERROR,
			(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
			 errmsg("could not connect to %s", label),
			 errdetail_internal("%s", msg),
			 errhint("Check that the server is running and that the connection string is right.")));
	return false;				/* keep compiler quiet */
}

void
mm_remote_close(MMRemote *r)
{
	if (r->conn)
		PQfinish(r->conn);
	r->conn = NULL;
}

/* Ask the peer to stop the running statement. */
static void
cancel_remote(PGconn *conn)
{
	PGcancel   *cancel = PQgetCancel(conn);
	char		errbuf[256];

	if (cancel)
	{
		(void) PQcancel(cancel, errbuf, sizeof(errbuf));
		PQfreeCancel(cancel);
	}
}

/*
 * Wait for the results of the statement sent on r->conn, keeping the last.
 * A cancel or termination of this backend cancels the remote statement
 * too, then is handled; other interrupts (a barrier, a request to log
 * memory) are handled without touching the peer.  After
 * multimaster.remote_timeout the statement is cancelled and NULL returned
 * with r->timed_out set.  NULL also when the connection broke.
 */
static PGresult *
get_result(MMRemote *r, TimestampTz deadline)
{
	PGconn	   *conn = r->conn;
	PGresult   *last = NULL;

	r->timed_out = false;
	for (;;)
	{
		PGresult   *res;

		while (PQisBusy(conn))
		{
			int			rc;
			long		left = ms_left(deadline);

			if (left <= 0)
			{
				r->timed_out = true;
				cancel_remote(conn);
				/* drain the cancelled statement briefly; else drop the line */
				deadline = deadline_in(5);
				while (PQisBusy(conn) && ms_left(deadline) > 0)
				{
					(void) WaitLatchOrSocket(MyLatch,
											 WL_LATCH_SET | WL_SOCKET_READABLE |
											 WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
											 PQsocket(conn), ms_left(deadline),
											 PG_WAIT_EXTENSION);
					ResetLatch(MyLatch);
					if (!PQconsumeInput(conn))
						break;
				}
				if (PQisBusy(conn))
					mm_remote_close(r);
				else
					while ((res = PQgetResult(conn)) != NULL)
						PQclear(res);
				PQclear(last);
				return NULL;
			}

			rc = WaitLatchOrSocket(MyLatch,
								   WL_LATCH_SET | WL_SOCKET_READABLE |
								   WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								   PQsocket(conn), left, PG_WAIT_EXTENSION);
			if (rc & WL_LATCH_SET)
			{
				ResetLatch(MyLatch);
				if (QueryCancelPending || ProcDiePending)
					cancel_remote(conn);
				CHECK_FOR_INTERRUPTS();
			}
			if ((rc & WL_SOCKET_READABLE) && !PQconsumeInput(conn))
			{
				PQclear(last);
				return NULL;
			}
		}

		res = PQgetResult(conn);
		if (res == NULL)
			break;
		PQclear(last);
		last = res;
	}
	return last;
}

/*
 * A statement interrupted by a cancel of ours (an error thrown while we
 * waited) may still have results coming: take them, for a bounded time,
 * before the connection is used again (an undo step), or drop it.
 */
static void
drain(MMRemote *r)
{
	TimestampTz deadline = deadline_in(10);
	PGresult   *res;

	while (r->conn && PQisBusy(r->conn))
	{
		if (ms_left(deadline) <= 0)
		{
			mm_remote_close(r);
			return;
		}
		(void) WaitLatchOrSocket(MyLatch,
								 WL_LATCH_SET | WL_SOCKET_READABLE |
								 WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 PQsocket(r->conn), ms_left(deadline),
								 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (!PQconsumeInput(r->conn))
		{
			mm_remote_close(r);
			return;
		}
	}
	while (r->conn && (res = PQgetResult(r->conn)) != NULL)
		PQclear(res);
}

static PGresult *
run(MMRemote *r, const char *sql, int nparams, const char *const *params)
{
	r->timed_out = false;
	if (r->conn == NULL)
		return NULL;
	if (PQtransactionStatus(r->conn) == PQTRANS_ACTIVE)
		drain(r);
	if (r->conn == NULL)
		return NULL;
	/* without parameters, the simple protocol allows several statements */
	if (nparams == 0 ? !PQsendQuery(r->conn, sql)
		: !PQsendQueryParams(r->conn, sql, nparams, NULL, params, NULL, NULL, 0))
		return NULL;
	return get_result(r, deadline_in(mm_remote_timeout));
}

static bool
result_ok(PGresult *res)
{
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* The reason a statement failed, as one line for a message. */
static char *
failure_text(MMRemote *r, PGresult *res)
{
	if (r->timed_out)
		return psprintf("the statement did not finish within %d s (multimaster.remote_timeout)",
						mm_remote_timeout);
	if (res)
		return pchomp(PQresultErrorMessage(res));
	if (r->conn)
		return pchomp(PQerrorMessage(r->conn));
	return pstrdup("the connection is closed");
}

/*
 * Run one statement; raise the remote error as ours (as postgres_fdw's
 * pgfdw_report_error does: the remote SQLSTATE, message, detail, hint and
 * context), naming the node and the statement.  The caller PQclear()s the
 * result.
 */
PGresult *
mm_remote_exec(MMRemote *r, const char *sql, int nparams,
			   const char *const *params)
{
	PGresult   *res = run(r, sql, nparams, params);

	if (!result_ok(res))
	{
		char	   *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		char	   *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
		char	   *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
		char	   *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
		char	   *context = res ? PQresultErrorField(res, PG_DIAG_CONTEXT) : NULL;
		int			code = r->timed_out ? ERRCODE_QUERY_CANCELED :
			sqlstate ? MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2],
									 sqlstate[3], sqlstate[4])
			: ERRCODE_CONNECTION_FAILURE;
		char	   *msg = primary ? pstrdup(primary) : failure_text(r, res);
		char	   *det = detail ? pstrdup(detail) : NULL;
		char	   *hnt = hint ? pstrdup(hint) : NULL;
		char	   *ctx = context ? pstrdup(context) : NULL;

		PQclear(res);
		ereport(ERROR,
				(errcode(code),
				 errmsg("%s on %s", msg, r->label),
				 det ? errdetail_internal("%s", det) : 0,
				 hnt ? errhint("%s", hnt) : 0,
				 ctx ? errcontext("%s", ctx) : 0,
				 errcontext("remote statement on %s: %s", r->label, sql)));
	}
	return res;
}

/*
 * Run one statement; on failure return NULL with the reason in *errmsg_out
 * (for callers that report per node and go on, such as the status view).
 */
PGresult *
mm_remote_query(MMRemote *r, const char *sql, int nparams,
				const char *const *params, char **errmsg_out)
{
	PGresult   *res = run(r, sql, nparams, params);

	if (result_ok(res))
		return res;
	if (errmsg_out)
		*errmsg_out = failure_text(r, res);
	PQclear(res);
	return NULL;
}

/* Run one statement, reporting success; errors become a WARNING. */
bool
mm_remote_try(MMRemote *r, const char *sql, int nparams,
			  const char *const *params)
{
	char	   *err = NULL;
	PGresult   *res = mm_remote_query(r, sql, nparams, params, &err);

	if (res == NULL)
	{
		ereport(WARNING,
				(errmsg("could not run a cleanup step on %s", r->label),
				 errdetail_internal("%s", err)));
		return false;
	}
	PQclear(res);
	return true;
}

/* First column of the first row, or NULL; palloc'd. */
char *
mm_remote_value(MMRemote *r, const char *sql, int nparams,
				const char *const *params)
{
	PGresult   *res = mm_remote_exec(r, sql, nparams, params);
	char	   *val = NULL;

	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		val = pstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return val;
}

/*
 * Run a statement that carries a connection string (CREATE SUBSCRIPTION):
 * the peer is told not to log it (log_statement, log_min_error_statement),
 * and an error names 'what' instead of quoting it, so that a password in
 * the string reaches no log.
 */
void
mm_remote_exec_secret(MMRemote *r, const char *sql, const char *what)
{
	char	   *err = NULL;
	PGresult   *res;

	PQclear(mm_remote_exec(r, "SET log_statement = 'none'; "
						   "SET log_min_error_statement = 'panic'", 0, NULL));
	res = mm_remote_query(r, sql, 0, NULL, &err);
	if (res == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_EXCEPTION),
				 errmsg("%s failed on %s", what, r->label),
				 errdetail_internal("%s", err)));
	PQclear(res);
	(void) mm_remote_try(r, "RESET log_statement; RESET log_min_error_statement", 0, NULL);
}

/*
 * Warn about a password in a connection string: the subscription that uses
 * it keeps it in pg_subscription, and pg_dump copies that.
 */
void
mm_warn_if_password(const char *dsn, const char *label)
{
	PQconninfoOption *opts = PQconninfoParse(dsn, NULL);
	PQconninfoOption *o;

	if (opts == NULL)
		return;
	for (o = opts; o->keyword; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val && o->val[0] != '\0')
			ereport(WARNING,
					(errmsg("the connection string of %s contains a password", label),
					 errdetail("multimaster.nodes stores the connection string without it, but the subscription keeps it in pg_subscription, which pg_dump copies."),
					 errhint("Use a password file (passfile, or ~/.pgpass of the server's operating system user) or certificate authentication instead.")));
	PQconninfoFree(opts);
}

/*
 * The connection string without its password (NULL stays NULL), for storing
 * in multimaster.nodes: pg_dump copies that table, and the extension writes
 * no password anywhere itself.  A string libpq cannot parse is kept as is:
 * it cannot have worked as a connection string, so nothing was connected
 * with it.
 */
char *
mm_dsn_without_password(const char *dsn)
{
	PQconninfoOption *opts;
	PQconninfoOption *o;
	StringInfoData buf;

	if (dsn == NULL)
		return NULL;
	opts = PQconninfoParse(dsn, NULL);
	if (opts == NULL)
		return pstrdup(dsn);
	initStringInfo(&buf);
	for (o = opts; o->keyword; o++)
	{
		if (o->val == NULL || strcmp(o->keyword, "password") == 0)
			continue;
		appendStringInfo(&buf, "%s%s=%s", buf.len > 0 ? " " : "",
						 o->keyword, mm_quote_dsn(o->val));
	}
	PQconninfoFree(opts);
	return buf.data;
}

/* multimaster._dsn_without_password(dsn text) returns text */
PG_FUNCTION_INFO_V1(mm_dsn_without_password_sql);
Datum
mm_dsn_without_password_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(mm_dsn_without_password(text_to_cstring(PG_GETARG_TEXT_PP(0)))));
}

/*
 * A connection string for this very database, for when the mesh does not
 * know this node's own DSN: the first Unix socket directory (or localhost),
 * this server's port, the current database and user.
 */
char *
mm_self_dsn(void)
{
	StringInfoData buf;
	char	   *host = "localhost";
	List	   *dirs = NIL;
	char	   *rawdirs = pstrdup(Unix_socket_directories ? Unix_socket_directories : "");

	if (SplitDirectoriesString(rawdirs, ',', &dirs) && dirs != NIL)
		host = (char *) linitial(dirs);

	initStringInfo(&buf);
	appendStringInfo(&buf, "host=%s port=%d dbname=%s user=%s",
					 mm_quote_dsn(host), PostPortNumber,
					 mm_quote_dsn(get_database_name(MyDatabaseId)),
					 mm_quote_dsn(GetUserNameFromId(GetUserId(), false)));
	return buf.data;
}

/* Quote a value for a key=value connection string. */
char *
mm_quote_dsn(const char *val)
{
	StringInfoData buf;
	const char *p;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '\'');
	for (p = val; *p; p++)
	{
		if (*p == '\'' || *p == '\\')
			appendStringInfoChar(&buf, '\\');
		appendStringInfoChar(&buf, *p);
	}
	appendStringInfoChar(&buf, '\'');
	return buf.data;
}
