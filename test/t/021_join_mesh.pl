# Copyright: see the multimaster LICENSE.
#
# 021_join_mesh.pl: a fourth node joins a three-node mesh while every node
# takes the classic write load, keeps taking it with the others, and all
# four end identical; then it is removed and rejoins (its rows discarded
# and copied again).  Misuse fails clearly and leaves nothing behind.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use MMTest;

my @nodes = map { new_node("jn$_", log_statement => 'none') } 1 .. 4;
my ($n1, $n2, $n3, $n4) = @nodes;
my @mesh = ($n1, $n2, $n3);
create_mesh(@mesh);
make_table('CREATE TABLE mm (id int PRIMARY KEY, info text, mod_time timestamp)', @nodes);
make_table('CREATE TABLE side (id int PRIMARY KEY, v text)', @nodes);
add_table_mesh('mm', @mesh);
add_table_mesh('side', 'node_priority', @mesh);
$n1->safe_psql('postgres',
	"INSERT INTO mm SELECT g, md5(g::text), now() FROM generate_series(1, 20000) g");
$n2->safe_psql('postgres', "INSERT INTO side SELECT g, 'v' FROM generate_series(1, 100) g");
$n1->safe_psql('postgres', 'DELETE FROM mm WHERE id % 97 = 0');
wait_sync(@mesh);

# misuse: a table with rows on the joining node, a node outside any mesh
$n4->safe_psql('postgres', "INSERT INTO side VALUES (1, 'local')");
my ($rc, $out, $err) = $n4->psql('postgres',
	'SELECT multimaster.join_mesh(' . sql_literal(dsn($n1)) . ')');
like($err, qr/table public\.side on this node has rows/, 'join_mesh refuses a node whose tables have rows');
like($err, qr/TRUNCATE public\.side/, '... and says what to do');
is(mm_objects($n4), 'slots=0 subs=0 pubs=0', '... and creates nothing');
$n4->safe_psql('postgres', 'TRUNCATE side');
($rc, $out, $err) = $n4->psql('postgres',
	'SELECT multimaster.join_mesh(' . sql_literal(dsn($n4)) . ')');
like($err, qr/cannot join a mesh through itself/, 'join_mesh refuses itself as the peer');

# the join, while the three nodes write
my @runs = map { classic_load($mesh[ $_ - 1 ], $_, 25, 4, 7000, 30000) } 1 .. 3;
ok( poll_until('the load runs',
		sub { $n1->safe_psql('postgres', 'SELECT count(*) FROM mm') ne '19794' }),
	'the load is running');
my $t0 = time;
($rc, $out, $err) = $n4->psql('postgres',
	'SELECT multimaster.join_mesh(' . sql_literal(dsn($n2)) . ", 'four')",
	timeout => 300);
is($rc, 0, 'join_mesh succeeds under load') or diag($err);
is($out, '4', '... and returns the new node id');
diag(sprintf('join_mesh took %.1f s', time - $t0));
push @runs, classic_load($n4, 4, 10, 4, 7000, 30000);
finish_load($_) for @runs;

wait_sync(@nodes);
is(mm_objects($_), 'slots=3 subs=3 pubs=1', 'full mesh of four on ' . $_->name) for @nodes;
for my $tbl ('mm', 'side')
{
	my $cmp = $n3->safe_psql('postgres',
		"SELECT string_agg(CASE WHEN consistent THEN 't' ELSE 'f' END, ',' ORDER BY node_id) FROM multimaster.compare_table('$tbl')");
	is($cmp, 't,t,t,t', "compare_table('$tbl') agrees on all four nodes");
}
if (!wait_converged('mm', @nodes))
{
	# which rows differ between node 1 and the joined node, and why
	my $q = "SELECT id, info, mm_origin, mm_version, mm_generation FROM mm ORDER BY id";
	my %a = map { (split /\|/)[0] => $_ } split /\n/, $n1->safe_psql('postgres', $q);
	my %b = map { (split /\|/)[0] => $_ } split /\n/, $n4->safe_psql('postgres', $q);
	for my $id (sort { $a <=> $b } grep { ($a{$_} // '') ne ($b{$_} // '') } (keys %a, keys %b))
	{
		diag("id $id: node1 " . ($a{$id} // 'absent') . '; node4 ' . ($b{$id} // 'absent'));
		# which transaction wrote the row and the key's tombstone there, in
		# which order (xmin), and whether the copy (tablesync) wrote them
		diag('  on ' . $_->name . ': row xmin '
			  . $_->safe_psql('postgres', "SELECT xmin FROM mm WHERE id = $id")
			  . '; tombstone xmin '
			  . $_->safe_psql('postgres',
				"SELECT string_agg(t.xmin::text, ' ') FROM multimaster.tombstones t, "
				  . "multimaster.tombstone_key('mm', '$id') k "
				  . "WHERE t.table_name = k.table_name AND t.key_data = k.key_data"))
		  for ($n1, $n4);
		diag('  tombstones on ' . $_->name . ': '
			  . $_->safe_psql('postgres',
				"SELECT string_agg(t.mm_origin || '/' || t.mm_version || '/' || t.mm_generation, ' ') "
				  . "FROM multimaster.tombstones t, multimaster.tombstone_key('mm', '$id') k "
				  . "WHERE t.table_name = k.table_name AND t.key_data = k.key_data"))
		  for ($n1, $n4);
	}
	# keep the nodes as they are for a look (the rejoin below discards them)
	if ($ENV{MM_STOP_ON_DIVERGENCE})
	{
		$_->stop('fast') for @nodes;
		BAIL_OUT('diverged; nodes kept (MM_STOP_ON_DIVERGENCE)');
	}
}
is($n4->safe_psql('postgres', "SELECT policy FROM multimaster.tables WHERE relid = 'side'::regclass"),
	'node_priority', 'the joined node registered the tables with their policies');
is($n4->safe_psql('postgres', "SELECT node_name FROM multimaster.nodes WHERE is_local"),
	'four', '... under the name given');

# rejoin: removed, its rows discarded, it joins again and gets them back
$n1->safe_psql('postgres', "SELECT multimaster.remove_node('four')");
$n1->safe_psql('postgres', "UPDATE side SET v = 'while four was away' WHERE id <= 10");
$n4->safe_psql('postgres', 'TRUNCATE mm, side');
($rc, $out, $err) = $n4->psql('postgres',
	'SELECT multimaster.join_mesh(' . sql_literal(dsn($n3)) . ')', timeout => 300);
is($rc, 0, 'a removed node rejoins') or diag($err);
is($out, '4', '... keeping its id');
$n4->safe_psql('postgres', "INSERT INTO side VALUES (1000, 'from four again')");
wait_sync(@nodes);
for my $tbl ('mm', 'side')
{
	is( $n1->safe_psql('postgres',
			"SELECT string_agg(CASE WHEN consistent THEN 't' ELSE 'f' END, ',' ORDER BY node_id) FROM multimaster.compare_table('$tbl')"),
		't,t,t,t', "after the rejoin, compare_table('$tbl') agrees on all four nodes");
}
is($n2->safe_psql('postgres', 'SELECT v FROM side WHERE id = 1000'), 'from four again',
	'the rejoined node\'s writes reach the others');

$_->stop for @nodes;
done_testing();
