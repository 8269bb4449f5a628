--
-- Extension install, node identity, and what may not happen before it.
--
CREATE EXTENSION multimaster;

-- a non-superuser can neither configure nor read the catalog
DROP ROLE IF EXISTS mm_app;
CREATE ROLE mm_app LOGIN;
SET ROLE mm_app;
SELECT multimaster.init_node(1, 'n1');
SELECT * FROM multimaster.nodes;
RESET ROLE;

-- add_table before init_node: refused, table untouched
CREATE TABLE early (id int PRIMARY KEY, v text);
SELECT multimaster.add_table('early');
SELECT count(*) AS extra_columns FROM pg_attribute
 WHERE attrelid = 'early'::regclass AND attname LIKE 'mm\_%';
SELECT multimaster.local_node_id() IS NULL AS no_identity;

-- bad identities
SELECT multimaster.init_node(0, 'n0');
SELECT multimaster.init_node(40000, 'big');
SELECT multimaster.init_node(1, '');
SELECT multimaster.init_node(NULL, 'x');

SELECT multimaster.init_node(1, 'n1', 5);
SELECT multimaster.local_node_id();
-- idempotent, and may change the priority
SELECT multimaster.init_node(1, 'n1', 5);
SELECT multimaster.init_node(1, 'n1');
SELECT node_id, node_name, priority, is_local FROM multimaster.nodes;
-- but not the identity
SELECT multimaster.init_node(2, 'n1');
SELECT multimaster.init_node(1, 'other');

-- peers are known with their priorities (create_mesh fills this in)
INSERT INTO multimaster.nodes (node_id, node_name, priority) VALUES
    (2, 'n2', 0), (3, 'n3', 10);
SELECT multimaster._invalidate_cache();

-- policy names, including the classic recipe's short ones
SELECT multimaster.check_policy('last'), multimaster.check_policy('first'),
       multimaster.check_policy('priority'), multimaster.check_policy('LAST_UPDATE_WINS');
SELECT multimaster.check_policy('bogus');

-- the apply worker is simulated below with a replication origin per peer
-- (origins are cluster-wide: create them only if an earlier run did not)
DO $$
BEGIN
    PERFORM pg_replication_origin_create(n)
       FROM unnest(ARRAY['peer2', 'peer3']) n
      WHERE NOT EXISTS (SELECT 1 FROM pg_replication_origin WHERE roname = n);
END $$;
SELECT roname FROM pg_replication_origin WHERE roname IN ('peer2', 'peer3') ORDER BY 1;
