/*-------------------------------------------------------------------------
 *
 * mm_catalog.c
 *		Node registry (multimaster.nodes) and per-relation trigger state.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * The trigger runs for every replicated row, so nothing here may cost a
 * catalog lookup per row: node priorities and everything derived from a
 * relation and its trigger arguments are computed once per backend and
 * dropped on invalidation: of the relation (any ALTER TABLE), of any
 * schema (a rename changes the name tombstones are stored under), and of
 * multimaster.nodes or multimaster.tombstone_floors, for which
 * multimaster._invalidate_cache() sends one.
 *
 * Each relation's state lives in a memory context of its own.  A rebuilt
 * entry's old context is kept until the end of the transaction, since a
 * caller up the stack may still hold the old state.
 *
 * The node table is read with a direct heap scan rather than SPI so that
 * an application role without privileges on multimaster.nodes can still
 * fire the trigger.
 *
 * IDENTIFICATION
 *		src/mm_catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/sysattr.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_index.h"
#include "catalog/pg_publication.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "mm_catalog.h"

typedef struct MMNodeEntry
{
	int32		node_id;
	int32		priority;
} MMNodeEntry;

typedef struct MMRelCacheEntry
{
	Oid			relid;			/* hash key */
	MMRelInfo  *info;
} MMRelCacheEntry;

static HTAB *relinfo_cache = NULL;
static List *retired_cxts = NIL;	/* in TopMemoryContext */

static bool nodes_valid = false;
static Oid	nodes_relid = InvalidOid;
static Oid	floors_relid = InvalidOid;
static Oid	tombstones_relid = InvalidOid;
static int32 local_node = 0;
static int	n_nodes = 0;
static MMNodeEntry *nodes = NULL;	/* in CacheMemoryContext */

static void
invalidate_all_relinfo(void)
{
	HASH_SEQ_STATUS status;
	MMRelCacheEntry *entry;

	if (relinfo_cache == NULL)
		return;
	hash_seq_init(&status, relinfo_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (entry->info)
			entry->info->valid = false;
}

static void
mm_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == nodes_relid)
		nodes_valid = false;
	if (relid == InvalidOid || relid == tombstones_relid)
		tombstones_relid = InvalidOid;

	if (relid == InvalidOid || (OidIsValid(floors_relid) && relid == floors_relid))
		invalidate_all_relinfo();
	else if (relinfo_cache != NULL)
	{
		MMRelCacheEntry *entry = hash_search(relinfo_cache, &relid, HASH_FIND, NULL);

		if (entry && entry->info)
			entry->info->valid = false;
	}
}

/* a schema renamed: every "schema"."table" may have changed */
static void
mm_namespace_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	invalidate_all_relinfo();
}

static void
mm_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (retired_cxts == NIL)
		return;
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PREPARE && event != XACT_EVENT_PARALLEL_COMMIT &&
		event != XACT_EVENT_PARALLEL_ABORT)
		return;
	foreach(lc, retired_cxts)
		MemoryContextDelete((MemoryContext) lfirst(lc));
	list_free(retired_cxts);
	retired_cxts = NIL;
}

void
mm_catalog_init(void)
{
	CacheRegisterRelcacheCallback(mm_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, mm_namespace_callback, (Datum) 0);
	RegisterXactCallback(mm_xact_callback, NULL);
}

/*
 * OID of one of the extension's own tables, by name.
 */
Oid
mm_catalog_relid(const char *relname, bool missing_ok)
{
	Oid			nsp = get_namespace_oid(MM_SCHEMA, true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid(relname, nsp) : InvalidOid;

	if (!OidIsValid(relid) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("multimaster extension is not installed in this database"),
				 errhint("Run CREATE EXTENSION multimaster.")));
	return relid;
}

/*
 * OID of multimaster.tombstones, looked up once per backend (and again
 * after an invalidation of it, such as DROP EXTENSION).
 */
Oid
mm_tombstones_relid(void)
{
	if (!OidIsValid(tombstones_relid))
		tombstones_relid = mm_catalog_relid("tombstones", false);
	return tombstones_relid;
}

