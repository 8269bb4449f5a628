--
-- last_update_wins: later version wins, node priority then node id break
-- ties.  Node priorities (from init): n1 = 0, n2 = 0, n3 = 10.
--
CREATE TABLE lww (id int PRIMARY KEY, v text);
SELECT multimaster.add_table('lww');
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'lww'::regclass;

-- local writes are stamped: origin, clock, generation
INSERT INTO lww VALUES (1, 'local');
SELECT id, v, mm_origin, mm_generation,
       mm_version BETWEEN clock_timestamp() - interval '1 minute'
                      AND clock_timestamp() AS clock_stamped
  FROM lww;
-- a user cannot forge the version of a local write
INSERT INTO lww VALUES (9, 'forged', 3, '2999-01-01', 100);
SELECT id, mm_origin, mm_generation, mm_version < '2999-01-01' AS restamped
  FROM lww WHERE id = 9;

-- from here on this session looks like the apply worker receiving from n2
SELECT pg_replication_origin_session_setup('peer2');
SET session_replication_role = replica;

-- incoming row written on a clock one hour ahead: newer, replaces the row
INSERT INTO lww VALUES (1, 'remote-ahead', 2, now() + interval '1 hour', 1);
SELECT id, v, mm_origin, mm_generation FROM lww WHERE id = 1;
-- an older incoming row is skipped
INSERT INTO lww VALUES (1, 'remote-old', 3, '2000-01-01', 1);
SELECT id, v, mm_origin FROM lww WHERE id = 1;
-- an echo (the same version again) is skipped and is not a conflict
INSERT INTO lww SELECT * FROM lww WHERE id = 1;
SELECT id, v, mm_origin FROM lww WHERE id = 1;

-- equal clocks: the higher-priority node wins (n3 = 10 > n2 = 0) ...
INSERT INTO lww VALUES (2, 'from n2', 2, '2030-01-01 00:00:00+00', 1);
INSERT INTO lww VALUES (2, 'from n3', 3, '2030-01-01 00:00:00+00', 1);
INSERT INTO lww VALUES (2, 'from n2 again', 2, '2030-01-01 00:00:00+00', 1);
SELECT id, v, mm_origin FROM lww WHERE id = 2;
-- ... and between equal priorities the higher node id (n4 is unknown: 0)
INSERT INTO lww VALUES (3, 'from n4', 4, '2030-01-01 00:00:00+00', 1);
INSERT INTO lww VALUES (3, 'from n2', 2, '2030-01-01 00:00:00+00', 1);
SELECT id, v, mm_origin FROM lww WHERE id = 3;

-- the order of arrival does not matter: same rows, reversed order
INSERT INTO lww VALUES (12, 'from n2 again', 2, '2030-01-01 00:00:00+00', 1);
INSERT INTO lww VALUES (12, 'from n3', 3, '2030-01-01 00:00:00+00', 1);
INSERT INTO lww VALUES (12, 'from n2', 2, '2030-01-01 00:00:00+00', 1);
SELECT id, v, mm_origin FROM lww WHERE id = 12;

-- updates arrive as full rows too (generation > 1): logged as update_update
INSERT INTO lww VALUES (13, 'n2 second write', 2, '2030-01-01 00:00:00+00', 2);
INSERT INTO lww VALUES (13, 'n3 second write', 3, '2030-01-02 00:00:00+00', 2);
SELECT id, v, mm_origin FROM lww WHERE id = 13;

-- a plain UPDATE message (stock pgoutput) applies only if newer
UPDATE lww SET v = 'upd newer', mm_origin = 2,
       mm_version = '2031-01-01 00:00:00+00', mm_generation = 2 WHERE id = 2;
UPDATE lww SET v = 'upd older', mm_origin = 2,
       mm_version = '2029-01-01 00:00:00+00', mm_generation = 3 WHERE id = 2;
SELECT id, v, mm_origin, mm_generation FROM lww WHERE id = 2;
-- ... and one made concurrently (same generation, other node) is a
-- conflict either way
UPDATE lww SET v = 'upd concurrent newer', mm_origin = 3,
       mm_version = '2032-01-01 00:00:00+00', mm_generation = 2 WHERE id = 2;
