--
-- Values stored out of line (TOAST) that an UPDATE leaves unchanged must
-- never be lost when the UPDATE is shipped as a full row.
--
CREATE TABLE big (id int PRIMARY KEY, small text, doc text);
ALTER TABLE big ALTER COLUMN doc SET STORAGE EXTERNAL;
SELECT multimaster.add_table('big');
-- no REPLICA IDENTITY FULL needed: the trigger carries such values itself
SELECT relreplident FROM pg_class WHERE oid = 'big'::regclass;

-- how many TOAST chunks a table's values take
CREATE FUNCTION toast_chunks(tbl regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM %s',
                   (SELECT reltoastrelid::regclass FROM pg_class WHERE oid = tbl)) INTO n;
    RETURN n;
END $$;

-- output plugin: decode an UPDATE that leaves the 20 kB column alone
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'output_plugin_libraries') THEN
        PERFORM set_config('output_plugin_libraries', 'pgoutput, test_decoding, multimaster', false);
    END IF;
END $$;
SELECT 'init' FROM pg_create_logical_replication_slot('mm_toast', 'multimaster');
INSERT INTO big SELECT 1, 's', string_agg(md5(i::text), '') FROM generate_series(1, 640) i;
SELECT length(doc), toast_chunks('big') > 0 AS out_of_line FROM big;
UPDATE big SET small = 's2' WHERE id = 1;
-- messages: B(egin), R(elation), I(nsert), C(ommit) for each transaction;
-- the UPDATE is shipped as an Insert carrying the whole 20 kB value
SELECT chr(get_byte(data, 0)) AS msg, length(data) > 20480 AS carries_doc
  FROM pg_logical_slot_get_binary_changes('mm_toast', NULL, NULL,
        'proto_version', '1', 'publication_names', 'multimaster');

-- a primary key change is shipped as Delete of the old key plus Insert
UPDATE big SET id = 5 WHERE id = 1;
UPDATE big SET id = 1 WHERE id = 5;
SELECT chr(get_byte(data, 0)) AS msg, length(data) > 20480 AS carries_doc
  FROM pg_logical_slot_get_binary_changes('mm_toast', NULL, NULL,
        'proto_version', '1', 'publication_names', 'multimaster')
 WHERE chr(get_byte(data, 0)) NOT IN ('B', 'C', 'R');

-- with REPLICA IDENTITY FULL, set by the user, the plugin takes the value
-- from the old row, which the WAL then carries whole
ALTER TABLE big REPLICA IDENTITY FULL;
UPDATE big SET small = 's3' WHERE id = 1;
ALTER TABLE big REPLICA IDENTITY DEFAULT;
SELECT chr(get_byte(data, 0)) AS msg, length(data) > 20480 AS carries_doc
  FROM pg_logical_slot_get_binary_changes('mm_toast', NULL, NULL,
        'proto_version', '1', 'publication_names', 'multimaster')
 WHERE chr(get_byte(data, 0)) NOT IN ('B', 'C', 'R');

-- a STORAGE MAIN value goes out of line too when the row cannot fit in a
-- page otherwise (main_storage_value_out_of_line)
CREATE TABLE main_big (id int PRIMARY KEY, n int, m text);
ALTER TABLE main_big ALTER COLUMN m SET STORAGE MAIN;
SELECT multimaster.add_table('main_big');
SELECT relreplident FROM pg_class WHERE oid = 'main_big'::regclass;
INSERT INTO main_big
SELECT 1, 1, string_agg(substr(md5(i::text), 1, 1 + i % 31), '') FROM generate_series(1, 1200) i;
SELECT length(m) > 9000 AS long, toast_chunks('main_big') > 0 AS out_of_line FROM main_big;
SELECT toast_chunks('main_big') AS chunks_before \gset
SELECT count(*) FROM pg_logical_slot_get_binary_changes('mm_toast', NULL, NULL,
        'proto_version', '1', 'publication_names', 'multimaster');
UPDATE main_big SET n = 2 WHERE id = 1;
SELECT chr(get_byte(data, 0)) AS msg, length(data) > (SELECT length(m) FROM main_big) AS carries_m
  FROM pg_logical_slot_get_binary_changes('mm_toast', NULL, NULL,
        'proto_version', '1', 'publication_names', 'multimaster')
 WHERE chr(get_byte(data, 0)) NOT IN ('B', 'C', 'R');
-- the value is intact here, and took no more TOAST chunks than before
SELECT md5(m) = (SELECT md5(string_agg(substr(md5(i::text), 1, 1 + i % 31), ''))
                   FROM generate_series(1, 1200) i) AS intact,
       toast_chunks('main_big') = :chunks_before AS same_chunks
  FROM main_big;

-- changes applied from a peer are not sent on (no loops)
SELECT pg_replication_origin_session_setup('peer2');
SET session_replication_role = replica;
INSERT INTO big VALUES (2, 'from n2', 'doc', 2, '2030-01-01', 1);
SELECT pg_replication_origin_session_reset();
RESET session_replication_role;
SELECT count(*) AS messages_from_peer
  FROM pg_logical_slot_get_binary_changes('mm_toast', NULL, NULL,
        'proto_version', '1', 'publication_names', 'multimaster');
SELECT pg_drop_replication_slot('mm_toast');

-- apply side: the full row arrives, the value is kept
SELECT pg_replication_origin_session_setup('peer2');
SET session_replication_role = replica;
INSERT INTO big SELECT 1, 'from n2', doc, 2, now() + interval '1 hour', 9 FROM big WHERE id = 1;
-- a plain UPDATE message leaves the unchanged value to the apply worker
UPDATE big SET small = 'upd', mm_version = mm_version + interval '1 s', mm_generation = 10 WHERE id = 1;
SELECT pg_replication_origin_session_reset();
RESET session_replication_role;
SELECT id, small, length(doc), md5(doc) = (SELECT md5(string_agg(md5(i::text), '')) FROM generate_series(1, 640) i) AS intact
  FROM big WHERE id = 1;
