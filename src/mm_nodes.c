/*-------------------------------------------------------------------------
 *
 * mm_nodes.c
 *		The nodes a mesh call works on: connecting to them, from a list of
 *		connection strings or from multimaster.nodes, and telling them of
 *		each other.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * IDENTIFICATION
 *		src/mm_nodes.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "mm_names.h"
#include "mm_nodes.h"
#include "mm_remote.h"

char	   *mm_node_dsn = NULL;

void
mm_close_nodes(MeshNode *nodes, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		mm_remote_close(&nodes[i].r);
}

void
mm_register_peer(MMRemote *on, int32 id, const char *name, int32 priority,
			  const char *dsn)
{
	char		idbuf[16],
				priobuf[16];
	const char *params[4];

	snprintf(idbuf, sizeof(idbuf), "%d", id);
	snprintf(priobuf, sizeof(priobuf), "%d", priority);
	params[0] = idbuf;
	params[1] = name;
	params[2] = priobuf;
	params[3] = mm_dsn_without_password(dsn);
	PQclear(mm_remote_exec(on, "SELECT multimaster._register_peer($1::int, $2, $3::int, $4)",
						   4, params));
}

/* Connect to the nodes of a list of connection strings (create_mesh). */
MeshNode *
mm_connect_dsns(ArrayType *arr, int *n_out)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;
	MeshNode   *nodes;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("connection strings must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a mesh needs at least two nodes, %d given", n),
				 errhint("List the connection strings of every node, this one included.")));
	if (n > 64)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a mesh of %d nodes is too large", n),
				 errdetail("A full mesh needs n*(n-1) replication links; at most 64 nodes are supported.")));

	nodes = palloc0(n * sizeof(MeshNode));
	PG_TRY();
	{
		for (i = 0; i < n; i++)
		{
			char	   *label;

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("connection string %d is NULL", i + 1)));
			nodes[i].pos = i + 1;
			nodes[i].dsn = TextDatumGetCString(elems[i]);
			label = psprintf("node %d of the list", i + 1);
			mm_warn_if_password(nodes[i].dsn, label);
			mm_remote_connect(&nodes[i].r, nodes[i].dsn, label, false, NULL);
			nodes[i].r.label = psprintf("node %d of the list (%s:%s)", i + 1,
										PQhost(nodes[i].r.conn), PQport(nodes[i].r.conn));
		}
	}
	PG_CATCH();
	{
		mm_close_nodes(nodes, n);
		PG_RE_THROW();
	}
	PG_END_TRY();

	*n_out = n;
	return nodes;
}

/*
 * How to reach a peer: the connection string of this node's subscription from
 * it when there is one (it may carry the password that multimaster.nodes does
 * not keep), else the one in multimaster.nodes.  Called inside SPI.
 */
static char *
peer_conninfo(MeshNode *peer, MeshNode *nodes, int n, MemoryContext cxt)
{
	Oid			argtypes[2] = {NAMEOID, OIDOID};
	Datum		values[2];
	int			i;

	for (i = 0; i < n; i++)
		if (nodes[i].pos == 0)
			break;
	if (i == n)
		return peer->dsn;		/* no identity here: no link either */
	values[0] = CStringGetDatum(mm_link_name(peer->id, nodes[i].id));
	values[1] = ObjectIdGetDatum(MyDatabaseId);
	if (SPI_execute_with_args("SELECT s.subconninfo FROM pg_catalog.pg_subscription s "
							  "WHERE s.subname OPERATOR(pg_catalog.=) $1 "
							  "AND s.subdbid OPERATOR(pg_catalog.=) $2",
							  2, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_subscription");
	if (SPI_processed == 1)
	{
		char	   *conninfo = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (conninfo)
			return MemoryContextStrdup(cxt, conninfo);
	}
	return peer->dsn;
}

/*
 * The nodes of the mesh as this node knows them, connected.  Nodes that
 * cannot be reached are skipped with a warning when missing_ok.
 */
MeshNode *
mm_connect_known_nodes(int *n_out, bool missing_ok)
{
	MeshNode   *nodes;
	int			n = 0,
				i;
	MemoryContext caller = CurrentMemoryContext;
	uint64		rows;

	SPI_connect();
	if (SPI_execute("SELECT node_id, node_name, priority, dsn, is_local "
					"FROM multimaster.nodes ORDER BY node_id", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read multimaster.nodes");
	rows = SPI_processed;
	nodes = MemoryContextAllocZero(caller, Max(rows, 1) * sizeof(MeshNode));
	for (i = 0; i < (int) rows; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		MeshNode   *node = &nodes[n];
		bool		is_local = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		char	   *dsn = SPI_getvalue(tup, desc, 4);
		MemoryContext old = MemoryContextSwitchTo(caller);

		node->id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		node->name = pstrdup(SPI_getvalue(tup, desc, 2));
		node->priority = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		node->had_identity = true;
		node->dsn = dsn ? pstrdup(dsn) : (is_local ? mm_self_dsn() : NULL);
		node->pos = is_local ? 0 : -1;	/* 0 marks this node */
		MemoryContextSwitchTo(old);

		if (node->dsn == NULL)
		{
			ereport(WARNING,
					(errmsg("node %d (\"%s\") has no connection string and is skipped",
							node->id, node->name)));
			continue;
		}
		n++;
	}
	for (i = 0; i < n; i++)
		if (nodes[i].pos != 0)
			nodes[i].dsn = peer_conninfo(&nodes[i], nodes, n, caller);
	SPI_finish();

	PG_TRY();
	{
		for (i = 0; i < n; i++)
		{
			char	   *err = NULL;
			char	   *label = psprintf("node %d (\"%s\")", nodes[i].id, nodes[i].name);

			CHECK_FOR_INTERRUPTS();
			if (!mm_remote_connect(&nodes[i].r, nodes[i].dsn, label, missing_ok, &err))
				ereport(WARNING,
						(errmsg("could not connect to %s, skipping it", label),
						 errdetail_internal("%s", err)));
		}
	}
	PG_CATCH();
	{
		/* the nodes already connected are not left open */
		mm_close_nodes(nodes, n);
		PG_RE_THROW();
	}
	PG_END_TRY();
	*n_out = n;
	return nodes;
}
