/* multimaster--1.0--1.1.sql
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 *
 * 1.1: join_mesh(), resolve_unique_conflict(), global_id(), purge_conflicts()
 * and the conflict log retention, per-peer conflict counts and deadlock
 * counts in multimaster.status, purge_tombstones() behind a horizon every
 * peer has passed, connection strings stored without their password, a
 * recreated publication that carries the registered tables again, and link
 * names made and read by the extension alone (_link_name(), _link_parts()).
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION multimaster UPDATE TO '1.1'" to load this file. \quit

-- apply progress: deadlocks of the apply worker; a row may exist before any progress
ALTER TABLE multimaster.apply_progress ALTER COLUMN remote_commit_time DROP NOT NULL;
ALTER TABLE multimaster.apply_progress
    ADD COLUMN deadlocks bigint NOT NULL DEFAULT 0;  -- times the apply worker was a deadlock's victim

CREATE INDEX conflicts_logged_at ON multimaster.conflicts (logged_at);

/*
 * Conflicts logged per peer (the writer of the incoming change), since the
 * log began: multimaster.status reads it instead of counting a log that
 * may hold millions of rows.  A purge of the log does not lower it.
 */
CREATE TABLE multimaster.conflict_counts (
    remote_origin  integer NOT NULL PRIMARY KEY,  -- 0: no known writer
    conflicts      bigint NOT NULL
);
COMMENT ON TABLE multimaster.conflict_counts IS
  'Conflicts logged per peer since the log began (purges do not lower it)';
REVOKE ALL ON multimaster.conflict_counts FROM PUBLIC;
-- what the log holds so far
INSERT INTO multimaster.conflict_counts (remote_origin, conflicts)
SELECT coalesce(c.remote_origin, 0), count(*) FROM multimaster.conflicts c GROUP BY 1;

CREATE OR REPLACE FUNCTION multimaster._ensure_publication()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = 'multimaster') THEN
        CREATE PUBLICATION multimaster
            WITH (publish = 'insert, update, delete', publish_via_partition_root = true);
    ELSIF NOT (SELECT p.pubviaroot FROM pg_catalog.pg_publication p WHERE p.pubname = 'multimaster') THEN
        -- a partitioned table travels as itself, whatever partitions peers have
        ALTER PUBLICATION multimaster SET (publish_via_partition_root = true);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication_tables
                    WHERE pubname = 'multimaster'
                      AND schemaname = 'multimaster' AND tablename = 'tombstones') THEN
        ALTER PUBLICATION multimaster ADD TABLE multimaster.tombstones;
    END IF;
    -- a publication dropped by remove_node() comes back with what this
    -- node has registered, or its writes would silently stay here
    FOR r IN SELECT n.nspname, c.relname
               FROM multimaster.tables t
               JOIN pg_catalog.pg_class c ON c.oid = t.relid::pg_catalog.oid
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication_rel pr
                                  JOIN pg_catalog.pg_publication p ON p.oid = pr.prpubid
                                 WHERE p.pubname = 'multimaster' AND pr.prrelid = t.relid)
    LOOP
        EXECUTE pg_catalog.format('ALTER PUBLICATION multimaster ADD TABLE %I.%I', r.nspname, r.relname);
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION multimaster._ensure_publication() IS
  'Internal: creates publication multimaster (insert, update, delete, via partition roots) with the tombstone table and the registered tables if missing';
REVOKE ALL ON FUNCTION multimaster._ensure_publication() FROM PUBLIC;

