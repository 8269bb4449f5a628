
# Copyright: see the multimaster LICENSE.

# A partitioned table registered as a whole.  Three nodes hold the same
# table partitioned by range, node 3 with other partition bounds than
# nodes 1 and 2: rows travel as the partitioned table (the publication
# publishes via the partition root), so each node files them in its own
# partitions.  add_table_mesh() on the parent puts the version columns on
# it and the trigger, enabled ALWAYS, on every partition; registering a
# partition alone is refused.  Under the classic write load on all three
# nodes, with UPDATEs that move rows between partitions, the nodes end
# identical.  A partition created later (through replicate_ddl) gets the
# trigger and the replica identity at once, and its rows replicate.
# Tombstones and conflicts name the partitioned table.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

my $DURATION = $ENV{MM_WORKLOAD_SECONDS} || 20;
my $CLIENTS  = 3;

my @nodes =
  map { new_node("node$_", log_statement => 'none', shared_buffers => '64MB') }
  1 .. 3;

create_mesh(@nodes);

my $table = 'CREATE TABLE pm (id int, part int, info text, mod_time timestamp, '
  . 'PRIMARY KEY (id, part)) PARTITION BY RANGE (part)';
for my $node (@nodes[ 0, 1 ])
{
	$node->safe_psql('postgres', "$table;
		CREATE TABLE pm_a PARTITION OF pm FOR VALUES FROM (0) TO (10);
		CREATE TABLE pm_b PARTITION OF pm FOR VALUES FROM (10) TO (20);
		CREATE TABLE pm_c PARTITION OF pm FOR VALUES FROM (20) TO (30);");
}
$nodes[2]->safe_psql('postgres', "$table;
	CREATE TABLE pm_low PARTITION OF pm FOR VALUES FROM (0) TO (15);
	CREATE TABLE pm_high PARTITION OF pm FOR VALUES FROM (15) TO (30);");

# moves the lowest row of an id to another partition; a key taken there
# already is a local unique violation, skipped
my $move_fn = q{
CREATE SEQUENCE pm_moves;
CREATE FUNCTION pm_move(i int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
    UPDATE pm SET part = (part + 7) % 30, mod_time = clock_timestamp()
     WHERE id = i AND part = (SELECT min(q.part) FROM pm q WHERE q.id = i);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN PERFORM nextval('pm_moves'); END IF;
EXCEPTION WHEN unique_violation THEN NULL;
END $$;};
$_->safe_psql('postgres', $move_fn) for @nodes;

my ($rc, $out, $err) = $nodes[0]->psql('postgres',
	"SELECT multimaster.add_table('pm_a')");
isnt($rc, 0, 'add_table on a partition is refused');
like($err, qr/table public\.pm_a is a partition of public\.pm/,
	'the error names the partitioned table');
like($err, qr/HINT:.*add_table\('public\.pm'\)/, 'the hint says what to register');
is($nodes[0]->safe_psql('postgres',
		"SELECT count(*) FROM pg_attribute WHERE attrelid = 'pm_a'::regclass AND attname LIKE 'mm\\_%'"),
	0, 'the refused call left nothing on the partition');

add_table_mesh('pm', @nodes);

for my $node (@nodes)
{
	my $name = $node->name;
	is( $node->safe_psql(
			'postgres', q{
SELECT string_agg(DISTINCT coalesce(tg.tgenabled::text, 'none'), ',')
  FROM pg_partition_tree('pm') p
  LEFT JOIN pg_trigger tg ON tg.tgrelid = p.relid AND tg.tgname = '000_multimaster_resolve'}),
		'A', "$name: the trigger is enabled ALWAYS on the table and every partition");
	is($node->safe_psql('postgres',
			"SELECT pubviaroot FROM pg_publication WHERE pubname = 'multimaster'"),
		't', "$name: the publication publishes via the partition root");
	is($node->safe_psql('postgres',
			"SELECT string_agg(table_name, ',') FROM multimaster.tables"),
		'"public"."pm"', "$name: the partitioned table is registered, not its partitions");
}
is( join(',', map { $_->safe_psql('postgres',
		"SELECT string_agg(DISTINCT c.relreplident::text, ',') FROM pg_partition_tree('pm') p JOIN pg_class c ON c.oid = p.relid") } @nodes),
	'd,d,d', 'every partition keeps REPLICA IDENTITY DEFAULT (the trigger carries out-of-line values)');

# one row moved between partitions, step by step
$nodes[0]->safe_psql('postgres', "INSERT INTO pm VALUES (1000001, 1, 'moving', now())");
wait_sync(@nodes);
$nodes[1]->safe_psql('postgres', "UPDATE pm SET part = 25 WHERE id = 1000001");
wait_sync(@nodes);
for my $node (@nodes)
{
	is( $node->safe_psql(
			'postgres',
			"SELECT string_agg(part::text || ' in ' || tableoid::regclass::text, ',') FROM pm WHERE id = 1000001"),
		$node == $nodes[2] ? '25 in pm_high' : '25 in pm_c',
		$node->name . ': the moved row is in its new partition only');
}
$nodes[2]->safe_psql('postgres', "DELETE FROM pm WHERE id = 1000001");
wait_sync(@nodes);
is( join(',', map { $_->safe_psql('postgres', 'SELECT count(*) FROM pm WHERE id = 1000001') } @nodes),
	'0,0,0', 'a delete of a partition row reaches every node');
is( $nodes[0]->safe_psql(
		'postgres', q{SELECT string_agg(DISTINCT table_name, ',') FROM multimaster.tombstones
                      WHERE table_name NOT LIKE '"multimaster".%'}),
	'"public"."pm"', 'tombstones name the partitioned table');

# the classic load, with moves between partitions
my $script = <<'EOF';
\set id random(1, 3000)
\set p random(0, 29)
\set id2 random(1, 3000)
\set p2 random(0, 29)
INSERT INTO pm VALUES (:id, :p, md5(random()::text), now()) ON CONFLICT (id, part) DO UPDATE SET info = excluded.info, mod_time = clock_timestamp();
UPDATE pm SET info = md5(random()::text), mod_time = clock_timestamp() WHERE id = :id2;
SELECT pm_move(:id2);
DELETE FROM pm WHERE id = :id AND part = :p2;
EOF
my @runs;
for my $node (@nodes)
{
	my $file = $node->basedir . '/partitioned.sql';
	PostgreSQL::Test::Utils::append_to_file($file, $script);
	my %run = (node => $node, out => '', err => '');
	$run{h} = IPC::Run::start(
		[
			'pgbench', '-n', '--max-tries=50', '-c', $CLIENTS, '-j', $CLIENTS,
			'-T', $DURATION, '-f', $file, '-h', $node->host, '-p', $node->port,
			'postgres'
		],
		'<', \undef, '>', \$run{out}, '2>', \$run{err},
		IPC::Run::timeout($DURATION + 120));
	push @runs, \%run;
}
for my $run (@runs)
{
	my $name = $run->{node}->name;
	my $ok = eval { $run->{h}->finish; 1 };
	my $rc = $ok ? $run->{h}->result(0) : "died: $@";
	is($rc, 0, "pgbench on $name finished without error")
	  or diag("pgbench on $name:\n$run->{out}\n$run->{err}");
}

my $moves = 0;
$moves += $_->safe_psql('postgres',
	"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM pm_moves") for @nodes;
cmp_ok($moves, '>', 100, "UPDATEs moved rows between partitions under load ($moves)");
diag("cross-partition moves: $moves");

wait_sync(@nodes);
wait_converged('pm', @nodes);
my $cmp = $nodes[0]->safe_psql('postgres',
	"SELECT string_agg(consistent::text, ',' ORDER BY node_id) FROM multimaster.compare_table('pm')");
is($cmp, 'true,true,true', 'compare_table: consistent on every node');
ok($nodes[0]->safe_psql('postgres', 'SELECT count(*) FROM pm') > 0, 'the table is not empty');

for my $node (@nodes)
{
	my $name = $node->name;
	is( $node->safe_psql(
			'postgres',
			'SELECT coalesce(sum(apply_error_count + sync_error_count), 0) FROM pg_stat_subscription_stats'),
		0, "$name: no apply worker error");
	is( $node->safe_psql(
			'postgres',
			q{SELECT coalesce(string_agg(DISTINCT table_name, ','), 'none') FROM multimaster.conflicts}),
		'public.pm', "$name: conflicts are logged under the partitioned table");
}

# a partition added later, on every node at once
($rc, $out, $err) = $nodes[0]->psql('postgres',
	"SELECT multimaster.replicate_ddl('CREATE TABLE public.pm_d PARTITION OF public.pm FOR VALUES FROM (30) TO (40)')");
is($rc, 0, 'replicate_ddl creates a partition on every node') or diag($err);
for my $node (@nodes)
{
	is( $node->safe_psql(
			'postgres', q{
SELECT tg.tgenabled::text || '/' || c.relreplident::text
  FROM pg_class c JOIN pg_trigger tg ON tg.tgrelid = c.oid AND tg.tgname = '000_multimaster_resolve'
 WHERE c.oid = 'pm_d'::regclass}),
		'A/d', $node->name . ': the new partition has the trigger ALWAYS');
}
$nodes[1]->safe_psql('postgres', "INSERT INTO pm VALUES (2000001, 35, 'new partition', now())");
$nodes[2]->safe_psql('postgres',
	"UPDATE pm SET part = 36 WHERE (id, part) = (SELECT id, part FROM pm WHERE part < 30 ORDER BY 1, 2 LIMIT 1)");
wait_sync(@nodes);
wait_converged('pm', @nodes);
is( join(',', map { $_->safe_psql('postgres', "SELECT count(*) FROM pm_d WHERE id = 2000001") } @nodes),
	'1,1,1', 'a row of the new partition reaches every node');

# one partition's trigger cannot be switched off
($rc, $out, $err) = $nodes[0]->psql('postgres',
	'ALTER TABLE pm_b DISABLE TRIGGER "000_multimaster_resolve"');
isnt($rc, 0, 'disabling the trigger of one partition is refused');
like($err, qr/must stay enabled ALWAYS/, 'and says why');

done_testing();
