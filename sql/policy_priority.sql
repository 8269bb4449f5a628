--
-- node_priority: of two writes made from the same version (equal
-- generations), the higher-priority writer wins whatever the clocks say;
-- a write made on top of another (higher generation) always wins.
-- Priorities: n1 = 0, n2 = 0, n3 = 10.
--
CREATE TABLE prio (id int PRIMARY KEY, v text);
SELECT multimaster.add_table('prio', 'node_priority');

SELECT pg_replication_origin_session_setup('peer2');
SET session_replication_role = replica;

-- concurrent: n3 wins although n2's clock is later, in both arrival orders
INSERT INTO prio VALUES (1, 'n2 late clock', 2, '2030-01-02', 1);
INSERT INTO prio VALUES (1, 'n3 early clock', 3, '2030-01-01', 1);
INSERT INTO prio VALUES (2, 'n3 early clock', 3, '2030-01-01', 1);
INSERT INTO prio VALUES (2, 'n2 late clock', 2, '2030-01-02', 1);
SELECT id, v, mm_origin FROM prio ORDER BY id;

-- sequential: n2 updated the row it received from n3 (generation 2): wins
INSERT INTO prio VALUES (1, 'n2 on top of n3', 2, '2030-01-03', 2);
SELECT id, v, mm_origin, mm_generation FROM prio WHERE id = 1;
-- and a late copy of n3's generation-1 write cannot undo that
INSERT INTO prio VALUES (1, 'n3 early clock', 3, '2030-01-01', 1);
SELECT id, v, mm_origin, mm_generation FROM prio WHERE id = 1;

SELECT pg_replication_origin_session_reset();
RESET session_replication_role;

-- a local write always beats what it replaced, even with lower priority
UPDATE prio SET v = 'local' WHERE id = 2;
SELECT id, v, mm_origin, mm_generation FROM prio WHERE id = 2;

SELECT key, kind, resolution, local_origin, remote_origin
  FROM multimaster.conflicts WHERE table_name = 'public.prio' ORDER BY conflict_id;