CREATE FUNCTION multimaster._row_version(tbl regclass, key text[],
                                         OUT origin integer, OUT version bigint,
                                         OUT generation bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'mm_row_version'
LANGUAGE C STABLE STRICT
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster._row_version(regclass, text[]) IS
  'Internal: the version of the row of a key on this node (clock as raw microseconds), NULLs if none';
REVOKE ALL ON FUNCTION multimaster._row_version(regclass, text[]) FROM PUBLIC;

CREATE FUNCTION multimaster._resolve_unique_local(tbl regclass, loser text[],
                                                  loser_origin integer, loser_version bigint,
                                                  loser_generation bigint, winner text[])
RETURNS text
AS 'MODULE_PATHNAME', 'mm_resolve_unique_local'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster._resolve_unique_local(regclass, text[], integer, bigint, bigint, text[]) IS
  'Internal: on this node, deletes the losing row of a unique conflict with a tombstone past its version (or writes the tombstone ahead of it)';
REVOKE ALL ON FUNCTION multimaster._resolve_unique_local(regclass, text[], integer, bigint, bigint, text[]) FROM PUBLIC;

CREATE FUNCTION multimaster.resolve_unique_conflict(tbl regclass, key_a text[], key_b text[])
RETURNS TABLE (node_id integer, node_name text, kept text, deleted text, action text)
AS 'MODULE_PATHNAME', 'mm_resolve_unique_conflict'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.resolve_unique_conflict(regclass, text[], text[]) IS
  'Two rows with different primary keys and the same secondary unique value: keeps the one the table''s policy prefers and deletes the other on every node (the stopped links resume)';
REVOKE ALL ON FUNCTION multimaster.resolve_unique_conflict(regclass, text[], text[]) FROM PUBLIC;

CREATE OR REPLACE FUNCTION multimaster.purge_tombstones(older_than interval)
RETURNS bigint
LANGUAGE C
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'mm_purge_tombstones';
COMMENT ON FUNCTION multimaster.purge_tombstones(interval) IS
  'Removes this node''s tombstones older than the given age that every peer has passed (seen, and sent everything it wrote before); later writes still order after what was purged';
REVOKE ALL ON FUNCTION multimaster.purge_tombstones(interval) FROM PUBLIC;

CREATE FUNCTION multimaster.purge_conflicts(older_than interval)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n bigint;
BEGIN
    PERFORM multimaster._require_superuser('purge the multimaster conflict log');
    IF older_than IS NULL OR older_than < interval '0' THEN
        RAISE EXCEPTION 'retention must be a non-negative interval'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM multimaster.conflicts c WHERE c.logged_at < pg_catalog.now() - older_than;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION multimaster.purge_conflicts(interval) IS
  'Removes conflict log entries older than the given age on this node (the per-peer counts of multimaster.status stay)';
REVOKE ALL ON FUNCTION multimaster.purge_conflicts(interval) FROM PUBLIC;

CREATE FUNCTION multimaster.join_mesh(peer_dsn text, node_name text DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'mm_join_mesh'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.join_mesh(text, text) IS
  'Run on a new node (extension and empty tables present): joins the mesh of the given node while it takes writes, copying the data from that node; returns this node''s id';
REVOKE ALL ON FUNCTION multimaster.join_mesh(text, text) FROM PUBLIC;

/*
 * A link's slot and subscription are named by the C code alone: the status
 * view and the tests ask it rather than parse names themselves.
 */
CREATE FUNCTION multimaster._link_name(publisher integer, subscriber integer)
RETURNS name
AS 'MODULE_PATHNAME', 'mm_link_name_sql'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION multimaster._link_name(integer, integer) IS
  'Internal: the name of the slot and the subscription that carry the publisher''s changes to the subscriber';
REVOKE ALL ON FUNCTION multimaster._link_name(integer, integer) FROM PUBLIC;

CREATE FUNCTION multimaster._link_parts(link name, OUT publisher integer, OUT subscriber integer)
RETURNS record
AS 'MODULE_PATHNAME', 'mm_link_parts_sql'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION multimaster._link_parts(name) IS
  'Internal: the publisher and subscriber of a link from its slot or subscription name; NULLs for any other name';
REVOKE ALL ON FUNCTION multimaster._link_parts(name) FROM PUBLIC;
-- the status view reads its links with it
GRANT EXECUTE ON FUNCTION multimaster._link_parts(name) TO pg_monitor;

CREATE OR REPLACE VIEW multimaster.status AS
SELECT n.node_id,
       n.node_name,
       s.subname::text                   AS subscription,
       s.subenabled                      AS enabled,
       st.pid                            AS worker_pid,
       st.received_lsn,
       o.remote_lsn                      AS applied_lsn,
       CASE WHEN p.peer_lsn IS NOT NULL AND p.confirmed_lsn IS NOT NULL
            THEN GREATEST(pg_catalog.pg_wal_lsn_diff(p.peer_lsn, p.confirmed_lsn), 0)::bigint
       END                               AS lag_bytes,
       -- how far behind this node is: the age of the peer's last commit
       -- applied here (apply_progress) while changes are pending, zero when
       -- none are; right after an idle period it counts from the last
       -- change applied before it, until the first new one is applied
       CASE WHEN p.peer_lsn IS NULL THEN NULL
            WHEN p.peer_lsn <= p.confirmed_lsn THEN interval '0'
            ELSE pg_catalog.clock_timestamp() - ap.remote_commit_time
       END                               AS lag,
       p.retained_bytes                  AS slot_retained_bytes,
       coalesce(ss.apply_error_count, 0) + coalesce(ss.sync_error_count, 0) AS errors,
       p.error                           AS last_error,
       coalesce((SELECT cc.conflicts FROM multimaster.conflict_counts cc
                  WHERE cc.remote_origin = n.node_id), 0)  AS conflicts,
       coalesce(ap.deadlocks, 0)         AS deadlocks
  FROM pg_catalog.pg_subscription s
  JOIN pg_catalog.pg_database d ON d.oid = s.subdbid AND d.datname = pg_catalog.current_database()
  CROSS JOIN LATERAL multimaster._link_parts(s.subname) l
  LEFT JOIN multimaster.nodes n ON n.node_id = l.publisher
  -- the apply worker: from PostgreSQL 16 on, parallel apply workers of a
  -- streamed transaction are listed too (relid NULL as well), without a
  -- received_lsn; taking one row keeps one row per peer on every version
  LEFT JOIN LATERAL (SELECT w.pid, w.received_lsn
                       FROM pg_catalog.pg_stat_subscription w
                      WHERE w.subid = s.oid AND w.relid IS NULL
                      ORDER BY w.received_lsn IS NULL, w.pid
                      LIMIT 1) st ON true
  LEFT JOIN pg_catalog.pg_stat_subscription_stats ss ON ss.subid = s.oid
  LEFT JOIN pg_catalog.pg_replication_origin_status o
         ON o.external_id = 'pg_' || s.oid
  LEFT JOIN multimaster.apply_progress ap ON ap.origin = 'pg_' || s.oid
  LEFT JOIN LATERAL multimaster._peer_slot(s.oid) p ON true
 WHERE l.publisher IS NOT NULL;

CREATE FUNCTION multimaster.global_id()
RETURNS bigint
AS 'MODULE_PATHNAME', 'mm_global_id'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION multimaster.global_id() IS
  'A mesh-wide unique 64-bit id ordered by time (milliseconds, node, session slot, counter), for a key column''s DEFAULT';

CREATE FUNCTION multimaster.global_id_parts(id bigint, OUT made_at timestamptz,
                                            OUT node_id integer, OUT slot integer,
                                            OUT counter integer)
RETURNS record
AS 'MODULE_PATHNAME', 'mm_global_id_parts'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION multimaster.global_id_parts(bigint) IS
  'What a global id is made of: when, on which node, by which session slot';

CREATE FUNCTION multimaster._dsn_without_password(dsn text)
RETURNS text
AS 'MODULE_PATHNAME', 'mm_dsn_without_password_sql'
LANGUAGE C IMMUTABLE STRICT;
COMMENT ON FUNCTION multimaster._dsn_without_password(text) IS
  'Internal: a connection string without its password';
REVOKE ALL ON FUNCTION multimaster._dsn_without_password(text) FROM PUBLIC;

-- a partitioned table travels as itself (1.0 could not register one)
DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_publication p
                WHERE p.pubname = 'multimaster' AND NOT p.pubviaroot) THEN
        ALTER PUBLICATION multimaster SET (publish_via_partition_root = true);
    END IF;
END
$do$;

-- the extension writes no password: links reach a peer through its subscription
UPDATE multimaster.nodes SET dsn = multimaster._dsn_without_password(dsn) WHERE dsn IS NOT NULL;

/*
 * A registered table's members: the table itself, or a partitioned table
 * and every partition under it.
 */
CREATE FUNCTION multimaster._members(tbl regclass)
RETURNS TABLE (relid regclass)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT tbl
    UNION
    SELECT t.relid FROM pg_catalog.pg_partition_tree(tbl) t
$fn$;
COMMENT ON FUNCTION multimaster._members(regclass) IS
  'Internal: a registered table and, when it is partitioned, every partition under it';
REVOKE ALL ON FUNCTION multimaster._members(regclass) FROM PUBLIC;

CREATE FUNCTION multimaster._check_registrable(tbl regclass, version_source text)
RETURNS text
AS 'MODULE_PATHNAME', 'mm_check_registrable'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster._check_registrable(regclass, text) IS
  'Internal: refuses, before add_table() changes anything, a table the trigger could not serve (kind, primary key, version columns, version source, trigger order); returns the version source''s canonical name';
REVOKE ALL ON FUNCTION multimaster._check_registrable(regclass, text) FROM PUBLIC;

/*
 * The checks of a table are made by the code the trigger runs
 * (_check_registrable() before anything changes, _check_table() after);
 * add_table() only decides and makes the changes.  A partitioned table is
 * registered as a whole: the version columns go on it (and so on every
 * partition), the trigger is cloned to every partition, present and future,
 * and the publication ships its rows as the table itself.
 */
CREATE OR REPLACE FUNCTION multimaster.add_table(tbl regclass,
                                                 policy text DEFAULT 'last_update_wins',
                                                 version_source text DEFAULT 'hlc')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    canon       text;
    src         text;
    early       text;
    col         int;
    m           record;
    want        text[] := ARRAY['mm_origin', 'mm_version', 'mm_generation'];
    want_type   text[] := ARRAY['integer', 'timestamp with time zone', 'bigint'];
BEGIN
    PERFORM multimaster._require_superuser('register a table with multimaster');
    IF add_table.tbl IS NULL OR add_table.policy IS NULL THEN
        RAISE EXCEPTION 'table and policy must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;

    IF NOT EXISTS (SELECT 1 FROM multimaster.nodes WHERE is_local) THEN
        RAISE EXCEPTION 'this node has no multimaster identity yet'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Replicated rows are stamped with the id of the node that wrote them.',
                  HINT = 'Call multimaster.init_node(node_id, node_name) first.';
    END IF;

    canon := multimaster.check_policy(add_table.policy);

    SELECT t.policy INTO early FROM multimaster.tables t WHERE t.relid = add_table.tbl;
    IF FOUND AND early <> canon
       AND EXISTS (SELECT 1 FROM multimaster.nodes n WHERE NOT n.is_local) THEN
        RAISE EXCEPTION 'table % is registered with policy %, not %', add_table.tbl, early, canon
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'This node has peers; a policy changed on one node only would make nodes resolve the same conflict differently, for ever.',
                  HINT = 'Change it mesh-wide: multimaster.remove_table_mesh(), then multimaster.add_table_mesh() with the new policy.';
    END IF;

    src := multimaster._check_registrable(add_table.tbl, coalesce(add_table.version_source, 'hlc'));

    FOR col IN 1 .. 3 LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid = add_table.tbl AND a.attname = want[col]
                          AND NOT a.attisdropped) THEN
            EXECUTE format('ALTER TABLE %s ADD COLUMN %I %s',
                           add_table.tbl, want[col], want_type[col]);
        END IF;
    END LOOP;

    IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger
                WHERE tgrelid = add_table.tbl AND tgname = '000_multimaster_resolve') THEN
        -- re-registered below; meanwhile _after_alter() must let the trigger go
        DELETE FROM multimaster.tables t WHERE t.relid = add_table.tbl;
        EXECUTE format('DROP TRIGGER "000_multimaster_resolve" ON %s', add_table.tbl);
    END IF;
    -- on a partitioned table: cloned to each partition, and to later ones
    EXECUTE format('CREATE TRIGGER "000_multimaster_resolve" '
                   'BEFORE INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW '
                   'EXECUTE FUNCTION multimaster.conflict_trigger(%L, %L, %L)',
                   add_table.tbl, 'local', src, canon);
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER "000_multimaster_resolve"', add_table.tbl);

    /*
     * No REPLICA IDENTITY FULL is needed for values stored out of line: an
     * UPDATE is shipped as the full new row, and the trigger puts an
     * out-of-line value the UPDATE left unchanged back into the new row,
     * so that the WAL carries it (src/mm_trigger.c, stamp()).
     */

    PERFORM multimaster._ensure_publication();
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication_rel pr
                     JOIN pg_catalog.pg_publication p ON p.oid = pr.prpubid
                    WHERE p.pubname = 'multimaster' AND pr.prrelid = add_table.tbl) THEN
        EXECUTE format('ALTER PUBLICATION multimaster ADD TABLE %s', add_table.tbl);
    END IF;

    -- what a later local write would refuse, refused now: nothing registered
    PERFORM multimaster._check_table(add_table.tbl);

    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_class c
              JOIN pg_catalog.pg_roles r ON r.oid = c.relowner
             WHERE c.oid = add_table.tbl) THEN
        RAISE WARNING 'table % is owned by %, who is not a superuser', add_table.tbl,
                (SELECT c.relowner::regrole FROM pg_catalog.pg_class c WHERE c.oid = add_table.tbl)
            USING DETAIL = 'The apply worker runs as a superuser and fires the table''s ALWAYS and REPLICA triggers, defaults, CHECK constraints and index expressions: its owner can run code as superuser on every node.',
                  HINT = 'Register only tables whose owners you trust like a superuser; see "Security" in the README.';
    END IF;

    INSERT INTO multimaster.tables AS t (relid, policy, version_source, table_name)
    VALUES (add_table.tbl, canon, src, multimaster._table_name(add_table.tbl))
    ON CONFLICT (relid) DO UPDATE
       SET policy = excluded.policy, version_source = excluded.version_source,
           table_name = excluded.table_name;

    -- part of a mesh already: refresh the links once this commits
    IF EXISTS (SELECT 1 FROM multimaster.nodes n WHERE NOT n.is_local AND n.dsn IS NOT NULL) THEN
        PERFORM multimaster._schedule_refresh(add_table.tbl);
    END IF;