static void
mm_load_nodes(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;
	int			allocated = 8;
	MMNodeEntry *buf;

	if (nodes)
		pfree(nodes);
	nodes = NULL;
	n_nodes = 0;
	local_node = 0;

	nodes_relid = mm_catalog_relid("nodes", true);
	if (!OidIsValid(nodes_relid))
	{
		nodes_valid = true;
		return;
	}

	buf = MemoryContextAlloc(CacheMemoryContext, allocated * sizeof(MMNodeEntry));
	rel = table_open(nodes_relid, AccessShareLock);
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snap, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;
		int32		id = DatumGetInt32(heap_getattr(tup, 1, desc, &isnull));
		int32		prio = DatumGetInt32(heap_getattr(tup, 3, desc, &isnull));
		bool		is_local = DatumGetBool(heap_getattr(tup, 4, desc, &isnull));

		if (n_nodes == allocated)
		{
			allocated *= 2;
			buf = repalloc(buf, allocated * sizeof(MMNodeEntry));
		}
		buf[n_nodes].node_id = id;
		buf[n_nodes].priority = prio;
		n_nodes++;
		if (is_local)
			local_node = id;
	}
	table_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);

	nodes = buf;
	nodes_valid = true;
}

int32
mm_local_node_id(bool missing_ok)
{
	if (!nodes_valid)
		mm_load_nodes();
	if (local_node == 0 && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this node has no multimaster identity yet"),
				 errdetail("Replicated rows are stamped with the id of the node that wrote them."),
				 errhint("Call multimaster.init_node(node_id, node_name) first, or pass the node id as the trigger's first argument.")));
	return local_node;
}

int32
mm_node_priority(int32 node_id)
{
	int			i;

	if (!nodes_valid)
		mm_load_nodes();
	for (i = 0; i < n_nodes; i++)
		if (nodes[i].node_id == node_id)
			return nodes[i].priority;
	return 0;
}

MMPolicy
mm_parse_policy(const char *name)
{
	if (pg_strcasecmp(name, "last_update_wins") == 0 ||
		pg_strcasecmp(name, "last") == 0)
		return MM_POLICY_LAST_UPDATE_WINS;
	if (pg_strcasecmp(name, "node_priority") == 0 ||
		pg_strcasecmp(name, "priority") == 0)
		return MM_POLICY_NODE_PRIORITY;
	if (pg_strcasecmp(name, "first_update_wins") == 0 ||
		pg_strcasecmp(name, "first") == 0)
		return MM_POLICY_FIRST_UPDATE_WINS;

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown conflict policy \"%s\"", name),
			 errhint("Valid policies are last_update_wins, node_priority and first_update_wins.")));
	pg_unreachable();
}

const char *
mm_policy_name(MMPolicy policy)
{
	switch (policy)
	{
		case MM_POLICY_LAST_UPDATE_WINS:
			return "last_update_wins";
		case MM_POLICY_NODE_PRIORITY:
			return "node_priority";
		case MM_POLICY_FIRST_UPDATE_WINS:
			return "first_update_wins";
	}
	return "unknown";
}

static int32
parse_node_arg(const char *arg, const char *what, Relation rel)
{
	char	   *end;
	long		val;

	if (arg[0] == '\0' || pg_strcasecmp(arg, "local") == 0)
		return 0;

	errno = 0;
	val = strtol(arg, &end, 10);
	if (errno != 0 || *end != '\0' || val < 0 || val > MM_MAX_NODE_ID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s \"%s\" in multimaster trigger on \"%s\"",
						what, arg, RelationGetRelationName(rel)),
				 errhint("Use a node id between 1 and %d, or 'local' for the node set by multimaster.init_node().",
						 MM_MAX_NODE_ID)));
	return (int32) val;
}

static AttrNumber
version_column(Relation rel, const char *name, Oid typid)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || strcmp(NameStr(att->attname), name) != 0)
			continue;
		if (att->atttypid != typid)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of table \"%s\" has type %s, multimaster needs %s",
							name, RelationGetRelationName(rel),
							format_type_be(att->atttypid), format_type_be(typid))));
		return att->attnum;
	}

	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("table \"%s\" has no column \"%s\" for the multimaster row version",
					RelationGetRelationName(rel), name),
			 errdetail("The multimaster trigger keeps each row's version in "
					   MM_ORIGIN_COLUMN " integer, " MM_VERSION_COLUMN " timestamptz and "
					   MM_GENERATION_COLUMN " bigint."),
			 errhint("Use multimaster.add_table(), which adds them, or add them with ALTER TABLE.")));
	return InvalidAttrNumber;	/* keep compiler quiet */
}

