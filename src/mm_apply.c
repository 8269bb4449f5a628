/*-------------------------------------------------------------------------
 *
 * mm_apply.c
 *		Deciding and applying an incoming row: find by key, compare, write.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * PostgreSQL 15 applies a replicated UPDATE only when the row exists, and a
 * replicated INSERT of an existing key fails.  The output plugin therefore
 * ships every UPDATE of a replicated table as the full new row, and the
 * BEFORE INSERT trigger turns each incoming row into an upsert that keeps
 * the greater version:
 *
 *	- the row is looked up by primary key and locked, as the apply worker's
 *	  own find-by-index does (dirty snapshot, wait for in-progress writers),
 *	  so the comparison is made against the version that will be replaced;
 *	- newer: the row is updated in place (ordinary UPDATE triggers, HOT);
 *	- not newer: nothing is written;
 *	- absent: the key lock is taken (so that a tombstone of this key being
 *	  written by another transaction is waited for, not missed), then
 *	  unless the key's tombstone is newer, the row is inserted
 *	  speculatively, as INSERT ... ON CONFLICT does, so a local transaction
 *	  inserting the same key at the same moment makes us retry the lookup
 *	  instead of failing the apply worker with a duplicate-key error.
 *
 * The trigger then returns NULL so the apply worker's own insert is skipped.
 * No SPI and no planning: one index probe, then heap and index writes.
 * Updates carry every column as updated (updatedCols), as the stock apply
 * worker's do, so that UPDATE OF triggers enabled ALWAYS or REPLICA fire.
 *
 * IDENTIFICATION
 *		src/mm_apply.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/skey.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/heapam.h"
#include "access/xact.h"
#include "access/xlogdefs.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "replication/origin.h"
#include "replication/worker_internal.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/pg_lsn.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "mm_apply.h"
#include "mm_compat.h"
#include "mm_conflict.h"
#include "mm_tombstone.h"

/* relation the trigger is writing to itself; its own firing passes through */
static Oid	applying_relid = InvalidOid;

bool
mm_applying(Oid relid)
{
	return OidIsValid(applying_relid) && relid == applying_relid;
}

typedef struct MMExec
{
	EState	   *estate;
	ResultRelInfo *rri;
	EPQState	epq;
	TupleTableSlot *localslot;	/* the row found here */
	TupleTableSlot *slot;		/* the row written */
	/* kept for the transaction (exec_cache) */
	bool		cached;
	bool		in_use;
	Relation	rel;
	TupleDesc	desc;			/* rel's when built: a change rebuilds */
	MemoryContext info_cxt;		/* the relinfo's when built: likewise */
} MMExec;
/*
 * Apply progress, for multimaster.status's lag: the peer's commit time of
 * the last transaction this apply worker applied, written into the
 * unlogged table multimaster.apply_progress just before such a
 * transaction commits (the commit time is known only then), at most once
 * a second.
 */
/* multimaster.apply_progress */
#define Natts_progress				5
#define Anum_progress_origin		1
#define Anum_progress_commit_time	2
#define Anum_progress_lsn			3
#define Anum_progress_updated_at	4
#define Anum_progress_deadlocks		5

static bool applied_this_xact = false;
static TimestampTz last_progress_write = 0;

void
mm_apply_note(void)
{
	applied_this_xact = true;
}

/*
 * Write this worker's row of multimaster.apply_progress (origin
 * 'origin_name'): with 'now' set, the progress of the transaction about to
 * commit; with 'deadlock', one more deadlock.  Only this worker writes its
 * origin's row.
 */
