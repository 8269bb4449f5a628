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
        CREATE PUBLICATION multimaster WITH (publish = 'insert, update, delete');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication_tables
                    WHERE pubname = 'multimaster'
                      AND schemaname = 'multimaster' AND tablename = 'tombstones') THEN
        ALTER PUBLICATION multimaster ADD TABLE multimaster.tombstones;
    END IF;
    -- a publication dropped by remove_node() comes back with what this
    -- node has registered, or its writes would silently stay here
    FOR r IN SELECT t.relid FROM multimaster.tables t
              WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication_rel pr
                                  JOIN pg_catalog.pg_publication p ON p.oid = pr.prpubid
                                 WHERE p.pubname = 'multimaster' AND pr.prrelid = t.relid)
    LOOP
        EXECUTE pg_catalog.format('ALTER PUBLICATION multimaster ADD TABLE %s', r.relid::regclass);
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION multimaster._ensure_publication() IS
  'Internal: creates publication multimaster (insert, update, delete) with the tombstone table and the registered tables if missing';
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
  LEFT JOIN pg_catalog.pg_stat_subscription st
         ON st.subid = s.oid AND st.relid IS NULL
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

-- the extension writes no password: links reach a peer through its subscription
UPDATE multimaster.nodes SET dsn = multimaster._dsn_without_password(dsn) WHERE dsn IS NOT NULL;

CREATE OR REPLACE FUNCTION multimaster._after_alter()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    t record;
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
    FOR t IN
        SELECT mt.relid, mt.table_name AS old_name, c.relreplident,
               multimaster._table_name(mt.relid) AS new_name,
               EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid = mt.relid AND a.attnum > 0 AND NOT a.attisdropped
                          AND a.attlen = -1 AND a.attstorage IN ('x', 'e')) AS has_toast
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
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger tg
                        WHERE tg.tgrelid = t.relid AND tg.tgname = '000_multimaster_resolve'
                          AND tg.tgenabled = 'A') THEN
            RAISE EXCEPTION 'the multimaster trigger of % must stay enabled ALWAYS', t.relid::regclass
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Without it local writes carry no version and replicated ones are applied unresolved.',
                      HINT = 'Run multimaster.remove_table_mesh() first to stop replicating the table.';
        END IF;
        IF t.relreplident IN ('i', 'n') THEN
            RAISE EXCEPTION 'multimaster table % needs REPLICA IDENTITY DEFAULT or FULL', t.relid::regclass
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'With USING INDEX a change of primary key is logged without the old key, and with NOTHING updates and deletes cannot be replicated.',
                      HINT = 'Keep the replica identity multimaster.add_table() set, or run multimaster.remove_table_mesh() first.';
        END IF;
        IF t.has_toast AND t.relreplident <> 'f' THEN
            -- a column stored out of line was added: ship complete rows
            EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', t.relid::regclass);
        END IF;
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
  'Internal event trigger: after ALTER TABLE and ALTER SCHEMA, refuses what would break a registered table (primary key, version columns, the trigger, replica identity) and keeps its replica identity and tombstone names right';
REVOKE ALL ON FUNCTION multimaster._after_alter() FROM PUBLIC;

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

CREATE FUNCTION multimaster.compare_table_keys(tbl regclass)
RETURNS TABLE (key text, node_id integer, node_name text, holds text)
AS 'MODULE_PATHNAME', 'mm_compare_table_keys'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.compare_table_keys(regclass) IS
  'The keys whose rows differ between nodes and what each node holds for them, found by hashing key buckets, then sub-buckets, then rows';
REVOKE ALL ON FUNCTION multimaster.compare_table_keys(regclass) FROM PUBLIC;

CREATE FUNCTION multimaster.repair_table(tbl regclass, dry_run boolean DEFAULT true)
RETURNS TABLE (key text, winner text, action text)
AS 'MODULE_PATHNAME', 'mm_repair_table'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.repair_table(regclass, boolean) IS
  'Makes every node hold, for each key that differs, what the table''s policy prefers (written again so that it replicates); dry_run (the default) only lists it';
REVOKE ALL ON FUNCTION multimaster.repair_table(regclass, boolean) FROM PUBLIC;
