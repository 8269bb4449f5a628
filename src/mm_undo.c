/*-------------------------------------------------------------------------
 *
 * mm_undo.c
 *		What a failed mesh call takes back: every step that created
 *		something on a node recorded how to undo it, and the steps are
 *		undone newest first.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * IDENTIFICATION
 *		src/mm_undo.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mm_nodes.h"
#include "mm_remote.h"
#include "mm_undo.h"

/* An undo step: what to run on a node if a later step fails. */
typedef struct Undo
{
	MMRemote   *r;
	MMUndoAction action;
	char	   *arg;
} Undo;

void
mm_add_undo(List **undo, MMRemote *r, MMUndoAction action, const char *arg)
{
	Undo	   *u = palloc(sizeof(Undo));

	u->r = r;
	u->action = action;
	u->arg = pstrdup(arg);
	*undo = lappend(*undo, u);
}

/* The undo of a step that a statement reverses: run it, errors ignored. */
bool
mm_undo_sql(MMRemote *r, const char *sql)
{
	return mm_remote_try(r, sql, 0, NULL);
}

void
mm_run_undo(List *undo)
{
	int			i;

	for (i = list_length(undo) - 1; i >= 0; i--)
	{
		Undo	   *u = (Undo *) list_nth(undo, i);

		if (u->r->conn == NULL)
			continue;
		(void) u->action(u->r, u->arg);
	}
}

/*
 * A step of a mesh entry point failed or was cancelled: undo what it had
 * created, newest first, close its connections and raise the error again.
 * The undo list lives in 'undo' (palloc'd before PG_TRY), so that what the
 * failed step appended to it is there after the longjmp.
 */
void
mm_undo_fail(MMUndo *undo, MeshNode *nodes, int n, MemoryContext ctx)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(ctx);
	edata = CopyErrorData();
	FlushErrorState();
	mm_run_undo(undo->steps);
	mm_close_nodes(nodes, n);
	ReThrowError(edata);
}
