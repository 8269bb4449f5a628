/* multimaster--1.0.sql
 *
 * Copyright (c) 2026, The multimaster authors; see LICENSE (PostgreSQL License).
 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION multimaster" to load this file. \quit

/*
 * Catalog.  Every object is schema-qualified so that no search_path can
 * redirect it, and nothing here is readable by PUBLIC: node rows carry DSNs
 * (possibly with passwords), the conflict log carries row contents.
 */
REVOKE ALL ON SCHEMA multimaster FROM PUBLIC;

CREATE TABLE multimaster.nodes (
    node_id     integer NOT NULL PRIMARY KEY
                CHECK (node_id BETWEEN 1 AND 32767),
    node_name   text NOT NULL UNIQUE CHECK (node_name <> ''),
    priority    integer NOT NULL DEFAULT 0,
    is_local    boolean NOT NULL DEFAULT false,
    dsn         text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX nodes_one_local ON multimaster.nodes (is_local) WHERE is_local;
COMMENT ON TABLE multimaster.nodes IS
  'Nodes of the mesh as known to this node: identity, priority (ties and node_priority policy), connection string';
REVOKE ALL ON multimaster.nodes FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('multimaster.nodes', '');

CREATE TABLE multimaster.tables (
    relid           regclass NOT NULL PRIMARY KEY,
    policy          text NOT NULL,
    version_source  text NOT NULL DEFAULT 'hlc',
    added_at        timestamptz NOT NULL DEFAULT now(),
    table_name      text            -- the name its tombstones are stored under
);
COMMENT ON TABLE multimaster.tables IS
  'Tables registered with multimaster.add_table() and their conflict policy';
REVOKE ALL ON multimaster.tables FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('multimaster.tables', '');

/*
 * Tombstones: one row per deleted key, replicated with the delete so that a
 * delete is a version like any other write.  A tombstone names its table as
 * "schema"."table", always quoted (OIDs differ between nodes), and its key
 * by value: key_hash is the key's hash under the primary key's own
 * equality, key_data its values in binary (send) form.  Neither depends on
 * any setting, and keys that are equal but encoded differently (numeric
 * 1.0 and 1.00) are matched by that equality.  key is the key as text, for
 * people only.
 */
CREATE TABLE multimaster.tombstones (
    table_name     text NOT NULL,
    key_hash       integer NOT NULL,
    key_data       bytea NOT NULL,
    key            text,
    mm_origin      integer,
    mm_version     timestamptz,
    mm_generation  bigint,
    PRIMARY KEY (table_name, key_hash, key_data)
);
COMMENT ON TABLE multimaster.tombstones IS
  'Deleted keys and the version of their delete; purge with multimaster.purge_tombstones()';
REVOKE ALL ON multimaster.tombstones FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('multimaster.tombstones', '');

/*
 * What purged tombstones leave behind: per table, the greatest clock and
 * generation purged.  A later local write of that table orders after them,
 * so peers that still hold a purged tombstone do not drop it.  Local to
 * each node (it only raises this node's own stamps).
 */
CREATE TABLE multimaster.tombstone_floors (
    table_name     text NOT NULL PRIMARY KEY,
    mm_version     timestamptz NOT NULL,
    mm_generation  bigint NOT NULL
);
COMMENT ON TABLE multimaster.tombstone_floors IS
  'Per table, the newest clock and generation of purged tombstones: local writes order after them';
REVOKE ALL ON multimaster.tombstone_floors FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('multimaster.tombstone_floors', '');

/*
 * Where each apply worker is: the peer's commit time of the last
 * transaction it applied through the multimaster trigger, written at most
 * once a second (multimaster.status computes lag from it).  Unlogged: it is
 * rebuilt by the next applied transaction after a crash.
 */
CREATE UNLOGGED TABLE multimaster.apply_progress (
    origin              text NOT NULL,      -- replication origin, pg_<subscription oid>
    remote_commit_time  timestamptz NOT NULL,
    remote_lsn          pg_lsn,
    updated_at          timestamptz NOT NULL
);
COMMENT ON TABLE multimaster.apply_progress IS
  'Per apply worker: the peer''s commit time of the last transaction applied here (updated at most once a second)';
REVOKE ALL ON multimaster.apply_progress FROM PUBLIC;

CREATE TABLE multimaster.conflicts (
    conflict_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    logged_at       timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    table_name      text NOT NULL,
    key             text,
    kind            text NOT NULL,
    resolution      text NOT NULL,
    local_origin    integer,
    local_version   timestamptz,
    local_generation bigint,
    remote_origin   integer,
    remote_version  timestamptz,
    remote_generation bigint,
    local_row       text,
    remote_row      text
);
COMMENT ON TABLE multimaster.conflicts IS
  'Conflict log: every incoming change that met a version it did not descend from, and how it was resolved';
REVOKE ALL ON multimaster.conflicts FROM PUBLIC;

/* ------------------------------------------------------------------------
 * C entry points
 * ------------------------------------------------------------------------ */

CREATE FUNCTION multimaster.conflict_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'mm_conflict_trigger'
LANGUAGE C;
COMMENT ON FUNCTION multimaster.conflict_trigger() IS
  'Row trigger (BEFORE INSERT OR UPDATE OR DELETE, ENABLE ALWAYS): stamps local writes, resolves replicated ones; arguments (node_id, version_source, policy, priority_node)';

CREATE FUNCTION multimaster.tombstone_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'mm_tombstone_trigger'
LANGUAGE C;
COMMENT ON FUNCTION multimaster.tombstone_trigger() IS
  'Row trigger on multimaster.tombstones: keeps the newest tombstone of each key when tombstones replicate';

CREATE TRIGGER "000_multimaster_resolve"
    BEFORE INSERT OR UPDATE OR DELETE ON multimaster.tombstones
    FOR EACH ROW EXECUTE FUNCTION multimaster.tombstone_trigger();
ALTER TABLE multimaster.tombstones ENABLE ALWAYS TRIGGER "000_multimaster_resolve";

CREATE FUNCTION multimaster.check_policy(policy text)
RETURNS text
AS 'MODULE_PATHNAME', 'mm_check_policy'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION multimaster.check_policy(text) IS
  'Canonical name of a conflict policy (accepts the classic recipe''s short names); errors on an unknown one';

CREATE FUNCTION multimaster._invalidate_cache()
RETURNS void
AS 'MODULE_PATHNAME', 'mm_invalidate_cache'
LANGUAGE C STRICT VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster._invalidate_cache() IS
  'Internal: makes every backend reload node identity and priorities after this transaction commits';
REVOKE ALL ON FUNCTION multimaster._invalidate_cache() FROM PUBLIC;

CREATE FUNCTION multimaster.local_node_id()
RETURNS integer
AS 'MODULE_PATHNAME', 'mm_local_node_id_sql'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION multimaster.local_node_id() IS
  'This node''s id as set by multimaster.init_node(), or NULL';

/* ------------------------------------------------------------------------
 * Node identity
 * ------------------------------------------------------------------------ */

CREATE FUNCTION multimaster.init_node(node_id integer, node_name text,
                                      priority integer DEFAULT 0)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    cur multimaster.nodes%ROWTYPE;
BEGIN
    PERFORM multimaster._require_superuser('initialize a multimaster node');
    IF init_node.node_id IS NULL OR init_node.node_id NOT BETWEEN 1 AND 32767 THEN
        RAISE EXCEPTION 'invalid node id %', coalesce(init_node.node_id::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Node ids are stored in every replicated row and must be between 1 and 32767.';
    END IF;
    IF init_node.node_name IS NULL OR init_node.node_name = '' THEN
        RAISE EXCEPTION 'node name must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF init_node.priority IS NULL THEN
        RAISE EXCEPTION 'node priority must not be NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT * INTO cur FROM multimaster.nodes n WHERE n.is_local;
    IF FOUND THEN
        IF cur.node_id <> init_node.node_id OR cur.node_name <> init_node.node_name THEN
            RAISE EXCEPTION 'this node is already initialized as node % ("%")',
                    cur.node_id, cur.node_name
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Rows already carry this node''s id; changing it would break their versions.',
                      HINT = 'Call multimaster.init_node() with the same id and name to change only the priority.';
        END IF;
        IF cur.priority <> init_node.priority THEN
            IF EXISTS (SELECT 1 FROM multimaster.nodes n WHERE NOT n.is_local) THEN
                RAISE EXCEPTION 'cannot change the priority of node % ("%") while it has peers',
                        cur.node_id, cur.node_name
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          DETAIL = 'Every node orders concurrent writes by the priorities it knows; a priority changed on one node only would make nodes resolve the same conflict differently, for ever.',
                          HINT = 'Priorities are fixed when the mesh is built: run multimaster.drop_mesh(), call multimaster.init_node() with the new priority, then multimaster.create_mesh() again.';
            END IF;
            UPDATE multimaster.nodes n SET priority = init_node.priority
             WHERE n.node_id = cur.node_id;
            PERFORM multimaster._invalidate_cache();
        END IF;
        RETURN;
    END IF;

    IF EXISTS (SELECT 1 FROM multimaster.nodes n
                WHERE n.node_id = init_node.node_id OR n.node_name = init_node.node_name) THEN
        RAISE EXCEPTION 'node id % or name "%" is already used by another node of the mesh',
                init_node.node_id, init_node.node_name
            USING ERRCODE = 'unique_violation',
                  HINT = 'Choose an id and a name not listed in multimaster.nodes.';
    END IF;

    INSERT INTO multimaster.nodes (node_id, node_name, priority, is_local)
    VALUES (init_node.node_id, init_node.node_name, init_node.priority, true);
    PERFORM multimaster._invalidate_cache();
END
$fn$;
COMMENT ON FUNCTION multimaster.init_node(integer, text, integer) IS
  'Sets this node''s identity (id 1..32767, unique name) and priority; idempotent';
REVOKE ALL ON FUNCTION multimaster.init_node(integer, text, integer) FROM PUBLIC;

/* ------------------------------------------------------------------------
 * Table registration
 * ------------------------------------------------------------------------ */

CREATE FUNCTION multimaster._require_superuser(action text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION 'permission denied to %', action
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Only superusers can change multimaster configuration.';
    END IF;
END
$fn$;
COMMENT ON FUNCTION multimaster._require_superuser(text) IS
  'Internal: raises a permission error naming the action unless the current user is a superuser';
REVOKE ALL ON FUNCTION multimaster._require_superuser(text) FROM PUBLIC;

CREATE FUNCTION multimaster._ensure_publication()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = 'multimaster') THEN
        CREATE PUBLICATION multimaster WITH (publish = 'insert, update, delete');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication_tables
                    WHERE pubname = 'multimaster'
                      AND schemaname = 'multimaster' AND tablename = 'tombstones') THEN
        ALTER PUBLICATION multimaster ADD TABLE multimaster.tombstones;
    END IF;
END
$fn$;
COMMENT ON FUNCTION multimaster._ensure_publication() IS
  'Internal: creates publication multimaster (insert, update, delete) with the tombstone table if missing';
REVOKE ALL ON FUNCTION multimaster._ensure_publication() FROM PUBLIC;

CREATE FUNCTION multimaster._schedule_refresh(tbl regclass)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mm_schedule_refresh'
LANGUAGE C STRICT VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster._schedule_refresh(regclass) IS
  'Internal: after this transaction commits, a background worker refreshes the subscriptions that should now carry the table';
REVOKE ALL ON FUNCTION multimaster._schedule_refresh(regclass) FROM PUBLIC;

CREATE FUNCTION multimaster.add_table(tbl regclass,
                                      policy text DEFAULT 'last_update_wins',
                                      version_source text DEFAULT 'hlc')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    rel         record;
    canon       text;
    src         text := lower(coalesce(add_table.version_source, 'hlc'));
    col         record;
    want        text[] := ARRAY['mm_origin', 'mm_version', 'mm_generation'];
    want_type   text[] := ARRAY['integer', 'timestamp with time zone', 'bigint'];
    i           int;
    early       text;
    has_toast   boolean;
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
    early := NULL;

    SELECT c.oid, c.relname, n.nspname, c.relkind, c.relpersistence, c.relreplident
      INTO rel
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = add_table.tbl;

    IF rel.nspname = 'multimaster' THEN
        RAISE EXCEPTION 'table % belongs to multimaster itself', add_table.tbl
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF rel.relkind <> 'r' THEN
        RAISE EXCEPTION 'cannot replicate "%"', add_table.tbl
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = CASE rel.relkind WHEN 'p' THEN 'Partitioned tables are not supported; register each partition.'
                                            ELSE 'Only ordinary tables can be replicated.' END;
    END IF;
    IF rel.relpersistence <> 'p' THEN
        RAISE EXCEPTION 'cannot replicate temporary or unlogged table %', add_table.tbl
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'Logical replication only carries changes of permanent, logged tables.';
    END IF;

    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index x
                    WHERE x.indrelid = add_table.tbl AND x.indisprimary) THEN
        RAISE EXCEPTION 'table % has no primary key', add_table.tbl
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Conflicts are resolved per primary key value.',
                  HINT = format('Add one, for example: ALTER TABLE %s ADD PRIMARY KEY (id);', add_table.tbl);
    END IF;

    FOR i IN 1 .. 3 LOOP
        SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ
          INTO col
          FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = add_table.tbl AND a.attname = want[i] AND NOT a.attisdropped;
        IF FOUND AND col.typ <> want_type[i] THEN
            RAISE EXCEPTION 'column "%" of table % has type %, multimaster needs %',
                    want[i], add_table.tbl, col.typ, want_type[i]
                USING ERRCODE = 'datatype_mismatch',
                      DETAIL = 'Columns mm_origin, mm_version and mm_generation hold the row version managed by multimaster.',
                      HINT = format('Rename the column, e.g. ALTER TABLE %s RENAME COLUMN %I TO %I;',
                                    add_table.tbl, want[i], want[i] || '_user');
        END IF;
    END LOOP;

    IF EXISTS (SELECT 1 FROM pg_catalog.pg_index x
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = ANY (x.indkey)
                WHERE x.indrelid = add_table.tbl AND x.indisprimary
                  AND a.attname IN ('mm_origin', 'mm_version', 'mm_generation')) THEN
        RAISE EXCEPTION 'primary key of % contains a multimaster version column', add_table.tbl
            USING ERRCODE = 'invalid_table_definition';
    END IF;

    IF src IN ('hlc', 'transaction_time', 'last_xacttime', 'statement_time', 'last_stattime') THEN
        src := CASE src WHEN 'last_xacttime' THEN 'transaction_time'
                        WHEN 'last_stattime' THEN 'statement_time' ELSE src END;
    ELSE
        src := add_table.version_source;
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid = add_table.tbl AND a.attname = src AND NOT a.attisdropped
                          AND a.atttypid IN ('timestamptz'::regtype, 'timestamp'::regtype)
                          AND a.attname NOT IN ('mm_version')) THEN
            RAISE EXCEPTION 'invalid version source "%"', add_table.version_source
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('Table %s has no timestamp or timestamptz column of that name.', add_table.tbl),
                      HINT = 'Use hlc (default), transaction_time, statement_time, or the name of a timestamp column.';
        END IF;
    END IF;

    SELECT t.tgname INTO early
      FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid = add_table.tbl AND NOT t.tgisinternal
       AND (t.tgtype & 2) <> 0          -- BEFORE
       AND (t.tgtype & 1) <> 0          -- ROW
       AND t.tgname COLLATE "C" < '000_multimaster_resolve'
     ORDER BY t.tgname COLLATE "C" LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'trigger "%" on % would fire before the multimaster trigger', early, add_table.tbl
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'BEFORE ROW triggers fire in name order; conflict resolution must see the row first.',
                  HINT = 'Rename that trigger so that its name sorts after "000_multimaster_resolve".';
    END IF;

    FOR i IN 1 .. 3 LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid = add_table.tbl AND a.attname = want[i]
                          AND NOT a.attisdropped) THEN
            EXECUTE format('ALTER TABLE %s ADD COLUMN %I %s',
                           add_table.tbl, want[i], want_type[i]);
        END IF;
    END LOOP;

    IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger
                WHERE tgrelid = add_table.tbl AND tgname = '000_multimaster_resolve') THEN
        -- re-registered below; meanwhile _after_alter() must let the trigger go
        DELETE FROM multimaster.tables t WHERE t.relid = add_table.tbl;
        EXECUTE format('DROP TRIGGER "000_multimaster_resolve" ON %s', add_table.tbl);
    END IF;
    EXECUTE format('CREATE TRIGGER "000_multimaster_resolve" '
                   'BEFORE INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW '
                   'EXECUTE FUNCTION multimaster.conflict_trigger(%L, %L, %L)',
                   add_table.tbl, 'local', src, canon);
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER "000_multimaster_resolve"', add_table.tbl);

    /*
     * An UPDATE is shipped as the full new row, so values left unchanged
     * out of line (TOAST) must be taken from the old row, which the WAL
     * carries in full only with REPLICA IDENTITY FULL.
     */
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid = add_table.tbl AND a.attnum > 0 AND NOT a.attisdropped
                      AND a.attlen = -1 AND a.attstorage IN ('x', 'e'))
      INTO has_toast;
    IF has_toast AND rel.relreplident <> 'f' THEN
        EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', add_table.tbl);
    END IF;

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
  'Registers a table for active-active replication: version columns, conflict trigger (ALWAYS), publication; idempotent';
