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
#include "catalog/partition.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
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
#include "mm_compat.h"

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
		HASH_SEQ_STATUS status;
		MMRelCacheEntry *entry;

		/* the relation, and the partitions named after it */
		hash_seq_init(&status, relinfo_cache);
		while ((entry = hash_seq_search(&status)) != NULL)
			if (entry->info &&
				(entry->relid == relid || entry->info->root_relid == relid))
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

/*
 * The attribute number of a multimaster version column, checking its type;
 * InvalidAttrNumber when it is missing and 'missing_ok' (add_table adds
 * it).
 */
static AttrNumber
version_column(Relation rel, const char *name, Oid typid, bool missing_ok)
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
					 errmsg("column \"%s\" of table %s has type %s, multimaster needs %s",
							name, mm_qualified_relname(RelationGetRelid(rel)),
							format_type_be(att->atttypid), format_type_be(typid)),
					 errdetail("Columns mm_origin, mm_version and mm_generation hold the row version managed by multimaster."),
					 errhint("Rename the column, e.g. ALTER TABLE %s RENAME COLUMN %s TO %s;",
							 mm_qualified_relname(RelationGetRelid(rel)),
							 quote_identifier(name), quote_identifier(psprintf("%s_user", name)))));
		return att->attnum;
	}

	if (!missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("table \"%s\" has no column \"%s\" for the multimaster row version",
						RelationGetRelationName(rel), name),
				 errdetail("The multimaster trigger keeps each row's version in "
						   MM_ORIGIN_COLUMN " integer, " MM_VERSION_COLUMN " timestamptz and "
						   MM_GENERATION_COLUMN " bigint."),
				 errhint("Use multimaster.add_table(), which adds them, or add them with ALTER TABLE.")));
	return InvalidAttrNumber;
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

/*
 * Has the table a unique index besides its primary key?  An incoming row
 * then needs the check of mm_apply.c (check_secondary_unique).
 */
static bool
has_other_unique(Relation rel, Oid pk_index)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		result = false;

	foreach(lc, indexes)
	{
		HeapTuple	tup;

		if (lfirst_oid(lc) == pk_index)
			continue;
		tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		if (!HeapTupleIsValid(tup))
			continue;
		if (((Form_pg_index) GETSTRUCT(tup))->indisunique)
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

/*
 * The primary key conflicts are resolved by: it must exist, be checked at
 * once, and not contain a version column.
 */
static Oid
resolving_key(Relation rel)
{
	Oid			pk_index = mm_primary_key_index(rel);
	HeapTuple	tup;
	Form_pg_index idx;
	int			i;

	if (!OidIsValid(pk_index))
	{
		if (has_deferrable_pkey(rel))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("primary key of %s is deferrable", mm_qualified_relname(RelationGetRelid(rel))),
					 errdetail("Conflicts are resolved per primary key value, which must be checked at once."),
					 errhint("Make it NOT DEFERRABLE: ALTER TABLE ... ALTER CONSTRAINT ... NOT DEFERRABLE.")));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s has no primary key", mm_qualified_relname(RelationGetRelid(rel))),
				 errdetail("Conflicts are resolved per primary key value."),
				 errhint("Add one, for example: ALTER TABLE %s ADD PRIMARY KEY (id);",
						 mm_qualified_relname(RelationGetRelid(rel)))));
	}

	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pk_index));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for index %u", pk_index);
	idx = (Form_pg_index) GETSTRUCT(tup);
	for (i = 0; i < idx->indnkeyatts; i++)
	{
		AttrNumber	attnum = idx->indkey.values[i];
		const char *name;

		if (attnum <= 0)
			continue;
		name = NameStr(TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attname);
		if (strcmp(name, MM_ORIGIN_COLUMN) == 0 || strcmp(name, MM_VERSION_COLUMN) == 0 ||
			strcmp(name, MM_GENERATION_COLUMN) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
					 errmsg("primary key of %s contains the multimaster version column \"%s\"",
							mm_qualified_relname(RelationGetRelid(rel)), name),
					 errdetail("The version columns change with every write; a key must not.")));
	}
	ReleaseSysCache(tup);
	return pk_index;
}

/*
 * Where local writes take their clock reading from: hlc, transaction_time
 * (or last_xacttime), statement_time (or last_stattime), or the name of a
 * timestamp or timestamptz column.  Fills info's source fields and returns
 * the canonical name.
 */
