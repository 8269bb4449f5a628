# Copyright: see the multimaster LICENSE.
#
# 019_unique_conflict.pl: two nodes insert different primary keys with the
# same value of a secondary unique key.  Every link that meets the second
# row stops with one error naming the table, both keys, both nodes and the
# call that resolves it; resolve_unique_conflict() keeps the row the
# table's policy prefers, deletes the other on every node with a
# tombstone, logs the conflict, and the links resume and converge.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

my @nodes = map { new_node("uq$_") } 1 .. 3;
my ($n1, $n2, $n3) = @nodes;
create_mesh(@nodes);
make_table('CREATE TABLE u (id int PRIMARY KEY, email text UNIQUE, v text)', @nodes);
add_table_mesh('u', @nodes);

# n1 and n2 write the same email under different ids, unaware of each other
$n1->safe_psql('postgres', 'ALTER SUBSCRIPTION multimaster_2_1 DISABLE');
$n2->safe_psql('postgres', 'ALTER SUBSCRIPTION multimaster_1_2 DISABLE');
$n1->safe_psql('postgres', "INSERT INTO u VALUES (1, 'x\@example.org', 'from n1')");
$n2->safe_psql('postgres', "INSERT INTO u VALUES (2, 'x\@example.org', 'from n2')");
my $log1 = -s $n1->logfile;
$n1->safe_psql('postgres', 'ALTER SUBSCRIPTION multimaster_2_1 ENABLE');
$n2->safe_psql('postgres', 'ALTER SUBSCRIPTION multimaster_1_2 ENABLE');

# n3 got both rows, one of them stuck; n1's link from n2 stops too
ok( poll_until(
		'n1 reports the conflict',
		sub { slurp_file($n1->logfile, $log1) =~ /have the same value in unique index/ }),
	'unique_conflict_stops_link: the link into n1 stops');
my $log = slurp_file($n1->logfile, $log1);
like($log,
	qr/the row of public\.u with key 2 from node 2 and the row with key 1 written on node 1 have the same value in unique index "u_email_key"/,
	'... naming the table, both keys and both nodes');
like($log, qr/HINT:  SELECT \* FROM multimaster\.resolve_unique_conflict\('public\.u', ARRAY\['2'\], ARRAY\['1'\]\)/,
	'... and the call that resolves it');
ok( poll_until(
		'the status view counts the errors',
		sub {
			$n1->safe_psql('postgres',
				"SELECT errors > 0 FROM multimaster.status WHERE subscription = 'multimaster_2_1'") eq 't';
		}),
	'... and multimaster.status counts it');

# misuse fails clearly
my ($rc, $out, $err) = $n1->psql('postgres',
	"SELECT * FROM multimaster.resolve_unique_conflict('u', ARRAY['1'], ARRAY['1'])");
like($err, qr/both keys are 1/, 'resolve_unique_conflict refuses the same key twice');
($rc, $out, $err) = $n1->psql('postgres',
	"SELECT * FROM multimaster.resolve_unique_conflict('u', ARRAY['1'], ARRAY['99'])");
like($err, qr/no node has the row of public\.u with key 99/, '... and a key no node has');
($rc, $out, $err) = $n1->psql('postgres',
	"SELECT * FROM multimaster.resolve_unique_conflict('u', ARRAY['1', '2'], ARRAY['2'])");
like($err, qr/primary key of "u" has 1 columns, 2 values given/, '... and a key of the wrong shape');
$n1->safe_psql('postgres', 'CREATE TABLE plain (id int PRIMARY KEY)');
($rc, $out, $err) = $n1->psql('postgres',
	"SELECT * FROM multimaster.resolve_unique_conflict('plain', ARRAY['1'], ARRAY['2'])");
like($err, qr/is not registered with multimaster/, '... and a table that does not replicate');

# resolve: last_update_wins keeps n2's later row 2
($rc, $out, $err) = $n3->psql('postgres',
	"SELECT node_id, kept, deleted, action FROM multimaster.resolve_unique_conflict('u', ARRAY['1'], ARRAY['2']) ORDER BY node_id");
is($rc, 0, 'resolve_unique_conflict runs') or diag($err);
like($out, qr/^1\|2\|1\|deleted$/m, 'node 1 deleted its own row 1');
like($out, qr/^2\|2\|1\|tombstone written ahead of it$/m,
	'node 2, which never had row 1, holds its tombstone ahead of it');
like($out, qr/^3\|2\|1\|(deleted|tombstone written ahead of it)$/m, 'node 3 dropped row 1 too');

wait_sync(@nodes);
wait_converged('u', @nodes);
for my $node (@nodes)
{
	is($node->safe_psql('postgres', 'SELECT id, v FROM u ORDER BY id'), '2|from n2',
		'the winning row alone on ' . $node->name);
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM multimaster.conflicts WHERE kind = 'unique_conflict' AND resolution = 'kept key 2, deleted key 1'"),
		'1', '... and the conflict logged there');
}
is($n1->safe_psql('postgres',
		"SELECT errors = 0 OR worker_pid IS NOT NULL FROM multimaster.status WHERE subscription = 'multimaster_2_1'"),
	't', 'the link into n1 runs again');
$n1->safe_psql('postgres', "INSERT INTO u VALUES (3, 'y\@example.org', 'after')");
wait_sync(@nodes);
wait_converged('u', @nodes);

$_->stop for @nodes;
done_testing();