static void
apply_progress_write(const char *origin_name, TimestampTz now, bool deadlock)
{
	Oid			relid = mm_catalog_relid("apply_progress", true);
	Relation	rel;
	TupleDesc	desc;
	TableScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;
	Datum		values[Natts_progress];
	bool		nulls[Natts_progress];
	bool		replace[Natts_progress];
	bool		done = false;

	if (!OidIsValid(relid))
		return;
	memset(nulls, false, sizeof(nulls));
	memset(replace, false, sizeof(replace));
	values[Anum_progress_origin - 1] = CStringGetTextDatum(origin_name);
	if (now != 0)
	{
		values[Anum_progress_commit_time - 1] = TimestampTzGetDatum(replorigin_session_origin_timestamp);
		values[Anum_progress_lsn - 1] = LSNGetDatum(replorigin_session_origin_lsn);
		nulls[Anum_progress_lsn - 1] = XLogRecPtrIsInvalid(replorigin_session_origin_lsn);
		values[Anum_progress_updated_at - 1] = TimestampTzGetDatum(now);
		replace[Anum_progress_commit_time - 1] = replace[Anum_progress_lsn - 1] =
			replace[Anum_progress_updated_at - 1] = true;
	}
	else
	{
		nulls[Anum_progress_commit_time - 1] = nulls[Anum_progress_lsn - 1] = true;
		values[Anum_progress_updated_at - 1] = TimestampTzGetDatum(GetCurrentTimestamp());
	}
	values[Anum_progress_deadlocks - 1] = Int64GetDatum(deadlock ? 1 : 0);

	rel = table_open(relid, RowExclusiveLock);
	desc = RelationGetDescr(rel);
	if (desc->natts < Anum_progress_deadlocks && now == 0)
	{
		/* version 1.0 of the extension (rolling upgrade): no count kept */
		table_close(rel, NoLock);
		return;
	}
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snap, 0, NULL);
	while (!done && (tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_progress_origin, desc, &isnull);

		if (!isnull && strcmp(TextDatumGetCString(d), origin_name) == 0)
		{
			if (deadlock && desc->natts >= Anum_progress_deadlocks)
			{
				d = heap_getattr(tup, Anum_progress_deadlocks, desc, &isnull);
				values[Anum_progress_deadlocks - 1] =
					Int64GetDatum((isnull ? 0 : DatumGetInt64(d)) + 1);
				replace[Anum_progress_deadlocks - 1] = true;
			}
			mm_heap_update_unindexed(rel, &tup->t_self,
									 heap_modify_tuple(tup, desc, values, nulls, replace));
			done = true;
		}
	}
	table_endscan(scan);
	UnregisterSnapshot(snap);
	if (!done)
		simple_heap_insert(rel, heap_form_tuple(desc, values, nulls));
	table_close(rel, NoLock);
}

static void
write_apply_progress(TimestampTz now)
{
	char	   *origin_name;

	if (replorigin_by_oid(replorigin_session_origin, true, &origin_name))
		apply_progress_write(origin_name, now, false);
}

/*
 * Deadlocks of the apply worker with local sessions: when the worker is the
 * victim, its transaction fails and it restarts after
 * wal_retrieve_retry_interval.  multimaster.status counts them
 * (apply_progress.deadlocks).  The error ends the process, so the count is
 * written on the way out: the log hook notes the deadlock, and an exit
 * callback (run before the ones that release the worker's slot and
 * origin) aborts the failed transaction and records it in a new one,
 * without the replication origin, which must not advance past the
 * transaction that failed.
 *
 * The row is the one of the subscription's origin (pg_<subscription oid>,
 * which multimaster.status reads), named from the worker's subscription
 * rather than taken from the session's origin: from PostgreSQL 18 on, the
 * apply worker drops its session origin before the error is reported.
 * Table synchronization workers (relid set) are not counted.
 */
static emit_log_hook_type prev_emit_log_hook = NULL;
static Oid	deadlock_subid = InvalidOid;

static void
record_deadlock_at_exit(int code, Datum arg)
{
	Oid			subid = deadlock_subid;

	if (!OidIsValid(subid))
		return;
	deadlock_subid = InvalidOid;
	AbortOutOfAnyTransaction();
	replorigin_session_origin = InvalidRepOriginId;
	replorigin_session_origin_lsn = InvalidXLogRecPtr;
	replorigin_session_origin_timestamp = 0;
	PG_TRY();
	{
		StartTransactionCommand();
		apply_progress_write(psprintf("pg_%u", subid), 0, true);
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		/* a count is not worth a second error on the way out */
		EmitErrorReport();
		FlushErrorState();
		AbortOutOfAnyTransaction();
	}
	PG_END_TRY();
}

static void
apply_emit_log_hook(ErrorData *edata)
{
	if (edata->elevel >= ERROR && edata->sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED &&
		MyLogicalRepWorker != NULL && OidIsValid(MyLogicalRepWorker->subid) &&
		!OidIsValid(MyLogicalRepWorker->relid) && !OidIsValid(deadlock_subid))
	{
		deadlock_subid = MyLogicalRepWorker->subid;
		before_shmem_exit(record_deadlock_at_exit, (Datum) 0);
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

static void
apply_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_PRE_COMMIT && applied_this_xact &&
		replorigin_session_origin != InvalidRepOriginId &&
		replorigin_session_origin_timestamp != 0)
	{
		TimestampTz now = GetCurrentTimestamp();

		if (TimestampDifferenceExceeds(last_progress_write, now, 1000))
		{
			write_apply_progress(now);
			last_progress_write = now;
		}
	}
	if (event != XACT_EVENT_PRE_COMMIT && event != XACT_EVENT_PARALLEL_PRE_COMMIT &&
		event != XACT_EVENT_PRE_PREPARE)
		applied_this_xact = false;
}

