/*-------------------------------------------------------------------------
 *
 * mm_join.c
 *		A new node joins a running mesh without losing a write.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * multimaster.join_mesh(peer_dsn, node_name) runs on the new node N, which
 * has the extension and the tables (empty).  N gets the data from one peer
 * P (the copy of the subscription multimaster_P_N) and every later change
 * of every node Q from Q itself (multimaster_Q_N).  The classic gap: a
 * change committed on Q before Q's slot for N existed, but not yet applied
 * on P when P's copy is taken, would reach N by neither way.  So:
 *
 *	1. the slot multimaster_Q_N is created on every Q first; its start S_Q
 *	   is the first position of Q that N receives from Q itself;
 *	2. then N waits until P has applied every Q's stream up to S_Q (Q's
 *	   slot for P has confirmed S_Q);
 *	3. only then are N's subscriptions created, the one from P copying the
 *	   tables: every copy snapshot is taken after (2), so it holds every
 *	   change of every Q before S_Q, and every change after S_Q arrives from
 *	   Q.  What both bring (applied on P after S_Q, and streamed from Q) is
 *	   the same version twice: the second is skipped as equal.
 *
 * N's own slots for every Q are created before its tables take writes
 * from the links, and N's tables must be empty: a node that rejoins (it
 * was removed, or its slots were lost) discards its rows first and gets
 * them again by the copy.  Every step records its undo; a failed or
 * cancelled join leaves nothing behind on any node.
 *
 * IDENTIFICATION
 *		src/mm_join.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "mm_mesh.h"
#include "mm_remote.h"

char	   *mm_node_dsn = NULL;

PG_FUNCTION_INFO_V1(mm_join_mesh);

/* a table as the peer has it registered */
typedef struct JoinTable
{
	char	   *name;			/* schema-qualified */
	char	   *policy;
	char	   *source;
} JoinTable;

/* The connection string by which the other nodes reach this one. */
static char *
own_dsn(MMRemote *peer)
{
	char	   *addr;

	if (mm_node_dsn && mm_node_dsn[0] != '\0')
		return pstrdup(mm_node_dsn);
	/* the address the peer sees this node's connection come from */
	addr = mm_remote_value(peer, "SELECT pg_catalog.host(pg_catalog.inet_client_addr())", 0, NULL);
	if (addr == NULL)
		return mm_self_dsn();	/* a Unix socket: the same machine */
	return psprintf("host=%s port=%d dbname=%s user=%s",
					mm_quote_dsn(addr), PostPortNumber,
					mm_quote_dsn(get_database_name(MyDatabaseId)),
					mm_quote_dsn(GetUserNameFromId(GetUserId(), false)));
}

/* The tables the peer replicates. */
static List *
peer_tables(MMRemote *peer)
{
	PGresult   *res = mm_remote_exec(peer,
									 "SELECT t.relid::pg_catalog.regclass::pg_catalog.text, t.policy, t.version_source "
									 "FROM multimaster.tables t ORDER BY 1",
									 0, NULL);
	List	   *out = NIL;
	int			i;

	for (i = 0; i < PQntuples(res); i++)
	{
		JoinTable  *t = palloc(sizeof(JoinTable));

		t->name = pstrdup(PQgetvalue(res, i, 0));
		t->policy = pstrdup(PQgetvalue(res, i, 1));
		t->source = pstrdup(PQgetvalue(res, i, 2));
		out = lappend(out, t);
	}
	PQclear(res);
	return out;
}

/*
 * The mesh as the peer knows it: nodes[0] is this node, nodes[1] the peer,
 * then every other member, reached through the peer's own subscription
 * from it when it has one (its connection string may carry what the
 * stored one does not).  Entries of this very node (it rejoins) are left
 * out; *old_self tells whether there was one.
 */
