--
-- tombstone_removes_older_row: a tombstone that arrives after its DELETE
-- (a subscription still copying the tombstone table applies the DELETEs of
-- tables it has copied already, without their tombstones) or without it (a
-- table copy) removes a row of its key that is older, for instance a
-- concurrent older write from a third node that came in between.
--
-- (peers 2 and 3 are registered by earlier tests)
CREATE TABLE lt (id int PRIMARY KEY, v text);
SELECT multimaster.add_table('lt');
SELECT pg_replication_origin_session_setup('peer2');
SET session_replication_role = replica;
INSERT INTO lt VALUES (1, 'from n2', 2, '2020-01-01', 1), (2, 'from n2', 2, '2020-01-01', 1);
-- n2 deletes key 1: its DELETE arrives alone (no tombstone yet)
DELETE FROM lt WHERE id = 1;
SELECT pg_replication_origin_session_reset();
-- n3's older concurrent update of key 1 arrives: with no tombstone, it comes back
SELECT pg_replication_origin_session_setup('peer3');
INSERT INTO lt VALUES (1, 'stale from n3', 3, '2020-06-01', 2);
SELECT id, v FROM lt WHERE id = 1;
SELECT pg_replication_origin_session_reset();
-- n2's tombstone of key 1 (newer than n3's write) arrives: the row goes
SELECT pg_replication_origin_session_setup('peer2');
INSERT INTO multimaster.tombstones SELECT k.*, 2, '2021-01-01', 2 FROM multimaster.tombstone_key('lt', '1') k;
SELECT count(*) AS key_1_rows FROM lt WHERE id = 1;
-- a tombstone older than the row leaves it (the row is a later write)
INSERT INTO multimaster.tombstones SELECT k.*, 2, '2019-01-01', 1 FROM multimaster.tombstone_key('lt', '2') k;
SELECT id, v FROM lt WHERE id = 2;
-- the DELETE that travels behind a tombstone finds nothing left to do
BEGIN;
INSERT INTO lt VALUES (3, 'from n2', 2, '2020-01-01', 1);
INSERT INTO multimaster.tombstones SELECT k.*, 2, '2021-01-01', 2 FROM multimaster.tombstone_key('lt', '3') k;
DELETE FROM lt WHERE id = 3;
COMMIT;
SELECT count(*) AS key_3_rows FROM lt WHERE id = 3;
-- tombstone_update_removes_older_row: a table copy's catch-up reads plain
-- pgoutput, which ships a tombstone made newer as an UPDATE; the DELETE of
-- its row, copied by another worker, may have come first and met only the
-- older tombstone, which kept the row
INSERT INTO multimaster.tombstones SELECT k.*, 2, '2020-01-01', 1 FROM multimaster.tombstone_key('lt', '4') k;
INSERT INTO lt VALUES (4, 'from n2, after its old delete', 2, '2020-06-01', 2);
DELETE FROM lt WHERE id = 4;
SELECT count(*) AS key_4_rows_kept FROM lt WHERE id = 4;
UPDATE multimaster.tombstones t SET mm_version = '2021-01-01', mm_generation = 3
  FROM multimaster.tombstone_key('lt', '4') k
 WHERE t.table_name = k.table_name AND t.key_hash = k.key_hash AND t.key_data = k.key_data;
SELECT count(*) AS key_4_rows FROM lt WHERE id = 4;
SELECT t.mm_origin, t.mm_version, t.mm_generation
  FROM multimaster.tombstones t, multimaster.tombstone_key('lt', '4') k
 WHERE t.table_name = k.table_name AND t.key_data = k.key_data;
-- an older tombstone arriving as an UPDATE changes nothing
UPDATE multimaster.tombstones t SET mm_version = '2019-01-01', mm_generation = 1
  FROM multimaster.tombstone_key('lt', '4') k
 WHERE t.table_name = k.table_name AND t.key_hash = k.key_hash AND t.key_data = k.key_data;
SELECT t.mm_version, t.mm_generation
  FROM multimaster.tombstones t, multimaster.tombstone_key('lt', '4') k
 WHERE t.table_name = k.table_name AND t.key_data = k.key_data;
SELECT pg_replication_origin_session_reset();
RESET session_replication_role;
SELECT kind, resolution, key FROM multimaster.conflicts WHERE table_name = 'public.lt' ORDER BY conflict_id;