/* Why a table without a usable primary key has none, for the error. */
static bool
has_deferrable_pkey(Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		result = false;

	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));

		if (!HeapTupleIsValid(tup))
			continue;
		if (((Form_pg_index) GETSTRUCT(tup))->indisprimary &&
			!((Form_pg_index) GETSTRUCT(tup))->indimmediate)
			result = true;
		ReleaseSysCache(tup);
	}
	list_free(indexes);
	return result;
}

/* Is the table shipped by the multimaster plugin (publication multimaster)? */
static bool
in_mesh_publication(Oid relid)
{
	List	   *pubids = GetRelationPublications(relid);
	ListCell   *lc;
	bool		result = false;

	foreach(lc, pubids)
	{
		char	   *name = get_publication_name(lfirst_oid(lc), true);

		if (name && strcmp(name, MM_PUBLICATION) == 0)
			result = true;
	}
	list_free(pubids);
	return result;
}

/*
 * The floor left by purged tombstones of a table: no local write may order
 * below what was purged, or a peer that still holds the tombstone would
 * drop it (multimaster.purge_tombstones() records it).
 */
static void
load_floor(MMRelInfo *info)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;

	info->has_floor = false;
	floors_relid = mm_catalog_relid("tombstone_floors", true);
	if (!OidIsValid(floors_relid))
		return;

	rel = table_open(floors_relid, AccessShareLock);
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snap, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;
		text	   *name = DatumGetTextPP(heap_getattr(tup, 1, desc, &isnull));
		Datum		ts,
					gen;
		bool		tsnull,
					gennull;

		if (strcmp(text_to_cstring(name), info->table_ident) != 0)
			continue;
		ts = heap_getattr(tup, 2, desc, &tsnull);
		gen = heap_getattr(tup, 3, desc, &gennull);
		info->has_floor = true;
		info->floor_ts = tsnull ? DT_NOBEGIN : DatumGetTimestampTz(ts);
		info->floor_generation = gennull ? 0 : DatumGetInt64(gen);
		break;
	}
	table_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
}