void
mm_apply_init(void)
{
	RegisterXactCallback(apply_xact_callback, NULL);
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = apply_emit_log_hook;
}

/* Equality scan keys on the primary key for the key held in 'slot'. */
static void
key_scankeys(const MMRelInfo *info, TupleTableSlot *slot, ScanKey skey)
{
	int			i;

	for (i = 0; i < info->key.ncols; i++)
	{
		const MMKeyCol *col = &info->key.cols[i];
		bool		isnull;
		Datum		d = slot_getattr(slot, col->attnum, &isnull);

		ScanKeyEntryInitializeWithInfo(&skey[i], isnull ? SK_ISNULL : 0, i + 1,
									   BTEqualStrategyNumber, InvalidOid,
									   col->collation,
									   (FmgrInfo *) &col->eq, d);
	}
}

/*
 * Find the row of the key in 'searchslot' by primary key and lock it in
 * 'mode', waiting for transactions writing it, as the apply worker's own
 * find-by-index does; its copy goes into 'outslot'.
 *
 * Unlike that one, a row that this very command inserted (a multi-row
 * INSERT, INSERT ... SELECT, or a row moved into a partition) is found
 * but not locked: no other transaction can touch it, and it cannot be
 * locked by its own command.
 */
MMFound
mm_find_by_key(Relation rel, const MMRelInfo *info, LockTupleMode mode,
			   TupleTableSlot *searchslot, TupleTableSlot *outslot)
{
	MMFound		result = MM_FOUND_NONE;
	Relation	idxrel = index_open(info->pk_index, RowExclusiveLock);
	ScanKeyData skey[INDEX_MAX_KEYS];
	SnapshotData snap;
	IndexScanDesc scan;
	int			n = info->key.ncols;
	bool		found;

	key_scankeys(info, searchslot, skey);
	InitDirtySnapshot(snap);
	scan = mm_index_beginscan(rel, idxrel, &snap, n, 0);

retry:
	found = false;
	result = MM_FOUND_NONE;		/* a row changed meanwhile may be gone now */
	index_rescan(scan, skey, n, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, outslot))
	{
		TransactionId xwait;

		found = true;
		ExecMaterializeSlot(outslot);
		xwait = TransactionIdIsValid(snap.xmin) ? snap.xmin : snap.xmax;
		if (TransactionIdIsValid(xwait))
		{
			XactLockTableWait(xwait, NULL, NULL, XLTW_None);
			goto retry;
		}
	}

	if (found)
	{
		TM_FailureData tmfd;
		TM_Result	res;

		result = MM_FOUND_LOCKED;
		PushActiveSnapshot(GetLatestSnapshot());
		res = table_tuple_lock(rel, &(outslot->tts_tid), GetLatestSnapshot(),
							   outslot, GetCurrentCommandId(false), mode,
							   LockWaitBlock, 0, &tmfd);
		PopActiveSnapshot();

		switch (res)
		{
			case TM_Ok:
				break;
			case TM_Invisible:	/* inserted by this command */
			case TM_SelfModified:	/* changed by this command */
				result = MM_FOUND_OWN;
				break;
			case TM_Updated:
			case TM_Deleted:
				/* changed meanwhile: look again */
				goto retry;
			default:
				elog(ERROR, "unexpected table_tuple_lock status: %u", res);
		}
	}

	index_endscan(scan);
	index_close(idxrel, NoLock);
	return result;
}