END
$fn$;
COMMENT ON FUNCTION multimaster.add_table(regclass, text, text) IS
  'Registers a table (or a partitioned table as a whole) for active-active replication: version columns, conflict trigger (ALWAYS), publication; idempotent';

CREATE OR REPLACE FUNCTION multimaster._after_alter()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    t record;
    p record;
BEGIN
    /*
     * pg_restore (pg_dump's scripts set check_function_bodies off) builds a
     * registered table piece by piece: its primary key, constraints and
     * trigger come after its registration (the data section).  Nothing is
     * checked while one runs; the restored tables are checked by the next
     * ALTER TABLE, and add_table() on them again checks them at once.
     */
    IF pg_catalog.current_setting('check_function_bodies') = 'off' THEN
        RETURN;
    END IF;
    -- of new tables, only a partition can concern a registered one
    IF TG_TAG = 'CREATE TABLE'
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_ddl_commands() d
                         JOIN pg_catalog.pg_class c ON c.oid = d.objid
                        WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                          AND c.relispartition) THEN
        RETURN;
    END IF;
    FOR t IN
        SELECT mt.relid, mt.table_name AS old_name,
               multimaster._table_name(mt.relid) AS new_name
          FROM multimaster.tables mt
          JOIN pg_catalog.pg_class c ON c.oid = mt.relid
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index x
                        WHERE x.indrelid = t.relid AND x.indisprimary AND x.indimmediate) THEN
            RAISE EXCEPTION 'multimaster table % needs a primary key that is not deferrable', t.relid::regclass
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Conflicts are resolved per primary key value, checked at once.',
                      HINT = 'Run multimaster.remove_table_mesh() first to stop replicating the table.';
        END IF;
        IF (SELECT pg_catalog.count(*) FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = t.relid AND NOT a.attisdropped
               AND (a.attname, a.atttypid) IN (('mm_origin', 'int4'::pg_catalog.regtype),
                                               ('mm_version', 'timestamptz'::pg_catalog.regtype),
                                               ('mm_generation', 'int8'::pg_catalog.regtype))) <> 3 THEN
            RAISE EXCEPTION 'multimaster table % must keep its columns mm_origin integer, mm_version timestamptz and mm_generation bigint', t.relid::regclass
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'They hold each row''s version; without them no change of the table can be applied, here or on its peers.',
                      HINT = 'Run multimaster.remove_table_mesh() first to stop replicating the table.';
        END IF;
        -- the table, or each of its partitions (a new one included)
        FOR p IN
            SELECT c.oid, c.relreplident
              FROM multimaster._members(t.relid) m
              JOIN pg_catalog.pg_class c ON c.oid = m.relid
        LOOP
            IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger tg
                            WHERE tg.tgrelid = p.oid AND tg.tgname = '000_multimaster_resolve'
                              AND tg.tgenabled = 'A') THEN
                RAISE EXCEPTION 'the multimaster trigger of % must stay enabled ALWAYS', p.oid::regclass
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          DETAIL = 'Without it local writes carry no version and replicated ones are applied unresolved.',
                          HINT = 'Run multimaster.remove_table_mesh() first to stop replicating the table.';
            END IF;
            IF p.relreplident IN ('i', 'n') THEN
                RAISE EXCEPTION 'multimaster table % needs REPLICA IDENTITY DEFAULT or FULL', p.oid::regclass
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          DETAIL = 'With USING INDEX a change of primary key is logged without the old key, and with NOTHING updates and deletes cannot be replicated.',
                          HINT = 'Set REPLICA IDENTITY DEFAULT (or FULL), or run multimaster.remove_table_mesh() first.';
            END IF;
        END LOOP;
        IF t.old_name IS DISTINCT FROM t.new_name THEN
            IF t.old_name IS NOT NULL THEN
                PERFORM multimaster._move_tombstones(t.old_name, t.new_name);
            END IF;
            UPDATE multimaster.tables mt2 SET table_name = t.new_name WHERE mt2.relid = t.relid;
        END IF;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION multimaster._after_alter() IS
  'Internal event trigger: after ALTER TABLE, ALTER SCHEMA and CREATE TABLE, refuses what would break a registered table or one of its partitions (primary key, version columns, the trigger, replica identity) and keeps tombstone names right';
