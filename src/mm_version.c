/*-------------------------------------------------------------------------
 *
 * mm_version.c
 *		Row versions, the hybrid logical clock, and the policies' orders.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * Convergence rests on two properties established here:
 *
 *	1. Each policy is a total order over versions, so "keep the greater
 *	   version" is commutative, associative and idempotent: every node ends
 *	   with the same row whatever order the versions arrive in.
 *
 *	2. A local write produces a version greater, under every policy, than
 *	   the version it replaces: its clock value is at least one microsecond
 *	   past the replaced one (hybrid logical clock: a lagging clock cannot
 *	   make a write lose to its own past) and its generation is one more.
 *	   Without this a node would keep a write that its peers reject.
 *
 * The generation counts the writes in a row's history.  Two writes made
 * from the same base version are concurrent and have equal generations;
 * a write made on top of another has a greater one.  That is what lets
 * node_priority and first_update_wins tell a conflict from an ordinary
 * sequential update while remaining total orders.
 *
 * IDENTIFICATION
 *		src/mm_version.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/timestamp.h"

#include "mm_version.h"

int			mm_max_future_version = 300;	/* seconds */

void
mm_version_from_values(Datum origin, bool origin_null,
					   Datum ts, bool ts_null,
					   Datum gen, bool gen_null, MMVersion *v)
{
	v->isnull = ts_null;
	v->origin = origin_null ? 0 : DatumGetInt32(origin);
	v->ts = ts_null ? DT_NOBEGIN : DatumGetTimestampTz(ts);
	v->generation = gen_null ? 0 : DatumGetInt64(gen);
}

void
mm_version_from_slot(TupleTableSlot *slot, const MMRelInfo *info, MMVersion *v)
{
	Datum		origin,
				ts,
				gen;
	bool		origin_null,
				ts_null,
				gen_null;

	origin = slot_getattr(slot, info->origin_attnum, &origin_null);
	ts = slot_getattr(slot, info->version_attnum, &ts_null);
	gen = slot_getattr(slot, info->generation_attnum, &gen_null);
	mm_version_from_values(origin, origin_null, ts, ts_null, gen, gen_null, v);
}

static inline int32
priority_of(const MMRelInfo *info, int32 origin)
{
	if (info->priority_node != 0)
		return origin == info->priority_node ? 1 : 0;
	return mm_node_priority(origin);
}

#define CMP(x, y) do { if ((x) != (y)) return (x) < (y) ? -1 : 1; } while (0)

/*
 * Compare two versions under the relation's policy: <0, 0 or >0 as a is
 * older than, the same as, or newer than b.
 */
int
mm_version_cmp(const MMVersion *a, const MMVersion *b, const MMRelInfo *info)
{
	if (a->isnull || b->isnull)
		return (int) !a->isnull - (int) !b->isnull;

	switch (info->policy)
	{
		case MM_POLICY_LAST_UPDATE_WINS:
			/* later clock, then higher priority, then higher node id */
			CMP(a->ts, b->ts);
			CMP(priority_of(info, a->origin), priority_of(info, b->origin));
			CMP(a->origin, b->origin);
			CMP(a->generation, b->generation);
			break;

		case MM_POLICY_NODE_PRIORITY:
			/* longer history, then higher priority, then node id, clock */
			CMP(a->generation, b->generation);
			CMP(priority_of(info, a->origin), priority_of(info, b->origin));
			CMP(a->origin, b->origin);
			CMP(a->ts, b->ts);
			break;

		case MM_POLICY_FIRST_UPDATE_WINS:
			/* longer history, then the EARLIER clock, then priority, id */
			CMP(a->generation, b->generation);
			CMP(b->ts, a->ts);
			CMP(priority_of(info, a->origin), priority_of(info, b->origin));
			CMP(a->origin, b->origin);
			break;
	}
	return 0;
}

bool
mm_version_equal(const MMVersion *a, const MMVersion *b)
{
	if (a->isnull || b->isnull)
		return a->isnull == b->isnull;
	return a->ts == b->ts && a->origin == b->origin &&
		a->generation == b->generation;
}

/*
 * Version of a local write that replaces 'prev' (a row, a tombstone, or
 * nothing when prev->isnull).
 */
void
mm_version_next(const MMRelInfo *info, TupleTableSlot *newslot,
				const MMVersion *prev, int32 node_id, MMVersion *next)
{
	TimestampTz reading;

	switch (info->source)
	{
		case MM_SOURCE_TRANSACTION:
			reading = GetCurrentTransactionStartTimestamp();
			break;
		case MM_SOURCE_STATEMENT:
			reading = GetCurrentStatementStartTimestamp();
			break;
		case MM_SOURCE_COLUMN:
			{
				bool		isnull = true;
				Datum		d = (Datum) 0;

				if (newslot)
					d = slot_getattr(newslot, info->source_attnum, &isnull);

				/*
				 * timestamp without time zone is taken as UTC: the raw
				 * value, independent of each node's TimeZone setting.
				 */
				reading = isnull ? GetCurrentTimestamp() : DatumGetTimestampTz(d);
				if (TIMESTAMP_NOT_FINITE(reading))
					reading = GetCurrentTimestamp();
				else
				{
					/*
					 * A reading far ahead of the clock would pin the row:
					 * no later write could order after it, on any node.
					 */
					TimestampTz limit = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
																	(int64) mm_max_future_version * 1000);

					if (reading > limit)
						ereport(ERROR,
								(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
								 errmsg("version column value %s is more than %d s ahead of this node's clock",
										timestamptz_to_str(reading), mm_max_future_version),
								 errdetail("The row's version is taken from that column; a value far in the future would keep every later write of the row from winning, on every node."),
								 errhint("Write the current time, or raise multimaster.max_future_version.")));
				}
			}
			break;
		case MM_SOURCE_HLC:
		default:
			reading = GetCurrentTimestamp();
			break;
	}

	next->isnull = false;
	next->origin = node_id;
	next->ts = reading;
	next->generation = 1;

	if (!prev->isnull)
	{
		if (prev->ts >= END_TIMESTAMP - 1)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("row version %s cannot be advanced",
							timestamptz_to_str(prev->ts)),
					 errdetail("A write must carry a version later than the one it replaces.")));
		if (next->ts <= prev->ts)
			next->ts = prev->ts + 1;
		next->generation = prev->generation + 1;
	}
}