REVOKE ALL ON FUNCTION multimaster.add_table(regclass, text, text) FROM PUBLIC;

CREATE FUNCTION multimaster._remove_table_local(tbl regclass, drop_columns boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM multimaster._require_superuser('unregister a table from multimaster');
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
END
$fn$;
COMMENT ON FUNCTION multimaster._remove_table_local(regclass, boolean) IS
  'Internal: unregisters a table on this node only (remove_table_mesh calls it on every node once nothing is in flight)';
REVOKE ALL ON FUNCTION multimaster._remove_table_local(regclass, boolean) FROM PUBLIC;

CREATE FUNCTION multimaster.remove_table(tbl regclass, drop_columns boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM multimaster._require_superuser('unregister a table from multimaster');
    IF remove_table.tbl IS NULL THEN
        RAISE EXCEPTION 'table must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;

    IF NOT EXISTS (SELECT 1 FROM multimaster.tables t WHERE t.relid = remove_table.tbl)
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger
                        WHERE tgrelid = remove_table.tbl AND tgname = '000_multimaster_resolve') THEN
        RAISE NOTICE 'table % is not registered with multimaster, skipping', remove_table.tbl;
        RETURN;
    END IF;

    /*
     * Peers may have changes of this table in flight (in their WAL already):
     * without the trigger and columns here, applying them would stop every
     * link into this node.
     */
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_subscription s
                WHERE s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d
                                    WHERE d.datname = pg_catalog.current_database())
                  AND s.subname::text LIKE 'multimaster\_%')
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots r
                   WHERE r.plugin = 'multimaster'
                     AND r.database = pg_catalog.current_database()) THEN
        RAISE EXCEPTION 'table % is replicated with peers', remove_table.tbl
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Changes of it may be in flight between nodes; removing it on one node would stop the links into this node.',
                  HINT = 'Use multimaster.remove_table_mesh(), which stops publishing it everywhere, waits until nothing is in flight, then removes it on every node.';
    END IF;

    PERFORM multimaster._remove_table_local(remove_table.tbl, remove_table.drop_columns);
