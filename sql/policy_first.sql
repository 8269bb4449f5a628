--
-- first_update_wins: of two writes made from the same version (equal
-- generations), the one with the EARLIER clock wins; a write made on top
-- of another (higher generation) always wins.
--
CREATE TABLE first (id int PRIMARY KEY, v text);
SELECT multimaster.add_table('first', 'first');

SELECT pg_replication_origin_session_setup('peer2');
SET session_replication_role = replica;

INSERT INTO first VALUES (1, 'n2 later', 2, '2030-01-02', 1);
INSERT INTO first VALUES (1, 'n3 earlier', 3, '2030-01-01', 1);
INSERT INTO first VALUES (2, 'n3 earlier', 3, '2030-01-01', 1);
INSERT INTO first VALUES (2, 'n2 later', 2, '2030-01-02', 1);
SELECT id, v, mm_origin FROM first ORDER BY id;

-- equal clocks: priority (n3 = 10) decides
INSERT INTO first VALUES (3, 'n2', 2, '2030-01-01', 1);
INSERT INTO first VALUES (3, 'n3', 3, '2030-01-01', 1);
SELECT id, v, mm_origin FROM first WHERE id = 3;

-- an update made on top of the first write wins, later clock or not
INSERT INTO first VALUES (1, 'n2 update', 2, '2030-02-01', 2);
SELECT id, v, mm_origin, mm_generation FROM first WHERE id = 1;

SELECT pg_replication_origin_session_reset();
RESET session_replication_role;

UPDATE first SET v = 'local' WHERE id = 1;
SELECT id, v, mm_origin, mm_generation FROM first WHERE id = 1;