static const char *
version_source(Relation rel, const char *src, MMRelInfo *info)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	info->source_attnum = InvalidAttrNumber;
	info->source_type = InvalidOid;
	if (pg_strcasecmp(src, "hlc") == 0)
	{
		info->source = MM_SOURCE_HLC;
		return "hlc";
	}
	if (pg_strcasecmp(src, "transaction_time") == 0 ||
		pg_strcasecmp(src, "last_xacttime") == 0)
	{
		info->source = MM_SOURCE_TRANSACTION;
		return "transaction_time";
	}
	if (pg_strcasecmp(src, "statement_time") == 0 ||
		pg_strcasecmp(src, "last_stattime") == 0)
	{
		info->source = MM_SOURCE_STATEMENT;
		return "statement_time";
	}

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), src) == 0 &&
			strcmp(src, MM_VERSION_COLUMN) != 0 &&
			(att->atttypid == TIMESTAMPTZOID || att->atttypid == TIMESTAMPOID))
		{
			info->source = MM_SOURCE_COLUMN;
			info->source_attnum = att->attnum;
			info->source_type = att->atttypid;
			return src;
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid version source \"%s\"", src),
			 errdetail("Table %s has no timestamp or timestamptz column of that name.",
					   mm_qualified_relname(RelationGetRelid(rel))),
			 errhint("Use hlc (default), transaction_time, statement_time, or the name of a timestamp column.")));
	return NULL;				/* keep compiler quiet */
}

/*
 * The table whose name a partition's rows go by in tombstones, key locks
 * and the conflict log: the partitioned table at the top, the one that is
 * registered.
 */
static Oid
partition_root(Relation rel)
{
	List	   *ancestors;
	Oid			root;

	if (!rel->rd_rel->relispartition)
		return RelationGetRelid(rel);
	ancestors = get_partition_ancestors(RelationGetRelid(rel));
	root = llast_oid(ancestors);
	list_free(ancestors);
	return root;
}

/*
 * Whether a value of this column can be stored out of line (TOAST): any
 * variable-length column whose storage is not PLAIN.  EXTENDED and
 * EXTERNAL values go out of line first, MAIN ones too when compressing in
 * line is not enough for the row to fit in a page.
 */
static inline bool
may_be_out_of_line(Form_pg_attribute att)
{
	return !att->attisdropped && att->attlen == -1 &&
		att->attstorage != TYPSTORAGE_PLAIN;
}

