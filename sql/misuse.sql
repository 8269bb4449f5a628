--
-- What users get wrong: each attempt fails with a clear error and leaves
-- nothing behind.
--
CREATE TABLE nopk (id int, v text);
SELECT multimaster.add_table('nopk');
SELECT count(*) AS extra_columns FROM pg_attribute
 WHERE attrelid = 'nopk'::regclass AND attname LIKE 'mm\_%';

CREATE TABLE ok (id int PRIMARY KEY, v text, ts timestamptz, n int);
SELECT multimaster.add_table('ok', 'bogus');
SELECT multimaster.add_table('ok', 'last_update_wins', 'no_such_column');
SELECT multimaster.add_table('ok', 'last_update_wins', 'n');
SELECT multimaster.add_table('missing_table');
SELECT multimaster.add_table(NULL);
SELECT count(*) AS extra_columns FROM pg_attribute
 WHERE attrelid = 'ok'::regclass AND attname LIKE 'mm\_%';
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'ok'::regclass;

-- a column named like a version column, with another type
CREATE TABLE clash (id int PRIMARY KEY, mm_version text);
SELECT multimaster.add_table('clash');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'clash'::regclass;
SELECT count(*) AS published FROM pg_publication_tables WHERE tablename = 'clash';

-- a BEFORE trigger that would run before conflict resolution
CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TABLE early_trigger (id int PRIMARY KEY);
CREATE TRIGGER "!first" BEFORE INSERT ON early_trigger FOR EACH ROW EXECUTE FUNCTION noop();
SELECT multimaster.add_table('early_trigger');
CREATE TRIGGER "zz_after_us" BEFORE INSERT ON ok FOR EACH ROW EXECUTE FUNCTION noop();

-- kinds of tables that cannot be replicated
CREATE TEMP TABLE tmp (id int PRIMARY KEY);
SELECT multimaster.add_table('tmp');
CREATE UNLOGGED TABLE unl (id int PRIMARY KEY);
SELECT multimaster.add_table('unl');
CREATE TABLE parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (10);
SELECT multimaster.add_table('parted_1');
CREATE VIEW v AS SELECT 1 AS id;
SELECT multimaster.add_table('v');
SELECT multimaster.add_table('multimaster.tombstones');

-- registration is idempotent; remove_table undoes it
SELECT multimaster.add_table('ok');
SELECT multimaster.add_table('ok');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'ok'::regclass AND tgname = '000_multimaster_resolve';
SELECT multimaster.add_table('ok', 'node_priority');
SELECT policy FROM multimaster.tables WHERE relid = 'ok'::regclass;
SELECT multimaster.remove_table('ok');
SELECT multimaster.remove_table('ok');
SELECT count(*) AS extra_columns FROM pg_attribute
 WHERE attrelid = 'ok'::regclass AND attname LIKE 'mm\_%' AND NOT attisdropped;
SELECT count(*) AS published FROM pg_publication_tables WHERE tablename = 'ok';

-- non-superusers cannot reach any setup function
SET ROLE mm_app;
SELECT multimaster.add_table('ok');
SELECT multimaster.remove_table('lww');
SELECT multimaster.purge_tombstones('1 day');
RESET ROLE;
SELECT has_function_privilege('mm_app', 'multimaster.add_table(regclass,text,text)', 'EXECUTE') AS app_can_add,
       has_table_privilege('mm_app', 'multimaster.nodes', 'SELECT') AS app_reads_nodes;

-- the trigger function used wrongly
SELECT multimaster.conflict_trigger();
CREATE TABLE wrong (id int PRIMARY KEY, v text);
CREATE TRIGGER t AFTER INSERT ON wrong FOR EACH ROW EXECUTE FUNCTION multimaster.conflict_trigger();
INSERT INTO wrong VALUES (1, 'a');
DROP TRIGGER t ON wrong;
CREATE TRIGGER t BEFORE INSERT ON wrong FOR EACH ROW EXECUTE FUNCTION multimaster.conflict_trigger();
INSERT INTO wrong VALUES (1, 'a');
ALTER TABLE wrong ADD COLUMN mm_origin int, ADD COLUMN mm_version timestamptz, ADD COLUMN mm_generation bigint;
DROP TRIGGER t ON wrong;
CREATE TRIGGER t BEFORE INSERT ON wrong FOR EACH ROW EXECUTE FUNCTION multimaster.conflict_trigger('99999');
INSERT INTO wrong VALUES (1, 'a');
DROP TRIGGER t ON wrong;
CREATE TRIGGER t BEFORE INSERT ON wrong FOR EACH ROW EXECUTE FUNCTION multimaster.conflict_trigger('1', 'sundial');
INSERT INTO wrong VALUES (1, 'a');
DROP TRIGGER t ON wrong;
CREATE TRIGGER t BEFORE INSERT ON wrong FOR EACH ROW EXECUTE FUNCTION multimaster.conflict_trigger('1', 'hlc', 'whoever');
INSERT INTO wrong VALUES (1, 'a');
DROP TRIGGER t ON wrong;
CREATE TRIGGER t BEFORE INSERT ON wrong FOR EACH ROW EXECUTE FUNCTION multimaster.conflict_trigger('1', 'hlc', 'last', '2', 'extra');
INSERT INTO wrong VALUES (1, 'a');
SELECT count(*) AS rows_written FROM wrong;

-- staggered sequences: this node (1) draws values = 1 mod max_nodes
CREATE SEQUENCE ids;
SELECT nextval('ids');
SELECT multimaster.stagger_sequence('ids', 10);
SELECT nextval('ids'), nextval('ids');
SELECT multimaster.stagger_sequence('ids', 0);
SELECT multimaster.stagger_sequence('ok', 10);

-- the role used above
DROP OWNED BY mm_app;
DROP ROLE mm_app;
