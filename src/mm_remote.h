/*-------------------------------------------------------------------------
 *
 * mm_remote.h
 *		libpq connections from a backend to the nodes of the mesh.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * IDENTIFICATION
 *		src/mm_remote.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MM_REMOTE_H
#define MM_REMOTE_H

#include "libpq-fe.h"

/* A connection to one node, and how to name that node in messages. */
typedef struct MMRemote
{
	PGconn	   *conn;
	char	   *label;			/* e.g. "node 2 (127.0.0.1:5433)" */
	bool		timed_out;		/* the last statement hit remote_timeout */
} MMRemote;

extern int	mm_connect_timeout;
extern int	mm_remote_timeout;

extern bool mm_remote_connect(MMRemote *r, const char *dsn, const char *label,
							  bool missing_ok, char **errmsg_out);
extern void mm_remote_close(MMRemote *r);
extern PGresult *mm_remote_exec(MMRemote *r, const char *sql, int nparams,
								const char *const *params);
extern PGresult *mm_remote_query(MMRemote *r, const char *sql, int nparams,
								 const char *const *params, char **errmsg_out);
extern bool mm_remote_try(MMRemote *r, const char *sql, int nparams,
						  const char *const *params);
extern char *mm_remote_value(MMRemote *r, const char *sql, int nparams,
							 const char *const *params);
extern void mm_remote_exec_secret(MMRemote *r, const char *sql, const char *what);
extern void mm_warn_if_password(const char *dsn, const char *label);
extern char *mm_dsn_without_password(const char *dsn);
extern char *mm_self_dsn(void);
extern char *mm_quote_dsn(const char *dsn);

#endif							/* MM_REMOTE_H */
