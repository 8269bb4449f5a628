
# Copyright: see the multimaster LICENSE.

# The classic recipe's workload (seeds/classic-recipe.txt), on a mesh built
# with multimaster.create_mesh() and add_table_mesh(): pgbench on all three
# nodes at once, node k inserting (or upserting) ids = k-1 mod 3, every node
# updating and deleting random ids over the whole range, so updates and
# deletes of the same rows race between nodes all the time.  Afterwards the
# nodes agree row for row (multimaster.compare_table and our own digest),
# and no apply worker ever failed: a duplicate key or any other apply error
# would have shown in the subscription statistics.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

my $DURATION = $ENV{MM_WORKLOAD_SECONDS} || 30;
my $CLIENTS  = 3;

my @nodes =
  map { new_node("node$_", log_statement => 'none', shared_buffers => '64MB') }
  1 .. 3;

create_mesh(@nodes);
make_table('CREATE TABLE mm (id int PRIMARY KEY, info text, mod_time timestamp)',
	@nodes);
add_table_mesh('mm', @nodes);

# The seed's test1.sql .. test3.sql (its deletes use an undefined :id; the
# first two random ids stand in).
sub script
{
	my ($r) = @_;
	my $s = join '', map { "\\set id$_ random(1, 30000)\n" } 1 .. 5;
	$s .= "INSERT INTO mm SELECT 3 * (random() * 10000)::int + $r, md5(random()::text), now() "
	  . "ON CONFLICT (id) DO UPDATE SET info = excluded.info, mod_time = clock_timestamp();\n"
	  for 1 .. 5;
	$s .= "UPDATE mm SET info = md5(random()::text), mod_time = clock_timestamp() WHERE id = :id$_;\n"
	  for 1 .. 5;
	$s .= "DELETE FROM mm WHERE id = :id1 + 1;\n";
	$s .= "DELETE FROM mm WHERE id = :id2;\n";
	return $s;
}

my @runs;
for my $k (1 .. 3)
{
	my $node = $nodes[ $k - 1 ];
	my $file = $node->basedir . "/classic$k.sql";
	PostgreSQL::Test::Utils::append_to_file($file, script($k - 1));
	my %run = (node => $node, out => '', err => '');
	$run{h} = IPC::Run::start(
		[
			'pgbench', '-n', '-M', 'prepared', '-c', $CLIENTS, '-j', $CLIENTS,
			'-T', $DURATION, '-f', $file, '-h', $node->host, '-p', $node->port,
			'postgres'
		],
		'<', \undef, '>', \$run{out}, '2>', \$run{err},
		IPC::Run::timeout($DURATION + 120));
	push @runs, \%run;
}

my @tps;
for my $run (@runs)
{
	my $name = $run->{node}->name;
	my $ok = eval { $run->{h}->finish; 1 };
	my $rc = $ok ? $run->{h}->result(0) : "died: $@";
	is($rc, 0, "pgbench on $name finished without error")
	  or diag("pgbench on $name:\n$run->{out}\n$run->{err}");
	my ($tps) = $run->{out} =~ /tps = ([0-9.]+)/;
	my ($txns) = $run->{out} =~ /number of transactions actually processed: (\d+)/;
	push @tps, "$name " . ($tps // '?') . ' tps (' . ($txns // '?') . ' scripts)';
}
diag("pgbench ($CLIENTS clients per node, ${DURATION}s): " . join(', ', @tps));

wait_sync(@nodes);

my $cmp = $nodes[0]->safe_psql('postgres',
	'SELECT node_id, node_name, row_count, checksum, consistent FROM multimaster.compare_table(\'mm\') ORDER BY node_id'
);
diag("compare_table('mm'):\n$cmp");
my @rows = map { [ split /\|/ ] } split /\n/, $cmp;
is(scalar @rows, 3, 'compare_table reports three nodes');
is(join(',', map { $_->[4] } @rows), 't,t,t',
	'compare_table: consistent on every node');
is(scalar(keys %{ { map { $_->[2] => 1 } @rows } }), 1,
	'compare_table: same row count everywhere');
is(scalar(keys %{ { map { $_->[3] => 1 } @rows } }), 1,
	'compare_table: same checksum everywhere');
ok(@rows && $rows[0][2] > 0, 'the table is not empty');

# Independent check, version columns included.
wait_converged('mm', @nodes);

for my $node (@nodes)
{
	my $name = $node->name;
	is( $node->safe_psql(
			'postgres',
			"SELECT count(*) || '/' || coalesce(sum(errors), 0) FROM multimaster.status"
		),
		'2/0',
		"$name: two peers in multimaster.status, no errors");
	is( $node->safe_psql(
			'postgres',
			'SELECT coalesce(sum(apply_error_count + sync_error_count), 0) FROM pg_stat_subscription_stats'
		),
		0,
		"$name: no apply worker error (pg_stat_subscription_stats)");
	my @bad = grep { /duplicate key value|deadlock detected|logical replication [\w ]*worker.*exited/ }
	  split /\n/, slurp_file($node->logfile);
	is(scalar @bad, 0,
		"$name: server log has no duplicate-key, deadlock or apply worker exit")
	  or diag(join "\n", @bad[ 0 .. ($#bad < 9 ? $#bad : 9) ]);
}

diag(
	'conflicts logged: ' . join(
		'; ',
		map {
			$_->name . ': '
			  . ($_->safe_psql(
					'postgres',
					q{SELECT coalesce(string_agg(kind || '/' || resolution || '=' || n, ', '), 'none')
                        FROM (SELECT kind, resolution, count(*) AS n FROM multimaster.conflicts
                              GROUP BY 1, 2 ORDER BY 1, 2) c}))
		} @nodes));

done_testing();
