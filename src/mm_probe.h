/*-------------------------------------------------------------------------
 *
 * mm_probe.h
 *		Checks a mesh call makes before it creates anything.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * IDENTIFICATION
 *		src/mm_probe.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MM_PROBE_H
#define MM_PROBE_H

#include "mm_nodes.h"

extern void mm_require_superuser(const char *what);
extern void mm_probe_node(MeshNode *node, int n);
extern void mm_check_same_version(MeshNode *nodes, int n);
extern void mm_check_same_table(MeshNode *nodes, int n, const char *relname);

#endif							/* MM_PROBE_H */