END
$fn$;
COMMENT ON FUNCTION multimaster.remove_table(regclass, boolean) IS
  'Stops replicating a table on a node without peers: publication membership, trigger, its tombstones and (by default) the version columns';
REVOKE ALL ON FUNCTION multimaster.remove_table(regclass, boolean) FROM PUBLIC;

CREATE FUNCTION multimaster._unpublish_table(tbl regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM multimaster._require_superuser('unregister a table from multimaster');
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_publication_rel pr
                 JOIN pg_catalog.pg_publication p ON p.oid = pr.prpubid
                WHERE p.pubname = 'multimaster' AND pr.prrelid = tbl) THEN
        EXECUTE format('ALTER PUBLICATION multimaster DROP TABLE %s', tbl);
    END IF;
END
$fn$;
COMMENT ON FUNCTION multimaster._unpublish_table(regclass) IS
  'Internal: this node stops publishing the table (first step of remove_table_mesh)';
REVOKE ALL ON FUNCTION multimaster._unpublish_table(regclass) FROM PUBLIC;

CREATE FUNCTION multimaster.remove_table_mesh(tbl regclass, drop_columns boolean DEFAULT true)
RETURNS void
AS 'MODULE_PATHNAME', 'mm_remove_table_mesh'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.remove_table_mesh(regclass, boolean) IS
  'Stops replicating a table on every node while writes go on: no node publishes it any more, every node applies what was in flight, then each unregisters it';
