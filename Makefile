# multimaster: active-active replication for PostgreSQL 15 and 18 (PGXS build)

EXTENSION = multimaster
MODULE_big = multimaster
OBJS = \
	src/multimaster.o \
	src/mm_catalog.o \
	src/mm_key.o \
	src/mm_version.o \
	src/mm_trigger.o \
	src/mm_apply.o \
	src/mm_tombstone.o \
	src/mm_conflict.o \
	src/mm_output.o \
	src/mm_remote.o \
	src/mm_mesh.o \
	src/mm_status.o \
	src/mm_refresh.o \
	src/mm_purge.o \
	src/mm_resolve.o \
	src/mm_join.o \
	src/mm_ids.o \
	src/mm_ddl.o \
	src/mm_repair.o

DATA = multimaster--1.0.sql multimaster--1.0--1.1.sql
PGFILEDESC = "multimaster - active-active logical replication"

REGRESS = init policy_lww policy_priority policy_first tombstone toast misuse \
	tombstone_identity purge_keeps_order ordinary_statements \
	alter_table_rules one_node_settings relcache_memory user_clock_bounds \
	late_tombstone global_ids conflict_log_retention
REGRESS_OPTS = --inputdir=. --dbname=multimaster_regression
ISOLATION = insert_vs_delete tombstone_vs_absent_key tombstone_vs_local_delete
ISOLATION_OPTS = --inputdir=test/isolation --dbname=multimaster_isolation

PG_CPPFLAGS = -I$(libpq_srcdir)
SHLIB_LINK_INTERNAL = $(libpq)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
