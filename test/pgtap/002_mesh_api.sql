-- pgTAP: the mesh API contract and rules every function of the extension
-- follows (privileges, pinned search_path, comments).
BEGIN;
SELECT plan(34);

SELECT has_function('multimaster', 'create_mesh', ARRAY['text[]'], 'create_mesh(text[]) exists');
SELECT has_function('multimaster', 'subscribe', ARRAY['text', 'boolean'], 'subscribe(text, boolean) exists');
SELECT has_function('multimaster', 'unsubscribe', ARRAY['text'], 'unsubscribe(text) exists');
SELECT has_function('multimaster', 'add_table_mesh', ARRAY['regclass', 'text', 'text'], 'add_table_mesh(regclass, text, text) exists');
SELECT has_function('multimaster', 'refresh_mesh', ARRAY[]::name[], 'refresh_mesh() exists');
SELECT has_function('multimaster', 'drop_mesh', ARRAY[]::name[], 'drop_mesh() exists');
SELECT has_function('multimaster', 'remove_node', ARRAY['text'], 'remove_node(text) exists');
SELECT has_function('multimaster', 'wait_for_sync', ARRAY['interval'], 'wait_for_sync(interval) exists');
SELECT function_returns('multimaster', 'wait_for_sync', ARRAY['interval'], 'boolean', 'wait_for_sync() returns boolean');
SELECT has_function('multimaster', 'compare_table', ARRAY['regclass'], 'compare_table(regclass) exists');
SELECT has_function('multimaster', 'broadcast_ddl', ARRAY['text'], 'broadcast_ddl(text) exists');
SELECT has_function('multimaster', 'stagger_sequence', ARRAY['regclass', 'integer'], 'stagger_sequence(regclass, integer) exists');
SELECT has_function('multimaster', 'resolve_unique_conflict', ARRAY['regclass', 'text[]', 'text[]'],
                    'resolve_unique_conflict(regclass, text[], text[]) exists');
SELECT function_privs_are('multimaster', 'resolve_unique_conflict', ARRAY['regclass', 'text[]', 'text[]'],
                          'public', ARRAY[]::name[], 'PUBLIC cannot execute resolve_unique_conflict()');
SELECT has_function('multimaster', 'join_mesh', ARRAY['text', 'text'], 'join_mesh(text, text) exists');
SELECT function_privs_are('multimaster', 'join_mesh', ARRAY['text', 'text'],
                          'public', ARRAY[]::name[], 'PUBLIC cannot execute join_mesh()');
SELECT has_function('multimaster', 'replicate_ddl', ARRAY['text', 'boolean'], 'replicate_ddl(text, boolean) exists');
SELECT function_privs_are('multimaster', 'replicate_ddl', ARRAY['text', 'boolean'],
                          'public', ARRAY[]::name[], 'PUBLIC cannot execute replicate_ddl()');
SELECT has_view('multimaster', 'status', 'view multimaster.status exists');
SELECT columns_are('multimaster', 'status',
    ARRAY['node_id', 'node_name', 'subscription', 'enabled', 'worker_pid',
          'received_lsn', 'applied_lsn', 'lag_bytes', 'lag', 'slot_retained_bytes',
          'errors', 'last_error', 'conflicts', 'deadlocks'],
    'multimaster.status has one column per documented field');
SELECT is(pg_get_function_arguments('multimaster.wait_for_sync(interval)'::regprocedure),
          'timeout interval DEFAULT ''00:01:00''::interval',
          'wait_for_sync waits 60 s by default');

-- every function but the triggers, two harmless readers and the id
-- functions (for key defaults) is closed to PUBLIC
SELECT is_empty($$
    SELECT p.oid::regprocedure::text
      FROM pg_proc p
     WHERE p.pronamespace = 'multimaster'::regnamespace
       AND p.proname NOT IN ('conflict_trigger', 'tombstone_trigger', 'check_policy', 'local_node_id',
                             'global_id', 'global_id_parts')
       AND pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE')
$$, 'no setup or mesh function is executable by PUBLIC');

