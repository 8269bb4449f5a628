--
-- A bulk write takes the whole table's key lock after its first keys and
-- then skips the per-key lookups it no longer needs.  Every row it writes
-- must still order after the tombstone of its key, whether the tombstone
-- was there before the transaction or written by it.
--
SET client_min_messages = warning;

-- tombstones from before: the table has some, every key is looked up
CREATE TABLE bulk_old (id int PRIMARY KEY, v text);
SELECT multimaster.add_table('bulk_old');
INSERT INTO bulk_old SELECT g, 'first' FROM generate_series(1, 10) g;
DELETE FROM bulk_old WHERE id <= 5;
BEGIN;
INSERT INTO bulk_old SELECT g, 'bulk' FROM generate_series(100, 300) g;
INSERT INTO bulk_old SELECT g, 'again' FROM generate_series(1, 5) g;
COMMIT;
SELECT count(*) AS reinserted,
       count(*) FILTER (WHERE (b.mm_version, b.mm_generation) > (t.mm_version, t.mm_generation))
         AS after_their_tombstone
  FROM bulk_old b JOIN multimaster.tombstones t
    ON t.table_name = multimaster._table_name('bulk_old') AND t.key = b.id::text;

-- no tombstone before: the bulk insert skips the lookups until the same
-- transaction deletes, which writes tombstones the next inserts must pass
CREATE TABLE bulk_new (id int PRIMARY KEY, v text);
SELECT multimaster.add_table('bulk_new');
BEGIN;
INSERT INTO bulk_new SELECT g, 'bulk' FROM generate_series(1, 200) g;
DELETE FROM bulk_new WHERE id <= 10;
INSERT INTO bulk_new SELECT g, 'again' FROM generate_series(1, 10) g;
COMMIT;
SELECT count(*) AS reinserted,
       count(*) FILTER (WHERE (b.mm_version, b.mm_generation) > (t.mm_version, t.mm_generation))
         AS after_their_tombstone
  FROM bulk_new b JOIN multimaster.tombstones t
    ON t.table_name = multimaster._table_name('bulk_new') AND t.key = b.id::text;
SELECT count(*) AS rows, count(DISTINCT mm_origin) AS origins,
       bool_and(mm_version IS NOT NULL AND mm_generation >= 1) AS all_stamped
  FROM bulk_new;

-- the same for rows arriving from a peer in one big transaction
SELECT pg_replication_origin_create('bulk_peer') > 0 AS created;
CREATE TABLE bulk_apply (id int PRIMARY KEY, v text);
SELECT multimaster.add_table('bulk_apply');
INSERT INTO bulk_apply VALUES (150, 'local');
DELETE FROM bulk_apply WHERE id = 150;
SELECT pg_replication_origin_session_setup('bulk_peer');
SET session_replication_role = replica;
BEGIN;
INSERT INTO bulk_apply
SELECT g, 'peer', 2, now() - interval '1 hour', 1 FROM generate_series(1, 200) g;
COMMIT;
RESET session_replication_role;
SELECT pg_replication_origin_session_reset();
SELECT count(*) AS rows, count(*) FILTER (WHERE id = 150) AS deleted_key_back FROM bulk_apply;

SELECT multimaster.remove_table(t) FROM unnest('{bulk_old,bulk_new,bulk_apply}'::regclass[]) t;
DROP TABLE bulk_old, bulk_new, bulk_apply;
SELECT pg_replication_origin_drop('bulk_peer');
