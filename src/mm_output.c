/*-------------------------------------------------------------------------
 *
 * mm_output.c
 *		The "multimaster" logical decoding output plugin.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * A thin layer over pgoutput: it loads pgoutput's own callbacks and keeps
 * its protocol and options, so the stock apply worker consumes it through
 * an ordinary subscription whose slot was created with this plugin.  It
 * changes two things:
 *
 *	- Origin filter.  A change that was itself applied from another node
 *	  (it carries a replication origin) is not sent on.  In a full mesh
 *	  every node hears every other node directly, so each change crosses
 *	  each link exactly once and nothing loops.  PostgreSQL 16's
 *	  "origin = none" does the same; 15 has no such option.
 *
 *	- Upsert shipping.  For a table with multimaster version columns, an
 *	  UPDATE is sent as an INSERT of the whole new row, which the receiving
 *	  trigger applies as "update if newer, else insert": an UPDATE that
 *	  overtakes its INSERT on another path is then not lost, as it would be
 *	  by the apply worker, which skips an UPDATE whose row is missing.  A
 *	  change of primary key is sent as DELETE of the old key plus INSERT.
 *	  Out-of-line values that the UPDATE left unchanged would not be in
 *	  the new tuple: the trigger puts them back in line for a local UPDATE
 *	  (mm_trigger.c, stamp()), so that they are.  On a table with REPLICA
 *	  IDENTITY FULL it leaves them, and they are taken here from the old
 *	  tuple, which the WAL then carries whole.  When neither has the value
 *	  (an UPDATE written before the table was registered), the change is
 *	  sent as a plain UPDATE: never ship a value as NULL.
 *	  Whether the key changed is decided on the completed row by the
 *	  primary key's own equality, as the trigger decides it: an unchanged
 *	  out-of-line key value, or 1.0 becoming 1.00, is not a new key.
 *
 * IDENTIFICATION
 *		src/mm_output.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "fmgr.h"
#include "nodes/bitmapset.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "replication/output_plugin.h"
#include "replication/reorderbuffer.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"

#include "mm_compat.h"
#include "mm_key.h"
#include "mm_names.h"

extern PGDLLEXPORT void _PG_output_plugin_init(OutputPluginCallbacks *cb);

static OutputPluginCallbacks pgoutput;	/* pgoutput's own callbacks */
static MemoryContext change_cxt = NULL;

static void mm_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt,
					   bool is_init);
static bool mm_filter_by_origin(LogicalDecodingContext *ctx,
								RepOriginId origin_id);
static void mm_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					  Relation relation, ReorderBufferChange *change);
static void mm_stream_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
							 Relation relation, ReorderBufferChange *change);

void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	LogicalOutputPluginInit init;

	init = (LogicalOutputPluginInit)
		load_external_function("pgoutput", "_PG_output_plugin_init", false, NULL);
	init(&pgoutput);

	*cb = pgoutput;
	cb->startup_cb = mm_startup;
	cb->filter_by_origin_cb = mm_filter_by_origin;
	cb->change_cb = mm_change;
	if (pgoutput.stream_change_cb)
		cb->stream_change_cb = mm_stream_change;
}

static void
mm_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt, bool is_init)
{
	pgoutput.startup_cb(ctx, opt, is_init);
	change_cxt = AllocSetContextCreate(ctx->context, "multimaster change",
									   ALLOCSET_DEFAULT_SIZES);
}

static bool
mm_filter_by_origin(LogicalDecodingContext *ctx, RepOriginId origin_id)
{
	return origin_id != InvalidRepOriginId;
}

/* Tables carrying multimaster row versions get upsert shipping. */
static bool
is_versioned(Relation relation)
{
	TupleDesc	desc = RelationGetDescr(relation);
	int			found = 0;
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		if (strcmp(NameStr(att->attname), MM_ORIGIN_COLUMN) == 0 ||
			strcmp(NameStr(att->attname), MM_VERSION_COLUMN) == 0 ||
			strcmp(NameStr(att->attname), MM_GENERATION_COLUMN) == 0)
			found++;
	}
	return found == 3;
}

/*
 * The new tuple with unchanged out-of-line values filled in from the old
 * tuple.  NULL when some value cannot be filled (the caller then sends a
 * plain UPDATE).
 */
static HeapTuple
complete_new_tuple(TupleDesc desc, HeapTuple newtup, HeapTuple oldtup)
{
	Datum	   *nvalues = palloc(desc->natts * sizeof(Datum));
	bool	   *nnulls = palloc(desc->natts * sizeof(bool));
	Datum	   *ovalues = NULL;
	bool	   *onulls = NULL;
	bool		changed = false;
	int			i;

	heap_deform_tuple(newtup, desc, nvalues, nnulls);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->attlen != -1 || nnulls[i] ||
			!VARATT_IS_EXTERNAL_ONDISK(nvalues[i]))
			continue;

		if (oldtup == NULL)
			return NULL;
		if (ovalues == NULL)
		{
			ovalues = palloc(desc->natts * sizeof(Datum));
			onulls = palloc(desc->natts * sizeof(bool));
			heap_deform_tuple(oldtup, desc, ovalues, onulls);
		}
		if (onulls[i] || VARATT_IS_EXTERNAL_ONDISK(ovalues[i]))
			return NULL;
		nvalues[i] = ovalues[i];
		changed = true;
	}

	return changed ? heap_form_tuple(desc, nvalues, nnulls) : newtup;
}

