/*-------------------------------------------------------------------------
 *
 * mm_names.c
 *		Link names: made from a pair of node ids, and read back.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * mm_link_name() is the only place that makes a link's name and
 * mm_link_parse() the only place that reads one; multimaster._link_name()
 * and multimaster._link_parts() give both to SQL (the status view) and to
 * the tests.  A name parses exactly when it matches MM_LINK_NAME_PATTERN
 * and both of its ids fit an integer.
 *
 * IDENTIFICATION
 *		src/mm_names.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "mm_names.h"

PG_FUNCTION_INFO_V1(mm_link_name_sql);
PG_FUNCTION_INFO_V1(mm_link_parts_sql);

/* name of the slot and subscription carrying publisher's changes to subscriber */
char *
mm_link_name(int32 publisher, int32 subscriber)
{
	return psprintf(MM_LINK_PREFIX "%d_%d", publisher, subscriber);
}

/* Read one id ([0-9]+, at most PG_INT32_MAX) at *p and step past it. */
static bool
parse_id(const char **p, int32 *id)
{
	const char *s = *p;
	int64		v = 0;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++)
	{
		v = v * 10 + (*s - '0');
		if (v > PG_INT32_MAX)
			return false;
	}
	*id = (int32) v;
	*p = s;
	return true;
}

/* Is 'name' a link's name?  If so, whose link. */
bool
mm_link_parse(const char *name, int32 *publisher, int32 *subscriber)
{
	const char *p = name;

	if (strncmp(p, MM_LINK_PREFIX, strlen(MM_LINK_PREFIX)) != 0)
		return false;
	p += strlen(MM_LINK_PREFIX);
	if (!parse_id(&p, publisher) || *p++ != '_' || !parse_id(&p, subscriber))
		return false;
	return *p == '\0';
}

/*
 * multimaster._link_name(publisher integer, subscriber integer) returns name
 */
Datum
mm_link_name_sql(PG_FUNCTION_ARGS)
{
	int32		publisher = PG_GETARG_INT32(0);
	int32		subscriber = PG_GETARG_INT32(1);

	/* every name given here reads back as the same pair */
	if (publisher < 1 || subscriber < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("node id %d is out of range", publisher < 1 ? publisher : subscriber),
				 errdetail("Node ids are positive.")));
	PG_RETURN_DATUM(DirectFunctionCall1(namein,
										CStringGetDatum(mm_link_name(publisher, subscriber))));
}

/*
 * multimaster._link_parts(link name, OUT publisher integer,
 *						   OUT subscriber integer) returns record
 *
 * NULL when the name is not a link's.
 */
Datum
mm_link_parts_sql(PG_FUNCTION_ARGS)
{
	Name		link = PG_GETARG_NAME(0);
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int32		publisher,
				subscriber;

	if (!mm_link_parse(NameStr(*link), &publisher, &subscriber))
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Int32GetDatum(publisher);
	values[1] = Int32GetDatum(subscriber);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