/* Is there a row of the key (committed or being written) in 'rel'? */
bool
mm_key_present(Relation rel, const MMRelInfo *info, TupleTableSlot *keyslot)
{
	Relation	idxrel = index_open(info->pk_index, AccessShareLock);
	ScanKeyData skey[INDEX_MAX_KEYS];
	SnapshotData snap;
	IndexScanDesc scan;
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	bool		found;

	key_scankeys(info, keyslot, skey);
	InitDirtySnapshot(snap);
	scan = mm_index_beginscan(rel, idxrel, &snap, info->key.ncols, 0);
	index_rescan(scan, skey, info->key.ncols, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	index_close(idxrel, AccessShareLock);
	ExecDropSingleTupleTableSlot(slot);
	return found;
}

/*
 * Take the key lock of 'ref' for a key that had no row in 'rel' when the
 * caller looked (mm_key.c: row before key).  true: the key lock is held
 * and the key still has no row, nor can one appear before this
 * transaction ends, every writer of an absent key taking the lock first.
 * false: a row of the key was written while the lock was waited for; the
 * lock is given back, and the caller locks that row, then the key.  (A
 * lock the transaction held already cannot be given back: then true, and
 * the caller meets the row as it would have anyway.)
 */
bool
mm_key_lock_absent(Relation rel, const MMRelInfo *info,
				   TupleTableSlot *keyslot, MMKeyRef *ref)
{
	uint32		key_hash = mm_keyref_hash(ref);

	if (!mm_key_lock(info->table_hash, key_hash))
		return true;
	if (!mm_key_present(rel, info, keyslot))
		return true;
	mm_key_unlock(info->table_hash, key_hash);
	return false;
}

/*
 * The common case of an incoming INSERT: a new row, whose key is neither
 * here nor tombstoned, in a table without another unique key to check.
 * Then the apply worker's own insert is all there is to do, and the
 * trigger lets the row through instead of upserting it (no executor state,
 * no speculative insertion, one probe of the key instead of two).
 *
 * Decided under the key lock, which every local writer of an absent key
 * takes before it writes (mm_trigger.c), as does every incoming row and
 * tombstone: a row of the key that appears after the probe is written
 * once this transaction has committed, and then meets this row (a
 * duplicate key, or the update of ON CONFLICT, stamped past it).  A row
 * being written without the key lock (found in progress) is left to
 * mm_upsert(), which waits for it.
 */
bool
mm_apply_insert_is_new(Relation rel, const MMRelInfo *info,
					   TupleTableSlot *slot, MMKeyRef *ref)
{
	MMVersion	tomb;

	if (info->has_other_unique)
		return false;

	/*
	 * A row of the key is locked before the key, as everywhere (mm_key.c):
	 * a key that has a row goes to mm_upsert() without the key lock.  When
	 * nobody holds the key lock, taking it first costs nothing and leaves
	 * one probe of the key, the common case of a new key; when somebody
	 * does, the key is probed before we wait for it, and again after.
	 */
	if (mm_key_table_locked(info->table_hash))
		return !mm_key_present(rel, info, slot) &&
			(mm_tombstones_none(info) || !mm_tombstone_find(info, ref, &tomb));

	switch (mm_key_trylock(info->table_hash, mm_keyref_hash(ref)))
	{
		case MM_KEYLOCK_TAKEN:
			if (mm_key_present(rel, info, slot))
			{
				mm_key_unlock(info->table_hash, mm_keyref_hash(ref));
				return false;
			}
			break;
		case MM_KEYLOCK_HELD:
			if (mm_key_present(rel, info, slot))
				return false;
			break;
		case MM_KEYLOCK_BUSY:
			/* written meanwhile: mm_upsert() locks it, then the key */
			if (mm_key_present(rel, info, slot) ||
				!mm_key_lock_absent(rel, info, slot, ref))
				return false;
			break;
	}
	return mm_tombstones_none(info) || !mm_tombstone_find(info, ref, &tomb);
}

/*
 * The relation that holds the row of the key in 'keyslot' (a slot of
 * 'rel', a registered table): 'rel' itself, or for a partitioned table the
 * leaf partition whose primary key holds the key.  The partition key is
 * part of the primary key, so at most one partition can hold it; each is
 * probed in turn.  false when none does (then nothing is left to undo).
 * Partitions are locked in 'lockmode'.  Finish with mm_route_end().
 */
bool
mm_route_key(Relation rel, MMRelInfo *info, TupleTableSlot *keyslot,
			 LOCKMODE lockmode, MMRoute *route)
{
	List	   *leaves;
	ListCell   *lc;
	bytea	   *key_data;

	memset(route, 0, sizeof(*route));
	if (rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
	{
		route->rel = rel;
		route->info = info;
		route->keyslot = keyslot;
		return true;
	}

	key_data = mm_key_encode(&info->key, keyslot);
	leaves = mm_leaf_relids(RelationGetRelid(rel), lockmode);
	foreach(lc, leaves)
	{
		Relation	leaf = table_open(lfirst_oid(lc), NoLock);
		MMRelInfo  *linfo = mm_relinfo_get(leaf, NULL);
		TupleTableSlot *lkey = MakeSingleTupleTableSlot(RelationGetDescr(leaf),
														&TTSOpsVirtual);

		mm_key_decode(&linfo->key, key_data, lkey);
		if (mm_key_present(leaf, linfo, lkey))
		{
			route->rel = leaf;
			route->info = linfo;
			route->keyslot = lkey;
			route->routed = true;
			list_free(leaves);
			return true;
		}
		ExecDropSingleTupleTableSlot(lkey);
		table_close(leaf, NoLock);
	}
	list_free(leaves);
	return false;
}

void
mm_route_end(MMRoute *route)
{
	if (route->routed)
	{
		ExecDropSingleTupleTableSlot(route->keyslot);
		table_close(route->rel, NoLock);
	}
	memset(route, 0, sizeof(*route));
}

/*
 * A minimal executor state for one relation, like the apply worker's, with
 * two slots of the relation.
 */
static void
exec_build(MMExec *ex, Relation rel, const MMRelInfo *info)
{
	EState	   *estate = CreateExecutorState();
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);

	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	mm_exec_init_range_table(estate, rte, bms_copy(info->all_columns));

	InitResultRelInfo(rri, rel, 1, NULL, 0);
	estate->es_opened_result_relations = list_make1(rri);

	ExecOpenIndices(rri, true);
	mm_epq_init(&ex->epq, estate);

	ex->estate = estate;
	ex->rri = rri;
	ex->localslot = table_slot_create(rel, &estate->es_tupleTable);
	ex->slot = table_slot_create(rel, &estate->es_tupleTable);
	ex->rel = rel;
	ex->desc = RelationGetDescr(rel);
	ex->info_cxt = info->cxt;
	MemoryContextSwitchTo(old);
}

static void
exec_destroy(MMExec *ex)
{
	ExecCloseIndices(ex->rri);
	EvalPlanQualEnd(&ex->epq);
	ExecResetTupleTable(ex->estate->es_tupleTable, false);
	FreeExecutorState(ex->estate);
}

/*
 * Executor states kept until the end of the top-level transaction, one
 * per relation: building one (its indexes opened, their index info built,
 * an executor memory context) costs more than the rest of an incoming
 * update, and an apply worker's transaction writes the same tables over
 * and over.  Kept only where the transaction's own resource owner is the
 * current one (the apply worker's, not a statement's portal: what the
 * executor creates while using the state, like the trigger slots of the
 * result relation, belongs to the owner current then) and outside
 * subtransactions; rebuilt when the relation's descriptor or multimaster
 * state changed (ALTER TABLE, CREATE INDEX in the same transaction);
 * released before commit, forgotten on abort (their memory is the
 * transaction's).
 */
static List *exec_cache = NIL;	/* of MMExec *, in TopTransactionContext */
static bool exec_cache_callback = false;

static void
exec_cache_release(void)
{
	ListCell   *lc;
	ResourceOwner save = CurrentResourceOwner;

	CurrentResourceOwner = TopTransactionResourceOwner;
	foreach(lc, exec_cache)
	{
		MMExec	   *ex = (MMExec *) lfirst(lc);

		exec_destroy(ex);
		RelationDecrementReferenceCount(ex->rel);
	}
	CurrentResourceOwner = save;
	exec_cache = NIL;
}

static void
exec_cache_xact_callback(XactEvent event, void *arg)
{
	if (exec_cache == NIL)
		return;
	if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PARALLEL_PRE_COMMIT ||
		event == XACT_EVENT_PRE_PREPARE)
		exec_cache_release();
	else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
			 event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
			 event == XACT_EVENT_PREPARE)
		exec_cache = NIL;		/* the resource owner released the rest */
}

