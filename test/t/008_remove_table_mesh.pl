# Copyright: see the multimaster LICENSE.
#
# 008_remove_table_mesh.pl: taking one table out of a running mesh while
# every node keeps writing to it and to another replicated table.
#
# A 3-node mesh replicates two tables, keep and gone.  pgbench writes to both
# on all three nodes at once (upserts, updates and deletes of the same keys
# everywhere), for a bounded time.  While it runs, one call of
# multimaster.remove_table_mesh('gone') on node 2.  Then:
#
#   - the call succeeds, and right after it, on every node, gone has neither
#     the trigger "000_multimaster_resolve" nor the mm_* columns, is neither
#     in publication multimaster nor in multimaster.tables, and no
#     subscription carries it any more;
#   - the load ran on without a failed statement, and once it stops and the
#     nodes are in sync, keep is the same on every node
#     (multimaster.compare_table and our own digest);
#   - gone is now a local table: a row written on one node stays there;
#   - no apply worker failed on any node (pg_stat_subscription_stats and the
#     server logs), and every subscription is still enabled with its apply
#     worker running.
#
# Before the load, the refusals: multimaster.remove_table() on a node of a
# mesh fails and points to remove_table_mesh(), and remove_table_mesh()
# refuses to run in a transaction block; neither changes anything.
#
# MM_LOAD_SECONDS sets how long pgbench runs (default 15).

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use MMTest;

my $started  = time;
my $DURATION = $ENV{MM_LOAD_SECONDS} || 15;
my $CLIENTS  = 2;
my $KEYS     = 2000;

my @nodes = map { new_node("node$_", log_statement => 'none') } 1 .. 3;
create_mesh(@nodes);
make_table('CREATE TABLE keep (id int PRIMARY KEY, v int NOT NULL, who text)', @nodes);
make_table('CREATE TABLE gone (id int PRIMARY KEY, v int NOT NULL, who text)', @nodes);
add_table_mesh('keep', @nodes);
add_table_mesh('gone', @nodes);

# "trigger columns publication tables subscriptions": what registers $table
# on $node (counts of each; 1 3 1 1 2 when fully registered in a 3-node
# mesh, 0 0 0 0 0 when not at all).
sub registration
{
	my ($node, $table) = @_;
	return $node->safe_psql(
		'postgres', qq{
SELECT (SELECT count(*) FROM pg_trigger
         WHERE tgrelid = '$table'::regclass AND tgname = '000_multimaster_resolve')
    || ' ' || (SELECT count(*) FROM pg_attribute
                WHERE attrelid = '$table'::regclass AND NOT attisdropped
                  AND attname IN ('mm_origin', 'mm_version', 'mm_generation'))
    || ' ' || (SELECT count(*) FROM pg_publication_tables
                WHERE pubname = 'multimaster' AND schemaname = 'public'
                  AND tablename = '$table')
    || ' ' || (SELECT count(*) FROM multimaster.tables WHERE relid = '$table'::regclass)
    || ' ' || (SELECT count(*) FROM pg_subscription_rel r
                 JOIN pg_subscription s ON s.oid = r.srsubid
                WHERE s.subname LIKE 'multimaster\\_%' AND r.srrelid = '$table'::regclass)});
}

for my $node (@nodes)
{
	is(registration($node, $_), '1 3 1 1 2', "$_ registered on " . $node->name)
	  for qw(keep gone);
}

# --------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------

my ($rc, $out, $err) =
  $nodes[2]->psql('postgres', "SELECT multimaster.remove_table('keep')");
isnt($rc, 0, 'remove_table() on a node of the mesh fails');
like($err, qr/remove_table_mesh/, 'and its error points to remove_table_mesh()')
  or diag($err);

($rc, $out, $err) = $nodes[0]->psql('postgres',
	"BEGIN; SELECT multimaster.remove_table_mesh('gone'); COMMIT;");
like($err, qr/cannot run inside a transaction block/,
	'remove_table_mesh() refuses to run in a transaction block')
  or diag("rc $rc: $err");

for my $node (@nodes)
{
	is(registration($node, $_), '1 3 1 1 2',
		"$_ still registered on " . $node->name . ' after the refusals')
	  for qw(keep gone);
}

# --------------------------------------------------------------------------
# Load on both tables, on every node
# --------------------------------------------------------------------------

# Every node writes the same keys of both tables: upserts, updates and
# deletes race between nodes all the time.  Only id, v and who are named,
# so the statements on gone work before and after its mm_* columns go.
sub script
{
	my ($k) = @_;
	my $s = join '', map { "\\set $_ random(1, $KEYS)\n" } qw(a b c);
	for my $t (qw(keep gone))
	{
		$s .= "INSERT INTO $t (id, v, who) VALUES (:a, 1, 'n$k') "
		  . "ON CONFLICT (id) DO UPDATE SET v = $t.v + 1, who = excluded.who;\n";
		$s .= "UPDATE $t SET v = v + 1, who = 'n$k' WHERE id = :b;\n";
		$s .= "DELETE FROM $t WHERE id = :c;\n";
	}
	return $s;
}

my @runs;
for my $k (1 .. 3)
{
	my $node = $nodes[ $k - 1 ];
	my $file = $node->basedir . "/load$k.sql";
	PostgreSQL::Test::Utils::append_to_file($file, script($k));
	my %run = (node => $node, out => '', err => '');
	$run{h} = IPC::Run::start(
		[
			'pgbench', '-n', '-M', 'simple', '-c', $CLIENTS, '-j', $CLIENTS,
			'-T', $DURATION, '-f', $file, '-h', $node->host, '-p', $node->port,
			'postgres'
		],
		'<', \undef, '>', \$run{out}, '2>', \$run{err},
		IPC::Run::timeout($DURATION + 180));
	push @runs, \%run;
}
my $load_started = time;

