/*-------------------------------------------------------------------------
 *
 * mm_catalog.h
 *		Node registry and per-relation trigger state, cached per backend.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * IDENTIFICATION
 *		src/mm_catalog.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MM_CATALOG_H
#define MM_CATALOG_H

#include "access/attnum.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "nodes/bitmapset.h"
#include "storage/lockdefs.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "mm_key.h"
#include "mm_names.h"

#define MM_MAX_NODE_ID			32767

/* Conflict policies: each one is a total order over row versions. */
typedef enum MMPolicy
{
	MM_POLICY_LAST_UPDATE_WINS,
	MM_POLICY_NODE_PRIORITY,
	MM_POLICY_FIRST_UPDATE_WINS
} MMPolicy;

/* Where a local write takes its clock reading from. */
typedef enum MMVersionSource
{
	MM_SOURCE_HLC,				/* clock_timestamp() */
	MM_SOURCE_TRANSACTION,		/* transaction start time */
	MM_SOURCE_STATEMENT,		/* statement start time */
	MM_SOURCE_COLUMN			/* a timestamp(tz) column of the row */
} MMVersionSource;

/*
 * Everything the trigger needs to know about one relation, computed once
 * and kept until a relcache invalidation of that relation (or of its
 * schema, or of the tombstone floors).  All of it lives in 'cxt'.
 */
typedef struct MMRelInfo
{
	Oid			relid;
	Oid			root_relid;		/* the registered table: relid, or for a
								 * partition its topmost partitioned table */
	bool		valid;			/* cleared by invalidation callbacks */
	Oid			tgoid;			/* trigger whose arguments built this */
	MemoryContext cxt;

	MMPolicy	policy;
	MMVersionSource source;
	AttrNumber	source_attnum;	/* for MM_SOURCE_COLUMN */
	Oid			source_type;	/* TIMESTAMPOID or TIMESTAMPTZOID */
	int32		node_id;		/* 0: the node set by init_node() */
	int32		priority_node;	/* 0: priorities from multimaster.nodes */

	AttrNumber	origin_attnum;	/* mm_origin */
	AttrNumber	version_attnum; /* mm_version */
	AttrNumber	generation_attnum;	/* mm_generation */

	Oid			pk_index;
	MMKeyInfo	key;
	Bitmapset  *all_columns;	/* every column, as range-table updatedCols */
	bool		has_other_unique;	/* a unique index besides the key */

	/*
	 * What local writes need to be safe to ship; checked on every local
	 * write because ALTER TABLE can change it after add_table.
	 */
	bool		published;		/* in publication multimaster (our plugin) */
	char		replident;		/* pg_class.relreplident */
	int			n_toastable;	/* columns that can be stored out of line: */
	AttrNumber *toastable_attnums;	/* their attnums (see stamp() in
									 * mm_trigger.c) */

	char	   *table_ident;	/* "schema"."table" of root_relid: tombstone
								 * identity */
	char	   *table_name;		/* the same as people write it: messages, log */
	uint32		table_hash;		/* hash of table_ident, for key locks */

	/* no local write of this table may order below this (purged tombstones) */
	bool		has_floor;
	TimestampTz floor_ts;
	int64		floor_generation;
} MMRelInfo;

extern void mm_catalog_init(void);

extern MMRelInfo *mm_relinfo_get(Relation rel, Trigger *trigger);

extern int32 mm_local_node_id(bool missing_ok);
extern void mm_invalidate_caches(void);
extern Relation mm_open_registered(Oid relid, LOCKMODE lockmode);
extern int32 mm_node_priority(int32 node_id);
extern Oid	mm_catalog_relid(const char *relname, bool missing_ok);
extern Oid	mm_tombstones_relid(void);
extern char *mm_qualified_relname(Oid relid);
extern void mm_check_local_write(const MMRelInfo *info);
extern List *mm_leaf_relids(Oid relid, LOCKMODE lockmode);

extern MMPolicy mm_parse_policy(const char *name);
extern const char *mm_policy_name(MMPolicy policy);

#endif							/* MM_CATALOG_H */