UPDATE lww SET v = 'upd concurrent older', mm_origin = 4,
       mm_version = '2001-01-01 00:00:00+00', mm_generation = 2 WHERE id = 2;
SELECT id, v, mm_origin, mm_generation FROM lww WHERE id = 2;

SELECT pg_replication_origin_session_reset();
RESET session_replication_role;

-- a local write after the remote version from the clock one hour ahead
-- still wins: the hybrid clock moves past the version it replaces
UPDATE lww SET v = 'local after' WHERE id = 1;
SELECT v, mm_origin, mm_generation,
       mm_version > now() + interval '59 minutes' AS past_remote_version
  FROM lww WHERE id = 1;

SELECT table_name, key, kind, resolution, local_origin, remote_origin,
       remote_generation
  FROM multimaster.conflicts ORDER BY conflict_id;

-- the rows themselves are logged on request
SET multimaster.log_conflict_rows = on;
SELECT pg_replication_origin_session_setup('peer3');
SET session_replication_role = replica;
INSERT INTO lww VALUES (3, 'late n3', 3, '2029-06-01 00:00:00+00', 1);
SELECT pg_replication_origin_session_reset();
RESET session_replication_role;
RESET multimaster.log_conflict_rows;
SELECT kind, resolution, local_row, remote_row
  FROM multimaster.conflicts ORDER BY conflict_id DESC LIMIT 1;

-- application roles write through the trigger without any access to the
-- multimaster schema
GRANT ALL ON lww TO mm_app;
SET ROLE mm_app;
INSERT INTO lww VALUES (20, 'app');
UPDATE lww SET v = 'app2' WHERE id = 20;
DELETE FROM lww WHERE id = 20;
RESET ROLE;
SELECT key, mm_origin, mm_generation FROM multimaster.tombstones
 WHERE table_name = '"public"."lww"' AND key = '20';

--
-- Version sources other than the hybrid clock, and the trigger wired by
-- hand as in the classic recipe: tg(node_id, version_source, policy,
-- priority_node).
--
CREATE TABLE classic (id int PRIMARY KEY, info text, mod_time timestamp,
                      mm_origin int, mm_version timestamptz, mm_generation bigint);
CREATE TRIGGER "000_multimaster_resolve"
    BEFORE INSERT OR UPDATE OR DELETE ON classic
    FOR EACH ROW EXECUTE FUNCTION multimaster.conflict_trigger(7, 'mod_time', 'last', 2);
ALTER TABLE classic ENABLE ALWAYS TRIGGER "000_multimaster_resolve";
INSERT INTO classic VALUES (1, 'a', '2025-05-05 10:00:00');
SELECT id, mm_origin, mm_generation, mm_version = '2025-05-05 10:00:00+00' AS from_mod_time
  FROM classic;
-- a mod_time earlier than the current version still yields a newer version
UPDATE classic SET info = 'b', mod_time = '2020-01-01' WHERE id = 1;
SELECT id, mm_generation, mm_version = '2025-05-05 10:00:00.000001+00' AS bumped
  FROM classic;
-- priority node argument: node 2 wins clock ties, whatever multimaster.nodes says
SELECT pg_replication_origin_session_setup('peer3');
SET session_replication_role = replica;
INSERT INTO classic VALUES (5, 'n3', NULL, 3, '2030-01-01', 1);
INSERT INTO classic VALUES (5, 'n2', NULL, 2, '2030-01-01', 1);
SELECT id, info, mm_origin FROM classic WHERE id = 5;
SELECT pg_replication_origin_session_reset();
RESET session_replication_role;

CREATE TABLE xact_time (id int PRIMARY KEY, v text);
SELECT multimaster.add_table('xact_time', 'last_update_wins', 'last_xacttime');
BEGIN;
SELECT pg_sleep(0.01);
INSERT INTO xact_time VALUES (1, 'x');
SELECT mm_version = now() AS transaction_start FROM xact_time;
COMMIT;
SELECT relid, policy, version_source FROM multimaster.tables ORDER BY relid::text;