static MeshNode *
mesh_members(MeshNode *self, MeshNode *peer, int *n_out, bool *old_self)
{
	PGresult   *res = mm_remote_exec(&peer->r,
									 "SELECT node_id, node_name, priority, dsn, is_local "
									 "FROM multimaster.nodes ORDER BY node_id",
									 0, NULL);
	int			rows = PQntuples(res);
	MeshNode   *nodes = palloc0((rows + 2) * sizeof(MeshNode));
	int			n = 2;
	int			i;
	bool		peer_has_identity = false;

	nodes[0] = *self;
	nodes[1] = *peer;
	*old_self = false;
	for (i = 0; i < rows; i++)
	{
		int32		id = atoi(PQgetvalue(res, i, 0));
		char	   *name = PQgetvalue(res, i, 1);
		bool		is_local = strcmp(PQgetvalue(res, i, 4), "t") == 0;

		if (is_local)
		{
			peer_has_identity = true;
			continue;
		}
		if (self->had_identity && (id == self->id || strcmp(name, self->name) == 0))
		{
			if (id != self->id || strcmp(name, self->name) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_OBJECT),
						 errmsg("the mesh has node %d (\"%s\"), this node is node %d (\"%s\")",
								id, name, self->id, self->name),
						 errhint("Give this node an unused id and name with multimaster.init_node(), or remove that node first with multimaster.remove_node().")));
			*old_self = true;
			continue;
		}
		nodes[n].id = id;
		nodes[n].name = pstrdup(name);
		nodes[n].priority = atoi(PQgetvalue(res, i, 2));
		nodes[n].had_identity = true;
		nodes[n].pos = n + 1;
		{
			/* the peer's subscription from that node, if it has one */
			const char *params[1] = {mm_link_name(id, peer->id)};
			char	   *conninfo;

			conninfo = mm_remote_value(&peer->r,
									   "SELECT s.subconninfo FROM pg_catalog.pg_subscription s "
									   "JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.subdbid "
									   "WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database() "
									   "AND s.subname OPERATOR(pg_catalog.=) $1::pg_catalog.name",
									   1, params);
			nodes[n].dsn = conninfo ? conninfo :
				(PQgetisnull(res, i, 3) ? NULL : pstrdup(PQgetvalue(res, i, 3)));
		}
		if (nodes[n].dsn == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the peer knows node %d (\"%s\") but has no connection string for it", id, name),
					 errhint("Join through a node that links to every other node.")));
		n++;
	}
	PQclear(res);
	if (!peer_has_identity)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s is not part of a multimaster mesh", peer->r.label),
				 errhint("Build the mesh with multimaster.create_mesh() first, or join through one of its nodes.")));
	*n_out = n;
	return nodes;
}

/* A free node id: one past the greatest of the mesh. */
static int32
free_node_id(MeshNode *nodes, int n)
{
	int32		id = 0;
	int			i;

	for (i = 1; i < n; i++)
		id = Max(id, nodes[i].id);
	if (id >= 32767)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("no node id is left above %d", id),
				 errhint("Give this node a free id with multimaster.init_node() first.")));
	return id + 1;
}

/* This node's tables must exist like the peer's, and be empty. */
static void
check_tables(MeshNode *nodes, List *tables)
{
	ListCell   *lc;

	foreach(lc, tables)
	{
		JoinTable  *t = lfirst(lc);
		CHECK_FOR_INTERRUPTS();
		mm_check_same_table(nodes, 2, t->name);
		if (mm_remote_value(&nodes[0].r,
							psprintf("SELECT 1 FROM %s LIMIT 1", t->name), 0, NULL) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table %s on this node has rows", t->name),
					 errdetail("A joining node gets every row by a copy from the peer; its own rows would not be replicated."),
					 errhint("Empty it first (TRUNCATE %s), or load the data on a node of the mesh.", t->name)));
	}
}

/* Create the slot multimaster_<pub>_<sub> on pub; returns its start. */
static XLogRecPtr
create_slot(MeshNode *pub, MeshNode *sub, List **undo)
{
	char	   *name = mm_link_name(pub->id, sub->id);
	const char *params[1] = {name};
	char	   *lsn;

	lsn = mm_remote_value(&pub->r,
						  "SELECT lsn::pg_catalog.text FROM pg_catalog.pg_create_logical_replication_slot($1, 'multimaster')",
						  1, params);
	mm_add_undo(undo, &pub->r, UNDO_SLOT, name);
	pub->slots = lappend(pub->slots, name);
	return DatumGetLSN(DirectFunctionCall1(pg_lsn_in, CStringGetDatum(lsn)));
}

typedef struct MMJoinState
{
	List	   *undo;
} MMJoinState;

/*
 * multimaster.join_mesh(peer_dsn text, node_name text) returns integer
 */
