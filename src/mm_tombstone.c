/*-------------------------------------------------------------------------
 *
 * mm_tombstone.c
 *		Tombstones: the versions of deleted keys.
 *
 * A DELETE message carries only a key, so a delete would otherwise have no
 * version to compare.  The local delete writes (table, key, version) into
 * multimaster.tombstones in the same transaction; the tombstone row is
 * replicated like any other and reaches each peer ahead of the delete.  A
 * receiver deletes its row only if the tombstone is newer than it, and
 * drops an incoming row that is not newer than the tombstone of its key.
 *
 * Keys are stored as text so that tombstones mean the same thing on every
 * node: a single-column key is its type's output, a composite key is
 * rendered like a record literal.
 *
 * Reads and writes go straight to the heap and index, not through SPI: no
 * planning per delete, and no privileges on the tombstone table needed by
 * the roles whose writes fire the trigger.
 *
 * IDENTIFICATION
 *		src/mm_tombstone.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/skey.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "executor/executor.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"

#include "mm_apply.h"
#include "mm_tombstone.h"

#define Anum_tomb_table_name	1
#define Anum_tomb_key			2
#define Anum_tomb_origin		3
#define Anum_tomb_version		4
#define Anum_tomb_generation	5
#define Natts_tomb				5

static void
append_key_part(StringInfo buf, const char *val)
{
	const char *p;
	bool		quote = (*val == '\0');

	for (p = val; *p && !quote; p++)
		if (*p == '"' || *p == '\\' || *p == '(' || *p == ')' || *p == ',' ||
			isspace((unsigned char) *p))
			quote = true;

	if (!quote)
	{
		appendStringInfoString(buf, val);
		return;
	}
	appendStringInfoChar(buf, '"');
	for (p = val; *p; p++)
	{
		if (*p == '"' || *p == '\\')
			appendStringInfoChar(buf, *p);
		appendStringInfoChar(buf, *p);
	}
	appendStringInfoChar(buf, '"');
}

/*
 * The primary key of the row in 'slot' as text, palloc'd in the current
 * memory context.
 */
char *
mm_key_text(const MMRelInfo *info, TupleTableSlot *slot)
{
	StringInfoData buf;
	int			i;

	if (info->npk == 1)
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, info->pk_attnums[0], &isnull);

		return isnull ? pstrdup("") :
			OutputFunctionCall((FmgrInfo *) &info->pk_out[0], d);
	}

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	for (i = 0; i < info->npk; i++)
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, info->pk_attnums[i], &isnull);

		if (i > 0)
			appendStringInfoChar(&buf, ',');
		if (!isnull)
			append_key_part(&buf,
							OutputFunctionCall((FmgrInfo *) &info->pk_out[i], d));
	}
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

bool
mm_key_changed(const MMRelInfo *info, TupleTableSlot *oldslot,
			   TupleTableSlot *newslot)
{
	TupleDesc	desc = oldslot->tts_tupleDescriptor;
	int			i;

	for (i = 0; i < info->npk; i++)
	{
		AttrNumber	attnum = info->pk_attnums[i];
		Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
		bool		n1,
					n2;
		Datum		d1 = slot_getattr(oldslot, attnum, &n1);
		Datum		d2 = slot_getattr(newslot, attnum, &n2);

		if (n1 != n2)
			return true;
		if (!n1 && !datumIsEqual(d1, d2, att->attbyval, att->attlen))
			return true;
	}
	return false;
}

/*
 * Look up the tombstone of a key.  SnapshotSelf sees committed tombstones
 * and those written earlier in this transaction (the apply worker writes
 * the tombstone one step before the delete it precedes).  It is also
 * cheaper than taking an MVCC snapshot per lookup, which measurably slows
 * the apply worker (about 2 us per incoming row).
 */
bool
mm_tombstone_find(const char *table_name, const char *key, MMVersion *v)
{
	Relation	rel;
	Relation	idxrel;
	IndexScanDesc scan;
	ScanKeyData skey[2];
	TupleTableSlot *slot;
	bool		found;

	rel = table_open(mm_catalog_relid("tombstones", false), AccessShareLock);
	idxrel = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);

	ScanKeyInit(&skey[0], 1, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(table_name));
	skey[0].sk_collation = idxrel->rd_indcollation[0];
	ScanKeyInit(&skey[1], 2, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(key));
	skey[1].sk_collation = idxrel->rd_indcollation[1];

	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idxrel, SnapshotSelf, 2, 0);
	index_rescan(scan, skey, 2, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (found)
	{
		Datum		o,
					t,
					g;
		bool		on,
					tn,
					gn;

		o = slot_getattr(slot, Anum_tomb_origin, &on);
		t = slot_getattr(slot, Anum_tomb_version, &tn);
		g = slot_getattr(slot, Anum_tomb_generation, &gn);
		mm_version_from_values(o, on, t, tn, g, gn, v);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idxrel, AccessShareLock);
	table_close(rel, AccessShareLock);

	return found;
}

/*
 * Ordering of the tombstones of 'table_name': that table's policy, or
 * last_update_wins when it has no multimaster trigger here.
 */
void
mm_tombstone_order(const char *table_name, MMRelInfo *order)
{
	List	   *names;
	Oid			relid;

	order->policy = MM_POLICY_LAST_UPDATE_WINS;
	order->priority_node = 0;

	names = textToQualifiedNameList(cstring_to_text(table_name));
	relid = RangeVarGetRelid(makeRangeVarFromNameList(names), AccessShareLock, true);
	if (OidIsValid(relid))
	{
		Relation	rel = table_open(relid, NoLock);
		TriggerDesc *td = rel->trigdesc;
		int			i;

		for (i = 0; td && i < td->numtriggers; i++)
		{
			if (strcmp(td->triggers[i].tgname, MM_TRIGGER_NAME) == 0)
			{
				MMRelInfo  *info = mm_relinfo_get(rel, &td->triggers[i]);

				order->policy = info->policy;
				order->priority_node = info->priority_node;
				break;
			}
		}
		table_close(rel, NoLock);
	}
}

/*
 * Record the local delete of 'key' of the table described by 'owner', whose
 * row had version 'prev'.  The tombstone's version is made past both that
 * and any tombstone the key already has, on the locked tombstone row; the
 * owner's policy orders them.
 */
void
mm_tombstone_write(const MMRelInfo *owner, const char *key,
				   const MMVersion *prev, int32 node)
{
	Relation	rel;
	MMRelInfo	info;
	TupleTableSlot *slot;
	MMLocalStamp stamp;

	rel = table_open(mm_catalog_relid("tombstones", false), RowExclusiveLock);
	info = *mm_relinfo_get(rel, NULL);
	info.policy = owner->policy;
	info.priority_node = owner->priority_node;
	info.source = owner->source;	/* a column source falls back to the clock */

	slot = table_slot_create(rel, NULL);
	ExecClearTuple(slot);
	memset(slot->tts_isnull, 0, Natts_tomb * sizeof(bool));
	slot->tts_values[Anum_tomb_table_name - 1] = CStringGetTextDatum(owner->table_name);
	slot->tts_values[Anum_tomb_key - 1] = CStringGetTextDatum(key);
	slot->tts_isnull[Anum_tomb_origin - 1] = true;
	slot->tts_isnull[Anum_tomb_version - 1] = true;
	slot->tts_isnull[Anum_tomb_generation - 1] = true;
	ExecStoreVirtualTuple(slot);

	stamp.prev = prev;
	stamp.node = node;
	(void) mm_upsert(rel, &info, slot, key, true, &stamp);

	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
}
