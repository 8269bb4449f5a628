--
-- Statements that work on a table without multimaster keep working on a
-- registered one.
--
CREATE TABLE os (id int PRIMARY KEY, v text);
SELECT multimaster.add_table('os');

-- a key repeated within one statement
INSERT INTO os VALUES (1, 'a'), (1, 'b') ON CONFLICT DO NOTHING;
SELECT id, v FROM os;
INSERT INTO os SELECT 2, 'x' FROM generate_series(1, 2) ON CONFLICT DO NOTHING;
SELECT id, v FROM os ORDER BY id;
INSERT INTO os SELECT 3, 'y' FROM generate_series(1, 2);   -- the usual error
INSERT INTO os VALUES (4, 'a'), (4, 'b') ON CONFLICT (id) DO UPDATE SET v = excluded.v;  -- the usual error
SELECT count(*) FROM os;

-- a cross-partition UPDATE on a registered partitioned table
CREATE TABLE parted_os (id int, v text, PRIMARY KEY (id)) PARTITION BY RANGE (id);
CREATE TABLE parted_os_1 PARTITION OF parted_os FOR VALUES FROM (0) TO (100);
CREATE TABLE parted_os_2 PARTITION OF parted_os FOR VALUES FROM (100) TO (200);
SELECT multimaster.add_table('parted_os_1');   -- refused: register the whole
SELECT multimaster.add_table('parted_os');
SELECT tgrelid::regclass, tgenabled FROM pg_trigger
 WHERE tgname = '000_multimaster_resolve' AND tgrelid::regclass::text LIKE 'parted_os%'
 ORDER BY 1;
INSERT INTO parted_os VALUES (50, 'low');
UPDATE parted_os SET id = 150 WHERE id = 50;
SELECT tableoid::regclass, id, v, mm_generation FROM parted_os;
SELECT table_name, key FROM multimaster.tombstones
 WHERE table_name = multimaster._table_name('parted_os');
-- a partition created later is served at once
CREATE TABLE parted_os_3 PARTITION OF parted_os FOR VALUES FROM (200) TO (300);
SELECT relreplident, (SELECT tgenabled FROM pg_trigger
                        WHERE tgrelid = c.oid AND tgname = '000_multimaster_resolve')
  FROM pg_class c WHERE oid = 'parted_os_3'::regclass;
UPDATE parted_os SET id = 250 WHERE id = 150;
SELECT tableoid::regclass, id, v, mm_origin IS NOT NULL AS stamped FROM parted_os;
-- its trigger stays enabled ALWAYS
ALTER TABLE parted_os_3 ENABLE TRIGGER "000_multimaster_resolve";
SELECT multimaster.remove_table('parted_os');
SELECT count(*) AS triggers_left FROM pg_trigger
 WHERE tgname = '000_multimaster_resolve' AND tgrelid::regclass::text LIKE 'parted_os%';

-- a DEFERRABLE primary key: refused with the reason, nothing registered
CREATE TABLE deferred_pk (id int PRIMARY KEY DEFERRABLE, v text);
SELECT multimaster.add_table('deferred_pk');
SELECT count(*) AS extra_columns FROM pg_attribute
 WHERE attrelid = 'deferred_pk'::regclass AND attname LIKE 'mm\_%';

-- UPDATE OF triggers enabled ALWAYS fire for rows applied from a peer
CREATE TABLE audit (id int, v text);
CREATE FUNCTION audit_v() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.audit VALUES (NEW.id, NEW.v);
    RETURN NEW;
END $$;
CREATE TRIGGER zz_audit BEFORE UPDATE OF v ON os FOR EACH ROW EXECUTE FUNCTION audit_v();
ALTER TABLE os ENABLE ALWAYS TRIGGER zz_audit;
SELECT pg_replication_origin_session_setup('peer2');
SET session_replication_role = replica;
INSERT INTO os VALUES (1, 'from peer', 2, now() + interval '1 hour', 9);
SELECT pg_replication_origin_session_reset();
RESET session_replication_role;
SELECT * FROM audit;

-- bulk writes of new keys and deletes in one transaction: the key locks
-- give way to one lock on the table, the lock table does not overflow
BEGIN;
INSERT INTO os SELECT g, 'bulk' FROM generate_series(1000, 30999) g;
SELECT count(*) < 100 AS few_locks FROM pg_locks
 WHERE locktype = 'advisory' AND pid = pg_backend_pid();
DELETE FROM os WHERE v = 'bulk';
COMMIT;
SELECT count(*) AS bulk_tombstones FROM multimaster.tombstones
 WHERE table_name = multimaster._table_name('os') AND key::int >= 1000;