# The load is flowing: every node holds rows of gone written on every node.
ok( poll_until(
		'rows of gone from all three nodes on every node',
		sub {
			!grep {
				$_->safe_psql('postgres', 'SELECT count(DISTINCT mm_origin) FROM gone') ne '3'
			} @nodes;
		}),
	'the load writes and replicates gone on every node');

# --------------------------------------------------------------------------
# remove_table_mesh while the load runs
# --------------------------------------------------------------------------

my $running_before = grep { $_->{h}->pumpable } @runs;
is($running_before, 3, 'pgbench still runs on all three nodes when remove_table_mesh starts');
my $t_call = time;
($rc, $out, $err) = $nodes[1]->psql('postgres',
	"SELECT multimaster.remove_table_mesh('gone')",
	timeout => $MMTest::TIMEOUT + 60);
my $call_seconds = time - $t_call;
is($rc, 0, 'remove_table_mesh(gone) on node2 succeeds under load')
  or diag("rc $rc: $err");
my $running_after = grep { $_->{h}->pumpable } @runs;
note(sprintf('remove_table_mesh took %.1f s, from %.1f s into the load; '
	  . 'pgbench still running on %d nodes when it returned',
	$call_seconds, $t_call - $load_started, $running_after));

for my $node (@nodes)
{
	my $name = $node->name;
	my ($trig, $cols, $pub, $tables, $subs) = split / /, registration($node, 'gone');
	is($trig, 0, "$name: gone has no trigger 000_multimaster_resolve");
	is($cols, 0, "$name: gone has no mm_origin, mm_version, mm_generation");
	is($pub,  0, "$name: gone is not in publication multimaster");
	is($tables, 0, "$name: gone is not in multimaster.tables");
	is($subs, 0, "$name: no subscription carries gone");
	is(registration($node, 'keep'), '1 3 1 1 2', "$name: keep is still registered");
}

# --------------------------------------------------------------------------
# After the load
# --------------------------------------------------------------------------

my @tps;
for my $run (@runs)
{
	my $name = $run->{node}->name;
	my $ok = eval { $run->{h}->finish; 1 };
	my $prc = $ok ? $run->{h}->result(0) : "died: $@";
	is($prc, 0, "pgbench on $name finished without error")
	  or diag("pgbench on $name:\n$run->{out}\n$run->{err}");
	my ($txns) = $run->{out} =~ /number of transactions actually processed: (\d+)/;
	push @tps, "$name " . ($txns // '?') . ' scripts';
}
note("pgbench ($CLIENTS clients per node, ${DURATION}s): " . join(', ', @tps));

wait_sync(@nodes);

my $cmp = $nodes[0]->safe_psql('postgres',
	"SELECT string_agg(node_id || ':' || row_count || ':' || consistent, ' ' ORDER BY node_id) "
	  . "FROM multimaster.compare_table('keep')");
like($cmp, qr/^1:\d+:true 2:\d+:true 3:\d+:true$/,
	'compare_table(keep): consistent on all three nodes');
wait_converged('keep', @nodes);
is( $nodes[0]->safe_psql('postgres', 'SELECT count(DISTINCT mm_origin) FROM keep'),
	'3', 'keep holds rows last written on each of the three nodes');

# gone is local now: a row written on one node reaches no other.
$nodes[0]->safe_psql('postgres', "INSERT INTO gone (id, v, who) VALUES (-1, 0, 'local')");
$nodes[0]->safe_psql('postgres', "INSERT INTO keep (id, v, who) VALUES (-1, 0, 'marker')");
wait_sync(@nodes);
is( join(',', map {
		$_->safe_psql('postgres', 'SELECT count(*) FROM keep WHERE id = -1') . '/'
		  . $_->safe_psql('postgres', 'SELECT count(*) FROM gone WHERE id = -1')
	} @nodes),
	'1/1,1/0,1/0',
	'a later row of keep reaches every node, one of gone stays on its node');

is( join(',', map {
		$_->safe_psql('postgres',
			"SELECT count(*) FROM multimaster.tombstones WHERE table_name = '\"public\".\"gone\"'")
	} @nodes),
	'0,0,0',
	'no tombstone of gone is left on any node');

# --------------------------------------------------------------------------
# No apply worker failed; every link still runs
# --------------------------------------------------------------------------

for my $node (@nodes)
{
	my $name = $node->name;
	is( $node->safe_psql('postgres',
			'SELECT coalesce(sum(apply_error_count + sync_error_count), 0) '
			  . 'FROM pg_stat_subscription_stats'),
		'0',
		"$name: no apply or sync error (pg_stat_subscription_stats)");
	my @bad = replication_errors($node);
	is(scalar(@bad), 0, "$name: no apply worker or walsender error logged")
	  or diag(join('', @bad[ 0 .. ($#bad < 9 ? $#bad : 9) ]));
	my $links = q{
SELECT count(*) || ' ' || count(*) FILTER (WHERE s.subenabled AND w.pid IS NOT NULL)
  FROM pg_subscription s
  LEFT JOIN pg_stat_subscription w ON w.subid = s.oid AND w.relid IS NULL
 WHERE s.subname LIKE 'multimaster\_%'};
	my $state = '';
	poll_until("two enabled subscriptions with workers on $name",
		sub { $state = $node->safe_psql('postgres', $links); $state eq '2 2' });
	is($state, '2 2', "$name: both subscriptions enabled, apply workers running");
}

dump_state(@nodes) unless Test::More->builder->is_passing;
note(sprintf('008_remove_table_mesh: %.1f s', time - $started));
done_testing();
