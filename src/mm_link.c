/*-------------------------------------------------------------------------
 *
 * mm_link.c
 *		The links between nodes, piece by piece: the publication, each
 *		link's slot and subscription; created, dropped, refreshed and waited
 *		for over libpq.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * Every ordered pair of nodes (publisher P, subscriber S) gets one logical
 * slot on P, created with the multimaster output plugin, and one
 * subscription on S using it, both named multimaster_<P>_<S>.  The plugin
 * sends only changes made on P itself, so each change crosses each link
 * once.
 *
 * What a function here creates it records in the caller's undo list.
 *
 * IDENTIFICATION
 *		src/mm_link.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "mm_link.h"
#include "mm_names.h"
#include "mm_nodes.h"
#include "mm_remote.h"
#include "mm_undo.h"

#define SUBS_QUERY \
	"SELECT s.subname FROM pg_catalog.pg_subscription s " \
	"JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.subdbid " \
	"WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database() AND s.subname::pg_catalog.text OPERATOR(pg_catalog.~) '" MM_LINK_NAME_PATTERN "'::pg_catalog.text"
#define SLOTS_QUERY \
	"SELECT slot_name FROM pg_catalog.pg_replication_slots " \
	"WHERE slot_name::pg_catalog.text OPERATOR(pg_catalog.~) '" MM_LINK_NAME_PATTERN "'::pg_catalog.text"

static List *
string_column(MMRemote *r, const char *sql)
{
	PGresult   *res = mm_remote_exec(r, sql, 0, NULL);
	List	   *out = NIL;
	int			i;

	for (i = 0; i < PQntuples(res); i++)
		out = lappend(out, pstrdup(PQgetvalue(res, i, 0)));
	PQclear(res);
	return out;
}

static bool
list_has_string(List *list, const char *s)
{
	ListCell   *lc;

	foreach(lc, list)
		if (strcmp((char *) lfirst(lc), s) == 0)
			return true;
	return false;
}

/* The link slots on a node (slots belong to the whole server). */
List *
mm_link_slots(MMRemote *r)
{
	return string_column(r, SLOTS_QUERY);
}

/* The link subscriptions of a node's database. */
List *
mm_link_subscriptions(MMRemote *r)
{
	return string_column(r, SUBS_QUERY);
}

void
mm_ensure_publication(MeshNode *node, List **undo)
{
	PQclear(mm_remote_exec(&node->r, "SELECT multimaster._ensure_publication()", 0, NULL));
	if (!node->had_publication)
		mm_add_undo(undo, &node->r, mm_undo_sql, "DROP PUBLICATION IF EXISTS " MM_PUBLICATION);
}

void
mm_create_link(MeshNode *pub, MeshNode *sub, bool copy_data, List **undo)
{
	char	   *name = mm_link_name(pub->id, sub->id);
	const char *params[1] = {name};

	if (!list_has_string(pub->slots, name))
	{
		PQclear(mm_remote_exec(&pub->r,
							   "SELECT pg_catalog.pg_create_logical_replication_slot($1, '" MM_OUTPUT_PLUGIN "')",
							   1, params));
		mm_add_undo(undo, &pub->r, mm_drop_slot, name);
		pub->slots = lappend(pub->slots, name);
	}

	if (!list_has_string(sub->subs, name))
	{
		mm_remote_exec_secret(&sub->r,
							  psprintf("CREATE SUBSCRIPTION %s CONNECTION %s PUBLICATION %s "
									   "WITH (create_slot = false, slot_name = %s, copy_data = %s)",
									   quote_identifier(name),
									   quote_literal_cstr(pub->dsn),
									   quote_identifier(MM_PUBLICATION),
									   quote_literal_cstr(name),
									   copy_data ? "true" : "false"),
							  psprintf("CREATE SUBSCRIPTION %s", quote_identifier(name)));
		mm_add_undo(undo, &sub->r, mm_drop_subscription, name);
		sub->subs = lappend(sub->subs, name);
	}
}

/*
 * Drop a subscription without touching its slot (the slot is dropped on the
 * publisher separately, which also works when the publisher is down).
 */
bool
mm_drop_subscription(MMRemote *r, const char *name)
{
	const char *q = quote_identifier(name);

	return mm_remote_try(r, psprintf("ALTER SUBSCRIPTION %s DISABLE", q), 0, NULL) &&
		mm_remote_try(r, psprintf("ALTER SUBSCRIPTION %s SET (slot_name = NONE)", q), 0, NULL) &&
		mm_remote_try(r, psprintf("DROP SUBSCRIPTION %s", q), 0, NULL);
}

/*
 * Drop a slot, first ending the walsender still using it (its subscriber
 * may not have noticed yet that the subscription is gone).
 */
