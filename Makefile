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
	src/mm_names.o \
	src/mm_nodes.o \
	src/mm_undo.o \
	src/mm_link.o \
	src/mm_probe.o \
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
	late_tombstone global_ids conflict_log_retention bulk_writes \
	apply_error_context drop_registered_table
REGRESS_OPTS = --inputdir=.
ISOLATION = insert_vs_delete tombstone_vs_absent_key tombstone_vs_local_delete \
	apply_row_before_key apply_waits_for_delete
ISOLATION_OPTS = --inputdir=test/isolation
# Multi-node tests (PostgreSQL::Test::Cluster; they start their own nodes).
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl
# pgTAP files (API contract), run by pg_prove in database PGTAP_DB.
PGTAP_TESTS = $(sort $(wildcard test/pgtap/*.sql))
PGTAP_DB = multimaster_pgtap
PGTAP_PROVE = pg_prove
PGTAP_PROVE_FLAGS =

PG_CPPFLAGS = -I$(libpq_srcdir)
SHLIB_LINK_INTERNAL = $(libpq)

# (the stamp described below)
EXTRA_CLEAN = src/.pg_config_used

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Set after the include, which sets its own defaults for them.  prove runs
# in the source directory; -I finds the TAP tests' helper modules
# test/t/MMTest.pm and test/chaos/Chaos.pm (override: flags given on the
# command line, e.g. PROVE_FLAGS=--verbose, are kept and these added).
# PGXS tracks header dependencies only in a tree configured with
# --enable-depend: every object depends on every header of src/, so that a
# changed struct never leaves an object built against its old layout.
$(OBJS): $(wildcard src/*.h)

# Nor does it notice another PostgreSQL: src/.pg_config_used names the
# pg_config (and its version) of the last build, and objects built against
# another one are rebuilt, not linked into a library the server then
# cannot load (undefined symbols).
PG_CONFIG_USED := $(PG_CONFIG) $(shell $(PG_CONFIG) --version)
ifneq ($(PG_CONFIG_USED),$(shell cat src/.pg_config_used 2>/dev/null))
$(shell printf '%s\n' '$(PG_CONFIG_USED)' > src/.pg_config_used)
endif
$(OBJS): src/.pg_config_used

CONTRIB_TESTDB = multimaster_regression
ISOLATION_TESTDB = multimaster_isolation
override PROVE_FLAGS += -I test/t -I test/chaos

# `make installcheck` runs REGRESS, ISOLATION and the TAP tests in turn, as
# PGXS does.  One suite at a time (the regress, isolation and pgTAP ones
# against the running server PGHOST, PGPORT and PGUSER point to; the TAP
# ones start their own nodes, PROVE_TESTS="test/t/021_join_mesh.pl" picks
# files):
#
#   make installcheck-regress | installcheck-isolation | installcheck-pgtap
#   make prove_installcheck
.PHONY: installcheck-regress installcheck-isolation installcheck-pgtap prove_installcheck

installcheck-regress:
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS)

installcheck-isolation:
	$(pg_isolation_regress_installcheck) $(ISOLATION_OPTS) $(ISOLATION)

prove_installcheck:
	$(prove_installcheck)

# A fresh database with the extensions pgtap and multimaster, then pg_prove.
installcheck-pgtap:
	'$(bindir)/psql' -X -q -v ON_ERROR_STOP=1 -d postgres \
		-c 'SET client_min_messages = warning' \
		-c 'DROP DATABASE IF EXISTS $(PGTAP_DB)' -c 'CREATE DATABASE $(PGTAP_DB)'
	'$(bindir)/psql' -X -q -v ON_ERROR_STOP=1 -d $(PGTAP_DB) \
		-c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION multimaster'
	$(PGTAP_PROVE) --psql-bin '$(bindir)/psql' -d $(PGTAP_DB) $(PGTAP_PROVE_FLAGS) $(PGTAP_TESTS)