REVOKE ALL ON FUNCTION multimaster.remove_table_mesh(regclass, boolean) FROM PUBLIC;

CREATE FUNCTION multimaster._table_name(tbl regclass)
RETURNS text
AS 'MODULE_PATHNAME', 'mm_table_name_sql'
LANGUAGE C STABLE STRICT
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster._table_name(regclass) IS
  'Name under which a table''s tombstones are stored: "schema"."table", always quoted';
REVOKE ALL ON FUNCTION multimaster._table_name(regclass) FROM PUBLIC;

CREATE FUNCTION multimaster.tombstone_key(tbl regclass, VARIADIC key_values text[])
RETURNS TABLE (table_name text, key_hash integer, key_data bytea, key text)
AS 'MODULE_PATHNAME', 'mm_tombstone_key'
LANGUAGE C STABLE STRICT
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.tombstone_key(regclass, text[]) IS
  'How a key of a table (one text value per primary key column, read in this session''s settings) is named in multimaster.tombstones';
REVOKE ALL ON FUNCTION multimaster.tombstone_key(regclass, text[]) FROM PUBLIC;

CREATE FUNCTION multimaster._check_table(tbl regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'mm_check_table'
LANGUAGE C STRICT VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster._check_table(regclass) IS
  'Internal: raises the error a local write of a registered table would raise (key, version columns, replica identity)';
REVOKE ALL ON FUNCTION multimaster._check_table(regclass) FROM PUBLIC;

CREATE FUNCTION multimaster._move_tombstones(old_name text, new_name text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'mm_move_tombstones'
LANGUAGE C STRICT VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster._move_tombstones(text, text) IS
  'Internal: files the tombstones stored under one table name under another (after a rename), keeping the newest of each key';
REVOKE ALL ON FUNCTION multimaster._move_tombstones(text, text) FROM PUBLIC;

/*
 * What add_table decided must stay true after any ALTER TABLE or ALTER
 * SCHEMA: the replica identity that makes shipped rows complete, and the
 * name tombstones are stored under.  SECURITY DEFINER: a table owner's
 * ALTER TABLE must be able to keep multimaster's own tables right.
 */
CREATE FUNCTION multimaster._after_alter()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    t record;
BEGIN
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

CREATE EVENT TRIGGER multimaster_after_alter ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'ALTER SCHEMA', 'DROP TRIGGER', 'ALTER TRIGGER')
    EXECUTE FUNCTION multimaster._after_alter();
ALTER EVENT TRIGGER multimaster_after_alter ENABLE ALWAYS;

/*
 * The apply worker fires triggers enabled ALWAYS or REPLICA as a superuser
 * (PostgreSQL 15 applies as the subscription owner): a table owner who is
 * not a superuser may not enable one on a registered table.  The triggers
 * so enabled are noted when a command starts and compared when it ends.
 * Not SECURITY DEFINER: it judges the user running the command.
 */
CREATE FUNCTION multimaster._before_alter()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
        -- (no call into schema multimaster: whoever runs the DDL may not use it)
        PERFORM pg_catalog.set_config('mm_guard.always_triggers_before',
            (SELECT coalesce(pg_catalog.string_agg(t.oid::text, ',' ORDER BY t.oid), '')
       FROM pg_catalog.pg_trigger t
      WHERE t.tgenabled IN ('A', 'R') AND NOT t.tgisinternal
        AND t.tgname <> '000_multimaster_resolve'
        AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger m
                     WHERE m.tgrelid = t.tgrelid AND m.tgname = '000_multimaster_resolve')), true);
    END IF;