bool
mm_drop_slot(MMRemote *r, const char *name)
{
	const char *params[1] = {name};
	int			attempt;

	for (attempt = 0; attempt < 40; attempt++)
	{
		PGresult   *res;
		bool		ok;

		if (r->conn == NULL)
			break;
		PQclear(mm_remote_query(r,
								"SELECT pg_catalog.pg_terminate_backend(active_pid) "
								"FROM pg_catalog.pg_replication_slots "
								"WHERE slot_name = $1 AND active_pid IS NOT NULL",
								1, params, NULL));
		res = mm_remote_query(r,
							  "SELECT pg_catalog.pg_drop_replication_slot(slot_name) "
							  "FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
							  1, params, NULL);
		ok = (res != NULL);
		PQclear(res);
		if (ok)
			return true;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 250L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	ereport(WARNING,
			(errmsg("could not drop replication slot \"%s\" on %s", name, r->label),
			 errhint("Drop it there with pg_drop_replication_slot() once it is no longer active; a slot left behind retains WAL.")));
	return false;
}

/* Take down every link of a node (and, with its publication, all of it). */
void
mm_drop_node_links(MMRemote *r, int32 only_peer, bool drop_publication)
{
	List	   *names;
	ListCell   *lc;

	if (r->conn == NULL)
		return;

	names = mm_link_subscriptions(r);
	foreach(lc, names)
	{
		int32		pub,
					sub;

		if (mm_link_parse((char *) lfirst(lc), &pub, &sub) &&
			(only_peer == 0 || pub == only_peer))
			(void) mm_drop_subscription(r, (char *) lfirst(lc));
	}

	names = mm_link_slots(r);
	foreach(lc, names)
	{
		int32		pub,
					sub;

		if (mm_link_parse((char *) lfirst(lc), &pub, &sub) &&
			(only_peer == 0 || sub == only_peer))
			(void) mm_drop_slot(r, (char *) lfirst(lc));
	}

	if (drop_publication)
		(void) mm_remote_try(r, "DROP PUBLICATION IF EXISTS " MM_PUBLICATION, 0, NULL);
}

/*
 * ALTER SUBSCRIPTION ... REFRESH PUBLICATION for one link; with warn_only a
 * failure is a warning (the background refresh goes on with other links).
 */
void
mm_refresh_link(MMRemote *r, const char *name, bool warn_only)
{
	char	   *sql = psprintf("ALTER SUBSCRIPTION %s REFRESH PUBLICATION WITH (copy_data = true)",
							   quote_identifier(name));

	if (warn_only)
		(void) mm_remote_try(r, sql, 0, NULL);
	else
		PQclear(mm_remote_exec(r, sql, 0, NULL));
}

/* Refresh every multimaster subscription of a node. */
void
mm_refresh_node(MMRemote *r, bool warn_only)
{
	List	   *subs;
	ListCell   *lc;

	if (r->conn == NULL)
		return;
	subs = mm_link_subscriptions(r);
	foreach(lc, subs)
		mm_refresh_link(r, (char *) lfirst(lc), warn_only);
}

/*
 * Wait until every slot of 'targets' has confirmed its target, or the
 * deadline.  False, with *why set, when a slot is missing, a node cannot be
 * asked, or the deadline passes.
 */
bool
mm_wait_slots(MeshNode *nodes, MMSlotTarget *targets, int ntargets,
			  TimestampTz deadline, char **why)
{
	for (;;)
	{
		int			pending = 0;
		int			i;

		for (i = 0; i < ntargets; i++)
		{
			MMSlotTarget *t = &targets[i];
			MeshNode   *node = &nodes[t->node];
			const char *params[2];
			char	   *err = NULL;
			PGresult   *res;

			if (t->done)
				continue;
			params[0] = t->slot;
			params[1] = psprintf("%X/%X", LSN_FORMAT_ARGS(t->target));
			res = mm_remote_query(&node->r,
								  "SELECT confirmed_flush_lsn OPERATOR(pg_catalog.>=) $2::pg_catalog.pg_lsn, "
								  "confirmed_flush_lsn::pg_catalog.text "
								  "FROM pg_catalog.pg_replication_slots "
								  "WHERE slot_name OPERATOR(pg_catalog.=) $1::pg_catalog.name",
								  2, params, &err);
			if (res == NULL)
			{
				*why = psprintf("node %d (\"%s\") could not be asked: %s",
								node->id, node->name, err ? err : "unknown error");
				return false;
			}
			if (PQntuples(res) == 0)
			{
				PQclear(res);
				*why = psprintf("node %d (\"%s\") has no slot \"%s\"",
								node->id, node->name, t->slot);
				return false;
			}
			if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
				t->done = true;
			else if (GetCurrentTimestamp() >= deadline)
			{
				*why = psprintf("slot \"%s\" on node %d (\"%s\") has confirmed %s, not yet %s",
								t->slot, node->id, node->name,
								PQgetisnull(res, 0, 1) ? "nothing" : PQgetvalue(res, 0, 1),
								psprintf("%X/%X", LSN_FORMAT_ARGS(t->target)));
				PQclear(res);
				return false;
			}
			else
				pending++;
			PQclear(res);
		}
		if (pending == 0)
			return true;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}
