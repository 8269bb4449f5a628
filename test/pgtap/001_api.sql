-- pgTAP: the SQL API contract of the multimaster extension.
--
-- Run by test/run-tests.sh (stage 2) in a database where
-- CREATE EXTENSION pgtap; CREATE EXTENSION multimaster; were done already.
-- Everything happens inside one transaction that is rolled back, including
-- the throwaway role and the node identity, so the database is left as found.
--
-- Non-superuser checks never SET ROLE around pgTAP's own functions (pgTAP
-- keeps its state in temp tables owned by the superuser); instead they go
-- through mm_tap.as_nosuper(), a function whose SET clause switches the role
-- only while the statement under test runs, and back even when it fails.

\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off

BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(74);

-- Fixtures -----------------------------------------------------------------

CREATE ROLE mm_tap_nosuper NOLOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB;

CREATE SCHEMA mm_tap;
CREATE TABLE mm_tap.items (id integer PRIMARY KEY, val text);
GRANT USAGE ON SCHEMA mm_tap TO mm_tap_nosuper;
GRANT ALL ON mm_tap.items TO mm_tap_nosuper;

CREATE FUNCTION mm_tap.as_nosuper(stmt text) RETURNS void
LANGUAGE plpgsql
SET role = 'mm_tap_nosuper'
AS $fn$
BEGIN
    EXECUTE stmt;
END
$fn$;

-- Schema and catalog tables --------------------------------------------------

SELECT has_schema('multimaster', 'schema multimaster exists');
SELECT has_table('multimaster', 'nodes', 'table multimaster.nodes exists');
SELECT has_table('multimaster', 'tables', 'table multimaster.tables exists');
SELECT has_table('multimaster', 'tombstones', 'table multimaster.tombstones exists');
SELECT has_table('multimaster', 'conflicts', 'table multimaster.conflicts exists');

-- Functions: signatures and return types -------------------------------------

SELECT has_function('multimaster', 'init_node', ARRAY['integer', 'text', 'integer'],
                    'init_node(integer, text, integer) exists');
SELECT function_returns('multimaster', 'init_node', ARRAY['integer', 'text', 'integer'], 'void',
                        'init_node() returns void');
SELECT is(pg_catalog.pg_get_function_arguments('multimaster.init_node(integer,text,integer)'::regprocedure),
          'node_id integer, node_name text, priority integer DEFAULT 0',
          'init_node() has named arguments, priority defaults to 0');

SELECT has_function('multimaster', 'add_table', ARRAY['regclass', 'text', 'text'],
                    'add_table(regclass, text, text) exists');
SELECT function_returns('multimaster', 'add_table', ARRAY['regclass', 'text', 'text'], 'void',
                        'add_table() returns void');
SELECT is(pg_catalog.pg_get_function_arguments('multimaster.add_table(regclass,text,text)'::regprocedure),
          'tbl regclass, policy text DEFAULT ''last_update_wins''::text, version_source text DEFAULT ''hlc''::text',
          'add_table() has named arguments, policy last_update_wins and version_source hlc by default');

SELECT has_function('multimaster', 'remove_table', ARRAY['regclass', 'boolean'],
                    'remove_table(regclass, boolean) exists');
SELECT function_returns('multimaster', 'remove_table', ARRAY['regclass', 'boolean'], 'void',
                        'remove_table() returns void');
SELECT is(pg_catalog.pg_get_function_arguments('multimaster.remove_table(regclass,boolean)'::regprocedure),
          'tbl regclass, drop_columns boolean DEFAULT true',
          'remove_table() has named arguments, drop_columns defaults to true');

SELECT has_function('multimaster', 'purge_tombstones', ARRAY['interval'],
                    'purge_tombstones(interval) exists');
SELECT function_returns('multimaster', 'purge_tombstones', ARRAY['interval'], 'bigint',
                        'purge_tombstones() returns bigint');
SELECT is(pg_catalog.pg_get_function_arguments('multimaster.purge_tombstones(interval)'::regprocedure),
          'older_than interval',
          'purge_tombstones() takes older_than');

SELECT has_function('multimaster', 'conflict_trigger', ARRAY[]::name[],
                    'conflict_trigger() exists');
SELECT function_returns('multimaster', 'conflict_trigger', ARRAY[]::name[], 'trigger',
                        'conflict_trigger() returns trigger');

SELECT has_function('multimaster', 'check_policy', ARRAY['text'],
                    'check_policy(text) exists');
SELECT function_returns('multimaster', 'check_policy', ARRAY['text'], 'text',
                        'check_policy() returns text');

-- Privileges: setup functions and catalog are not PUBLIC ---------------------

SELECT function_privs_are('multimaster', 'init_node', ARRAY['integer', 'text', 'integer'],
                          'public', ARRAY[]::name[], 'PUBLIC cannot execute init_node()');