/* An executor state for writing 'rel' now; give it back with exec_end(). */
static MMExec *
exec_begin(Relation rel, const MMRelInfo *info)
{
	MMExec	   *ex = NULL;
	ListCell   *lc;

	if (GetCurrentTransactionNestLevel() == 1 && TopTransactionResourceOwner != NULL &&
		CurrentResourceOwner == TopTransactionResourceOwner)
	{
		foreach(lc, exec_cache)
		{
			MMExec	   *c = (MMExec *) lfirst(lc);

			if (c->rel != rel || c->in_use)
				continue;
			if (c->desc == RelationGetDescr(rel) && c->info_cxt == info->cxt)
				ex = c;
			else
			{
				/* out of date: drop it */
				ResourceOwner save = CurrentResourceOwner;

				CurrentResourceOwner = TopTransactionResourceOwner;
				exec_destroy(c);
				RelationDecrementReferenceCount(c->rel);
				CurrentResourceOwner = save;
				exec_cache = foreach_delete_current(exec_cache, lc);
			}
			break;
		}
		if (ex == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
			ResourceOwner save = CurrentResourceOwner;

			if (!exec_cache_callback)
			{
				RegisterXactCallback(exec_cache_xact_callback, NULL);
				exec_cache_callback = true;
			}
			CurrentResourceOwner = TopTransactionResourceOwner;
			ex = palloc0(sizeof(MMExec));
			exec_build(ex, rel, info);
			RelationIncrementReferenceCount(rel);
			ex->cached = true;
			exec_cache = lappend(exec_cache, ex);
			CurrentResourceOwner = save;
			MemoryContextSwitchTo(old);
		}
	}
	else
	{
		ex = palloc0(sizeof(MMExec));
		exec_build(ex, rel, info);
	}

	ex->in_use = true;
	ex->estate->es_output_cid = GetCurrentCommandId(true);
	AfterTriggerBeginQuery();
	return ex;
}

