-- test/bench/apply_catchup_workload.sql: pgbench script of apply_catchup.sh
--
-- One single-row transaction per pgbench transaction, run on the publisher
-- while the subscription is disabled (the backlog):
--   70%  UPDATE of a random pre-populated id (1..:rows)
--   30%  INSERT of a new id from the sequence public.bench_new_id
--        (starts at :rows + 1, exists on the publisher only)
-- The same script runs in every variant; run with --random-seed so that the
-- update/insert mix and the ids are the same in every run.  The version
-- columns of variants (b) and (c) are stamped by their triggers.
\set r random(1, 100)
\set id random(1, :rows)
\if :r <= 70
UPDATE public.bench SET v = md5(random()::text) WHERE id = :id;
\else
INSERT INTO public.bench (id, v) VALUES (nextval('public.bench_new_id'), md5(random()::text));
\endif
