/*-------------------------------------------------------------------------
 *
 * mm_compat.h
 *		The differences between the PostgreSQL versions multimaster builds
 *		against (15 and 18), in one place.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * Every server API whose signature or shape changed between 15 and 18 is
 * called through a wrapper here, named after what it does; each says in
 * which release the API changed and why.  The rest of the code has no
 * PG_VERSION_NUM test: a new version's difference goes here.  The cut-offs
 * are those of the releases that made the change (16 and 17 are not built
 * here, but the wrappers follow the release notes and headers).
 *
 * IDENTIFICATION
 *		src/mm_compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MM_COMPAT_H
#define MM_COMPAT_H

#include "access/genam.h"
#include "access/heapam.h"
#include "executor/executor.h"
#include "nodes/parsenodes.h"
#include "replication/reorderbuffer.h"
#include "utils/relcache.h"

#if PG_VERSION_NUM >= 160000
#include "parser/parse_relation.h"
#endif

#if PG_VERSION_NUM < 150000
#error "multimaster needs PostgreSQL 15 or later"
#endif

/*
 * The old and new tuples of a decoded change.  Up to 16 they are
 * ReorderBufferTupleBuf (a HeapTupleData header followed by the data);
 * 17 removed that struct and made them plain HeapTuples.
 * MMChangeTuple is the type of change->data.tp.newtuple/oldtuple,
 * mm_change_tuple_heap() the HeapTuple inside one, and
 * mm_change_tuple_make() wraps a HeapTuple built by the plugin so that it
 * can be put into a change (it shares the tuple's data).
 */
#if PG_VERSION_NUM >= 170000
typedef HeapTuple MMChangeTuple;

#define mm_change_tuple_heap(ct)	(ct)

static inline MMChangeTuple
mm_change_tuple_make(HeapTuple tuple)
{
	return tuple;
}
#else
typedef ReorderBufferTupleBuf *MMChangeTuple;

#define mm_change_tuple_heap(ct)	((ct) ? &(ct)->tuple : NULL)

static inline MMChangeTuple
mm_change_tuple_make(HeapTuple tuple)
{
	ReorderBufferTupleBuf *buf = palloc0(sizeof(ReorderBufferTupleBuf));

	buf->tuple = *tuple;
	return buf;
}
#endif

/*
 * A one-relation range table for an executor state built by hand (as the
 * apply worker's), whose UPDATEs count 'updated_cols' as updated so that
 * column-specific (UPDATE OF) triggers fire.  16 moved the permission
 * fields, updatedCols among them, from RangeTblEntry into
 * RTEPermissionInfo, which ExecInitRangeTable now takes as a list; 18 added
 * the set of range table entries left after initial partition pruning
 * (here: the one relation).
 */
static inline void
mm_exec_init_range_table(EState *estate, RangeTblEntry *rte,
						 Bitmapset *updated_cols)
{
#if PG_VERSION_NUM >= 160000
	List	   *perminfos = NIL;
	RTEPermissionInfo *perminfo = addRTEPermissionInfo(&perminfos, rte);

	perminfo->updatedCols = updated_cols;
#if PG_VERSION_NUM >= 180000
	ExecInitRangeTable(estate, list_make1(rte), perminfos, bms_make_singleton(1));
#else
	ExecInitRangeTable(estate, list_make1(rte), perminfos);
#endif
#else
	rte->updatedCols = updated_cols;
	ExecInitRangeTable(estate, list_make1(rte));
#endif
}

/*
 * EvalPlanQual state for an executor state without a plan.  16 added the
 * list of result relations (for EPQ rechecks of partitioned targets); none
 * here.
 */
#if PG_VERSION_NUM >= 160000
#define mm_epq_init(epq, estate) \
	EvalPlanQualInit((epq), (estate), NULL, NIL, -1, NIL)
#else
#define mm_epq_init(epq, estate) \
	EvalPlanQualInit((epq), (estate), NULL, NIL, -1)
#endif

/*
 * Index entries for a newly inserted tuple (every index: update = false).
 * 16 added onlySummarizing, for HOT updates that touch only summarizing
 * (BRIN) indexes; an insert is not one.
 */
#if PG_VERSION_NUM >= 160000
#define mm_insert_index_tuples(rri, slot, estate, noDupErr, specConflict, arbiters) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, (noDupErr), \
						  (specConflict), (arbiters), false)
#else
#define mm_insert_index_tuples(rri, slot, estate, noDupErr, specConflict, arbiters) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, (noDupErr), \
						  (specConflict), (arbiters))
#endif

/*
 * Is 'slot' free of conflicts in the arbiter indexes?  18 added the TID of
 * a tuple to leave out of the check (the row being replaced, for temporal
 * keys); before 18 the caller skips a conflict with that row itself, which
 * it does anyway.
 */
#if PG_VERSION_NUM >= 180000
#define mm_check_index_constraints(rri, slot, estate, conflictTid, self, arbiters) \
	ExecCheckIndexConstraints((rri), (slot), (estate), (conflictTid), (self), (arbiters))
#else
#define mm_check_index_constraints(rri, slot, estate, conflictTid, self, arbiters) \
	ExecCheckIndexConstraints((rri), (slot), (estate), (conflictTid), (arbiters))
#endif

/*
 * An index scan.  18 added the instrumentation of the scan (for EXPLAIN
 * ANALYZE's index searches); none here.
 */
#if PG_VERSION_NUM >= 180000
#define mm_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), NULL, (nkeys), (norderbys))
#else
#define mm_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), (nkeys), (norderbys))
#endif

/*
 * Functions that never return.  18 replaced the trailing
 * pg_attribute_noreturn() by pg_noreturn in front of the declaration (a C11
 * _Noreturn where there is one); before 18 the GCC attribute, which may
 * stand in front as well, does the same.
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/*
 * The primary key index of a relation (InvalidOid if none).  17 added
 * deferrable_ok; without it, as before 17, a deferrable primary key does
 * not count (a key checked only at commit cannot decide a row's fate).
 */
#if PG_VERSION_NUM >= 170000
#define mm_primary_key_index(rel)	RelationGetPrimaryKeyIndex((rel), false)
#else
#define mm_primary_key_index(rel)	RelationGetPrimaryKeyIndex(rel)
#endif

/*
 * Update a tuple of a table that has no index, in place of the old one.
 * 16 made simple_heap_update report which indexes need new entries
 * (TU_UpdateIndexes, for summarizing indexes); with no index there are
 * none to make, on any version.
 */
static inline void
mm_heap_update_unindexed(Relation rel, ItemPointer otid, HeapTuple tup)
{
#if PG_VERSION_NUM >= 160000
	TU_UpdateIndexes update_indexes;

	simple_heap_update(rel, otid, tup, &update_indexes);
#else
	simple_heap_update(rel, otid, tup);
#endif
}

#endif							/* MM_COMPAT_H */