static void
exec_end(MMExec *ex)
{
	AfterTriggerEndQuery(ex->estate);
	ex->in_use = false;
	if (!ex->cached)
	{
		exec_destroy(ex);
		return;
	}
	ResetPerTupleExprContext(ex->estate);
	ExecClearTuple(ex->localslot);
	ExecClearTuple(ex->slot);
}

/*
 * Insert 'slot' unless its key appeared meanwhile.  Returns false when a
 * conflicting row was found, so that the caller looks it up again.
 */
static bool
try_insert(MMExec *ex, TupleTableSlot *slot, Oid pk_index, bool fire_triggers)
{
	ResultRelInfo *rri = ex->rri;
	EState	   *estate = ex->estate;
	Relation	rel = rri->ri_RelationDesc;
	List	   *arbiter = list_make1_oid(pk_index);
	ItemPointerData conflictTid;
	bool		specConflict = false;
	uint32		token;
	List	   *recheck;

	if (fire_triggers && rri->ri_TrigDesc &&
		rri->ri_TrigDesc->trig_insert_before_row &&
		!ExecBRInsertTriggers(estate, rri, slot))
		return true;			/* another trigger suppressed the row */

	slot->tts_tableOid = RelationGetRelid(rel);
	if (rel->rd_att->constr && rel->rd_att->constr->has_generated_stored)
		ExecComputeStoredGenerated(rri, estate, slot, CMD_INSERT);
	if (rel->rd_att->constr)
		ExecConstraints(rri, slot, estate);
	if (rel->rd_rel->relispartition)
		ExecPartitionCheck(rri, slot, estate, true);

	if (!mm_check_index_constraints(rri, slot, estate, &conflictTid, NULL, arbiter))
		return false;

	token = SpeculativeInsertionLockAcquire(GetCurrentTransactionId());
	table_tuple_insert_speculative(rel, slot, estate->es_output_cid, 0, NULL,
								   token);
	recheck = mm_insert_index_tuples(rri, slot, estate, true, &specConflict,
									 arbiter);
	table_tuple_complete_speculative(rel, slot, token, !specConflict);
	SpeculativeInsertionLockRelease(GetCurrentTransactionId());

	if (specConflict)
	{
		list_free(recheck);
		return false;
	}

	if (fire_triggers)
		ExecARInsertTriggers(estate, rri, slot, recheck, NULL);
	list_free(recheck);
	return true;
}

/*
 * Updates arrive as full rows too, so an incoming row that met an existing
 * one is told apart by its history: a first write (generation 1) is an
 * insert that collided, anything later is an update.
 */
#define KIND_FOR(remote) ((remote)->generation > 1 ? "update_update" : "insert_exists")

typedef struct ApplyErrorInfo
{
	const char *table_name;
	MMKeyRef   *ref;
	int32		origin;
} ApplyErrorInfo;

/*
 * A row that cannot be written (a secondary unique key taken by another
 * node's row, a constraint) stops the apply worker: say which row, from
 * which node, so that the operator can resolve it.
 */
static void
mm_apply_error_callback(void *arg)
{
	ApplyErrorInfo *info = (ApplyErrorInfo *) arg;

	errcontext("multimaster applying the row of %s with key %s written on node %d",
			   info->table_name, mm_keyref_text(info->ref), info->origin);
}

/*
 * An incoming row that takes a secondary unique value another row here holds
 * (two nodes inserted different primary keys with the same unique value)
 * cannot be decided by key: stop with both rows, both nodes and the call
 * that resolves it, rather than the bare unique violation.  'self' is the
 * row an update replaces (NULL for an insert).  An insert that races with
 * this check still ends in the bare violation, under the apply context.
 */