END
$fn$;
COMMENT ON FUNCTION multimaster._before_alter() IS
  'Internal event trigger: notes, for a non-superuser''s ALTER TABLE, which triggers of registered tables fire in the apply worker';
REVOKE ALL ON FUNCTION multimaster._before_alter() FROM PUBLIC;

CREATE FUNCTION multimaster._guard_always_triggers()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    before text[];
    added text;
BEGIN
    IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
        RETURN;
    END IF;
    before := pg_catalog.string_to_array(
        coalesce(pg_catalog.current_setting('mm_guard.always_triggers_before', true), ''), ',');
    SELECT pg_catalog.string_agg(t.tgname || ' on ' || t.tgrelid::regclass::text, ', ')
      INTO added
      FROM pg_catalog.unnest(pg_catalog.string_to_array((SELECT coalesce(pg_catalog.string_agg(t.oid::text, ',' ORDER BY t.oid), '')
       FROM pg_catalog.pg_trigger t
      WHERE t.tgenabled IN ('A', 'R') AND NOT t.tgisinternal
        AND t.tgname <> '000_multimaster_resolve'
        AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger m
                     WHERE m.tgrelid = t.tgrelid AND m.tgname = '000_multimaster_resolve')), ',')) a(oid)
      JOIN pg_catalog.pg_trigger t ON t.oid::text = a.oid
     WHERE a.oid <> ALL (coalesce(before, '{}'));
    IF added IS NOT NULL THEN
        RAISE EXCEPTION 'permission denied to enable trigger % ALWAYS or REPLICA', added
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The apply worker fires such triggers of a replicated table as a superuser, on every node.',
                  HINT = 'Ask a superuser to enable it, or run multimaster.remove_table_mesh() first.';
    END IF;
