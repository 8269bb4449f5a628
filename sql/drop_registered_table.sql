--
-- A registered table dropped without remove_table() is forgotten at once
-- (its OID could come back as another table, which would then pass for
-- registered), with a warning that peers still send its changes.
--
CREATE TABLE dropped_reg (id int PRIMARY KEY, v text);
SELECT multimaster.add_table('dropped_reg');
SELECT 'dropped_reg'::regclass::oid AS old_oid \gset
DROP TABLE dropped_reg;
SELECT count(*) AS still_registered FROM multimaster.tables WHERE relid::oid = :old_oid;
-- registering and publishing go on as before
CREATE TABLE after_drop (id int PRIMARY KEY, v text);
SELECT multimaster.add_table('after_drop');
SELECT relid FROM multimaster.tables WHERE relid = 'after_drop'::regclass;
-- dropping something else, or a schema holding a registered table
CREATE SCHEMA drop_me;
CREATE TABLE drop_me.inner_t (id int PRIMARY KEY);
SELECT multimaster.add_table('drop_me.inner_t');
DROP SCHEMA drop_me CASCADE;
SELECT count(*) AS left_over FROM multimaster.tables t
 WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.relid::oid);
SELECT multimaster.remove_table('after_drop');
DROP TABLE after_drop;