static void
build_relinfo(MMRelInfo *info, Relation rel, Trigger *trigger)
{
	int			nargs = trigger ? trigger->tgnargs : 0;
	char	  **args = trigger ? trigger->tgargs : NULL;
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	info->tgoid = trigger ? trigger->tgoid : InvalidOid;
	info->node_id = 0;
	info->source = MM_SOURCE_HLC;
	info->source_attnum = InvalidAttrNumber;
	info->source_type = InvalidOid;
	info->policy = MM_POLICY_LAST_UPDATE_WINS;
	info->priority_node = 0;

	if (nargs > 4)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("multimaster trigger on \"%s\" has %d arguments, at most 4 are accepted",
						RelationGetRelationName(rel), nargs),
				 errhint("Arguments are (node_id, version_source, policy, priority_node).")));

	if (nargs >= 1)
		info->node_id = parse_node_arg(args[0], "node id", rel);

	if (nargs >= 2 && args[1][0] != '\0')
	{
		const char *src = args[1];

		if (pg_strcasecmp(src, "hlc") == 0)
			info->source = MM_SOURCE_HLC;
		else if (pg_strcasecmp(src, "transaction_time") == 0 ||
				 pg_strcasecmp(src, "last_xacttime") == 0)
			info->source = MM_SOURCE_TRANSACTION;
		else if (pg_strcasecmp(src, "statement_time") == 0 ||
				 pg_strcasecmp(src, "last_stattime") == 0)
			info->source = MM_SOURCE_STATEMENT;
		else
		{
			for (i = 0; i < desc->natts; i++)
			{
				Form_pg_attribute att = TupleDescAttr(desc, i);

				if (!att->attisdropped && strcmp(NameStr(att->attname), src) == 0 &&
					(att->atttypid == TIMESTAMPTZOID || att->atttypid == TIMESTAMPOID))
				{
					info->source = MM_SOURCE_COLUMN;
					info->source_attnum = att->attnum;
					info->source_type = att->atttypid;
					break;
				}
			}
			if (info->source != MM_SOURCE_COLUMN)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid version source \"%s\" in multimaster trigger on \"%s\"",
								src, RelationGetRelationName(rel)),
						 errhint("Use hlc, transaction_time, statement_time, or the name of a timestamp column.")));
		}
	}

	if (nargs >= 3 && args[2][0] != '\0')
		info->policy = mm_parse_policy(args[2]);

	if (nargs >= 4)
		info->priority_node = parse_node_arg(args[3], "priority node", rel);

	info->origin_attnum = version_column(rel, MM_ORIGIN_COLUMN, INT4OID);
	info->version_attnum = version_column(rel, MM_VERSION_COLUMN, TIMESTAMPTZOID);
	info->generation_attnum = version_column(rel, MM_GENERATION_COLUMN, INT8OID);

	info->pk_index = RelationGetPrimaryKeyIndex(rel);
	if (!OidIsValid(info->pk_index))
	{
		if (has_deferrable_pkey(rel))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("primary key of \"%s\" is deferrable", RelationGetRelationName(rel)),
					 errdetail("Conflicts are resolved per primary key value, which must be checked at once."),
					 errhint("Make it NOT DEFERRABLE: ALTER TABLE ... ALTER CONSTRAINT ... NOT DEFERRABLE.")));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no primary key", RelationGetRelationName(rel)),
				 errdetail("Conflicts are resolved per primary key value.")));
	}

	mm_key_build(&info->key, rel, info->pk_index, true, info->cxt);
	for (i = 0; i < info->key.ncols; i++)
	{
		AttrNumber	attnum = info->key.cols[i].attnum;

		if (attnum == info->origin_attnum || attnum == info->version_attnum ||
			attnum == info->generation_attnum)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
					 errmsg("primary key of \"%s\" contains a multimaster version column",
							RelationGetRelationName(rel))));
	}

	/* applied updates mark every column updated (UPDATE OF triggers) */
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(info->cxt);

		info->all_columns = NULL;
		for (i = 0; i < desc->natts; i++)
			if (!TupleDescAttr(desc, i)->attisdropped)
				info->all_columns = bms_add_member(info->all_columns,
												   i + 1 - FirstLowInvalidHeapAttributeNumber);
		MemoryContextSwitchTo(oldcxt);
	}

	info->published = in_mesh_publication(RelationGetRelid(rel));
	info->replident = rel->rd_rel->relreplident;
	info->has_toastable = false;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && att->attlen == -1 &&
			(att->attstorage == TYPSTORAGE_EXTENDED ||
			 att->attstorage == TYPSTORAGE_EXTERNAL))
			info->has_toastable = true;
	}

	{
		MemoryContext oldcxt = MemoryContextSwitchTo(info->cxt);

		info->table_ident = mm_table_ident(RelationGetNamespace(rel),
										   RelationGetRelationName(rel));
		info->table_name = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
													  RelationGetRelationName(rel));
		MemoryContextSwitchTo(oldcxt);
	}
	info->table_hash = mm_table_hash(info->table_ident);

	if (RelationGetNamespace(rel) != get_namespace_oid(MM_SCHEMA, true))
		load_floor(info);
	else
		info->has_floor = false;
}

/*
 * A local write of a table in the mesh's publication is shipped to peers
 * by the multimaster plugin as what the WAL holds; refuse it when a later
 * ALTER TABLE made that unsafe, rather than let nodes diverge.  (A mesh
 * wired by hand with stock pgoutput ships updates natively and needs none
 * of this.)
 */
