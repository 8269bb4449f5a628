/*-------------------------------------------------------------------------
 *
 * mm_repair.c
 *		Finding the keys whose rows differ between nodes, and repairing them.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * multimaster.compare_table_keys(tbl) narrows the difference down without
 * shipping every row: each node hashes its rows into 256 buckets by key
 * (count and checksum per bucket); only the buckets that differ are split
 * into 256 sub-buckets each; only the rows of the sub-buckets that differ
 * travel, as (key, row hash, version).  A NOTICE tells how many bytes came
 * back from the nodes and how many were sent to them.
 *
 * Keys are identified by value, as tombstones are (mm_key.c), never by how
 * a session prints them: a key's bucket is its hash under the primary
 * key's own equality (multimaster._key_hash(), the same on every node
 * whatever its settings), and it travels in the fixed binary encoding of
 * tombstones (multimaster._key_data()).  Two nodes' keys are the same when
 * their encodings are equal, or else when the decoded values are equal
 * under that equality (float8 0 and -0, numeric 1.0 and 1.00); a key is
 * shown to people in this session's settings only.  Rows are compared by
 * the hash of their text, rendered in sessions with the same settings on
 * every node (as compare_table() does), so equal rows hash alike.
 *
 * multimaster.repair_table(tbl, dry_run) makes every node hold, for each
 * differing key, what the table's policy prefers among the versions the
 * nodes hold (rows, and tombstones where a node has none): the winning row
 * is written again on the node that has it (an UPDATE of itself, which
 * stamps a version past every other), so it replicates like any write and
 * wins everywhere; a winning tombstone is carried out by deleting the row
 * on every node that still has it.  With dry_run it only says what it
 * would do.
 *
 * IDENTIFICATION
 *		src/mm_repair.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "mm_catalog.h"
#include "mm_key.h"
#include "mm_nodes.h"
#include "mm_probe.h"
#include "mm_remote.h"
#include "mm_version.h"

PG_FUNCTION_INFO_V1(mm_compare_table_keys);
PG_FUNCTION_INFO_V1(mm_repair_table);

#define FIXED_SETTINGS \
	"SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; " \
	"SET extra_float_digits = 3; SET bytea_output = 'hex'; SET lc_monetary = 'C'"

/* what a node holds for one key */
typedef struct KeyAt
{
	bool		present;
	int32		row_hash;
	MMVersion	v;				/* the row's version, or its tombstone's */
	bool		tombstone;
} KeyAt;

typedef struct DiffKey
{
	bytea	   *key_data;		/* fixed encoding, as the first node to hold it sent it */
	char	   *key_param;		/* the same as a bytea literal, for remote statements */
	char	   *key;			/* text[] literal in this session's settings, for people */
	KeyAt	   *at;				/* per node */
} DiffKey;

typedef struct Diff
{
	char	   *relname;		/* schema-qualified */
	char	   *keycond;		/* t.pk1 = the key's column 1 (of $1) AND ... */
	char	   *touch;			/* SET pk1 = pk1 */
	MMRelInfo  *info;
	MMKeyInfo	key;			/* the key's identity here, to match keys */
	TupleTableSlot *slot;		/* a slot of the table, for one decoded key */
	MeshNode   *nodes;
	int			n;
	List	   *keys;			/* DiffKey */
	int64		bytes;			/* result bytes that came back */
	int64		bytes_sent;		/* statement and parameter bytes sent */
	int64		rows_compared;
} Diff;

static int64
result_bytes(PGresult *res)
{
	int64		b = 0;
	int			i,
				j;

	for (i = 0; i < PQntuples(res); i++)
		for (j = 0; j < PQnfields(res); j++)
			b += PQgetlength(res, i, j);
	return b;
}

/* Run one statement on node i, counting the bytes both ways. */
static PGresult *
exec_on(Diff *d, int i, const char *sql, int nparams, const char *const *params)
{
	PGresult   *res;
	int			p;

	CHECK_FOR_INTERRUPTS();
	d->bytes_sent += strlen(sql);
	for (p = 0; p < nparams; p++)
		d->bytes_sent += params[p] ? strlen(params[p]) : 0;
	res = mm_remote_exec(&d->nodes[i].r, sql, nparams, params);
	d->bytes += result_bytes(res);
	return res;
}