Datum
mm_join_mesh(PG_FUNCTION_ARGS)
{
	char	   *peer_dsn;
	char	   *want_name = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	MeshNode	self,
				peer;
	MeshNode   *nodes = NULL;
	int			n = 0;
	MMJoinState *st = palloc0(sizeof(MMJoinState));
	MemoryContext ctx = CurrentMemoryContext;
	int32		result;

	mm_require_superuser("join a multimaster mesh");
	PreventInTransactionBlock(true, "multimaster.join_mesh()");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the connection string of a node of the mesh must be given")));
	peer_dsn = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (want_name && want_name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a node name must not be empty")));
	mm_warn_if_password(peer_dsn, "the peer");

	memset(&self, 0, sizeof(self));
	memset(&peer, 0, sizeof(peer));
	self.dsn = mm_self_dsn();
	self.pos = 1;
	peer.dsn = peer_dsn;
	peer.pos = 2;
	mm_remote_connect(&self.r, self.dsn, "this node", false, NULL);
	PG_TRY();
	{
		mm_remote_connect(&peer.r, peer_dsn, "the peer", false, NULL);
		peer.r.label = psprintf("the peer (%s:%s)", PQhost(peer.r.conn), PQport(peer.r.conn));
	}
	PG_CATCH();
	{
		mm_remote_close(&self.r);
		PG_RE_THROW();
	}
	PG_END_TRY();

	PG_TRY();
	{
		List	   *tables;
		XLogRecPtr *starts;
		MMSlotTarget *targets;
		int			ntargets = 0;
		bool		old_self;
		char	   *why = NULL;
		char	   *dsn;
		int			i;
		ListCell   *lc;

		/* who is who: this node's identity, the mesh as the peer knows it */
		mm_probe_node(&self, 2);
		mm_probe_node(&peer, 2);
		if (strcmp(self.sysid_db, peer.sysid_db) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a node cannot join a mesh through itself"),
					 errhint("Give the connection string of another node of the mesh.")));
		if (self.had_identity && want_name && strcmp(want_name, self.name) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("this node is already node %d (\"%s\")", self.id, self.name),
					 errhint("Call join_mesh() without a name, or give this node another identity with multimaster.init_node() first.")));
		{
			MeshNode	pair[2];

			/* the tables first: nothing is touched unless they are right */
			pair[0] = self;
			pair[1] = peer;
			tables = peer_tables(&peer.r);
			check_tables(pair, tables);
		}
		nodes = mesh_members(&self, &peer, &n, &old_self);

		/* a node that was in the mesh: its old links go first */
		if (old_self)
		{
			const char *params[1] = {self.name};

			ereport(NOTICE,
					(errmsg("node %d (\"%s\") rejoins: its old links are removed first",
							self.id, self.name)));
			PQclear(mm_remote_exec(&nodes[1].r, "SELECT multimaster.remove_node($1)", 1, params));
		}
		mm_drop_node_links(&nodes[0].r, 0, false);
		PQclear(mm_remote_exec(&nodes[0].r,
							   "DELETE FROM multimaster.nodes WHERE NOT is_local; "
							   "SELECT multimaster._invalidate_cache()", 0, NULL));

		for (i = 2; i < n; i++)
		{
			char	   *label = psprintf("node %d (\"%s\")", nodes[i].id, nodes[i].name);

			CHECK_FOR_INTERRUPTS();
			mm_remote_connect(&nodes[i].r, nodes[i].dsn, label, false, NULL);
		}
		for (i = 0; i < n; i++)
			mm_probe_node(&nodes[i], n);
		mm_check_same_version(nodes, n);
		for (i = 2; i < n; i++)
			if (strcmp(nodes[i].sysid_db, nodes[0].sysid_db) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_OBJECT),
						 errmsg("this node is already node %d (\"%s\") of the mesh", nodes[i].id, nodes[i].name),
						 errhint("Remove it first with multimaster.remove_node(), then join again.")));

		/* this node's identity */
		if (!nodes[0].had_identity)
		{
			char		idbuf[16];
			const char *params[2];

			nodes[0].id = free_node_id(nodes, n);
			nodes[0].name = want_name ? want_name : psprintf("node%d", nodes[0].id);
			for (i = 1; i < n; i++)
				if (strcmp(nodes[i].name, nodes[0].name) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_DUPLICATE_OBJECT),
							 errmsg("the mesh has a node named \"%s\" already", nodes[0].name),
							 errhint("Pass another name to join_mesh().")));
			snprintf(idbuf, sizeof(idbuf), "%d", nodes[0].id);
			params[0] = idbuf;
			params[1] = nodes[0].name;
			PQclear(mm_remote_exec(&nodes[0].r, "SELECT multimaster.init_node($1::int, $2)", 2, params));
			mm_add_undo(&st->undo, &nodes[0].r, UNDO_SQL,
						"DELETE FROM multimaster.nodes WHERE is_local; SELECT multimaster._invalidate_cache()");
		}
		nodes[0].r.label = psprintf("this node (%d, \"%s\")", nodes[0].id, nodes[0].name);

		/* every node knows every other */
		dsn = own_dsn(&nodes[1].r);
		for (i = 1; i < n; i++)
		{
			mm_register_peer(&nodes[i].r, nodes[0].id, nodes[0].name, nodes[0].priority, dsn);
			mm_add_undo(&st->undo, &nodes[i].r, UNDO_SQL,
						psprintf("DELETE FROM multimaster.nodes WHERE node_id OPERATOR(pg_catalog.=) %d "
								 "AND NOT is_local; SELECT multimaster._invalidate_cache()",
								 nodes[0].id));
			mm_register_peer(&nodes[0].r, nodes[i].id, nodes[i].name, nodes[i].priority,
							 i == 1 ? peer_dsn : nodes[i].dsn);
		}
		mm_add_undo(&st->undo, &nodes[0].r, UNDO_SQL,
					"DELETE FROM multimaster.nodes WHERE NOT is_local; SELECT multimaster._invalidate_cache()");

		/* the tables, as the peer has them (no refresh: the links come next) */
		PQclear(mm_remote_exec(&nodes[0].r, "SET multimaster.auto_refresh = off", 0, NULL));
		foreach(lc, tables)
		{
			JoinTable  *t = lfirst(lc);
			const char *params[3] = {t->name, t->policy, t->source};

			PQclear(mm_remote_exec(&nodes[0].r,
								   "SELECT multimaster.add_table($1::pg_catalog.regclass, $2, $3)",
								   3, params));
		}
		for (i = 0; i < n; i++)
			mm_ensure_publication(&nodes[i], &st->undo);

		/* 1. the slots: every node's for this one, this one's for every node */
		starts = palloc0(n * sizeof(XLogRecPtr));
		for (i = 1; i < n; i++)
		{
			starts[i] = create_slot(&nodes[i], &nodes[0], &st->undo);
			(void) create_slot(&nodes[0], &nodes[i], &st->undo);
		}

		/* 2. the peer has applied every node's stream up to that slot's start */
		targets = palloc0(n * sizeof(MMSlotTarget));
		for (i = 2; i < n; i++)
		{
			targets[ntargets].node = i;
			targets[ntargets].slot = mm_link_name(nodes[i].id, nodes[1].id);
			targets[ntargets].target = starts[i];
			ntargets++;
		}
		if (!mm_wait_slots(nodes, targets, ntargets,
						   TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   mm_remote_timeout * 1000L),
						   &why))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%s has not caught up with the other nodes, so it cannot give the copy", nodes[1].r.label),
					 errdetail_internal("%s", why),
					 errhint("Check multimaster.status on that node, or join through another node.")));

		/* 3. the links: the copy from the peer, then every other way */
		mm_create_link(&nodes[1], &nodes[0], true, &st->undo);
		for (i = 2; i < n; i++)
			mm_create_link(&nodes[i], &nodes[0], false, &st->undo);
		for (i = 1; i < n; i++)
			mm_create_link(&nodes[0], &nodes[i], false, &st->undo);
		result = nodes[0].id;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(ctx);
		edata = CopyErrorData();
		FlushErrorState();
		mm_run_undo(st->undo);
		if (nodes)
			mm_close_nodes(nodes, n);
		else
		{
			mm_remote_close(&self.r);
			mm_remote_close(&peer.r);
		}
		ReThrowError(edata);
	}
	PG_END_TRY();

	mm_close_nodes(nodes, n);
	PG_RETURN_INT32(result);
}
