--
-- global_id(): mesh-wide unique 64-bit ids, ordered by time.
--
-- one statement, many ids: all distinct, strictly increasing
SELECT count(*) AS ids, count(DISTINCT id) AS distinct_ids,
       bool_and(id > prev) AS increasing
  FROM (SELECT id, lag(id) OVER (ORDER BY n) AS prev
          FROM (SELECT n, multimaster.global_id() AS id
                  FROM generate_series(1, 50000) n) g) s;
-- what an id holds: this node, a session slot, a time close to now
SELECT p.node_id = multimaster.local_node_id() AS this_node,
       p.slot BETWEEN 0 AND 127 AS slot_ok,
       abs(extract(epoch FROM p.made_at - now())) < 60 AS made_now
  FROM multimaster.global_id_parts(multimaster.global_id()) p;
-- usable as a column default by any role with USAGE on the schema
CREATE TABLE gid (id bigint PRIMARY KEY DEFAULT multimaster.global_id(), v text);
CREATE ROLE mm_ids_app;
GRANT USAGE ON SCHEMA multimaster TO mm_ids_app;
SET ROLE mm_ids_app;
SELECT multimaster.global_id() > 0 AS app_may_call;
RESET ROLE;
REVOKE USAGE ON SCHEMA multimaster FROM mm_ids_app;
DROP ROLE mm_ids_app;
INSERT INTO gid (v) SELECT 'x' FROM generate_series(1, 1000);
SELECT count(*) FROM gid;
SELECT multimaster.global_id_parts(-1);
DROP TABLE gid;