static void
check_secondary_unique(MMExec *ex, const MMRelInfo *info, TupleTableSlot *slot,
					   ItemPointer self, MMKeyRef *ref, const MMVersion *remote)
{
	ResultRelInfo *rri = ex->rri;
	Relation	rel = rri->ri_RelationDesc;
	int			i;

	for (i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	idx = rri->ri_IndexRelationDescs[i];
		ItemPointerData conflict;
		TupleTableSlot *other;
		MMVersion	held;

		if (idx == NULL || !idx->rd_index->indisunique || idx->rd_index->indisprimary ||
			!idx->rd_index->indimmediate || !idx->rd_index->indisvalid)
			continue;
		if (mm_check_index_constraints(rri, slot, ex->estate, &conflict, self,
									   list_make1_oid(RelationGetRelid(idx))))
			continue;
		if (self && ItemPointerEquals(&conflict, self))
			continue;
		other = table_slot_create(rel, NULL);
		if (!table_tuple_fetch_row_version(rel, &conflict, SnapshotAny, other))
		{
			ExecDropSingleTupleTableSlot(other);
			continue;
		}
		mm_version_from_slot(other, info, &held);
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("the row of %s with key %s from node %d and the row with key %s written on node %d have the same value in unique index \"%s\"",
						info->table_name, mm_keyref_text(ref), remote->origin,
						mm_key_text(&info->key, other), held.origin,
						RelationGetRelationName(idx)),
				 errdetail("Two nodes wrote different primary keys with the same unique value; the link from node %d stops here until one of the two rows goes.",
						   remote->origin),
				 errhint("SELECT * FROM multimaster.resolve_unique_conflict(%s, %s, %s); keeps the row the table's policy prefers and deletes the other on every node.",
						 quote_literal_cstr(info->table_name),
						 mm_key_array_literal(&info->key, slot),
						 mm_key_array_literal(&info->key, other)),
				 errtableconstraint(rel, RelationGetRelationName(idx))));
	}
}

/* Put version 'v' into the version columns of 'slot'. */
static void
set_slot_version(TupleTableSlot *slot, const MMRelInfo *info, const MMVersion *v)
{
	int			cols[3] = {info->origin_attnum, info->version_attnum,
	info->generation_attnum};
	Datum		values[3] = {Int32GetDatum(v->origin), TimestampTzGetDatum(v->ts),
	Int64GetDatum(v->generation)};
	bool		nulls[3] = {false, false, false};
	HeapTuple	tup = ExecCopySlotHeapTuple(slot);

	ExecForceStoreHeapTuple(heap_modify_tuple_by_cols(tup, slot->tts_tupleDescriptor,
													  3, cols, values, nulls),
							slot, true);
	heap_freetuple(tup);
}

/*
 * Apply an incoming row of 'rel' as "keep the greater version".  'ref' is
 * the row's key (its identity for tombstones and key locks, and its text
 * for the conflict log).
 * For the tombstone table itself (is_tombstone) there is no tombstone to
 * consult, no other trigger to fire and nothing to log.
 *
 * With 'stamp' the row is a local write instead: it always wins, with a
 * version past stamp->prev and past the existing row, decided on that row
 * locked (a local delete's tombstone).
 */