/* The buckets (given as the first column) whose other columns differ between nodes. */
static List *
differing_buckets(Diff *d, PGresult **res)
{
	List	   *out = NIL;
	int			i;
	HTAB	   *seen;
	HASHCTL		ctl;
	typedef struct
	{
		char		bucket[32];
		char		sig[64];
		int			nodes;
		bool		differs;
	}			Entry;
	HASH_SEQ_STATUS it;
	Entry	   *e;

	ctl.keysize = 32;
	ctl.entrysize = sizeof(Entry);
	seen = hash_create("multimaster buckets", 1024, &ctl, HASH_ELEM | HASH_STRINGS);
	for (i = 0; i < d->n; i++)
	{
		int			k;

		for (k = 0; k < PQntuples(res[i]); k++)
		{
			bool		found;
			char		sig[64];

			e = hash_search(seen, PQgetvalue(res[i], k, 0), HASH_ENTER, &found);
			snprintf(sig, sizeof(sig), "%s/%s", PQgetvalue(res[i], k, 1), PQgetvalue(res[i], k, 2));
			if (!found)
			{
				strlcpy(e->sig, sig, sizeof(e->sig));
				e->nodes = 0;
				e->differs = false;
			}
			else if (strcmp(e->sig, sig) != 0)
				e->differs = true;
			e->nodes++;
		}
	}
	hash_seq_init(&it, seen);
	while ((e = hash_seq_search(&it)) != NULL)
		if (e->differs || e->nodes != d->n)
			out = lappend(out, pstrdup(e->bucket));
	hash_destroy(seen);
	return out;
}

static char *
int_array(List *vals)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	foreach(lc, vals)
		appendStringInfo(&buf, "%s%s", buf.len > 1 ? "," : "", (char *) lfirst(lc));
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* Run one query on every node. */
static PGresult **
on_all(Diff *d, const char *sql, int nparams, const char *const *params)
{
	PGresult  **res = palloc0(d->n * sizeof(PGresult *));
	int			i;

	for (i = 0; i < d->n; i++)
		res[i] = exec_on(d, i, sql, nparams, params);
	return res;
}

static void
clear_all(Diff *d, PGresult **res)
{
	int			i;

	for (i = 0; i < d->n; i++)
		PQclear(res[i]);
}

static MMVersion
version_of(PGresult *res, int row, int col)
{
	MMVersion	v;

	v.isnull = PQgetisnull(res, row, col);
	v.origin = v.isnull ? 0 : atoi(PQgetvalue(res, row, col));
	v.ts = v.isnull ? 0 : (TimestampTz) strtoi64(PQgetvalue(res, row, col + 1), NULL, 10);
	v.generation = v.isnull ? 0 : strtoi64(PQgetvalue(res, row, col + 2), NULL, 10);
	return v;
}

/* The key now in d->slot as people read it: a text[] literal, in this session's settings. */
static char *
key_display(Diff *d)
{
	Datum	   *elems = palloc(d->key.ncols * sizeof(Datum));
	bool	   *nulls = palloc(d->key.ncols * sizeof(bool));
	int			dims[1] = {d->key.ncols};
	int			lbs[1] = {1};
	int			i;

	for (i = 0; i < d->key.ncols; i++)
	{
		Datum		v = slot_getattr(d->slot, d->key.cols[i].attnum, &nulls[i]);

		elems[i] = nulls[i] ? (Datum) 0 :
			CStringGetTextDatum(OutputFunctionCall(&d->key.cols[i].out, v));
	}
	return OidOutputFunctionCall(F_ARRAY_OUT,
								 PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs,
																	TEXTOID, -1, false,
																	TYPALIGN_INT)));
}

/* keys met so far with one hash, under their own equality */
typedef struct KeyGroup
{
	uint32		hash;			/* hash key */
	List	   *keys;			/* DiffKey */
} KeyGroup;

/*
 * The key whose encoding a node sent as hex: the one met before that is
 * equal to it (same bytes, or equal values), else a new one.
 */
