--
-- An incoming row or tombstone applied by mm_upsert() adds the error
-- context "multimaster applying the row of ..." while it runs, and must
-- take it off when it returns: left on the stack it points into a frame
-- that is gone, and the next error of the same statement walks it (a
-- deadlock or a lock timeout in an apply worker, or here a user trigger
-- refusing the delete an applied tombstone makes) and crashes the server.
--
CREATE TABLE errctx (id int PRIMARY KEY, v text);
SELECT multimaster.add_table('errctx');
INSERT INTO errctx VALUES (1, 'local'), (2, 'local');
CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'refused by a user trigger';
END $$;
CREATE TRIGGER zz_refuse BEFORE DELETE ON errctx FOR EACH ROW EXECUTE FUNCTION refuse_delete();
ALTER TABLE errctx ENABLE ALWAYS TRIGGER zz_refuse;

SELECT pg_replication_origin_session_setup('peer2');
SET session_replication_role = replica;
-- the tombstone is stored, then its row deleted: the user trigger refuses
\set VERBOSITY default
INSERT INTO multimaster.tombstones
SELECT k.*, 2, now() + interval '1 hour', 5 FROM multimaster.tombstone_key('errctx', '1') k;
SELECT pg_replication_origin_session_reset();
RESET session_replication_role;
-- the server is still up, and nothing was applied
SELECT id, v FROM errctx ORDER BY id;
SELECT count(*) AS tombstones FROM multimaster.tombstones
 WHERE table_name = multimaster._table_name('errctx');

DROP TRIGGER zz_refuse ON errctx;
DROP FUNCTION refuse_delete();
SELECT multimaster.remove_table('errctx');
DROP TABLE errctx;
