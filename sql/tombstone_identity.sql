--
-- A delete is found again by every later write of an equal key, whatever
-- the session settings of whoever deleted or writes, and whatever form the
-- equal value is written in.  Each case: delete under one setting, then an
-- incoming write of the key, older than the delete, arrives (the apply
-- worker's session has default settings): it must be dropped, as on every
-- other node.
--
CREATE FUNCTION stale_insert(tbl regclass, key text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    PERFORM pg_replication_origin_session_setup('peer2');
    SET LOCAL session_replication_role = replica;
    EXECUTE format('INSERT INTO %s VALUES (%L, %L, 2, %L, 1)', tbl, key, 'stale', '2001-01-01');
    PERFORM pg_replication_origin_session_reset();
    EXECUTE format('SELECT count(*) FROM %s WHERE v = %L', tbl, 'stale') INTO n;
    RETURN n;
END $$;

-- timestamptz key deleted under another TimeZone
CREATE TABLE ts_key (k timestamptz PRIMARY KEY, v text);
SELECT multimaster.add_table('ts_key');
INSERT INTO ts_key VALUES ('2024-03-01 12:00:00+00', 'x');
SET TimeZone = 'America/New_York';
DELETE FROM ts_key WHERE k = '2024-03-01 12:00:00+00';
RESET TimeZone;
SET TimeZone = 'UTC';
BEGIN;
SELECT stale_insert('ts_key', '2024-03-01 12:00:00+00') AS resurrected_ts;
COMMIT;
RESET TimeZone;

-- date key deleted under another DateStyle
CREATE TABLE date_key (k date PRIMARY KEY, v text);
SELECT multimaster.add_table('date_key');
INSERT INTO date_key VALUES ('2024-03-01', 'x');
SET DateStyle = 'SQL, DMY';
DELETE FROM date_key;
RESET DateStyle;
BEGIN;
SELECT stale_insert('date_key', '2024-03-01') AS resurrected_date;
COMMIT;

-- interval key deleted under another IntervalStyle
CREATE TABLE iv_key (k interval PRIMARY KEY, v text);
SELECT multimaster.add_table('iv_key');
INSERT INTO iv_key VALUES ('1 day 2 hours', 'x');
SET IntervalStyle = 'iso_8601';
DELETE FROM iv_key;
RESET IntervalStyle;
BEGIN;
SELECT stale_insert('iv_key', '1 day 2 hours') AS resurrected_interval;
COMMIT;

-- float key deleted under another extra_float_digits
CREATE TABLE fl_key (k float8 PRIMARY KEY, v text);
SELECT multimaster.add_table('fl_key');
INSERT INTO fl_key VALUES (0.1, 'x');
SET extra_float_digits = -3;
DELETE FROM fl_key;
RESET extra_float_digits;
BEGIN;
SELECT stale_insert('fl_key', '0.1') AS resurrected_float;
COMMIT;

-- bytea key deleted under another bytea_output
CREATE TABLE by_key (k bytea PRIMARY KEY, v text);
SELECT multimaster.add_table('by_key');
INSERT INTO by_key VALUES ('\x0102ff', 'x');
SET bytea_output = 'escape';
DELETE FROM by_key;
RESET bytea_output;
BEGIN;
SELECT stale_insert('by_key', '\x0102ff') AS resurrected_bytea;
COMMIT;

-- numeric: 1.0 deleted, 1.00 written: the same key
CREATE TABLE num_key (k numeric PRIMARY KEY, v text);
SELECT multimaster.add_table('num_key');
INSERT INTO num_key VALUES (1.0, 'x');
DELETE FROM num_key;
BEGIN;
SELECT stale_insert('num_key', '1.00') AS resurrected_numeric;
COMMIT;
-- and a local re-insert as 1.000 orders after the delete of 1.0
INSERT INTO num_key VALUES (1.000, 'back');
SELECT n.k, n.mm_version > t.mm_version AS newer_than_delete,
       n.mm_generation > t.mm_generation AS longer_history
  FROM num_key n, multimaster.tombstones t
 WHERE t.table_name = multimaster._table_name('num_key');

-- citext: 'Key' deleted, 'KEY' written: the same key
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TABLE ci_key (k citext PRIMARY KEY, v text);
SELECT multimaster.add_table('ci_key');
INSERT INTO ci_key VALUES ('Key', 'x');
DELETE FROM ci_key;
BEGIN;
SELECT stale_insert('ci_key', 'KEY') AS resurrected_citext;
COMMIT;

-- table names do not depend on quote_all_identifiers
CREATE TABLE "select" (k int PRIMARY KEY, v text);
SELECT multimaster.add_table('"select"');
INSERT INTO "select" VALUES (1, 'x');
SET quote_all_identifiers = on;
DELETE FROM "select";
SELECT table_name FROM multimaster.tombstones WHERE key = '1' AND table_name LIKE '%select%';
RESET quote_all_identifiers;
BEGIN;
SELECT stale_insert('"select"', '1') AS resurrected_quoting;
COMMIT;

-- a schema rename, with tombstones present: they follow the table
CREATE SCHEMA s1;
CREATE TABLE s1.t (k int PRIMARY KEY, v text);
SELECT multimaster.add_table('s1.t');
INSERT INTO s1.t VALUES (1, 'x'), (2, 'y');
DELETE FROM s1.t WHERE k = 1;       -- this backend caches "s1"."t"
ALTER SCHEMA s1 RENAME TO s2;
DELETE FROM s2.t WHERE k = 2;       -- must be filed under the new name
SELECT table_name, key FROM multimaster.tombstones
 WHERE table_name LIKE '"s_"."t"' ORDER BY key;
BEGIN;
SELECT stale_insert('s2.t', '1') + stale_insert('s2.t', '2') AS resurrected_after_rename;
COMMIT;
-- and a table rename
ALTER TABLE s2.t RENAME TO t2;
SELECT table_name, key FROM multimaster.tombstones
 WHERE table_name LIKE '"s2".%' ORDER BY key;
BEGIN;
SELECT stale_insert('s2.t2', '1') AS resurrected_after_table_rename;
COMMIT;

-- unsupported keys are refused at add_table, with the reason
CREATE TYPE pair AS (a int, b int);
CREATE TABLE comp_key (k pair PRIMARY KEY, v text);
SELECT multimaster.add_table('comp_key');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'comp_key'::regclass AND NOT tgisinternal;

-- tombstone_key() is how people find a key's tombstone
SELECT table_name, key FROM multimaster.tombstone_key('num_key', '1.0000');
SELECT multimaster.tombstone_key('num_key', '1', '2');
