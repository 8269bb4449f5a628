/*
 * test/bench/trigger_overhead_plpgsql.sql
 *
 * Variant (c) of test/bench/trigger_overhead.sh: a PL/pgSQL trigger that does
 * the local-write work of multimaster.conflict_trigger() (src/mm_trigger.c),
 * so that the benchmark compares the C trigger with what the same job costs
 * in PL/pgSQL:
 *
 *	INSERT	look up the key's tombstone; stamp a version newer than it
 *	UPDATE	stamp a version newer than the old row (a changed key also looks
 *			up the new key's tombstone and tombstones the old key)
 *	DELETE	look up the key's tombstone; upsert a tombstone newer than both
 *			the row and that tombstone, keeping the greater version
 *
 * Version of a write that replaces prev: origin = this node, version =
 * greatest(clock_timestamp(), prev.version + 1 microsecond), generation =
 * prev.generation + 1 (or clock_timestamp() and 1 when there is no prev).
 * Versions are compared as (version, origin, generation), the
 * last_update_wins order with all node priorities equal (one node).
 *
 * mmbench.tombstones has the shape and primary key of
 * multimaster.tombstones.  Trigger arguments: (node_id, table_name), the
 * values the C trigger takes from its per-relation cache.  The function has
 * no SET clause (that would add a GUC save/restore to every call): every
 * name is schema-qualified instead.  It is specialised to an integer key
 * column named "id", which slightly favours it over the generic C trigger.
 */
CREATE SCHEMA mmbench;

CREATE TABLE mmbench.tombstones (
    table_name     text NOT NULL,
    key            text NOT NULL,
    mm_origin      integer,
    mm_version     timestamptz,
    mm_generation  bigint,
    PRIMARY KEY (table_name, key)
);

CREATE FUNCTION mmbench.resolve()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
DECLARE
    node    integer := TG_ARGV[0];
    tname   text := TG_ARGV[1];
    p_ver   timestamptz;    -- the version being replaced ("prev")
    p_org   integer;
    p_gen   bigint;
    t_ver   timestamptz;    -- a tombstone found
    t_org   integer;
    t_gen   bigint;
    n_ver   timestamptz;    -- the new version
    n_gen   bigint;
    k       text;
BEGIN
    -- The C trigger leaves writes of the apply worker to its apply path;
    -- only the local path is modelled here.
    IF pg_catalog.pg_replication_origin_session_is_setup() THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;

    IF TG_OP = 'INSERT' THEN
        SELECT t.mm_version, t.mm_origin, t.mm_generation
          INTO p_ver, p_org, p_gen
          FROM mmbench.tombstones t
         WHERE t.table_name = tname AND t.key = NEW.id::text;
        IF p_ver IS NULL THEN
            n_ver := pg_catalog.clock_timestamp();
            n_gen := 1;
        ELSE
            n_ver := GREATEST(pg_catalog.clock_timestamp(),
                                         p_ver + interval '1 microsecond');
            n_gen := p_gen + 1;
        END IF;
        NEW.mm_origin := node;
        NEW.mm_version := n_ver;
        NEW.mm_generation := n_gen;
        RETURN NEW;
    END IF;

    p_ver := OLD.mm_version;
    p_org := OLD.mm_origin;
    p_gen := OLD.mm_generation;

    IF TG_OP = 'UPDATE' THEN
        IF NEW.id IS DISTINCT FROM OLD.id THEN
            SELECT t.mm_version, t.mm_origin, t.mm_generation
              INTO t_ver, t_org, t_gen
              FROM mmbench.tombstones t
             WHERE t.table_name = tname AND t.key = NEW.id::text;
            IF t_ver IS NOT NULL AND (p_ver IS NULL OR
                    (t_ver, t_org, t_gen) > (p_ver, p_org, p_gen)) THEN
                p_ver := t_ver; p_org := t_org; p_gen := t_gen;
            END IF;
        END IF;
        IF p_ver IS NULL THEN
            n_ver := pg_catalog.clock_timestamp();
            n_gen := 1;
        ELSE
            n_ver := GREATEST(pg_catalog.clock_timestamp(),
                                         p_ver + interval '1 microsecond');
            n_gen := p_gen + 1;
        END IF;
        IF NEW.id IS DISTINCT FROM OLD.id THEN
            INSERT INTO mmbench.tombstones AS t
                   (table_name, key, mm_origin, mm_version, mm_generation)
            VALUES (tname, OLD.id::text, node, n_ver, n_gen)
            ON CONFLICT (table_name, key) DO UPDATE
               SET mm_origin = excluded.mm_origin,
                   mm_version = excluded.mm_version,
                   mm_generation = excluded.mm_generation
             WHERE t.mm_version IS NULL
                OR (t.mm_version, t.mm_origin, t.mm_generation)
                   < (excluded.mm_version, excluded.mm_origin, excluded.mm_generation);
        END IF;
        NEW.mm_origin := node;
        NEW.mm_version := n_ver;
        NEW.mm_generation := n_gen;
        RETURN NEW;
    END IF;

    -- DELETE
    k := OLD.id::text;
    SELECT t.mm_version, t.mm_origin, t.mm_generation
      INTO t_ver, t_org, t_gen
      FROM mmbench.tombstones t
     WHERE t.table_name = tname AND t.key = k;
    IF t_ver IS NOT NULL AND (p_ver IS NULL OR
            (t_ver, t_org, t_gen) > (p_ver, p_org, p_gen)) THEN
        p_ver := t_ver; p_org := t_org; p_gen := t_gen;
    END IF;
    IF p_ver IS NULL THEN
        n_ver := pg_catalog.clock_timestamp();
        n_gen := 1;
    ELSE
        n_ver := GREATEST(pg_catalog.clock_timestamp(),
                                     p_ver + interval '1 microsecond');
        n_gen := p_gen + 1;
    END IF;
    INSERT INTO mmbench.tombstones AS t
           (table_name, key, mm_origin, mm_version, mm_generation)
    VALUES (tname, k, node, n_ver, n_gen)
    ON CONFLICT (table_name, key) DO UPDATE
       SET mm_origin = excluded.mm_origin,
           mm_version = excluded.mm_version,
           mm_generation = excluded.mm_generation
     WHERE t.mm_version IS NULL
        OR (t.mm_version, t.mm_origin, t.mm_generation)
           < (excluded.mm_version, excluded.mm_origin, excluded.mm_generation);
    RETURN OLD;
END
$fn$;
