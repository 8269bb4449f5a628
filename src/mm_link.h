/*-------------------------------------------------------------------------
 *
 * mm_link.h
 *		The links between nodes: slots, subscriptions and the publication.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * IDENTIFICATION
 *		src/mm_link.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MM_LINK_H
#define MM_LINK_H

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "nodes/pg_list.h"

#include "mm_nodes.h"
#include "mm_remote.h"

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

extern List *mm_link_slots(MMRemote *r);
extern List *mm_link_subscriptions(MMRemote *r);
extern void mm_ensure_publication(MeshNode *node, List **undo);
extern void mm_create_link(MeshNode *pub, MeshNode *sub, bool copy_data, List **undo);
extern bool mm_drop_subscription(MMRemote *r, const char *name);
extern bool mm_drop_slot(MMRemote *r, const char *name);
extern void mm_drop_node_links(MMRemote *r, int32 only_peer, bool drop_publication);
extern void mm_refresh_link(MMRemote *r, const char *name, bool warn_only);
extern void mm_refresh_node(MMRemote *r, bool warn_only);

#endif							/* MM_LINK_H */