static void
build_relinfo(MMRelInfo *info, Relation rel, Trigger *trigger)
{
	int			nargs = trigger ? trigger->tgnargs : 0;
	char	  **args = trigger ? trigger->tgargs : NULL;
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			root;
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
		(void) version_source(rel, args[1], info);

	if (nargs >= 3 && args[2][0] != '\0')
		info->policy = mm_parse_policy(args[2]);

	if (nargs >= 4)
		info->priority_node = parse_node_arg(args[3], "priority node", rel);

	info->origin_attnum = version_column(rel, MM_ORIGIN_COLUMN, INT4OID, false);
	info->version_attnum = version_column(rel, MM_VERSION_COLUMN, TIMESTAMPTZOID, false);
	info->generation_attnum = version_column(rel, MM_GENERATION_COLUMN, INT8OID, false);

	info->pk_index = resolving_key(rel);
	mm_key_build(&info->key, rel, info->pk_index, true, info->cxt);
	info->has_other_unique = has_other_unique(rel, info->pk_index);

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

	/* a partition is shipped, named and locked as the table registered */
	root = partition_root(rel);
	info->root_relid = root;
	info->published = in_mesh_publication(root);
	info->replident = rel->rd_rel->relreplident;
	info->n_toastable = 0;
	info->toastable_attnums = MemoryContextAlloc(info->cxt,
												 sizeof(AttrNumber) * Max(desc->natts, 1));
	for (i = 0; i < desc->natts; i++)
		if (may_be_out_of_line(TupleDescAttr(desc, i)))
			info->toastable_attnums[info->n_toastable++] = i + 1;

	{
		MemoryContext oldcxt = MemoryContextSwitchTo(info->cxt);
		Oid			nsp = get_rel_namespace(root);
		char	   *relname = get_rel_name(root);

		if (!OidIsValid(nsp) || relname == NULL)
			elog(ERROR, "cache lookup failed for relation %u", root);
		info->table_ident = mm_table_ident(nsp, relname);
		info->table_name = quote_qualified_identifier(get_namespace_name(nsp), relname);
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
 * The relations a registered table's rows live in: the table itself, or
 * every leaf partition of a partitioned one (locked in 'lockmode').
 */
List *
mm_leaf_relids(Oid relid, LOCKMODE lockmode)
{
	List	   *all;
	List	   *leaves = NIL;
	ListCell   *lc;

	if (get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
		return list_make1_oid(relid);
	all = find_all_inheritors(relid, lockmode, NULL);
	foreach(lc, all)
		if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_RELATION)
			leaves = lappend_oid(leaves, lfirst_oid(lc));
	list_free(all);
	return leaves;
}

/*
 * multimaster._check_table(regclass): what a local write of the table
 * (of any of its partitions) would refuse, refused now (add_table calls it
 * last, so a table it cannot serve is not registered at all).
 */
PG_FUNCTION_INFO_V1(mm_check_table);
Datum
mm_check_table(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	List	   *leaves;
	ListCell   *lc;

	if (!OidIsValid(get_rel_relkind(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	leaves = mm_leaf_relids(relid, AccessShareLock);
	foreach(lc, leaves)
	{
		Relation	rel = try_relation_open(lfirst_oid(lc), AccessShareLock);

		if (rel == NULL)
			continue;
		mm_check_local_write(mm_relinfo_get(rel, NULL));
		relation_close(rel, AccessShareLock);
	}
	PG_RETURN_VOID();
}

/* A BEFORE ROW trigger of 'rel' that would fire before the multimaster one. */
static void
check_trigger_order(Relation rel)
{
	const char *first = NULL;
	int			i;

	for (i = 0; rel->trigdesc && i < rel->trigdesc->numtriggers; i++)
	{
		Trigger    *t = &rel->trigdesc->triggers[i];

		if (t->tgisinternal || !TRIGGER_FOR_ROW(t->tgtype) || !TRIGGER_FOR_BEFORE(t->tgtype))
			continue;
		if (strcmp(t->tgname, MM_TRIGGER_NAME) < 0 &&
			(first == NULL || strcmp(t->tgname, first) < 0))
			first = t->tgname;
	}
	if (first)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trigger \"%s\" on %s would fire before the multimaster trigger",
						first, mm_qualified_relname(RelationGetRelid(rel))),
				 errdetail("BEFORE ROW triggers fire in name order; conflict resolution must see the row first."),
				 errhint("Rename that trigger so that its name sorts after \"%s\".", MM_TRIGGER_NAME)));
}

/*
 * multimaster._check_registrable(tbl regclass, version_source text) -> text
 *
 * Everything multimaster.add_table() needs of a table before it changes
 * anything, checked by the same code the trigger uses: what can be
 * registered (an ordinary or a partitioned table, permanent, not a
 * partition, not multimaster's own), its primary key, the types of version
 * columns already there, the version source (returned in canonical form)
 * and the order of BEFORE ROW triggers on it and its partitions.
 */
PG_FUNCTION_INFO_V1(mm_check_registrable);
Datum
mm_check_registrable(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *src = PG_ARGISNULL(1) ? "hlc" : text_to_cstring(PG_GETARG_TEXT_PP(1));
	Relation	rel = try_relation_open(relid, AccessShareLock);
	MMRelInfo	info;
	const char *canon;
	char		relkind;
	List	   *parts;
	ListCell   *lc;

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	relkind = rel->rd_rel->relkind;

	if (RelationGetNamespace(rel) == get_namespace_oid(MM_SCHEMA, true))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table %s belongs to multimaster itself", mm_qualified_relname(relid))));
	if (rel->rd_rel->relispartition)
	{
		Oid			root = partition_root(rel);

		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table %s is a partition of %s", mm_qualified_relname(relid),
						mm_qualified_relname(root)),
				 errdetail("A partitioned table is replicated as a whole: its partitions, present and future, share its version columns, trigger and conflict policy."),
				 errhint("Register the partitioned table: SELECT multimaster.add_table('%s');",
						 mm_qualified_relname(root))));
	}
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot replicate \"%s\"", mm_qualified_relname(relid)),
				 errdetail("Only ordinary and partitioned tables can be replicated.")));
	if (rel->rd_rel->relpersistence != RELPERSISTENCE_PERMANENT)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot replicate temporary or unlogged table %s",
						rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP ?
						quote_identifier(RelationGetRelationName(rel)) :
						mm_qualified_relname(relid)),
				 errdetail("Logical replication only carries changes of permanent, logged tables.")));

	(void) resolving_key(rel);
	(void) version_column(rel, MM_ORIGIN_COLUMN, INT4OID, true);
	(void) version_column(rel, MM_VERSION_COLUMN, TIMESTAMPTZOID, true);
	(void) version_column(rel, MM_GENERATION_COLUMN, INT8OID, true);
	canon = version_source(rel, src, &info);
	check_trigger_order(rel);
	relation_close(rel, AccessShareLock);

	parts = relkind == RELKIND_PARTITIONED_TABLE ?
		find_all_inheritors(relid, AccessShareLock, NULL) : NIL;
	foreach(lc, parts)
	{
		Relation	part = relation_open(lfirst_oid(lc), NoLock);

		if (part->rd_rel->relpersistence != RELPERSISTENCE_PERMANENT)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("cannot replicate temporary or unlogged partition %s",
							mm_qualified_relname(RelationGetRelid(part))),
					 errdetail("Logical replication only carries changes of permanent, logged tables.")));
		if (part->rd_rel->relkind == RELKIND_FOREIGN_TABLE)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("cannot replicate foreign partition %s",
							mm_qualified_relname(RelationGetRelid(part))),
					 errdetail("Its rows live on another server; logical replication does not see them.")));
		check_trigger_order(part);
		relation_close(part, NoLock);
	}
	PG_RETURN_TEXT_P(cstring_to_text(canon));
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
