/*
 * test/bench/apply_catchup_plpgsql.sql
 *
 * Variant (c) of test/bench/apply_catchup.sh: stock pgoutput into a table
 * whose BEFORE INSERT OR UPDATE trigger (enabled ALWAYS) does in PL/pgSQL
 * what multimaster's C trigger does on apply (src/mm_apply.c,
 * src/mm_trigger.c), i.e. the classic recipe's trigger made convergent:
 *
 *	apply, incoming INSERT	lock the existing row (SELECT ... FOR UPDATE);
 *							present: UPDATE it if the incoming version is
 *							greater, else skip; absent: skip if the key's
 *							tombstone is not older, else INSERT ... ON
 *							CONFLICT DO NOTHING (a concurrent insert of the
 *							key makes it look again); return NULL
 *	apply, incoming UPDATE	stock pgoutput ships an UPDATE as an UPDATE, and
 *							the apply worker has already found and locked
 *							the existing row (OLD): apply (return NEW) only if
 *							the incoming version is greater, else return NULL
 *	local INSERT / UPDATE	stamp the version (origin = this node, clock past
 *							the replaced version, generation + 1), as the C
 *							trigger does on the publisher
 *
 * Versions compare as (mm_version, mm_origin, mm_generation): the
 * last_update_wins order with all node priorities equal (the benchmark's
 * nodes have priority 0).  A NULL version is older than any other.  The
 * conflict log is not modelled (the backlog has no concurrent writes, so
 * the C trigger logs nothing either).  The benchmark has no deletes, so
 * neither does this trigger.  Specialised to public.bench (key "id"), which
 * favours it slightly over the generic C trigger.
 *
 * Trigger argument: this node's id.  No SET clause on the function (that
 * would cost a GUC save/restore per row): every name is schema-qualified,
 * since the apply worker runs with an empty search_path.
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
    l_ver   timestamptz;
    l_org   integer;
    l_gen   bigint;
BEGIN
    -- our own UPDATE/INSERT below: pass through
    IF pg_catalog.pg_trigger_depth() > 1 THEN
        RETURN NEW;
    END IF;

    IF NOT pg_catalog.pg_replication_origin_session_is_setup() THEN
        -- local write: stamp
        IF TG_OP = 'INSERT' THEN
            SELECT t.mm_version, t.mm_origin, t.mm_generation
              INTO l_ver, l_org, l_gen
              FROM mmbench.tombstones t
             WHERE t.table_name = 'public.bench' AND t.key = NEW.id::text;
        ELSE
            l_ver := OLD.mm_version;
            l_gen := OLD.mm_generation;
        END IF;
        NEW.mm_origin := node;
        IF l_ver IS NULL THEN
            NEW.mm_version := pg_catalog.clock_timestamp();
            NEW.mm_generation := 1;
        ELSE
            NEW.mm_version := GREATEST(pg_catalog.clock_timestamp(),
                                       l_ver + interval '1 microsecond');
            NEW.mm_generation := l_gen + 1;
        END IF;
        RETURN NEW;
    END IF;

    IF TG_OP = 'UPDATE' THEN
        IF OLD.mm_version IS NULL
           OR (NEW.mm_version, NEW.mm_origin, NEW.mm_generation)
              > (OLD.mm_version, OLD.mm_origin, OLD.mm_generation) THEN
            RETURN NEW;
        END IF;
        RETURN NULL;
    END IF;

    -- incoming INSERT: upsert keeping the greater version
    LOOP
        SELECT b.mm_version, b.mm_origin, b.mm_generation
          INTO l_ver, l_org, l_gen
          FROM public.bench b
         WHERE b.id = NEW.id
           FOR UPDATE;
        IF FOUND THEN
            IF l_ver IS NULL
               OR (NEW.mm_version, NEW.mm_origin, NEW.mm_generation)
                  > (l_ver, l_org, l_gen) THEN
                UPDATE public.bench b
                   SET v = NEW.v, mm_origin = NEW.mm_origin,
                       mm_version = NEW.mm_version, mm_generation = NEW.mm_generation
                 WHERE b.id = NEW.id;
            END IF;
            RETURN NULL;
        END IF;

        SELECT t.mm_version, t.mm_origin, t.mm_generation
          INTO l_ver, l_org, l_gen
          FROM mmbench.tombstones t
         WHERE t.table_name = 'public.bench' AND t.key = NEW.id::text;
        IF FOUND AND l_ver IS NOT NULL
           AND (NEW.mm_version, NEW.mm_origin, NEW.mm_generation)
               <= (l_ver, l_org, l_gen) THEN
            RETURN NULL;
        END IF;

        INSERT INTO public.bench (id, v, mm_origin, mm_version, mm_generation)
        VALUES (NEW.id, NEW.v, NEW.mm_origin, NEW.mm_version, NEW.mm_generation)
        ON CONFLICT (id) DO NOTHING;
        IF FOUND THEN
            RETURN NULL;
        END IF;
        -- a concurrent insert of the same key won: look again
    END LOOP;
END
$fn$;
