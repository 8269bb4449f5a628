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

/* name of the slot and subscription carrying publisher's changes to subscriber */
extern char *mm_link_name(int32 publisher, int32 subscriber);

extern MeshNode *mm_connect_known_nodes(int *n_out, bool missing_ok);
extern void mm_close_nodes(MeshNode *nodes, int n);
extern void mm_refresh_link(MMRemote *r, const char *name, bool warn_only);
extern void mm_refresh_node(MMRemote *r, bool warn_only);

#endif							/* MM_MESH_H */
