--
-- The conflict log is purged by age; the per-peer counts that
-- multimaster.status shows are kept up to date by each logged conflict,
-- and a purge does not lower them.
--
CREATE TABLE cl (id int PRIMARY KEY, v text);
SELECT multimaster.add_table('cl');
INSERT INTO cl VALUES (1, 'local'), (2, 'local');
SELECT coalesce((SELECT conflicts FROM multimaster.conflict_counts WHERE remote_origin = 2), 0) AS before \gset
SELECT pg_replication_origin_session_setup('peer2');
SET session_replication_role = replica;
-- two concurrent first writes from node 2 (generation 1, like ours): conflicts
INSERT INTO cl VALUES (1, 'n2', 2, now() + interval '1 minute', 1), (2, 'n2', 2, now() + interval '1 minute', 1);
SELECT pg_replication_origin_session_reset();
RESET session_replication_role;
SELECT count(*) AS logged FROM multimaster.conflicts WHERE table_name = 'public.cl';
SELECT conflicts - :before AS counted FROM multimaster.conflict_counts WHERE remote_origin = 2;
-- entries younger than the retention stay, older ones go
SELECT multimaster.purge_conflicts('1 hour') AS purged;
UPDATE multimaster.conflicts SET logged_at = now() - interval '2 hours' WHERE table_name = 'public.cl';
SELECT multimaster.purge_conflicts('1 hour') AS purged;
SELECT count(*) AS left_in_log FROM multimaster.conflicts WHERE table_name = 'public.cl';
SELECT conflicts - :before AS still_counted FROM multimaster.conflict_counts WHERE remote_origin = 2;
SELECT multimaster.purge_conflicts(NULL);
SELECT multimaster.purge_conflicts('-1 day');
CREATE ROLE mm_cl_app;
GRANT USAGE ON SCHEMA multimaster TO mm_cl_app;
SET ROLE mm_cl_app;
SELECT multimaster.purge_conflicts('1 day');
RESET ROLE;
REVOKE USAGE ON SCHEMA multimaster FROM mm_cl_app;
DROP ROLE mm_cl_app;
