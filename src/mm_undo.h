/*-------------------------------------------------------------------------
 *
 * mm_undo.h
 *		What a failed mesh call takes back, newest first.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * IDENTIFICATION
 *		src/mm_undo.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MM_UNDO_H
#define MM_UNDO_H

#include "nodes/pg_list.h"
#include "utils/palloc.h"

#include "mm_compat.h"
#include "mm_nodes.h"
#include "mm_remote.h"

/*
 * Each step of a mesh call that creates something records its undo (what
 * to drop on which node); on failure mm_undo_fail() runs them newest first
 * and closes the call's connections.
 */

/* Undoes one step on node r (arg: what to drop); false when it could not. */
typedef bool (*MMUndoAction) (MMRemote *r, const char *arg);

typedef struct MMUndo
{
	List	   *steps;			/* what to drop, where; run newest first */
	MeshNode   *nodes;			/* whose connections a failure closes */
	int			n;
	MemoryContext cxt;			/* the call's, where the error is copied */
} MMUndo;

extern void mm_add_undo(List **undo, MMRemote *r, MMUndoAction action, const char *arg);
extern bool mm_undo_sql(MMRemote *r, const char *sql);
extern MMUndo *mm_undo_begin(MeshNode *nodes, int n);
pg_noreturn extern void mm_undo_fail(MMUndo *undo);

#endif							/* MM_UNDO_H */
