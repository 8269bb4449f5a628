/*-------------------------------------------------------------------------
 *
 * mm_remote.c
 *		libpq connections from a backend to the nodes of the mesh.
 *
 * Mesh setup runs every statement, on this node too, through its own libpq
 * connection in autocommit mode: slot creation and subscription DDL must not
 * run inside the caller's transaction, and each step must be visible to the
 * other nodes as soon as it is done.  Queries are sent asynchronously and
 * waited for on the latch, so a cancel or statement_timeout interrupts them
 * (as in postgres_fdw).  Values travel as parameters; the only SQL text
 * built here quotes identifiers and literals.
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
#include "utils/varlena.h"

#include "mm_remote.h"

/*
 * Connect; on failure either raise an error naming the node, or (missing_ok)
 * return false with the server's message in *errmsg_out.
 */
bool
mm_remote_connect(MMRemote *r, const char *dsn, const char *label,
				  bool missing_ok, char **errmsg_out)
{
	/* the connection string comes last, so that its settings win */
	const char *keys[] = {"connect_timeout", "fallback_application_name",
	"dbname", NULL};
	const char *vals[] = {"10", "multimaster", dsn, NULL};

	r->label = pstrdup(label);
	r->conn = PQconnectdbParams(keys, vals, true);
	if (r->conn && PQstatus(r->conn) == CONNECTION_OK)
		return true;

	{
		char	   *msg = r->conn ? pchomp(PQerrorMessage(r->conn))
			: pstrdup("out of memory");

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
	}
	return false;				/* keep compiler quiet */
}

void
mm_remote_close(MMRemote *r)
{
	if (r->conn)
		PQfinish(r->conn);
	r->conn = NULL;
}

/* Wait for the result of a query sent with PQsendQueryParams. */
static PGresult *
get_result(PGconn *conn)
{
	PGresult   *last = NULL;

	for (;;)
	{
		PGresult   *res;

		while (PQisBusy(conn))
		{
			int			rc;

			rc = WaitLatchOrSocket(MyLatch,
								   WL_LATCH_SET | WL_SOCKET_READABLE |
								   WL_EXIT_ON_PM_DEATH,
								   PQsocket(conn), -1L, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			if (InterruptPending)
			{
				/* ask the remote side to stop too, then handle the interrupt */
				PGcancel   *cancel = PQgetCancel(conn);
				char		errbuf[256];

				if (cancel)
				{
					PQcancel(cancel, errbuf, sizeof(errbuf));
					PQfreeCancel(cancel);
				}
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

static PGresult *
run(MMRemote *r, const char *sql, int nparams, const char *const *params)
{
	/* without parameters, the simple protocol allows several statements */
	if (nparams == 0 ? !PQsendQuery(r->conn, sql)
		: !PQsendQueryParams(r->conn, sql, nparams, NULL, params, NULL, NULL, 0))
		return NULL;
	return get_result(r->conn);
}

/*
 * Run one statement; raise the remote error (with its SQLSTATE) as ours,
 * naming the node.  The caller PQclear()s the result.
 */
PGresult *
mm_remote_exec(MMRemote *r, const char *sql, int nparams,
			   const char *const *params)
{
	PGresult   *res = run(r, sql, nparams, params);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
	{
		char	   *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		char	   *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
		char	   *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
		char	   *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
		int			code = sqlstate ? MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2],
													sqlstate[3], sqlstate[4])
			: ERRCODE_CONNECTION_FAILURE;
		char	   *msg = pstrdup(primary ? primary : pchomp(PQerrorMessage(r->conn)));
		char	   *det = detail ? pstrdup(detail) : NULL;
		char	   *hnt = hint ? pstrdup(hint) : NULL;

		PQclear(res);
		ereport(ERROR,
				(errcode(code),
				 errmsg("%s on %s", msg, r->label),
				 det ? errdetail_internal("%s", det) : 0,
				 hnt ? errhint("%s", hnt) : 0));
	}
	return res;
}

/* Run one statement, reporting success; errors become a WARNING. */
bool
mm_remote_try(MMRemote *r, const char *sql, int nparams,
			  const char *const *params)
{
	PGresult   *res = run(r, sql, nparams, params);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	bool		ok = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);

	if (!ok)
		ereport(WARNING,
				(errmsg("could not run a cleanup step on %s", r->label),
				 errdetail_internal("%s", res ? pchomp(PQresultErrorMessage(res))
									: pchomp(PQerrorMessage(r->conn)))));
	PQclear(res);
	return ok;
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