-- functions in SQL or PL/pgSQL run with a pinned search_path
SELECT is_empty($$
    SELECT p.oid::regprocedure::text
      FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
     WHERE p.pronamespace = 'multimaster'::regnamespace
       AND l.lanname IN ('sql', 'plpgsql')
       AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)
$$, 'every SQL and PL/pgSQL function pins search_path');

SELECT is_empty($$
    SELECT p.oid::regprocedure::text
      FROM pg_proc p
     WHERE p.pronamespace = 'multimaster'::regnamespace
       AND obj_description(p.oid, 'pg_proc') IS NULL
$$, 'every function has a comment');

SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = 'multimaster'::regnamespace AND c.relkind IN ('r', 'v')
       AND pg_catalog.has_table_privilege('public', c.oid, 'SELECT')
$$, 'no table or view of multimaster is readable by PUBLIC');

-- (pgTAP runs inside a transaction block, where mesh changes are refused)
SELECT throws_ok($$ SELECT multimaster.create_mesh(ARRAY['dbname=x', 'dbname=y']) $$,
    '25001', NULL, 'create_mesh refuses to run inside a transaction block');

-- so do C functions that run SQL, here or on a peer (all but the row
-- triggers and ten that run none, and replicate_ddl_concurrently: a
-- procedure that ends its transaction cannot have a SET clause; its SQL is
-- schema-qualified and its remote sessions pin the path)
SELECT is_empty($$
    SELECT p.oid::regprocedure::text
      FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
     WHERE p.pronamespace = 'multimaster'::regnamespace
       AND l.lanname = 'c'
       AND p.proname NOT IN ('conflict_trigger', 'tombstone_trigger', 'check_policy', 'local_node_id',
                             'global_id', 'global_id_parts', '_dsn_without_password',
                             '_key_hash', '_key_data', '_key_value',
                             '_link_name', '_link_parts', 'replicate_ddl_concurrently')
       AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)
$$, 'every C function that runs SQL pins search_path');

-- a monitoring role reads the status view, and can reach no other peer
SELECT ok(pg_catalog.has_table_privilege('pg_monitor', 'multimaster.status', 'SELECT'),
          'pg_monitor may read multimaster.status');
SELECT ok(NOT EXISTS (
    SELECT 1 FROM pg_proc p
     WHERE p.pronamespace = 'multimaster'::regnamespace
       AND pg_catalog.has_function_privilege('pg_monitor', p.oid, 'EXECUTE')
       AND 'text' = ANY (SELECT pg_catalog.format_type(t, NULL) FROM unnest(p.proargtypes) t)
       AND p.proname NOT IN ('check_policy')),
   'no function pg_monitor may run takes a text argument such as a connection string');

-- a link's name is made and read by the extension alone
SELECT is(multimaster._link_name(2, 13), 'multimaster_2_13'::name,
          'the link from node 2 to node 13 is multimaster_2_13');
SELECT is((SELECT ROW(l.publisher, l.subscriber)::text
             FROM multimaster._link_parts('multimaster_2_13') l),
          '(2,13)', '_link_parts() reads it back');
SELECT is_empty($$
    SELECT n FROM unnest(ARRAY['multimaster_2', 'multimaster_2_13x', 'multimaster_-1_2',
                               'multimaster__2', 'xmultimaster_1_2', 'multimaster_99999999999_1',
                               'manual_1_2']::name[]) n
     WHERE (multimaster._link_parts(n)).publisher IS NOT NULL
$$, 'no other name reads as a link');
SELECT throws_ok($$ SELECT multimaster._link_name(0, 1) $$, '22023', NULL,
                 'a link joins nodes with positive ids');
SELECT ok(pg_catalog.has_function_privilege('pg_monitor', 'multimaster._link_parts(name)', 'EXECUTE'),
          'pg_monitor may read link names, as the status view does');

SELECT * FROM finish();
ROLLBACK;
