/*-------------------------------------------------------------------------
 *
 * mm_mesh.h
 *		Building and taking down the mesh.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * IDENTIFICATION
 *		src/mm_mesh.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MM_MESH_H
#define MM_MESH_H

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"

#include "nodes/pg_list.h"
#include "utils/palloc.h"

#include "mm_compat.h"
#include "mm_remote.h"

/* names of the mesh's slots and subscriptions: multimaster_<publisher>_<subscriber> */
#define MM_LINK_NAME_PATTERN	"^multimaster_[0-9]+_[0-9]+$"

/* What create_mesh learns about a node before touching anything. */
typedef struct MeshNode
{
	MMRemote	r;
	char	   *dsn;
	int			pos;			/* 1-based position in the DSN array */
	bool		had_identity;
	int32		id;
	char	   *name;
	int32		priority;
	char	   *sysid_db;		/* system identifier + database: sameness */
	List	   *slots;			/* existing multimaster_% slot names */
	List	   *subs;			/* existing multimaster_% subscriptions */
	bool		had_publication;
	char	   *extversion;		/* installed multimaster version */
	List	   *known_peers;	/* ids of peers in its multimaster.nodes */
} MeshNode;

/* a slot multimaster_<A>_<B> on node A that must confirm a position of A */
typedef struct MMSlotTarget
{
	int			node;			/* index into the MeshNode array */
	char	   *slot;
	XLogRecPtr	target;
	bool		done;
} MMSlotTarget;

extern bool mm_wait_slots(MeshNode *nodes, MMSlotTarget *targets, int ntargets,
						  TimestampTz deadline, char **why);

/* name of the slot and subscription carrying publisher's changes to subscriber */
extern char *mm_link_name(int32 publisher, int32 subscriber);

/*
 * Link primitives shared by the mesh entry points.  Each step that creates
 * something records its undo (what to drop on which node); on failure the
 * caller runs them newest first.
 */
#define UNDO_SQL			0
#define UNDO_SUBSCRIPTION	1
#define UNDO_SLOT			2

extern void mm_require_superuser(const char *what);
extern void mm_probe_node(MeshNode *node, int n);
extern void mm_check_same_version(MeshNode *nodes, int n);
extern void mm_check_same_table(MeshNode *nodes, int n, const char *relname);
typedef struct MMUndo
{
	List	   *steps;			/* what to drop, where; run newest first */
} MMUndo;

extern void mm_add_undo(List **undo, MMRemote *r, int kind, const char *arg);
pg_noreturn extern void mm_undo_fail(MMUndo *undo, MeshNode *nodes, int n, MemoryContext ctx);
extern void mm_run_undo(List *undo);
extern void mm_register_peer(MMRemote *on, int32 id, const char *name, int32 priority,
							 const char *dsn);
extern void mm_ensure_publication(MeshNode *node, List **undo);
extern void mm_create_link(MeshNode *pub, MeshNode *sub, bool copy_data, List **undo);
extern void mm_drop_node_links(MMRemote *r, int32 only_peer, bool drop_publication);

extern MeshNode *mm_connect_known_nodes(int *n_out, bool missing_ok);

/* multimaster.node_dsn: how the other nodes reach this one (join_mesh) */
extern char *mm_node_dsn;
extern void mm_close_nodes(MeshNode *nodes, int n);
extern void mm_refresh_link(MMRemote *r, const char *name, bool warn_only);
extern void mm_refresh_node(MMRemote *r, bool warn_only);

#endif							/* MM_MESH_H */