static DiffKey *
key_entry(Diff *d, HTAB *groups, const char *hex, int hexlen)
{
	bytea	   *data = palloc(VARHDRSZ + hexlen / 2);
	uint32		h;
	KeyGroup   *g;
	bool		found;
	ListCell   *lc;
	DiffKey    *dk;

	SET_VARSIZE(data, VARHDRSZ + hex_decode(hex, hexlen, VARDATA(data)));
	mm_key_decode(&d->key, data, d->slot);
	h = mm_key_hash(&d->key, d->slot);
	g = hash_search(groups, &h, HASH_ENTER, &found);
	if (!found)
		g->keys = NIL;
	foreach(lc, g->keys)
	{
		dk = lfirst(lc);
		if (mm_key_matches(&d->key, d->slot, data, dk->key_data))
			return dk;
	}
	dk = palloc0(sizeof(DiffKey));
	dk->key_data = data;
	dk->key_param = psprintf("\\x%s", hex);
	dk->key = key_display(d);
	dk->at = palloc0(d->n * sizeof(KeyAt));
	g->keys = lappend(g->keys, dk);
	return dk;
}

/* The keys whose rows differ, with what every node holds for them. */
static void
find_differences(Diff *d)
{
	const char *bucket = "(multimaster._key_hash(t) OPERATOR(pg_catalog.&) 65535)";
	const char *rowhash = "pg_catalog.hashtext(t::pg_catalog.text)";
	PGresult  **res;
	List	   *diff1,
			   *diff2;
	char	   *sql;
	const char *params[1];
	int			i,
				k;
	HTAB	   *groups;
	HASHCTL		ctl;
	HASH_SEQ_STATUS it;
	KeyGroup   *g;

	for (i = 0; i < d->n; i++)
		PQclear(exec_on(d, i, FIXED_SETTINGS, 0, NULL));

	/* 1. 256 buckets */
	sql = psprintf("SELECT %s OPERATOR(pg_catalog.&) 255, pg_catalog.count(*), "
				   "pg_catalog.sum(%s::pg_catalog.int8) FROM %s t GROUP BY 1",
				   bucket, rowhash, d->relname);
	res = on_all(d, sql, 0, NULL);
	for (i = 0; i < PQntuples(res[0]); i++)
		d->rows_compared += strtoi64(PQgetvalue(res[0], i, 1), NULL, 10);
	diff1 = differing_buckets(d, res);
	clear_all(d, res);
	if (diff1 == NIL)
		return;

	/* 2. the differing ones, in 256 sub-buckets each */
	params[0] = int_array(diff1);
	sql = psprintf("SELECT %s, pg_catalog.count(*), pg_catalog.sum(%s::pg_catalog.int8) FROM %s t "
				   "WHERE %s OPERATOR(pg_catalog.&) 255 OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.int4[]) "
				   "GROUP BY 1",
				   bucket, rowhash, d->relname, bucket);
	res = on_all(d, sql, 1, params);
	diff2 = differing_buckets(d, res);
	clear_all(d, res);
	if (diff2 == NIL)
		return;

	/* 3. the rows of the differing sub-buckets */
	params[0] = int_array(diff2);
	sql = psprintf("SELECT pg_catalog.encode(multimaster._key_data(t), 'hex'), %s, t." MM_ORIGIN_COLUMN ", "
				   "(EXTRACT(epoch FROM t." MM_VERSION_COLUMN ") OPERATOR(pg_catalog.*) 1000000::pg_catalog.numeric)::pg_catalog.int8 "
				   "OPERATOR(pg_catalog.-) 946684800000000, t." MM_GENERATION_COLUMN " "
				   "FROM %s t WHERE %s OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.int4[])",
				   rowhash, d->relname, bucket);
	res = on_all(d, sql, 1, params);

	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(KeyGroup);
	groups = hash_create("multimaster keys", 256, &ctl, HASH_ELEM | HASH_BLOBS);
	for (i = 0; i < d->n; i++)
		for (k = 0; k < PQntuples(res[i]); k++)
		{
			DiffKey    *dk = key_entry(d, groups, PQgetvalue(res[i], k, 0),
									   PQgetlength(res[i], k, 0));

			dk->at[i].present = true;
			dk->at[i].row_hash = atoi(PQgetvalue(res[i], k, 1));
			dk->at[i].v = version_of(res[i], k, 2);
		}
	clear_all(d, res);

	hash_seq_init(&it, groups);
	while ((g = hash_seq_search(&it)) != NULL)
	{
		ListCell   *lc;

		foreach(lc, g->keys)
		{
			DiffKey    *dk = lfirst(lc);
			bool		same = true;

			for (i = 1; i < d->n; i++)
				if (dk->at[i].present != dk->at[0].present ||
					dk->at[i].row_hash != dk->at[0].row_hash)
					same = false;
			if (!same)
				d->keys = lappend(d->keys, dk);
		}
	}
	hash_destroy(groups);
}