END
$fn$;
COMMENT ON FUNCTION multimaster._guard_always_triggers() IS
  'Internal event trigger: refuses a non-superuser''s enabling of a trigger ALWAYS or REPLICA on a registered table';
REVOKE ALL ON FUNCTION multimaster._guard_always_triggers() FROM PUBLIC;

CREATE EVENT TRIGGER multimaster_before_alter ON ddl_command_start
    WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION multimaster._before_alter();
ALTER EVENT TRIGGER multimaster_before_alter ENABLE ALWAYS;
CREATE EVENT TRIGGER multimaster_guard_always_triggers ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION multimaster._guard_always_triggers();
ALTER EVENT TRIGGER multimaster_guard_always_triggers ENABLE ALWAYS;

/* ------------------------------------------------------------------------
 * Tombstones
 * ------------------------------------------------------------------------ */

CREATE FUNCTION multimaster.purge_tombstones(older_than interval)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n bigint;
BEGIN
    PERFORM multimaster._require_superuser('purge multimaster tombstones');
    IF older_than IS NULL OR older_than < interval '0' THEN
        RAISE EXCEPTION 'retention must be a non-negative interval'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    /*
     * What is purged raises the table's floor: a later write of any key of
     * it orders after every purged tombstone, as it would have after the
     * tombstone itself (peers may still hold it).
     */
    WITH gone AS (
        DELETE FROM multimaster.tombstones t
         WHERE t.mm_version OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) older_than)
        RETURNING t.table_name, t.mm_version, t.mm_generation
    ), per_table AS (
        INSERT INTO multimaster.tombstone_floors AS f (table_name, mm_version, mm_generation)
        SELECT g.table_name, pg_catalog.max(g.mm_version), pg_catalog.max(g.mm_generation)
          FROM gone g
         WHERE g.mm_version IS NOT NULL
         GROUP BY g.table_name
        ON CONFLICT ON CONSTRAINT tombstone_floors_pkey DO UPDATE
           SET mm_version = GREATEST(f.mm_version, excluded.mm_version),
               mm_generation = GREATEST(f.mm_generation, excluded.mm_generation)
        RETURNING 1
    )
    SELECT pg_catalog.count(*) INTO n FROM gone;
    IF n > 0 THEN
        PERFORM multimaster._invalidate_cache();
    END IF;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION multimaster.purge_tombstones(interval) IS
  'Removes this node''s tombstones older than the given age (keep it longer than the worst replication lag); later writes still order after what was purged';
REVOKE ALL ON FUNCTION multimaster.purge_tombstones(interval) FROM PUBLIC;