MMUpsertResult
mm_upsert(Relation rel, const MMRelInfo *info, TupleTableSlot *newslot,
		  MMKeyRef *ref, bool is_tombstone, const MMLocalStamp *stamp)
{
	MMExec	   *ex;
	MMVersion	remote,
				local;
	TupleTableSlot *localslot;
	TupleTableSlot *slot;
	MMUpsertResult result;
	Oid			save_applying = applying_relid;
	ApplyErrorInfo errinfo;
	ErrorContextCallback errcallback;
	bool		key_locked = is_tombstone;	/* the caller locks those */

	if (is_tombstone)
		mm_tombstones_written();
	ex = exec_begin(rel, info);
	localslot = ex->localslot;
	slot = ex->slot;
	ExecCopySlot(slot, newslot);
	slot_getallattrs(slot);
	mm_version_from_slot(slot, info, &remote);

	errinfo.table_name = info->table_name;
	errinfo.ref = ref;
	errinfo.origin = remote.origin;
	errcallback.callback = mm_apply_error_callback;
	errcallback.arg = &errinfo;

	applying_relid = RelationGetRelid(rel);
	PG_TRY();
	{
		/*
		 * Pushed inside PG_TRY: PG_END_TRY puts back the context stack as
		 * PG_TRY found it, so a context pushed before it would stay on the
		 * stack, pointing into this frame, after we return.
		 */
		errcallback.previous = error_context_stack;
		if (stamp == NULL)		/* a local write needs no such context */
			error_context_stack = &errcallback;

		for (;;)
		{
			MMFound		found;

			CHECK_FOR_INTERRUPTS();
			found = mm_find_by_key(rel, info, LockTupleExclusive, slot, localslot);

			if (found == MM_FOUND_OWN && stamp)
			{
				/*
				 * This command wrote the key's tombstone already (a row
				 * moved to another partition fires both the UPDATE and the
				 * DELETE trigger): that one stands.
				 */
				result = MM_UPSERT_SKIPPED_EQUAL;
				break;
			}
			if (found != MM_FOUND_NONE)
			{
				int			cmp;

				mm_version_from_slot(localslot, info, &local);
				if (stamp)
				{
					const MMVersion *base = stamp->prev;

					if (mm_version_cmp(&local, base, info) > 0)
						base = &local;
					mm_version_next(info, NULL, base, stamp->node, &remote);
					set_slot_version(slot, info, &remote);
				}
				cmp = mm_version_cmp(&remote, &local, info);
				if (cmp > 0)
				{
					if (!is_tombstone && mm_is_conflict(&remote, &local, true))
						mm_log_conflict(info->table_name, mm_keyref_text(ref), KIND_FOR(&remote),
										"apply_remote", &local, localslot,
										&remote, slot);
					if (stamp == NULL && !is_tombstone)
						check_secondary_unique(ex, info, slot, &localslot->tts_tid,
											   ref, &remote);
					EvalPlanQualSetSlot(&ex->epq, localslot);
					ExecSimpleRelationUpdate(ex->rri, ex->estate, &ex->epq,
											 localslot, slot);
					result = MM_UPSERT_UPDATED;
				}
				else if (cmp == 0 && mm_version_equal(&remote, &local))
					result = MM_UPSERT_SKIPPED_EQUAL;
				else
				{
					if (!is_tombstone && mm_is_conflict(&remote, &local, false))
						mm_log_conflict(info->table_name, mm_keyref_text(ref), KIND_FOR(&remote),
										"keep_local", &local, localslot,
										&remote, slot);
					result = MM_UPSERT_SKIPPED_OLDER;
				}
				break;
			}

			/*
			 * No row: the key lock, unless a row appeared meanwhile (then
			 * lock that row first, on the next round).
			 */
			if (!key_locked)
			{
				if (!mm_key_lock_absent(rel, info, slot, ref))
					continue;
				key_locked = true;
			}

			if (!is_tombstone)
			{
				MMVersion	tomb;

				if (mm_tombstone_find(info, ref, &tomb) &&
					mm_version_cmp(&remote, &tomb, info) <= 0)
				{
					if (mm_is_conflict(&remote, &tomb, false))
						mm_log_conflict(info->table_name, mm_keyref_text(ref), "update_deleted",
										"keep_local", &tomb, NULL,
										&remote, slot);
					result = MM_UPSERT_SKIPPED_DELETED;
					break;
				}
			}

			if (stamp)
			{
				mm_version_next(info, NULL, stamp->prev, stamp->node, &remote);
				set_slot_version(slot, info, &remote);
			}

			if (stamp == NULL && !is_tombstone)
				check_secondary_unique(ex, info, slot, NULL, ref, &remote);
			if (try_insert(ex, slot, info->pk_index, !is_tombstone))
			{
				result = MM_UPSERT_INSERTED;
				break;
			}
			/* a concurrent insert of the same key won the race: look again */
		}
	}
	PG_FINALLY();
	{
		/* (the context stack is PG_TRY's to restore) */
		applying_relid = save_applying;
	}
	PG_END_TRY();

	exec_end(ex);
	return result;
}

/*
 * An applied tombstone removes the row of its key when the row is older,
 * deleting it as the apply worker would (the row's own triggers, the
 * multimaster one included, decide and log as for an incoming DELETE).
 * The DELETE that travels behind a tombstone then finds nothing left to
 * do.  It matters when no DELETE follows, or when it went ahead: a table
 * copy brings tombstones without their DELETEs, and while a subscription
 * still copies the tombstone table, its DELETEs of an already copied table
 * arrive without their tombstones, so a concurrent older write from
 * another node could otherwise come back once the tombstone is there.
 */
void
mm_apply_tombstone_to_row(Relation rel, const MMRelInfo *info,
						  TupleTableSlot *keyslot, const MMVersion *tomb)
{
	MMExec	   *ex;
	TupleTableSlot *localslot;
	MMVersion	local;
	MMRoute		route;

	if (!mm_route_key(rel, (MMRelInfo *) info, keyslot, RowExclusiveLock, &route))
		return;
	ex = exec_begin(route.rel, route.info);
	localslot = ex->localslot;
	if (mm_find_by_key(route.rel, route.info, LockTupleExclusive, route.keyslot,
					   localslot) == MM_FOUND_LOCKED)
	{
		mm_version_from_slot(localslot, route.info, &local);
		if (mm_version_cmp(tomb, &local, route.info) > 0)
		{
			EvalPlanQualSetSlot(&ex->epq, localslot);
			ExecSimpleRelationDelete(ex->rri, ex->estate, &ex->epq, localslot);
		}
	}
	exec_end(ex);
	mm_route_end(&route);
}
