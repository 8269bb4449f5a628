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
 * travel, as (key, row hash, version).  Rows are rendered, hashed and keys
 * bucketed in sessions with the same settings on every node (as
 * compare_table() does), so equal rows hash alike.  A NOTICE tells how many
 * bytes came back from the nodes.
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

#include "access/relation.h"
#include "access/table.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "mm_catalog.h"
#include "mm_nodes.h"
#include "mm_probe.h"
#include "mm_remote.h"
#include "mm_version.h"

PG_FUNCTION_INFO_V1(mm_compare_table_keys);
PG_FUNCTION_INFO_V1(mm_repair_table);

#define FIXED_SETTINGS \
	"SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; " \
	"SET extra_float_digits = 3; SET bytea_output = 'hex'"

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
	char	   *key;			/* ARRAY['v1', ...]::text as rendered */
	KeyAt	   *at;				/* per node */
} DiffKey;

typedef struct Diff
{
	char	   *relname;		/* schema-qualified */
	char	   *keyexpr;		/* ARRAY[t.pk1::text, ...] */
	char	   *keycond;		/* t.pk1 = $1[1]::type AND ... */
	char	   *touch;			/* SET pk1 = pk1 */
	MMRelInfo  *info;
	MeshNode   *nodes;
	int			n;
	List	   *keys;			/* DiffKey */
	int64		bytes;
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

/* Run one query on every node with the fixed settings; count the bytes. */
static PGresult **
on_all(Diff *d, const char *sql, int nparams, const char *const *params)
{
	PGresult  **res = palloc0(d->n * sizeof(PGresult *));
	int			i;

	for (i = 0; i < d->n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		res[i] = mm_remote_exec(&d->nodes[i].r, sql, nparams, params);
		d->bytes += result_bytes(res[i]);
	}
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

/* The keys whose rows differ, with what every node holds for them. */
static void
find_differences(Diff *d)
{
	char	   *bucket = psprintf("(pg_catalog.hashtext(%s::pg_catalog.text) OPERATOR(pg_catalog.&) 65535)", d->keyexpr);
	char	   *rowhash = "pg_catalog.hashtext(t::pg_catalog.text)";
	PGresult  **res;
	List	   *diff1,
			   *diff2;
	char	   *sql;
	const char *params[1];
	int			i,
				k;
	HTAB	   *keys;
	HASHCTL		ctl;
	typedef struct
	{
		char		key[2048];
		DiffKey    *dk;
	}			KeyEntry;

	for (i = 0; i < d->n; i++)
		PQclear(mm_remote_exec(&d->nodes[i].r, FIXED_SETTINGS, 0, NULL));

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
	sql = psprintf("SELECT %s::pg_catalog.text, %s, t." MM_ORIGIN_COLUMN ", "
				   "(EXTRACT(epoch FROM t." MM_VERSION_COLUMN ") OPERATOR(pg_catalog.*) 1000000::pg_catalog.numeric)::pg_catalog.int8 "
				   "OPERATOR(pg_catalog.-) 946684800000000, t." MM_GENERATION_COLUMN " "
				   "FROM %s t WHERE %s OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.int4[])",
				   d->keyexpr, rowhash, d->relname, bucket);
	res = on_all(d, sql, 1, params);

	ctl.keysize = 2048;
	ctl.entrysize = sizeof(KeyEntry);
	keys = hash_create("multimaster keys", 256, &ctl, HASH_ELEM | HASH_STRINGS);
	for (i = 0; i < d->n; i++)
		for (k = 0; k < PQntuples(res[i]); k++)
		{
			bool		found;
			KeyEntry   *e;
			char		keybuf[2048];

			strlcpy(keybuf, PQgetvalue(res[i], k, 0), sizeof(keybuf));
			e = hash_search(keys, keybuf, HASH_ENTER, &found);
			if (!found)
			{
				e->dk = palloc0(sizeof(DiffKey));
				e->dk->key = pstrdup(PQgetvalue(res[i], k, 0));
				e->dk->at = palloc0(d->n * sizeof(KeyAt));
			}
			e->dk->at[i].present = true;
			e->dk->at[i].row_hash = atoi(PQgetvalue(res[i], k, 1));
			e->dk->at[i].v = version_of(res[i], k, 2);
		}
	clear_all(d, res);
	{
		HASH_SEQ_STATUS it;
		KeyEntry   *e;

		hash_seq_init(&it, keys);
		while ((e = hash_seq_search(&it)) != NULL)
		{
			bool		same = true;

			for (i = 1; i < d->n; i++)
				if (e->dk->at[i].present != e->dk->at[0].present ||
					e->dk->at[i].row_hash != e->dk->at[0].row_hash)
					same = false;
			if (!same)
				d->keys = lappend(d->keys, e->dk);
		}
	}
	hash_destroy(keys);
}

/* Prepare the comparison of 'relid' on every node. */
static Diff *
diff_begin(Oid relid)
{
	Diff	   *d = palloc0(sizeof(Diff));
	Relation	rel = mm_open_registered(relid, AccessShareLock);
	StringInfoData expr,
				cond,
				touch;
	int			i;

	d->info = mm_relinfo_get(rel, NULL);
	d->relname = mm_qualified_relname(relid);
	initStringInfo(&expr);
	initStringInfo(&cond);
	initStringInfo(&touch);
	appendStringInfoString(&expr, "ARRAY[");
	for (i = 0; i < d->info->key.ncols; i++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), d->info->key.cols[i].attnum - 1);
		const char *col = quote_identifier(NameStr(att->attname));

		appendStringInfo(&expr, "%st.%s::pg_catalog.text", i > 0 ? ", " : "", col);
		appendStringInfo(&cond, "%st.%s OPERATOR(pg_catalog.=) ($1::pg_catalog.text[])[%d]::%s",
						 i > 0 ? " AND " : "", col, i + 1,
						 format_type_with_typemod(att->atttypid, att->atttypmod));
		if (i == 0)
			appendStringInfo(&touch, "%s = t.%s", col, col);
	}
	appendStringInfoChar(&expr, ']');
	d->keyexpr = expr.data;
	d->keycond = cond.data;
	d->touch = touch.data;
	relation_close(rel, AccessShareLock);
	d->nodes = mm_connect_known_nodes(&d->n, false);
	return d;
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
	ereport(NOTICE,
			(errmsg("compared " INT64_FORMAT " rows on %d nodes: %d keys differ, " INT64_FORMAT " bytes came back",
					d->rows_compared, d->n, list_length(d->keys), d->bytes)));
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
		char	   *tomb_sql = psprintf("SELECT tb.mm_origin, (EXTRACT(epoch FROM tb.mm_version) OPERATOR(pg_catalog.*) 1000000::pg_catalog.numeric)::pg_catalog.int8 "
										"OPERATOR(pg_catalog.-) 946684800000000, tb.mm_generation "
										"FROM multimaster.tombstone_key(%s, VARIADIC $1::pg_catalog.text[]) k "
										"JOIN multimaster.tombstones tb ON tb.table_name OPERATOR(pg_catalog.=) k.table_name "
										"AND tb.key_hash OPERATOR(pg_catalog.=) k.key_hash "
										"AND tb.key_data OPERATOR(pg_catalog.=) k.key_data",
										quote_literal_cstr(d->relname));

		find_differences(d);
		foreach(lc, d->keys)
		{
			DiffKey    *dk = lfirst(lc);
			const char *params[1] = {dk->key};
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
				res = mm_remote_exec(&d->nodes[i].r, tomb_sql, 1, params);
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
					PQclear(mm_remote_exec(&d->nodes[win].r,
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
							PQclear(mm_remote_exec(&d->nodes[i].r,
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
	ereport(NOTICE,
			(errmsg("compared " INT64_FORMAT " rows on %d nodes: %d keys differ, " INT64_FORMAT " bytes came back",
					d->rows_compared, d->n, list_length(d->keys), d->bytes)));
	return (Datum) 0;
}
