/*-------------------------------------------------------------------------
 *
 * mm_nodes.h
 *		The nodes a mesh call works on, and its connections to them.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * IDENTIFICATION
 *		src/mm_nodes.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MM_NODES_H
#define MM_NODES_H

#include "nodes/pg_list.h"
#include "utils/array.h"

#include "mm_remote.h"

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

/* multimaster.node_dsn: how the other nodes reach this one (join_mesh) */
extern char *mm_node_dsn;

extern MeshNode *mm_connect_dsns(ArrayType *dsns, int *n_out);
extern MeshNode *mm_connect_known_nodes(int *n_out, bool missing_ok);
extern void mm_close_nodes(MeshNode *nodes, int n);
extern void mm_register_peer(MMRemote *on, int32 id, const char *name, int32 priority,
							 const char *dsn);

#endif							/* MM_NODES_H */
