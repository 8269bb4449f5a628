--
-- Settings that decide conflicts are the same on every node: changing one
-- on a single node of a mesh is refused, with the way to do it.
--
-- (init.sql registered peers n2 and n3.)
SELECT multimaster.init_node(1, 'n1', 99);
SELECT priority FROM multimaster.nodes WHERE is_local;

CREATE TABLE os_pol (id int PRIMARY KEY, v text);
SELECT multimaster.add_table('os_pol');
SELECT multimaster.add_table('os_pol', 'first_update_wins');
SELECT multimaster.add_table('os_pol', 'last');                -- the same policy: fine
SELECT policy FROM multimaster.tables WHERE relid = 'os_pol'::regclass;

-- removing a table on one node while links exist would stall them
-- (the server's warning about an unconnected subscription is worded
-- differently from one version to the next: not shown)
SET client_min_messages = error;
CREATE SUBSCRIPTION multimaster_2_1 CONNECTION 'dbname=nowhere' PUBLICATION multimaster
  WITH (connect = false, enabled = false, create_slot = false, slot_name = NONE);
RESET client_min_messages;
SELECT multimaster.remove_table('os_pol');
SELECT count(*) AS still_registered FROM multimaster.tables WHERE relid = 'os_pol'::regclass;
DROP SUBSCRIPTION multimaster_2_1;
SELECT multimaster.remove_table('os_pol');
SELECT count(*) AS still_registered FROM multimaster.tables WHERE relid = 'os_pol'::regclass;