void
mm_check_local_write(const MMRelInfo *info)
{
	if (!info->published)
		return;
	if (info->replident == REPLICA_IDENTITY_NOTHING)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("multimaster table %s has REPLICA IDENTITY NOTHING", info->table_name),
				 errdetail("Its updates and deletes cannot be replicated."),
				 errhint("ALTER TABLE %s REPLICA IDENTITY DEFAULT (or FULL).", info->table_name)));
	if (info->replident == REPLICA_IDENTITY_INDEX)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("multimaster table %s has REPLICA IDENTITY USING INDEX", info->table_name),
				 errdetail("A change of primary key is then logged without the old key, so peers would keep the old row."),
				 errhint("ALTER TABLE %s REPLICA IDENTITY DEFAULT (or FULL).", info->table_name)));
	if (info->has_toastable && info->replident != REPLICA_IDENTITY_FULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("multimaster table %s has columns stored out of line but not REPLICA IDENTITY FULL",
						info->table_name),
				 errdetail("An UPDATE is shipped as the whole new row; values it left unchanged out of line are taken from the old row, which the WAL carries in full only with REPLICA IDENTITY FULL."),
				 errhint("ALTER TABLE %s REPLICA IDENTITY FULL.", info->table_name)));
}

/*
 * State for a relation fired through 'trigger'.  With trigger NULL, the
 * relation's own multimaster trigger is looked up (used for tombstones,
 * whose ordering follows the table they belong to).
 */
MMRelInfo *
mm_relinfo_get(Relation rel, Trigger *trigger)
{
	Oid			relid = RelationGetRelid(rel);
	MMRelCacheEntry *entry;
	MMRelInfo  *info;
	MemoryContext cxt;
	bool		found;

	if (relinfo_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(MMRelCacheEntry);
		ctl.hcxt = CacheMemoryContext;
		relinfo_cache = hash_create("multimaster relation cache", 64, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	entry = hash_search(relinfo_cache, &relid, HASH_ENTER, &found);
	if (!found)
		entry->info = NULL;
	if (entry->info && entry->info->valid &&
		(trigger == NULL || entry->info->tgoid == trigger->tgoid))
		return entry->info;

	if (trigger == NULL && rel->trigdesc)
	{
		int			i;

		for (i = 0; i < rel->trigdesc->numtriggers; i++)
			if (strcmp(rel->trigdesc->triggers[i].tgname, MM_TRIGGER_NAME) == 0)
				trigger = &rel->trigdesc->triggers[i];
	}

	cxt = AllocSetContextCreate(CacheMemoryContext, "multimaster relation",
								ALLOCSET_SMALL_SIZES);
	info = MemoryContextAllocZero(cxt, sizeof(MMRelInfo));
	info->relid = relid;
	info->cxt = cxt;
	/* valid from now on unless an invalidation arrives while we build */
	info->valid = true;

	PG_TRY();
	{
		build_relinfo(info, rel, trigger);
	}
	PG_CATCH();
	{
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();

	/* the hash table may have been touched while building: look again */
	entry = hash_search(relinfo_cache, &relid, HASH_ENTER, &found);
	if (found && entry->info)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		retired_cxts = lappend(retired_cxts, entry->info->cxt);
		MemoryContextSwitchTo(old);
	}
	entry->info = info;
	return info;
}

/*
 * multimaster._check_table(regclass): what a local write of the table
 * would refuse, refused now (add_table calls it last, so a table it cannot
 * serve is not registered at all).
 */
PG_FUNCTION_INFO_V1(mm_check_table);
Datum
mm_check_table(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel = try_relation_open(relid, AccessShareLock);

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	mm_check_local_write(mm_relinfo_get(rel, NULL));
	relation_close(rel, AccessShareLock);
	PG_RETURN_VOID();
}

/*
 * "schema"."table" as people write it, for SQL sent to nodes and for
 * messages; a relation that does not exist (a dropped table's OID, 0) is
 * an error, not a NULL dereference.
 */
char *
mm_qualified_relname(Oid relid)
{
	char	   *relname = get_rel_name(relid);
	char	   *nspname = relname ? get_namespace_name(get_rel_namespace(relid)) : NULL;

	if (relname == NULL || nspname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	return quote_qualified_identifier(nspname, relname);
}

/*
 * Node identity, priorities or tombstone floors changed: every backend
 * reloads them once this transaction commits.
 */
void
mm_invalidate_caches(void)
{
	Oid			relid = mm_catalog_relid("nodes", false);
	Oid			floors = mm_catalog_relid("tombstone_floors", true);

	CacheInvalidateRelcacheByRelid(relid);
	if (OidIsValid(floors))
		CacheInvalidateRelcacheByRelid(floors);
}
