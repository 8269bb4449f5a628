--
-- Deletes are versions too: a local delete leaves a tombstone that travels
-- ahead of the DELETE; incoming rows and deletes are judged against it.
--
CREATE TABLE tb (id int PRIMARY KEY, v text);
SELECT multimaster.add_table('tb');
INSERT INTO tb VALUES (1, 'one'), (2, 'two'), (3, 'three');
DELETE FROM tb WHERE id = 1;
SELECT t.key, t.mm_origin, t.mm_generation
  FROM multimaster.tombstones t WHERE t.table_name = '"public"."tb"';

SELECT pg_replication_origin_session_setup('peer2');
SET session_replication_role = replica;

-- an incoming row older than the delete does not resurrect the key
INSERT INTO tb VALUES (1, 'stale update', 2, '2000-01-01', 1);
SELECT * FROM tb WHERE id = 1;
-- a newer one (a later re-insert) does
INSERT INTO tb VALUES (1, 'reinserted', 2, now() + interval '1 hour', 3);
SELECT id, v, mm_origin FROM tb WHERE id = 1;

-- incoming DELETE: its tombstone arrives first, in the same transaction
-- older than the row (a concurrent newer update exists): the delete loses
BEGIN;
INSERT INTO multimaster.tombstones SELECT k.*, 3, '2001-01-01', 2 FROM multimaster.tombstone_key('tb', '1') k;
DELETE FROM tb WHERE id = 1;
COMMIT;
SELECT id, v FROM tb WHERE id = 1;
-- newer than the row: the delete wins
BEGIN;
INSERT INTO multimaster.tombstones SELECT k.*, 3, now() + interval '2 hours', 2 FROM multimaster.tombstone_key('tb', '2') k;
DELETE FROM tb WHERE id = 2;
COMMIT;
SELECT count(*) AS key_2_rows FROM tb WHERE id = 2;
-- tombstones themselves merge to the newest: an older one changes nothing
INSERT INTO multimaster.tombstones SELECT k.*, 2, '2001-01-01', 1 FROM multimaster.tombstone_key('tb', '2') k;
SELECT key, mm_origin, mm_generation FROM multimaster.tombstones
 WHERE table_name = '"public"."tb"' AND key = '2';
-- a DELETE without any tombstone (a peer without multimaster) is applied
DELETE FROM tb WHERE id = 3;
SELECT count(*) AS key_3_rows FROM tb WHERE id = 3;
-- replicated purges do not remove this node's tombstones
DELETE FROM multimaster.tombstones WHERE table_name = '"public"."tb"';
SELECT count(*) > 0 AS kept FROM multimaster.tombstones WHERE table_name = '"public"."tb"';

SELECT pg_replication_origin_session_reset();
RESET session_replication_role;

-- a local re-insert after a tombstone from a clock two hours ahead wins
INSERT INTO tb VALUES (2, 'back');
SELECT t.mm_version < tb.mm_version AS newer_than_tombstone, tb.mm_generation
  FROM tb JOIN multimaster.tombstones t ON t.key = tb.id::text
 WHERE tb.id = 2 AND t.table_name = '"public"."tb"';

-- concurrent delete and update (equal generations) are conflicts, logged
INSERT INTO tb VALUES (30, 'v1'), (31, 'v1'), (32, 'v1');
UPDATE tb SET v = 'v2' WHERE id IN (30, 31);   -- generation 2 here
DELETE FROM tb WHERE id = 32;                   -- tombstone generation 2 here
SELECT pg_replication_origin_session_setup('peer3');
SET session_replication_role = replica;
BEGIN;  -- n3 deleted 30 (its generation 1) before our update: older, loses
INSERT INTO multimaster.tombstones SELECT k.*, 3, now() - interval '1 hour', 2 FROM multimaster.tombstone_key('tb', '30') k;
DELETE FROM tb WHERE id = 30;
COMMIT;
BEGIN;  -- n3 deleted 31 after our update was made: newer, wins
INSERT INTO multimaster.tombstones SELECT k.*, 3, now() + interval '1 hour', 2 FROM multimaster.tombstone_key('tb', '31') k;
DELETE FROM tb WHERE id = 31;
COMMIT;
-- n3 updated 32 (generation 2) before our delete: older than the tombstone
INSERT INTO tb VALUES (32, 'n3 update', 3, now() - interval '1 hour', 2);
SELECT pg_replication_origin_session_reset();
RESET session_replication_role;
SELECT id, v FROM tb WHERE id BETWEEN 30 AND 32 ORDER BY id;

SELECT key, kind, resolution, local_origin, remote_origin
  FROM multimaster.conflicts WHERE table_name = 'public.tb' ORDER BY conflict_id;

-- a primary key change deletes the old key
UPDATE tb SET id = 10 WHERE id = 2;
SELECT key FROM multimaster.tombstones WHERE table_name = '"public"."tb"' ORDER BY key;

-- composite and text keys are rendered like record literals
CREATE TABLE tb2 (a int, b text, v text, PRIMARY KEY (a, b));
SELECT multimaster.add_table('tb2');
INSERT INTO tb2 VALUES (1, 'x y', 'v'), (2, 'plain', 'v'), (3, '', 'v'), (4, 'q"(', 'v');
DELETE FROM tb2;
SELECT key FROM multimaster.tombstones WHERE table_name = '"public"."tb2"' ORDER BY key;

-- purge_keeps_unconfirmed_tombstones: peers that this node cannot ask
-- (registered without a connection string) keep every tombstone, however
-- old: they may still send a write that only the tombstone stops
UPDATE multimaster.tombstones SET mm_version = now() - interval '2 days'
 WHERE table_name = '"public"."tb2"';
SELECT multimaster.purge_tombstones('1 day');
SELECT count(*) FROM multimaster.tombstones WHERE table_name = '"public"."tb2"';

-- purge by age, on a node without peers
CREATE TEMP TABLE saved_peers AS SELECT * FROM multimaster.nodes WHERE NOT is_local;
DELETE FROM multimaster.nodes WHERE NOT is_local;
SELECT multimaster._invalidate_cache();
UPDATE multimaster.tombstones SET mm_version = now()
 WHERE table_name = '"public"."tb2"';
SELECT multimaster.purge_tombstones('1 day');
UPDATE multimaster.tombstones SET mm_version = now() - interval '2 days'
 WHERE table_name = '"public"."tb2"';
SELECT multimaster.purge_tombstones('1 day');
SELECT count(*) FROM multimaster.tombstones WHERE table_name = '"public"."tb2"';
SELECT multimaster.purge_tombstones('-1 day');
SELECT multimaster.purge_tombstones(NULL);
INSERT INTO multimaster.nodes SELECT * FROM saved_peers;
SELECT multimaster._invalidate_cache();