/*
 * "OPERATOR(schema.name)": the equality of column 'i' of the primary key
 * 'idxrel', the one its values are unique under.
 */
static char *
key_equality(Relation idxrel, int i)
{
	Oid			eqop = get_opfamily_member(idxrel->rd_opfamily[i], idxrel->rd_opcintype[i],
										   idxrel->rd_opcintype[i], BTEqualStrategyNumber);
	HeapTuple	tup;
	Form_pg_operator op;
	char	   *result;

	if (!OidIsValid(eqop))
		elog(ERROR, "missing equality operator for primary key column %d of \"%s\"",
			 i + 1, RelationGetRelationName(idxrel));
	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(eqop));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", eqop);
	op = (Form_pg_operator) GETSTRUCT(tup);
	result = psprintf("OPERATOR(%s.%s)", quote_identifier(get_namespace_name(op->oprnamespace)),
					  NameStr(op->oprname));
	ReleaseSysCache(tup);
	return result;
}

/* Prepare the comparison of 'relid' on every node. */
static Diff *
diff_begin(Oid relid)
{
	Diff	   *d = palloc0(sizeof(Diff));
	Relation	rel = mm_open_registered(relid, AccessShareLock);
	Relation	idxrel;
	StringInfoData cond,
				touch;
	int			i;

	d->info = mm_relinfo_get(rel, NULL);
	d->relname = mm_qualified_relname(relid);
	mm_key_build(&d->key, rel, d->info->pk_index, true, CurrentMemoryContext);
	d->slot = MakeSingleTupleTableSlot(CreateTupleDescCopy(RelationGetDescr(rel)),
									   &TTSOpsVirtual);
	idxrel = index_open(d->info->pk_index, AccessShareLock);
	initStringInfo(&cond);
	initStringInfo(&touch);
	for (i = 0; i < d->key.ncols; i++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), d->key.cols[i].attnum - 1);
		const char *col = quote_identifier(NameStr(att->attname));

		/* by the key's own equality, so that the primary key's index serves */
		appendStringInfo(&cond, "%st.%s %s multimaster._key_value($1::pg_catalog.bytea, %d, NULL::%s)",
						 i > 0 ? " AND " : "", col, key_equality(idxrel, i), i + 1,
						 format_type_extended(att->atttypid, -1, FORMAT_TYPE_FORCE_QUALIFY));
		if (i == 0)
			appendStringInfo(&touch, "%s = t.%s", col, col);
	}
	d->keycond = cond.data;
	d->touch = touch.data;
	index_close(idxrel, AccessShareLock);
	relation_close(rel, AccessShareLock);
	d->nodes = mm_connect_known_nodes(&d->n, false);
	return d;
}

/* The NOTICE that ends compare_table_keys() and repair_table(). */
static void
report_traffic(Diff *d)
{
	ereport(NOTICE,
			(errmsg("compared " INT64_FORMAT " rows on %d nodes: %d keys differ, "
					INT64_FORMAT " bytes came back, " INT64_FORMAT " bytes were sent",
					d->rows_compared, d->n, list_length(d->keys), d->bytes, d->bytes_sent)));
}

static const char *
describe(const KeyAt *at)
{
	if (at->present)
		return psprintf("row %d/%s/" INT64_FORMAT, at->v.origin,
						timestamptz_to_str(at->v.ts), at->v.generation);
	if (at->tombstone)
		return psprintf("deleted %d/%s/" INT64_FORMAT, at->v.origin,
						timestamptz_to_str(at->v.ts), at->v.generation);
	return "absent";
}

/*
 * multimaster.compare_table_keys(tbl regclass)
 *		-> (key text, node_id int, node_name text, holds text)
 */
