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

#include "mm_link.h"
#include "mm_names.h"
#include "mm_nodes.h"
#include "mm_probe.h"
#include "mm_remote.h"
#include "mm_undo.h"

#endif							/* MM_MESH_H */
