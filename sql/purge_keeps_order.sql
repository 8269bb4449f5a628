--
-- Purging tombstones must not let a later write order below what was
-- purged: peers that have not purged yet still hold the tombstone and
-- would drop that write, while this node kept it.
--
-- (a node without peers: with peers, a purge waits for them to pass it)
CREATE TEMP TABLE saved_peers AS SELECT * FROM multimaster.nodes WHERE NOT is_local;
DELETE FROM multimaster.nodes WHERE NOT is_local;
SELECT multimaster._invalidate_cache();

CREATE TABLE pk_prio (id int PRIMARY KEY, v text);
SELECT multimaster.add_table('pk_prio', 'node_priority');
INSERT INTO pk_prio VALUES (1, 'a');
UPDATE pk_prio SET v = 'b';
UPDATE pk_prio SET v = 'c';
DELETE FROM pk_prio;
SELECT mm_generation AS tombstone_generation FROM multimaster.tombstones
 WHERE table_name = multimaster._table_name('pk_prio');
SELECT multimaster.purge_tombstones('0') > 0 AS purged;
SELECT count(*) AS tombstones_left FROM multimaster.tombstones
 WHERE table_name = multimaster._table_name('pk_prio');
SELECT mm_generation FROM multimaster.tombstone_floors
 WHERE table_name = multimaster._table_name('pk_prio');
-- the re-insert (another key too) orders after the purged tombstone
INSERT INTO pk_prio VALUES (1, 'again'), (2, 'new key');
SELECT id, mm_generation > 4 AS after_purged_delete FROM pk_prio ORDER BY id;

-- what a peer that still holds the tombstone does with our re-insert:
-- it compares it to its tombstone, and must keep it
SELECT pg_replication_origin_session_setup('peer2');
SET session_replication_role = replica;
INSERT INTO multimaster.tombstones
SELECT k.*, 1, '2001-01-01', 4 FROM multimaster.tombstone_key('pk_prio', '1') k;
SELECT pg_replication_origin_session_reset();
RESET session_replication_role;
SELECT id, v FROM pk_prio WHERE id = 1;

-- last_update_wins with a user column as version source: the floor holds
-- the clock too, so a re-insert carrying an old timestamp still wins
-- (a version this far ahead needs multimaster.max_future_version raised)
SET multimaster.max_future_version = '2000d';
CREATE TABLE pk_col (id int PRIMARY KEY, v text, mod_time timestamptz);
SELECT multimaster.add_table('pk_col', 'last_update_wins', 'mod_time');
INSERT INTO pk_col VALUES (1, 'a', '2030-01-01');
DELETE FROM pk_col;
SELECT mm_version > '2030-01-01' AS delete_in_the_future FROM multimaster.tombstones
 WHERE table_name = multimaster._table_name('pk_col');
UPDATE multimaster.tombstones SET mm_version = '2020-01-01'
 WHERE table_name = multimaster._table_name('pk_col');
SELECT multimaster.purge_tombstones('0') > 0 AS purged;
INSERT INTO pk_col VALUES (1, 'b', '2010-01-01');
SELECT mm_version > '2020-01-01' AS after_purged_delete FROM pk_col;

SELECT count(*) AS floors FROM multimaster.tombstone_floors
 WHERE table_name IN (multimaster._table_name('pk_prio'), multimaster._table_name('pk_col'));

INSERT INTO multimaster.nodes SELECT * FROM saved_peers;
SELECT multimaster._invalidate_cache();
