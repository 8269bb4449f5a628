# The per-node way of running a mesh, as users of the classic recipe do:
# subscribe() on each node, add_table() on each node in any order, then the
# operations on a running mesh: status, wait_for_sync on a held-back link,
# unsubscribe, remove_node and drop_mesh.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

my @nodes = map { new_node("n$_") } 1 .. 3;
my ($n1, $n2, $n3) = @nodes;
my @dsns = map { dsn($_) } @nodes;

for my $k (1 .. 3)
{
	$nodes[ $k - 1 ]->safe_psql('postgres',
		"SELECT multimaster.init_node($k, 'n$k');
		 CREATE TABLE t (id int PRIMARY KEY, v text);");
}

# Each node subscribes to the two others.
for my $k (1 .. 3)
{
	for my $j (grep { $_ != $k } 1 .. 3)
	{
		$nodes[ $k - 1 ]->safe_psql('postgres',
			'SELECT multimaster.subscribe(' . sql_literal($dsns[ $j - 1 ]) . ')');
	}
}
is(mm_objects($_), 'slots=2 subs=2 pubs=1', 'subscribe() built the links of ' . $_->name)
  for @nodes;
is( $n2->safe_psql('postgres',
		"SELECT string_agg(subname, ',' ORDER BY subname) FROM pg_subscription"),
	'multimaster_1_2,multimaster_3_2',
	'node 2 receives through multimaster_<peer>_2');
my ($rc, $out, $err) = $n2->psql('postgres',
	'SELECT multimaster.subscribe(' . sql_literal($dsns[0]) . ')');
is($rc, 0, 'subscribe() again is a no-op');
is(mm_objects($n2), 'slots=2 subs=2 pubs=1', 'and creates nothing more');
($rc, $out, $err) = $n2->psql('postgres',
	'SELECT multimaster.subscribe(' . sql_literal($dsns[1]) . ')');
like($err, qr/cannot subscribe to itself/, 'a node cannot subscribe to itself');

# add_table() on each node, in any order, with writes in between: the
# background refresh completes every link once the last node registers.
$n2->safe_psql('postgres', "SELECT multimaster.add_table('t')");
$n2->safe_psql('postgres', "INSERT INTO t VALUES (2, 'written on n2 first')");
$n3->safe_psql('postgres', "SELECT multimaster.add_table('t')");
$n3->safe_psql('postgres', "INSERT INTO t VALUES (3, 'from n3')");
$n1->safe_psql('postgres', "SELECT multimaster.add_table('t')");
$n1->safe_psql('postgres', "INSERT INTO t VALUES (1, 'from n1')");

ok( poll_until(
		'every subscription carries t and is ready',
		sub {
			!grep {
				$_->safe_psql('postgres',
					"SELECT count(*) FROM pg_subscription_rel r
					   JOIN pg_subscription s ON s.oid = r.srsubid
					  WHERE r.srrelid = 't'::regclass AND r.srsubstate = 'r'") ne '2'
			} @nodes;
		}),
	'add_table() in any order: each node receives t from both peers');
wait_converged('t', @nodes);
is($n3->safe_psql('postgres', 'SELECT count(*) FROM t'), 3, 'all three rows everywhere');

# The row written on n2 before the others registered t made their apply
# workers fail until they did (the README says so: register everywhere
# before writing); start counting errors afresh from here.
$_->safe_psql('postgres', 'SELECT pg_stat_reset_subscription_stats(NULL)') for @nodes;

# A conflict, and what status says about the links.
$n1->safe_psql('postgres', 'ALTER SUBSCRIPTION multimaster_2_1 DISABLE');
$n2->safe_psql('postgres', 'ALTER SUBSCRIPTION multimaster_1_2 DISABLE');
ok( poll_until(
		'links between n1 and n2 stopped',
		sub {
			$n1->safe_psql('postgres',
				"SELECT count(*) FROM pg_stat_subscription WHERE subname = 'multimaster_2_1' AND pid IS NOT NULL") eq '0'
			  && $n2->safe_psql('postgres',
				"SELECT count(*) FROM pg_stat_subscription WHERE subname = 'multimaster_1_2' AND pid IS NOT NULL") eq '0';
		}),
	'links between n1 and n2 held back');
$n1->safe_psql('postgres', "UPDATE t SET v = 'n1 edit' WHERE id = 3");
$n2->safe_psql('postgres', "UPDATE t SET v = 'n2 edit' WHERE id = 3");

($rc, $out, $err) = $n1->psql('postgres', "SELECT multimaster.wait_for_sync('5 s')");
is($out, 'f', 'wait_for_sync is false while a link is disabled');
like($err, qr/subscription "multimaster_2_1" is disabled/, 'and says which');
is( $n1->safe_psql('postgres',
		"SELECT enabled || ' ' || (worker_pid IS NULL) FROM multimaster.status WHERE node_id = 2"),
	'false true', 'status shows the disabled link without a worker');

$n1->safe_psql('postgres', 'ALTER SUBSCRIPTION multimaster_2_1 ENABLE');
$n2->safe_psql('postgres', 'ALTER SUBSCRIPTION multimaster_1_2 ENABLE');
wait_sync(@nodes);
wait_converged('t', @nodes);
is( $n1->safe_psql('postgres', 'SELECT v FROM t WHERE id = 3'),
	'n2 edit', 'the later of two concurrent edits wins everywhere');

my $status = $n1->safe_psql('postgres',
	"SELECT string_agg(node_id || ':' || node_name || ':' || enabled || ':'
	                   || (worker_pid IS NOT NULL) || ':' || coalesce(lag_bytes::text, 'null') || ':'
	                   || (slot_retained_bytes > 0) || ':' || errors || ':'
	                   || coalesce(last_error, '-'), ' ' ORDER BY node_id)
	   FROM multimaster.status");
like($status, qr/^2:n2:true:true:\d+:true:0:- 3:n3:true:true:\d+:true:0:-$/,
	'status: one row per peer, streaming, no errors');
my ($logged, $counted) = split /\|/, $nodes[0]->safe_psql('postgres',
	"SELECT (SELECT count(*) FROM multimaster.conflicts),
	        (SELECT sum(conflicts) FROM multimaster.status)");
is($counted, $logged, 'status counts the logged conflicts per peer');
my $total = 0;
$total += $_->safe_psql('postgres', 'SELECT count(*) FROM multimaster.conflicts') for @nodes;
ok($total >= 1, 'the concurrent edits were logged as a conflict');

# unsubscribe: the link goes on both sides; subscribe brings it back.
$n3->safe_psql('postgres', 'SELECT multimaster.unsubscribe(' . sql_literal($dsns[0]) . ')');
is($n3->safe_psql('postgres', "SELECT count(*) FROM pg_subscription WHERE subname = 'multimaster_1_3'"),
	0, 'unsubscribe dropped the subscription');
is($n1->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'multimaster_1_3'"),
	0, 'and the slot on the peer');
$n3->safe_psql('postgres', 'SELECT multimaster.subscribe(' . sql_literal($dsns[0]) . ')');
$n1->safe_psql('postgres', "INSERT INTO t VALUES (4, 'after resubscribe')");
wait_sync(@nodes);
wait_converged('t', @nodes);

# remove_node: every link to and from n3 goes, on every node.
$n1->safe_psql('postgres', "SELECT multimaster.remove_node('n3')");
is(mm_objects($n1), 'slots=1 subs=1 pubs=1', 'n1 keeps only its link with n2');
is(mm_objects($n2), 'slots=1 subs=1 pubs=1', 'n2 keeps only its link with n1');
is(mm_objects($n3), 'slots=0 subs=0 pubs=0', 'n3 has no link left');
is($n1->safe_psql('postgres', 'SELECT string_agg(node_name, \',\' ORDER BY node_id) FROM multimaster.nodes'),
	'n1,n2', 'n1 forgot n3');
$n1->safe_psql('postgres', "INSERT INTO t VALUES (5, 'two nodes')");
wait_sync($n1, $n2);
wait_converged('t', $n1, $n2);
is($n3->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id = 5'), 0, 'n3 no longer receives');

# removed_node_publishes_again: n3 links up again; remove_node() dropped its
# publication, and the one subscribe() recreates carries its registered
# tables again, so its writes reach the others
for my $k (1, 2)
{
	$n3->safe_psql('postgres', 'SELECT multimaster.subscribe(' . sql_literal($dsns[ $k - 1 ]) . ')');
	$nodes[ $k - 1 ]->safe_psql('postgres', 'SELECT multimaster.subscribe(' . sql_literal($dsns[2]) . ')');
}
is( $n3->safe_psql('postgres',
		"SELECT count(*) FROM pg_publication_tables WHERE pubname = 'multimaster' AND tablename = 't'"),
	'1', 'the recreated publication of n3 carries t');
$n3->safe_psql('postgres', "INSERT INTO t VALUES (6, 'from n3 again')");
wait_sync(@nodes);
is($_->safe_psql('postgres', 'SELECT v FROM t WHERE id = 6'), 'from n3 again',
	'n3\'s write reaches ' . $_->name) for ($n1, $n2);

# drop_mesh: the classic recipe's cleanup in one call.
$n2->safe_psql('postgres', 'SELECT multimaster.drop_mesh()');
is(mm_objects($_), 'slots=0 subs=0 pubs=0', 'drop_mesh left nothing on ' . $_->name)
  for ($n1, $n2);
is($n1->safe_psql('postgres', 'SELECT multimaster.local_node_id()'), 1, 'identities stay');
is($n1->safe_psql('postgres', 'SELECT count(*) FROM t'), 6, 'data stays');

done_testing();
