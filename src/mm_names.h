/*-------------------------------------------------------------------------
 *
 * mm_names.h
 *		The names multimaster gives to what it makes on every node.
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * Each naming rule lives here once.  SQL and the tests that need a rule ask
 * the server for it (multimaster._link_name(), multimaster._link_parts())
 * rather than spelling it again.  The SQL scripts create the publication,
 * the trigger and the version columns under these names: the released 1.0
 * script cannot refer to this header.
 *
 * IDENTIFICATION
 *		src/mm_names.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MM_NAMES_H
#define MM_NAMES_H

#define MM_SCHEMA				"multimaster"
#define MM_TRIGGER_NAME			"000_multimaster_resolve"

/* the publication every node's links subscribe to */
#define MM_PUBLICATION			"multimaster"

/* the logical decoding output plugin of the links' slots */
#define MM_OUTPUT_PLUGIN		"multimaster"

/* the version columns of a replicated table */
#define MM_ORIGIN_COLUMN		"mm_origin"
#define MM_VERSION_COLUMN		"mm_version"
#define MM_GENERATION_COLUMN	"mm_generation"

/*
 * A link carries publisher P's changes to subscriber S: the slot on P and
 * the subscription on S are both named multimaster_<P>_<S>.  The pattern
 * (a POSIX regular expression) picks out those names in remote catalogs,
 * whose node may run an older version of the extension.
 */
#define MM_LINK_PREFIX			"multimaster_"
#define MM_LINK_NAME_PATTERN	"^" MM_LINK_PREFIX "[0-9]+_[0-9]+$"

extern char *mm_link_name(int32 publisher, int32 subscriber);
extern bool mm_link_parse(const char *name, int32 *publisher, int32 *subscriber);

#endif							/* MM_NAMES_H */