REVOKE ALL ON FUNCTION multimaster._after_alter() FROM PUBLIC;
-- a partition created under a registered table is checked as it comes
DROP EVENT TRIGGER multimaster_after_alter;
CREATE EVENT TRIGGER multimaster_after_alter ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'ALTER SCHEMA', 'DROP TRIGGER', 'ALTER TRIGGER', 'CREATE TABLE')
    EXECUTE FUNCTION multimaster._after_alter();
ALTER EVENT TRIGGER multimaster_after_alter ENABLE ALWAYS;

/*
 * A registered table dropped here is forgotten here: multimaster.tables
 * holds its OID, which a later table could get, and would then be taken
 * for registered.  Peers that still have the table keep sending its
 * changes, and their links into this node stop on them: say so.  SECURITY
 * DEFINER, as _after_alter(): a table's owner may drop it.
 */
CREATE FUNCTION multimaster._after_drop()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    d record;
BEGIN
    IF pg_catalog.to_regclass('multimaster.tables') IS NULL THEN
        RETURN;     -- the extension itself is being dropped
    END IF;
    FOR d IN
        DELETE FROM multimaster.tables t
         USING pg_catalog.pg_event_trigger_dropped_objects() o
         WHERE o.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
           AND o.objsubid = 0 AND t.relid::pg_catalog.oid = o.objid
        RETURNING t.table_name
    LOOP
        RAISE WARNING 'dropped multimaster table %: it is no longer replicated here', d.table_name
            USING DETAIL = 'Peers that still have it keep sending its changes; their links into this node stop at the first one.',
                  HINT = 'Drop a replicated table on every node at once with multimaster.replicate_ddl(), or call multimaster.remove_table_mesh() before dropping it.';
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION multimaster._after_drop() IS
  'Internal event trigger: after DROP, forgets the registered tables dropped (their OIDs could come back as other tables) and warns that peers still send their changes';
