/*-------------------------------------------------------------------------
 *
 * mm_ids.c
 *		Mesh-wide unique, time-ordered 64-bit ids: multimaster.global_id().
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * An id is a positive bigint made of, from the most significant bit:
 *
 *	 41 bits  milliseconds since 2026-01-01 00:00 UTC (until 2095)
 *	  8 bits  the node id (1..255)
 *	  7 bits  the session's slot on this node (0..127)
 *	  7 bits  a counter within the millisecond (0..127)
 *
 * Ids of different nodes differ in the node bits.  On one node, each
 * session that makes ids first claims a slot, a session-level advisory lock
 * (class 28009) no other live session holds, so two sessions never share
 * one; within a session the (millisecond, counter) pairs only grow: when
 * the counter of a millisecond is used up, the session waits for the next
 * millisecond.  A session that takes over a slot released by another one
 * starts after the millisecond in which it got it, when the previous holder
 * was gone already.  So no two ids are ever equal, as long as a node's clock
 * does not step back across such a handover; ids sort by time to the
 * millisecond across nodes (as well as their clocks agree), which keeps
 * B-tree inserts at the right edge of the index.
 *
 * IDENTIFICATION
 *		src/mm_ids.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "mm_catalog.h"

#define ID_MS_BITS		41
#define ID_NODE_BITS	8
#define ID_SLOT_BITS	7
#define ID_COUNT_BITS	7
#define ID_MAX_NODE		((1 << ID_NODE_BITS) - 1)
#define ID_SLOTS		(1 << ID_SLOT_BITS)
#define ID_COUNTS		(1 << ID_COUNT_BITS)
#define ID_LOCK_CLASS	0x6D69

/* 2026-01-01 00:00:00 UTC as a TimestampTz (microseconds since 2000-01-01) */
#define ID_EPOCH		((int64) 9497 * USECS_PER_DAY)

PG_FUNCTION_INFO_V1(mm_global_id);
PG_FUNCTION_INFO_V1(mm_global_id_parts);

static int	my_slot = -1;
static int64 last_ms = -1;
static int	last_count = 0;

static int64
now_ms(void)
{
	return (GetCurrentTimestamp() - ID_EPOCH) / 1000;
}

/* Claim a slot no other live session of this database holds. */
static void
claim_slot(void)
{
	int			start = MyProcPid % ID_SLOTS;
	int			i;

	for (i = 0; i < ID_SLOTS; i++)
	{
		int			slot = (start + i) % ID_SLOTS;
		LOCKTAG		tag;

		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0, ID_LOCK_CLASS, slot);
		if (LockAcquire(&tag, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL)
		{
			my_slot = slot;
			/* a previous holder made ids up to this millisecond at most */
			last_ms = now_ms();
			last_count = ID_COUNTS;
			return;
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("more than %d sessions make global ids at once on this node", ID_SLOTS),
			 errhint("Make ids in fewer sessions at a time, for instance through a connection pool.")));
}

/*
 * multimaster.global_id() returns bigint
 */
Datum
mm_global_id(PG_FUNCTION_ARGS)
{
	int32		node = mm_local_node_id(false);
	int64		ms;

	if (node > ID_MAX_NODE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("global ids hold node ids up to %d, this node is %d", ID_MAX_NODE, node),
				 errhint("Use multimaster.stagger_sequence() or UUIDs on meshes with larger node ids.")));
	if (my_slot < 0)
		claim_slot();

	for (;;)
	{
		ms = now_ms();
		if (ms > last_ms)
		{
			last_ms = ms;
			last_count = 0;
			break;
		}
		if (last_count < ID_COUNTS)
			break;				/* same millisecond (or the clock stepped back) */
		/* this millisecond is used up: wait for the next one */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	if (last_ms >= ((int64) 1 << ID_MS_BITS))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("global ids run out in 2095")));

	PG_RETURN_INT64((last_ms << (ID_NODE_BITS + ID_SLOT_BITS + ID_COUNT_BITS)) |
					((int64) node << (ID_SLOT_BITS + ID_COUNT_BITS)) |
					((int64) my_slot << ID_COUNT_BITS) |
					(int64) last_count++);
}

/*
 * multimaster.global_id_parts(id bigint)
 *		-> (made_at timestamptz, node_id int, slot int, counter int)
 */
Datum
mm_global_id_parts(PG_FUNCTION_ARGS)
{
	int64		id = PG_GETARG_INT64(0);
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	if (id < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%lld is not a global id", (long long) id)));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = TimestampTzGetDatum(ID_EPOCH +
									(id >> (ID_NODE_BITS + ID_SLOT_BITS + ID_COUNT_BITS)) * 1000);
	values[1] = Int32GetDatum((int32) ((id >> (ID_SLOT_BITS + ID_COUNT_BITS)) & ID_MAX_NODE));
	values[2] = Int32GetDatum((int32) ((id >> ID_COUNT_BITS) & (ID_SLOTS - 1)));
	values[3] = Int32GetDatum((int32) (id & (ID_COUNTS - 1)));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
