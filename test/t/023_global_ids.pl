# Copyright: see the multimaster LICENSE.
#
# 023_global_ids.pl: global_id() as a key's DEFAULT, with several sessions
# on every node inserting at once, never makes the same id twice: every row
# inserted anywhere is on every node, no insert met another's key (no
# conflict logged), and each id names the node that made it.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

my @nodes = map { new_node("gi$_", log_statement => 'none') } 1 .. 3;
create_mesh(@nodes);
make_table('CREATE TABLE g (id bigint PRIMARY KEY DEFAULT multimaster.global_id(), node int, v text)',
	@nodes);
add_table_mesh('g', @nodes);

my @runs;
for my $k (1 .. 3)
{
	my $node = $nodes[ $k - 1 ];
	my $file = $node->basedir . "/ids.sql";
	PostgreSQL::Test::Utils::append_to_file($file,
		"INSERT INTO g (node, v) VALUES ($k, 'x');\nINSERT INTO g (node, v) SELECT $k, 'batch' FROM generate_series(1, 20);\n");
	my %run = (node => $node, out => '', err => '');
	$run{h} = IPC::Run::start(
		[
			'pgbench', '-n', '-c', 4, '-j', 2, '-T', 8, '-f', $file,
			'-h', $node->host, '-p', $node->port, 'postgres'
		],
		'<', \undef, '>', \$run{out}, '2>', \$run{err},
		IPC::Run::timeout(120));
	push @runs, \%run;
}
my $expected = 0;
for my $run (@runs)
{
	my $ok = eval { $run->{h}->finish; 1 };
	is($ok ? $run->{h}->result(0) : "died: $@", 0,
		'pgbench on ' . $run->{node}->name . ' inserted without a duplicate key')
	  or diag("$run->{out}\n$run->{err}");
	my ($n) = $run->{out} =~ /number of transactions actually processed: (\d+)/;
	$expected += 21 * ($n // 0);
}
ok($expected > 1000, "the sessions inserted $expected rows");

wait_sync(@nodes);
for my $node (@nodes)
{
	is( $node->safe_psql('postgres', 'SELECT count(*) || \'/\' || count(DISTINCT id) FROM g'),
		"$expected/$expected", 'every row, each with its own id, on ' . $node->name);
	is( $node->safe_psql('postgres',
			'SELECT count(*) FROM g, multimaster.global_id_parts(g.id) p WHERE p.node_id <> g.node'),
		'0', '... each id naming the node that made it');
	is($node->safe_psql('postgres', "SELECT count(*) FROM multimaster.conflicts WHERE table_name = 'public.g'"),
		'0', '... and no insert met another\'s key');
}
wait_converged('g', @nodes);

$_->stop for @nodes;
done_testing();