CREATE FUNCTION multimaster._register_peer(peer_id integer, peer_name text,
                                           peer_priority integer, peer_dsn text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM multimaster._require_superuser('change the multimaster node list');
    IF EXISTS (SELECT 1 FROM multimaster.nodes n
                WHERE n.is_local AND n.node_id = peer_id) THEN
        UPDATE multimaster.nodes n SET dsn = coalesce(peer_dsn, n.dsn)
         WHERE n.node_id = peer_id;
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM multimaster.nodes n
                WHERE n.is_local AND n.node_name = peer_name) THEN
        RAISE EXCEPTION 'node name "%" is this node''s own name', peer_name
            USING ERRCODE = 'unique_violation';
    END IF;
    -- a stale entry under the same name (a node re-initialized with a new id)
    DELETE FROM multimaster.nodes n
     WHERE n.node_name = peer_name AND n.node_id <> peer_id AND NOT n.is_local;
    INSERT INTO multimaster.nodes AS n (node_id, node_name, priority, is_local, dsn)
    VALUES (peer_id, peer_name, peer_priority, false, peer_dsn)
    ON CONFLICT (node_id) DO UPDATE
       SET node_name = excluded.node_name, priority = excluded.priority,
           dsn = coalesce(excluded.dsn, n.dsn)
     WHERE NOT n.is_local;
    PERFORM multimaster._invalidate_cache();
END
$fn$;
COMMENT ON FUNCTION multimaster._register_peer(integer, text, integer, text) IS
  'Internal: records (or updates) a peer in multimaster.nodes; called by mesh setup on every node';
REVOKE ALL ON FUNCTION multimaster._register_peer(integer, text, integer, text) FROM PUBLIC;

/* ------------------------------------------------------------------------
 * Mesh: publications, slots and subscriptions across nodes (libpq)
 * ------------------------------------------------------------------------ */

CREATE FUNCTION multimaster.create_mesh(dsns text[])
RETURNS void
AS 'MODULE_PATHNAME', 'mm_create_mesh'
LANGUAGE C STRICT VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.create_mesh(text[]) IS
  'Builds a full mesh over the listed nodes (this one included): node ids 1..N in array order where unset, publication, one multimaster slot and subscription per ordered pair, initial data from the first node; idempotent, checks every node first';
REVOKE ALL ON FUNCTION multimaster.create_mesh(text[]) FROM PUBLIC;