REVOKE ALL ON FUNCTION multimaster._after_drop() FROM PUBLIC;
CREATE EVENT TRIGGER multimaster_after_drop ON sql_drop
    EXECUTE FUNCTION multimaster._after_drop();
ALTER EVENT TRIGGER multimaster_after_drop ENABLE ALWAYS;
-- and those dropped before this version
DELETE FROM multimaster.tables t
 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = t.relid::pg_catalog.oid);

/*
 * Schema changes made with replicate_ddl(), as applied on this node: which
 * nodes have a change is what ddl_status() compares.
 */
CREATE TABLE multimaster.ddl_history (
    ddl_id      text NOT NULL PRIMARY KEY,
    command     text NOT NULL,
    issued_by   integer,
    applied_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE multimaster.ddl_history IS
  'Schema changes made with multimaster.replicate_ddl(), as applied on this node';
REVOKE ALL ON multimaster.ddl_history FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('multimaster.ddl_history', '');

CREATE FUNCTION multimaster.replicate_ddl(command text, wait_for_sync boolean DEFAULT true)
RETURNS text
AS 'MODULE_PATHNAME', 'mm_replicate_ddl'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.replicate_ddl(text, boolean) IS
  'Runs a schema change on every node (after they are in sync, by default), each in one transaction that records it; returns its id for ddl_status(), replicate_ddl_finish() and replicate_ddl_undo()';
REVOKE ALL ON FUNCTION multimaster.replicate_ddl(text, boolean) FROM PUBLIC;

CREATE FUNCTION multimaster.replicate_ddl_finish(ddl_id text)
RETURNS integer
AS 'MODULE_PATHNAME', 'mm_replicate_ddl_finish'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.replicate_ddl_finish(text) IS
  'Runs a recorded schema change on the nodes that do not have it yet; returns on how many';
REVOKE ALL ON FUNCTION multimaster.replicate_ddl_finish(text) FROM PUBLIC;

CREATE FUNCTION multimaster.replicate_ddl_undo(ddl_id text, command text)
RETURNS integer
AS 'MODULE_PATHNAME', 'mm_replicate_ddl_undo'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.replicate_ddl_undo(text, text) IS
  'Runs an inverse command on the nodes that have a recorded schema change, and forgets the change there; returns on how many';
REVOKE ALL ON FUNCTION multimaster.replicate_ddl_undo(text, text) FROM PUBLIC;

CREATE FUNCTION multimaster.ddl_status()
RETURNS TABLE (ddl_id text, command text, node_id integer, node_name text, applied_at timestamptz)
AS 'MODULE_PATHNAME', 'mm_ddl_status'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.ddl_status() IS
  'Every schema change recorded on any node, for every node: when it was applied there (NULL: not there)';
REVOKE ALL ON FUNCTION multimaster.ddl_status() FROM PUBLIC;

-- no SET clause: a procedure with one cannot end its transaction
CREATE PROCEDURE multimaster.replicate_ddl_concurrently(command text)
AS 'MODULE_PATHNAME', 'mm_replicate_ddl_concurrently'
LANGUAGE C;
COMMENT ON PROCEDURE multimaster.replicate_ddl_concurrently(text) IS
  'replicate_ddl() for CREATE INDEX CONCURRENTLY and the like: ends its own transaction first, so that the command does not wait for it';
REVOKE ALL ON PROCEDURE multimaster.replicate_ddl_concurrently(text) FROM PUBLIC;

/*
 * A row's key identity in SQL, the same on every node whatever its
 * settings: compare_table_keys() buckets keys by _key_hash() and matches
 * them across nodes by _key_data(); repair_table() finds a key's row with
 * _key_value() and the key's own equality.
 */
CREATE FUNCTION multimaster._key_hash(r record)
RETURNS integer
AS 'MODULE_PATHNAME', 'mm_key_hash_sql'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION multimaster._key_hash(record) IS
  'Internal: the hash of a table row''s primary key under the key''s own equality, as multimaster.tombstones.key_hash';
REVOKE ALL ON FUNCTION multimaster._key_hash(record) FROM PUBLIC;

CREATE FUNCTION multimaster._key_data(r record)
RETURNS bytea
AS 'MODULE_PATHNAME', 'mm_key_data_sql'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION multimaster._key_data(record) IS
  'Internal: a table row''s primary key in the fixed binary encoding of multimaster.tombstones.key_data';
REVOKE ALL ON FUNCTION multimaster._key_data(record) FROM PUBLIC;

-- not STRICT: type_of is a NULL of the wanted type
CREATE FUNCTION multimaster._key_value(key_data bytea, col integer, type_of anyelement)
RETURNS anyelement
AS 'MODULE_PATHNAME', 'mm_key_value_sql'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION multimaster._key_value(bytea, integer, anyelement) IS
  'Internal: column col (from 1) of a key encoded as in multimaster.tombstones.key_data, as a value of the type of type_of';
REVOKE ALL ON FUNCTION multimaster._key_value(bytea, integer, anyelement) FROM PUBLIC;

CREATE FUNCTION multimaster._tombstone_version(tbl regclass, key_data bytea,
                                               OUT origin integer, OUT version bigint,
                                               OUT generation bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'mm_tombstone_version'
LANGUAGE C STABLE STRICT
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster._tombstone_version(regclass, bytea) IS
  'Internal: the version of the newest tombstone of a key (encoded as in multimaster.tombstones.key_data) on this node (clock as raw microseconds), NULLs if none';
REVOKE ALL ON FUNCTION multimaster._tombstone_version(regclass, bytea) FROM PUBLIC;

CREATE FUNCTION multimaster.compare_table_keys(tbl regclass)
RETURNS TABLE (key text, node_id integer, node_name text, holds text)
AS 'MODULE_PATHNAME', 'mm_compare_table_keys'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.compare_table_keys(regclass) IS
  'The keys whose rows differ between nodes and what each node holds for them, found by hashing key buckets, then sub-buckets, then rows; keys are compared by value';
REVOKE ALL ON FUNCTION multimaster.compare_table_keys(regclass) FROM PUBLIC;

CREATE FUNCTION multimaster.repair_table(tbl regclass, dry_run boolean DEFAULT true)
RETURNS TABLE (key text, winner text, action text)
AS 'MODULE_PATHNAME', 'mm_repair_table'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.repair_table(regclass, boolean) IS
  'Makes every node hold, for each key that differs, what the table''s policy prefers (written again so that it replicates); dry_run (the default) only lists it';
REVOKE ALL ON FUNCTION multimaster.repair_table(regclass, boolean) FROM PUBLIC;

-- The local part of remove_table_mesh() runs while peers' changes of the
-- table may still be applied here (what was in flight when it stopped
-- being published) and while the purge worker deletes old tombstones: its
-- DELETE of the table's tombstones can then deadlock with one of them.
-- The victim's work is rolled back whole, so it is simply done again (the
-- other transaction has gone on meanwhile), a few times at most.
CREATE OR REPLACE FUNCTION multimaster._remove_table_local(tbl regclass, drop_columns boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    attempt integer := 1;
BEGIN
    PERFORM multimaster._require_superuser('unregister a table from multimaster');
    LOOP
        BEGIN
            PERFORM multimaster._unpublish_table(tbl);
            -- unregistered first: the checks of _after_alter() no longer apply
            DELETE FROM multimaster.tables t WHERE t.relid = tbl;
            EXECUTE format('DROP TRIGGER IF EXISTS "000_multimaster_resolve" ON %s', tbl);
            IF drop_columns THEN
                EXECUTE format('ALTER TABLE %s DROP COLUMN IF EXISTS mm_origin, '
                               'DROP COLUMN IF EXISTS mm_version, '
                               'DROP COLUMN IF EXISTS mm_generation', tbl);
            END IF;
            DELETE FROM multimaster.tombstones tb
             WHERE tb.table_name = multimaster._table_name(tbl);
            DELETE FROM multimaster.tombstone_floors f
             WHERE f.table_name = multimaster._table_name(tbl);
            RETURN;
        EXCEPTION WHEN deadlock_detected THEN
            IF attempt >= 5 THEN
                RAISE;
            END IF;
            attempt := attempt + 1;
        END;
    END LOOP;
END
$fn$;