Datum
mm_compare_table_keys(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Diff	   *d;
	ListCell   *lc;
	int			i;

	mm_require_superuser("compare tables across the multimaster mesh");
	InitMaterializedSRF(fcinfo, 0);
	d = diff_begin(PG_GETARG_OID(0));
	PG_TRY();
	{
		find_differences(d);
		foreach(lc, d->keys)
		{
			DiffKey    *dk = lfirst(lc);

			for (i = 0; i < d->n; i++)
			{
				Datum		values[4];
				bool		nulls[4] = {false, false, false, false};

				values[0] = CStringGetTextDatum(dk->key);
				values[1] = Int32GetDatum(d->nodes[i].id);
				values[2] = CStringGetTextDatum(d->nodes[i].name);
				values[3] = CStringGetTextDatum(describe(&dk->at[i]));
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			}
		}
	}
	PG_FINALLY();
	{
		mm_close_nodes(d->nodes, d->n);
	}
	PG_END_TRY();
	report_traffic(d);
	return (Datum) 0;
}

/*
 * multimaster.repair_table(tbl regclass, dry_run boolean)
 *		-> (key text, winner text, action text)
 */
Datum
mm_repair_table(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		dry_run = PG_ARGISNULL(1) ? true : PG_GETARG_BOOL(1);
	Diff	   *d;
	ListCell   *lc;
	int			i;

	mm_require_superuser("repair a table across the multimaster mesh");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a table must be given")));
	if (!dry_run)
		PreventInTransactionBlock(true, "multimaster.repair_table()");
	InitMaterializedSRF(fcinfo, 0);
	d = diff_begin(PG_GETARG_OID(0));
	PG_TRY();
	{
		const char *tomb_sql = "SELECT tv.origin, tv.version, tv.generation "
			"FROM multimaster._tombstone_version($1::pg_catalog.regclass, $2::pg_catalog.bytea) tv "
			"WHERE tv.origin IS NOT NULL";

		find_differences(d);
		foreach(lc, d->keys)
		{
			DiffKey    *dk = lfirst(lc);
			const char *params[1] = {dk->key_param};
			const char *tomb_params[2] = {d->relname, dk->key_param};
			int			win = -1;
			StringInfoData action;
			Datum		values[3];
			bool		nulls[3] = {false, false, false};

			/* where a node has no row, its tombstone (if any) counts */
			for (i = 0; i < d->n; i++)
			{
				PGresult   *res;

				if (dk->at[i].present)
					continue;
				res = exec_on(d, i, tomb_sql, 2, tomb_params);
				if (PQntuples(res) > 0)
				{
					dk->at[i].tombstone = true;
					dk->at[i].v = version_of(res, 0, 0);
				}
				PQclear(res);
			}
			for (i = 0; i < d->n; i++)
				if ((dk->at[i].present || dk->at[i].tombstone) &&
					(win < 0 || mm_version_cmp(&dk->at[i].v, &dk->at[win].v, d->info) > 0))
					win = i;
			if (win < 0)
				continue;

			initStringInfo(&action);
			if (dk->at[win].present)
			{
				appendStringInfo(&action, "write the row of node %d again there", d->nodes[win].id);
				if (!dry_run)
					PQclear(exec_on(d, win,
									psprintf("UPDATE %s t SET %s WHERE %s", d->relname,
											 d->touch, d->keycond),
									1, params));
			}
			else
			{
				appendStringInfoString(&action, "delete the row on node");
				for (i = 0; i < d->n; i++)
					if (dk->at[i].present)
					{
						appendStringInfo(&action, " %d", d->nodes[i].id);
						if (!dry_run)
							PQclear(exec_on(d, i,
											psprintf("DELETE FROM %s t WHERE %s", d->relname, d->keycond),
											1, params));
					}
			}
			if (dry_run)
				appendStringInfoString(&action, " (dry run: not done)");
			values[0] = CStringGetTextDatum(dk->key);
			values[1] = CStringGetTextDatum(psprintf("node %d: %s", d->nodes[win].id, describe(&dk->at[win])));
			values[2] = CStringGetTextDatum(action.data);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	PG_FINALLY();
	{
		mm_close_nodes(d->nodes, d->n);
	}
	PG_END_TRY();
	report_traffic(d);
	return (Datum) 0;
}