SELECT function_privs_are('multimaster', 'add_table', ARRAY['regclass', 'text', 'text'],
                          'public', ARRAY[]::name[], 'PUBLIC cannot execute add_table()');
SELECT function_privs_are('multimaster', 'remove_table', ARRAY['regclass', 'boolean'],
                          'public', ARRAY[]::name[], 'PUBLIC cannot execute remove_table()');
SELECT function_privs_are('multimaster', 'purge_tombstones', ARRAY['interval'],
                          'public', ARRAY[]::name[], 'PUBLIC cannot execute purge_tombstones()');
SELECT function_privs_are('multimaster', 'init_node', ARRAY['integer', 'text', 'integer'],
                          'mm_tap_nosuper', ARRAY[]::name[], 'a plain role cannot execute init_node()');
SELECT function_privs_are('multimaster', 'add_table', ARRAY['regclass', 'text', 'text'],
                          'mm_tap_nosuper', ARRAY[]::name[], 'a plain role cannot execute add_table()');

SELECT table_privs_are('multimaster', 'nodes', 'mm_tap_nosuper', ARRAY[]::name[],
                       'a plain role has no privileges on multimaster.nodes');
SELECT table_privs_are('multimaster', 'tables', 'mm_tap_nosuper', ARRAY[]::name[],
                       'a plain role has no privileges on multimaster.tables');
SELECT table_privs_are('multimaster', 'tombstones', 'mm_tap_nosuper', ARRAY[]::name[],
                       'a plain role has no privileges on multimaster.tombstones');
SELECT table_privs_are('multimaster', 'conflicts', 'mm_tap_nosuper', ARRAY[]::name[],
                       'a plain role has no privileges on multimaster.conflicts');
SELECT throws_ok('SELECT mm_tap.as_nosuper(''SELECT count(*) FROM multimaster.nodes'')',
                 '42501', NULL, 'a plain role cannot read multimaster.nodes (DSNs)');
GRANT USAGE ON SCHEMA multimaster TO mm_tap_nosuper;
SELECT throws_ok('SELECT mm_tap.as_nosuper(''SELECT count(*) FROM multimaster.nodes'')',
                 '42501', NULL, 'a plain role cannot read multimaster.nodes even with USAGE on the schema');
REVOKE USAGE ON SCHEMA multimaster FROM mm_tap_nosuper;

-- check_policy --------------------------------------------------------------

SELECT is(multimaster.check_policy('last'), 'last_update_wins', 'check_policy(last) = last_update_wins');
SELECT is(multimaster.check_policy('first'), 'first_update_wins', 'check_policy(first) = first_update_wins');
SELECT is(multimaster.check_policy('priority'), 'node_priority', 'check_policy(priority) = node_priority');
SELECT is(multimaster.check_policy('last_update_wins'), 'last_update_wins',
          'check_policy() accepts the canonical name');
SELECT throws_ok('SELECT multimaster.check_policy(''bogus'')', '22023', NULL,
                 'check_policy(bogus) raises invalid_parameter_value');

-- Node identity --------------------------------------------------------------

SELECT lives_ok('SELECT multimaster.init_node(1, ''n1'')', 'init_node(1, n1) succeeds');
SELECT lives_ok('SELECT multimaster.init_node(1, ''n1'')', 'init_node() is idempotent');
SELECT results_eq('SELECT node_id, node_name, priority, is_local FROM multimaster.nodes',
                  $$VALUES (1, 'n1'::text, 0, true)$$,
                  'init_node() registers the local node with priority 0');

-- add_table -----------------------------------------------------------------

SELECT throws_ok('SELECT mm_tap.as_nosuper(''SELECT multimaster.add_table(''''mm_tap.items'''')'')',
                 '42501', NULL, 'add_table() as a non-superuser fails with insufficient_privilege');

GRANT USAGE ON SCHEMA multimaster TO mm_tap_nosuper;
GRANT EXECUTE ON FUNCTION multimaster.add_table(regclass, text, text) TO mm_tap_nosuper;
SELECT throws_ok('SELECT mm_tap.as_nosuper(''SELECT multimaster.add_table(''''mm_tap.items'''')'')',
                 '42501', NULL, 'add_table() as a non-superuser fails even when EXECUTE is granted');
REVOKE EXECUTE ON FUNCTION multimaster.add_table(regclass, text, text) FROM mm_tap_nosuper;
REVOKE USAGE ON SCHEMA multimaster FROM mm_tap_nosuper;

SELECT hasnt_column('mm_tap', 'items', 'mm_origin', 'no mm_origin column before add_table()');

SELECT lives_ok('SELECT multimaster.add_table(''mm_tap.items'')', 'add_table() succeeds');

