--
-- What add_table decided stays true after any ALTER TABLE.
--
CREATE TABLE at (id int PRIMARY KEY, n int, u int NOT NULL UNIQUE);
SELECT multimaster.add_table('at');
SELECT relreplident FROM pg_class WHERE oid = 'at'::regclass;

-- a column that can be stored out of line, added later: no FULL needed
-- (the trigger carries unchanged out-of-line values, see toast.sql)
ALTER TABLE at ADD COLUMN doc text;
SELECT relreplident FROM pg_class WHERE oid = 'at'::regclass;

-- REPLICA IDENTITY USING INDEX would ship a key change without its old key
ALTER TABLE at REPLICA IDENTITY USING INDEX at_u_key;
ALTER TABLE at REPLICA IDENTITY NOTHING;
SELECT relreplident FROM pg_class WHERE oid = 'at'::regclass;

-- the output plugin, for keys that change only in form or not at all
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'output_plugin_libraries') THEN
        PERFORM set_config('output_plugin_libraries', 'pgoutput, test_decoding, multimaster', false);
    END IF;
END $$;
CREATE TABLE toast_key (k text PRIMARY KEY, v text);
ALTER TABLE toast_key ALTER COLUMN k SET STORAGE EXTERNAL;
SELECT multimaster.add_table('toast_key');
CREATE TABLE num_pk (k numeric PRIMARY KEY, v text);
SELECT multimaster.add_table('num_pk');
INSERT INTO toast_key SELECT string_agg(md5(i::text), ''), 'a' FROM generate_series(1, 80) i;
SELECT pg_column_size(k) > 2000 AS key_out_of_line FROM toast_key;
INSERT INTO num_pk VALUES (1.0, 'a');
SELECT 'init' FROM pg_create_logical_replication_slot('mm_alter', 'multimaster');
-- an out-of-line key left unchanged: an Insert only, no Delete
UPDATE toast_key SET v = 'b';
-- 1.0 becoming 1.00 is the same key: an Insert only, no tombstone
UPDATE num_pk SET k = 1.00, v = 'b';
SELECT chr(get_byte(data, 0)) AS msg
  FROM pg_logical_slot_get_binary_changes('mm_alter', NULL, NULL,
        'proto_version', '1', 'publication_names', 'multimaster')
 WHERE chr(get_byte(data, 0)) NOT IN ('B', 'C', 'R');
SELECT pg_drop_replication_slot('mm_alter');
SELECT count(*) AS tombstones FROM multimaster.tombstones
 WHERE table_name IN (multimaster._table_name('toast_key'), multimaster._table_name('num_pk'));

-- what would stop every link into this node is refused, with the way out
ALTER TABLE at DROP COLUMN mm_version;
ALTER TABLE at ALTER COLUMN mm_generation TYPE int;
ALTER TABLE at DROP CONSTRAINT at_pkey;
ALTER TABLE at DISABLE TRIGGER "000_multimaster_resolve";
ALTER TABLE at ENABLE TRIGGER "000_multimaster_resolve";
-- safe DDL goes through
ALTER TABLE at ADD COLUMN note int DEFAULT 0;
SELECT count(*) AS version_columns FROM pg_attribute
 WHERE attrelid = 'at'::regclass AND attname LIKE 'mm\_%' AND NOT attisdropped;

-- a table owner who is not a superuser cannot make the apply worker run
-- a trigger of theirs as superuser
CREATE ROLE mm_owner LOGIN;
CREATE TABLE owned (id int PRIMARY KEY, v text);
ALTER TABLE owned OWNER TO mm_owner;
SELECT multimaster.add_table('owned');     -- warns: the owner is not a superuser
CREATE FUNCTION owned_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
ALTER FUNCTION owned_noop() OWNER TO mm_owner;
SET ROLE mm_owner;
CREATE TRIGGER zz_owned BEFORE INSERT ON owned FOR EACH ROW EXECUTE FUNCTION owned_noop();
ALTER TABLE owned ENABLE ALWAYS TRIGGER zz_owned;
ALTER TABLE owned ENABLE REPLICA TRIGGER zz_owned;
ALTER TABLE owned ADD COLUMN note int;          -- other DDL of the owner goes through
DROP TRIGGER "000_multimaster_resolve" ON owned;
RESET ROLE;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'owned'::regclass AND NOT tgisinternal ORDER BY 1;
-- a superuser may
ALTER TABLE owned ENABLE ALWAYS TRIGGER zz_owned;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'owned'::regclass AND NOT tgisinternal ORDER BY 1;