/*
 * Primary keys of the versioned tables seen, for key_changed(); an entry
 * is rebuilt after any invalidation of its relation.
 */
typedef struct MMOutputKey
{
	Oid			relid;			/* hash key */
	bool		valid;
	MemoryContext cxt;			/* owns key.cols */
	MMKeyInfo	key;
} MMOutputKey;

static HTAB *output_keys = NULL;

static void
output_key_invalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	MMOutputKey *entry;

	if (output_keys == NULL)
		return;
	hash_seq_init(&status, output_keys);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (relid == InvalidOid || entry->relid == relid)
			entry->valid = false;
}

static const MMKeyInfo *
output_key(Relation relation)
{
	Oid			relid = RelationGetRelid(relation);
	MMOutputKey *entry;
	bool		found;
	Oid			pk_index;

	if (output_keys == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(MMOutputKey);
		ctl.hcxt = CacheMemoryContext;
		output_keys = hash_create("multimaster output keys", 64, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(output_key_invalidate, (Datum) 0);
	}

	entry = hash_search(output_keys, &relid, HASH_ENTER, &found);
	if (found && entry->valid)
		return &entry->key;
	if (found && entry->cxt)
		MemoryContextDelete(entry->cxt);
	entry->cxt = AllocSetContextCreate(CacheMemoryContext, "multimaster output key",
									   ALLOCSET_SMALL_SIZES);
	entry->key.ncols = 0;
	entry->key.cols = NULL;
	entry->valid = true;
	pk_index = mm_primary_key_index(relation);
	if (OidIsValid(pk_index))
		mm_key_build(&entry->key, relation, pk_index, false, entry->cxt);
	return &entry->key;
}

/*
 * Did an UPDATE change the primary key?  'newtup' is the new row completed
 * from the old one, so an unchanged out-of-line value compares as itself.
 */
static bool
key_changed(Relation relation, HeapTuple oldtup, HeapTuple newtup)
{
	TupleDesc	desc = RelationGetDescr(relation);
	const MMKeyInfo *key = output_key(relation);
	Datum	   *ov,
			   *nv;
	bool	   *on,
			   *nn;

	if (key->ncols == 0)
		return false;
	ov = palloc(desc->natts * sizeof(Datum));
	nv = palloc(desc->natts * sizeof(Datum));
	on = palloc(desc->natts * sizeof(bool));
	nn = palloc(desc->natts * sizeof(bool));
	heap_deform_tuple(oldtup, desc, ov, on);
	heap_deform_tuple(newtup, desc, nv, nn);
	return !mm_key_equal(key, ov, on, nv, nn);
}

static void
ship_change(LogicalDecodeChangeCB cb, LogicalDecodingContext *ctx,
			ReorderBufferTXN *txn, Relation relation,
			ReorderBufferChange *change)
{
	MMChangeTuple oldbuf = change->data.tp.oldtuple;
	MMChangeTuple newbuf = change->data.tp.newtuple;
	HeapTuple	oldtup = mm_change_tuple_heap(oldbuf);
	HeapTuple	newtup = mm_change_tuple_heap(newbuf);
	HeapTuple	full;
	MemoryContext oldcxt;

	if (change->action != REORDER_BUFFER_CHANGE_UPDATE || newbuf == NULL ||
		!is_versioned(relation))
	{
		cb(ctx, txn, relation, change);
		return;
	}

	oldcxt = MemoryContextSwitchTo(change_cxt);

	full = complete_new_tuple(RelationGetDescr(relation), newtup, oldtup);
	if (full == NULL)
	{
		/* an unchanged TOAST value we cannot supply: keep the UPDATE */
		MemoryContextSwitchTo(oldcxt);
		cb(ctx, txn, relation, change);
		MemoryContextReset(change_cxt);
		return;
	}

	if (oldtup && key_changed(relation, oldtup, full))
	{
		change->action = REORDER_BUFFER_CHANGE_DELETE;
		change->data.tp.newtuple = NULL;
		MemoryContextSwitchTo(oldcxt);
		cb(ctx, txn, relation, change);
		MemoryContextSwitchTo(change_cxt);
	}

	change->action = REORDER_BUFFER_CHANGE_INSERT;
	change->data.tp.oldtuple = NULL;
	change->data.tp.newtuple = (full == newtup) ? newbuf : mm_change_tuple_make(full);
	MemoryContextSwitchTo(oldcxt);
	cb(ctx, txn, relation, change);

	/* the reorder buffer still owns and frees the original change */
	change->action = REORDER_BUFFER_CHANGE_UPDATE;
	change->data.tp.oldtuple = oldbuf;
	change->data.tp.newtuple = newbuf;
	MemoryContextReset(change_cxt);
}

static void
mm_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
		  Relation relation, ReorderBufferChange *change)
{
	ship_change(pgoutput.change_cb, ctx, txn, relation, change);
}

static void
mm_stream_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				 Relation relation, ReorderBufferChange *change)
{
	ship_change((LogicalDecodeChangeCB) pgoutput.stream_change_cb, ctx, txn, relation, change);
}
