-- test/bench/trigger_overhead_workload.sql: pgbench script of trigger_overhead.sh
--
-- The write mix of the classic recipe's test1.sql (5 upserts, 5 updates by
-- random id, 2 deletes; 12 row writes per transaction), with every id drawn
-- uniformly from the pre-populated range 1..:rows (pgbench -D rows=N,
-- 30000 by default in trigger_overhead.sh).  Adapted: the recipe's
-- inserts used 3*(random()*10000)::int (multiples of 3 only, and id 0), and
-- its deletes used :id, which it never set (so they deleted nothing).
\set ins1 random(1, :rows)
\set ins2 random(1, :rows)
\set ins3 random(1, :rows)
\set ins4 random(1, :rows)
\set ins5 random(1, :rows)
\set id1 random(1, :rows)
\set id2 random(1, :rows)
\set id3 random(1, :rows)
\set id4 random(1, :rows)
\set id5 random(1, :rows)
\set id random(1, :rows - 1)
insert into mm select :ins1, md5(random()::text), now() on conflict(id) do update set info=excluded.info,mod_time=clock_timestamp();
insert into mm select :ins2, md5(random()::text), now() on conflict(id) do update set info=excluded.info,mod_time=clock_timestamp();
insert into mm select :ins3, md5(random()::text), now() on conflict(id) do update set info=excluded.info,mod_time=clock_timestamp();
insert into mm select :ins4, md5(random()::text), now() on conflict(id) do update set info=excluded.info,mod_time=clock_timestamp();
insert into mm select :ins5, md5(random()::text), now() on conflict(id) do update set info=excluded.info,mod_time=clock_timestamp();
update mm set info=md5(random()::text),mod_time=clock_timestamp() where id=:id1;
update mm set info=md5(random()::text),mod_time=clock_timestamp() where id=:id2;
update mm set info=md5(random()::text),mod_time=clock_timestamp() where id=:id3;
update mm set info=md5(random()::text),mod_time=clock_timestamp() where id=:id4;
update mm set info=md5(random()::text),mod_time=clock_timestamp() where id=:id5;
delete from mm where id=:id+1;
delete from mm where id=:id;
