--
-- Values stored out of line (TOAST) that an UPDATE leaves unchanged must
-- never be lost when the UPDATE is shipped as a full row.
--
CREATE TABLE big (id int PRIMARY KEY, small text, doc text);
ALTER TABLE big ALTER COLUMN doc SET STORAGE EXTERNAL;
SELECT multimaster.add_table('big');
-- add_table makes the WAL carry the full old row for such tables
SELECT relreplident FROM pg_class WHERE oid = 'big'::regclass;

-- output plugin: decode an UPDATE that leaves the 20 kB column alone
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'output_plugin_libraries') THEN
        PERFORM set_config('output_plugin_libraries', 'pgoutput, test_decoding, multimaster', false);
    END IF;
END $$;
SELECT 'init' FROM pg_create_logical_replication_slot('mm_toast', 'multimaster');
INSERT INTO big SELECT 1, 's', string_agg(md5(i::text), '') FROM generate_series(1, 640) i;
SELECT length(doc) FROM big;
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

-- an ALTER TABLE cannot take the full old row away from such a table:
-- multimaster puts it back at once, so the value is still supplied
ALTER TABLE big REPLICA IDENTITY DEFAULT;
SELECT relreplident FROM pg_class WHERE oid = 'big'::regclass;
UPDATE big SET small = 's3' WHERE id = 1;
ALTER TABLE big REPLICA IDENTITY FULL;
SELECT chr(get_byte(data, 0)) AS msg, length(data) > 20480 AS carries_doc
  FROM pg_logical_slot_get_binary_changes('mm_toast', NULL, NULL,
        'proto_version', '1', 'publication_names', 'multimaster')
 WHERE chr(get_byte(data, 0)) NOT IN ('B', 'C', 'R');

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