SELECT has_column('mm_tap', 'items', 'mm_origin', 'add_table() adds mm_origin');
SELECT col_type_is('mm_tap', 'items', 'mm_origin', 'integer', 'mm_origin is integer');
SELECT has_column('mm_tap', 'items', 'mm_version', 'add_table() adds mm_version');
SELECT col_type_is('mm_tap', 'items', 'mm_version', 'timestamp with time zone', 'mm_version is timestamptz');
SELECT has_column('mm_tap', 'items', 'mm_generation', 'add_table() adds mm_generation');
SELECT col_type_is('mm_tap', 'items', 'mm_generation', 'bigint', 'mm_generation is bigint');

SELECT has_trigger('mm_tap', 'items', '000_multimaster_resolve', 'add_table() creates trigger 000_multimaster_resolve');
SELECT trigger_is('mm_tap', 'items', '000_multimaster_resolve', 'multimaster', 'conflict_trigger',
                  'the trigger calls multimaster.conflict_trigger()');
SELECT is((SELECT t.tgenabled::text FROM pg_catalog.pg_trigger t
            WHERE t.tgrelid = 'mm_tap.items'::regclass AND t.tgname = '000_multimaster_resolve'),
          'A', 'the trigger is enabled ALWAYS (fires in the apply worker too)');
SELECT ok((SELECT (t.tgtype & 2) <> 0 AND (t.tgtype & 1) <> 0
             FROM pg_catalog.pg_trigger t
            WHERE t.tgrelid = 'mm_tap.items'::regclass AND t.tgname = '000_multimaster_resolve'),
          'the trigger is BEFORE ... FOR EACH ROW');

SELECT ok(EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = 'multimaster'),
          'add_table() creates publication multimaster');
SELECT ok(EXISTS (SELECT 1 FROM pg_catalog.pg_publication_tables
                   WHERE pubname = 'multimaster' AND schemaname = 'mm_tap' AND tablename = 'items'),
          'add_table() puts the table into publication multimaster');
SELECT results_eq('SELECT relid::regclass::text, policy, version_source FROM multimaster.tables',
                  $$VALUES ('mm_tap.items'::text, 'last_update_wins'::text, 'hlc'::text)$$,
                  'add_table() registers the table with the default policy and version source');

SELECT lives_ok('SELECT multimaster.add_table(''mm_tap.items'')', 'add_table() again does not fail');
SELECT is((SELECT count(*)::int FROM pg_catalog.pg_trigger t
            WHERE t.tgrelid = 'mm_tap.items'::regclass AND t.tgname = '000_multimaster_resolve'),
          1, 'add_table() twice leaves one trigger');
SELECT is((SELECT count(*)::int FROM pg_catalog.pg_publication_rel pr
             JOIN pg_catalog.pg_publication p ON p.oid = pr.prpubid
            WHERE p.pubname = 'multimaster' AND pr.prrelid = 'mm_tap.items'::regclass),
          1, 'add_table() twice leaves the table in the publication once');
SELECT is((SELECT count(*)::int FROM multimaster.tables WHERE relid = 'mm_tap.items'::regclass),
          1, 'add_table() twice leaves one registry row');

SELECT lives_ok('SELECT multimaster.add_table(''mm_tap.items'', ''priority'')',
                'add_table() again with another policy succeeds');
SELECT is((SELECT policy FROM multimaster.tables WHERE relid = 'mm_tap.items'::regclass),
          'node_priority', 'add_table() stores the canonical policy name');

-- remove_table --------------------------------------------------------------

SELECT lives_ok('SELECT multimaster.remove_table(''mm_tap.items'')', 'remove_table() succeeds');
SELECT hasnt_trigger('mm_tap', 'items', '000_multimaster_resolve', 'remove_table() drops the trigger');
SELECT hasnt_column('mm_tap', 'items', 'mm_origin', 'remove_table() drops mm_origin');
SELECT hasnt_column('mm_tap', 'items', 'mm_version', 'remove_table() drops mm_version');
SELECT hasnt_column('mm_tap', 'items', 'mm_generation', 'remove_table() drops mm_generation');
SELECT ok(NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication_tables
                       WHERE pubname = 'multimaster' AND schemaname = 'mm_tap' AND tablename = 'items'),
          'remove_table() takes the table out of publication multimaster');
SELECT is_empty('SELECT 1 FROM multimaster.tables WHERE relid = ''mm_tap.items''::regclass',
                'remove_table() unregisters the table');

SELECT lives_ok('SELECT multimaster.add_table(''mm_tap.items'')', 'add_table() after remove_table() succeeds');
SELECT lives_ok('SELECT multimaster.remove_table(''mm_tap.items'', drop_columns => false)',
                'remove_table(drop_columns => false) succeeds');
SELECT has_column('mm_tap', 'items', 'mm_version', 'remove_table(drop_columns => false) keeps the version columns');

SELECT * FROM finish();
ROLLBACK;