CREATE FUNCTION multimaster.subscribe(peer_dsn text, copy_data boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'mm_subscribe'
LANGUAGE C STRICT VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.subscribe(text, boolean) IS
  'Makes this node receive the changes of one peer: a multimaster slot on the peer, a subscription here; idempotent';
REVOKE ALL ON FUNCTION multimaster.subscribe(text, boolean) FROM PUBLIC;

CREATE FUNCTION multimaster.unsubscribe(peer_dsn text)
RETURNS void
AS 'MODULE_PATHNAME', 'mm_unsubscribe'
LANGUAGE C STRICT VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.unsubscribe(text) IS
  'Stops receiving the changes of one peer: drops the subscription here and its slot on the peer';
REVOKE ALL ON FUNCTION multimaster.unsubscribe(text) FROM PUBLIC;

CREATE FUNCTION multimaster.add_table_mesh(tbl regclass,
                                           policy text DEFAULT 'last_update_wins',
                                           version_source text DEFAULT 'hlc')
RETURNS void
AS 'MODULE_PATHNAME', 'mm_add_table_mesh'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.add_table_mesh(regclass, text, text) IS
  'Runs multimaster.add_table() on every node of the mesh and refreshes every subscription, so the table replicates on every link';
REVOKE ALL ON FUNCTION multimaster.add_table_mesh(regclass, text, text) FROM PUBLIC;

CREATE FUNCTION multimaster.refresh_mesh()
RETURNS void
AS 'MODULE_PATHNAME', 'mm_refresh_mesh'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.refresh_mesh() IS
  'Refreshes every multimaster subscription on every node, so tables registered since the last refresh replicate';
REVOKE ALL ON FUNCTION multimaster.refresh_mesh() FROM PUBLIC;

CREATE FUNCTION multimaster.drop_mesh()
RETURNS void
AS 'MODULE_PATHNAME', 'mm_drop_mesh'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.drop_mesh() IS
  'Removes every multimaster subscription, slot and the publication on all nodes; node identities and data stay';
REVOKE ALL ON FUNCTION multimaster.drop_mesh() FROM PUBLIC;

CREATE FUNCTION multimaster.remove_node(node_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'mm_remove_node'
LANGUAGE C STRICT VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.remove_node(text) IS
  'Takes a node out of the mesh: every link to and from it is dropped on every reachable node';
REVOKE ALL ON FUNCTION multimaster.remove_node(text) FROM PUBLIC;

CREATE FUNCTION multimaster.wait_for_sync(timeout interval DEFAULT '60 s')
RETURNS boolean
AS 'MODULE_PATHNAME', 'mm_wait_for_sync'
LANGUAGE C STRICT VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.wait_for_sync(interval) IS
  'True once every change committed on every peer before the call has been applied here; false on timeout';
REVOKE ALL ON FUNCTION multimaster.wait_for_sync(interval) FROM PUBLIC;

CREATE FUNCTION multimaster.compare_table(tbl regclass)
RETURNS TABLE (node_id integer, node_name text, row_count bigint,
               checksum bigint, consistent boolean)
AS 'MODULE_PATHNAME', 'mm_compare_table'
LANGUAGE C STRICT VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.compare_table(regclass) IS
  'Row count and checksum of a table on every node, and whether all nodes agree';
REVOKE ALL ON FUNCTION multimaster.compare_table(regclass) FROM PUBLIC;

CREATE FUNCTION multimaster._peer_slot(subscription oid,
    OUT peer_lsn pg_lsn, OUT confirmed_lsn pg_lsn, OUT retained_bytes bigint,
    OUT slot_active boolean, OUT error text)
RETURNS record
AS 'MODULE_PATHNAME', 'mm_peer_slot'
LANGUAGE C STRICT VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster._peer_slot(oid) IS
  'Internal: position and retained WAL of the slot of a multimaster subscription on its peer, or the error reaching it (takes no connection string, so it may be granted to a monitoring role)';
REVOKE ALL ON FUNCTION multimaster._peer_slot(oid) FROM PUBLIC;

CREATE VIEW multimaster.status AS
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
       (SELECT count(*) FROM multimaster.conflicts c
         WHERE c.remote_origin = n.node_id)  AS conflicts
  FROM pg_catalog.pg_subscription s
  JOIN pg_catalog.pg_database d ON d.oid = s.subdbid AND d.datname = pg_catalog.current_database()
  LEFT JOIN multimaster.nodes n
         ON n.node_id = pg_catalog.split_part(s.subname::text, '_', 2)::int
  LEFT JOIN pg_catalog.pg_stat_subscription st
         ON st.subid = s.oid AND st.relid IS NULL
  LEFT JOIN pg_catalog.pg_stat_subscription_stats ss ON ss.subid = s.oid
  LEFT JOIN pg_catalog.pg_replication_origin_status o
         ON o.external_id = 'pg_' || s.oid
  LEFT JOIN multimaster.apply_progress ap ON ap.origin = 'pg_' || s.oid
  LEFT JOIN LATERAL multimaster._peer_slot(s.oid) p ON true
 WHERE s.subname::text ~ '^multimaster_[0-9]+_[0-9]+$';
COMMENT ON VIEW multimaster.status IS
  'One row per peer this node receives from: subscription state, worker, positions, lag, WAL retained on the peer, errors, conflicts';
REVOKE ALL ON multimaster.status FROM PUBLIC;

/*
 * Monitoring: members of pg_monitor may read the status view (it reaches
 * the configured peers through _peer_slot(), which takes no connection
 * string); nothing else of the schema.
 */
GRANT USAGE ON SCHEMA multimaster TO pg_monitor;
GRANT SELECT ON multimaster.status TO pg_monitor;
GRANT EXECUTE ON FUNCTION multimaster._peer_slot(oid) TO pg_monitor;

/* ------------------------------------------------------------------------
 * Helpers for operating the mesh
 * ------------------------------------------------------------------------ */

CREATE FUNCTION multimaster.broadcast_ddl(command text)
RETURNS void
AS 'MODULE_PATHNAME', 'mm_broadcast_ddl'
LANGUAGE C STRICT VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION multimaster.broadcast_ddl(text) IS
  'Runs one SQL command on every node of the mesh, this one included, in node id order; stops at the first node where it fails';
REVOKE ALL ON FUNCTION multimaster.broadcast_ddl(text) FROM PUBLIC;

CREATE FUNCTION multimaster.stagger_sequence(seq regclass, max_nodes integer DEFAULT 16)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    me      integer := multimaster.local_node_id();
    last    bigint;
    nextval bigint;
BEGIN
    PERFORM multimaster._require_superuser('change a sequence for the mesh');
    IF me IS NULL THEN
        RAISE EXCEPTION 'this node has no multimaster identity yet'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Call multimaster.init_node(node_id, node_name) first.';
    END IF;
    IF max_nodes IS NULL OR max_nodes < 1 OR me > max_nodes THEN
        RAISE EXCEPTION 'max_nodes must be at least this node''s id (%)', me
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Node k draws the values congruent to k modulo max_nodes.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = seq AND relkind = 'S') THEN
        RAISE EXCEPTION '"%" is not a sequence', seq
            USING ERRCODE = 'wrong_object_type';
    END IF;
    EXECUTE format('SELECT last_value FROM %s', seq) INTO last;
    nextval := (last / max_nodes + 1) * max_nodes + (me % max_nodes);
    EXECUTE format('ALTER SEQUENCE %s INCREMENT BY %s MINVALUE 1 RESTART WITH %s',
                   seq, max_nodes, nextval);
    RETURN nextval;
END
$fn$;
COMMENT ON FUNCTION multimaster.stagger_sequence(regclass, integer) IS
  'Makes a sequence hand out on this node only values congruent to the node id modulo max_nodes, so nodes never generate the same key; returns the next value';
REVOKE ALL ON FUNCTION multimaster.stagger_sequence(regclass, integer) FROM PUBLIC;
