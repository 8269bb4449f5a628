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

static void
run_undo(List *undo)
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
 * The undo of a mesh call working on 'nodes', in the current memory
 * context.  Made before PG_TRY, so that the steps recorded in it, and the
 * nodes a caller sets in it later, are there after the longjmp.
 */
MMUndo *
mm_undo_begin(MeshNode *nodes, int n)
{
	MMUndo	   *undo = palloc0(sizeof(MMUndo));

	undo->nodes = nodes;
	undo->n = n;
	undo->cxt = CurrentMemoryContext;
	return undo;
}

/*
 * A step of a mesh entry point failed or was cancelled: undo what it had
 * created, newest first, close its connections and raise the error again.
 */
void
mm_undo_fail(MMUndo *undo)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(undo->cxt);
	edata = CopyErrorData();
	FlushErrorState();
	run_undo(undo->steps);
	mm_close_nodes(undo->nodes, undo->n);
	ReThrowError(edata);
}
