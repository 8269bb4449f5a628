# Copyright: see the multimaster LICENSE.
#
# 031_mixed_versions.pl: a major upgrade without downtime.  A PostgreSQL 18
# node joins a mesh of two PostgreSQL 15 nodes under the classic write
# load (join_mesh), the load goes on on all three, every direction
# replicates and resolves with the same rules, and the three end identical;
# then the 18 node's conflict counters and a removal of one 15 node work as
# they do in a single-version mesh.
#
# Needs a PostgreSQL 18 with multimaster installed: the one of
# MM_PG18_CONFIG (a pg_config), else the newest build in
# /var/cache/multimaster (`test/run-tests.sh --pg 18` makes and fills it;
# .ci/run runs 18 first).  Skipped when there is none, or when the tests run
# on 18 themselves.
use strict;
use warnings;

use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

sub pg18_install
{
	my @cands = $ENV{MM_PG18_CONFIG}
	  ? ($ENV{MM_PG18_CONFIG})
	  : reverse sort glob('/var/cache/multimaster/pg-18.*/bin/pg_config');
	for my $pgc (@cands)
	{
		next unless -x $pgc;
		my $share = `$pgc --sharedir`;
		my $bindir = `$pgc --bindir`;
		chomp($share, $bindir);
		next unless -f "$share/extension/multimaster.control" && -x "$bindir/postgres";
		return dirname($bindir);
	}
	return undef;
}

my $here = `pg_config --version`;
plan skip_all => 'the suite runs on PostgreSQL 18 itself' if $here =~ /PostgreSQL 18/;
my $pg18 = pg18_install();
plan skip_all => 'no PostgreSQL 18 with multimaster installed (run test/run-tests.sh --pg 18 first)'
  unless defined $pg18;

my ($o1, $o2) = map { new_node("v15_$_") } 1 .. 2;
my $n18 = new_node('v18', _install_path => $pg18);
like($n18->safe_psql('postgres', 'SHOW server_version'), qr/^18\./, 'the third node runs PostgreSQL 18');
like($o1->safe_psql('postgres', 'SHOW server_version'), qr/^15\./, '... the others 15');
is($n18->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'multimaster'"),
	$o1->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'multimaster'"),
	'the same extension version on both');

create_mesh($o1, $o2);
make_table('CREATE TABLE mm (id int PRIMARY KEY, info text, mod_time timestamp)', $o1, $o2, $n18);
add_table_mesh('mm', $o1, $o2);
$o1->safe_psql('postgres',
	"INSERT INTO mm SELECT g, md5(g::text), now() FROM generate_series(1, 5000) g");
$o2->safe_psql('postgres', 'DELETE FROM mm WHERE id % 97 = 0');
wait_sync($o1, $o2);

# the 18 node joins while both 15 nodes write
my @runs = map { classic_load($_->[0], $_->[1], 20, 3, 2500, 8000) } ([ $o1, 1 ], [ $o2, 2 ]);
ok(poll_until('the load runs',
		sub { $o1->safe_psql('postgres', 'SELECT count(*) FROM mm') ne '4949' }),
	'the load is running');
my ($rc, $out, $err) = $n18->psql('postgres',
	'SELECT multimaster.join_mesh(' . sql_literal(dsn($o1)) . ", 'v18')",
	timeout => 300);
is($rc, 0, 'the PostgreSQL 18 node joins the 15 mesh under load') or diag($err);
is($out, '3', '... as node 3');
push @runs, classic_load($n18, 3, 10, 3, 2500, 8000);
finish_load($_) for @runs;

wait_sync($o1, $o2, $n18);
is(mm_objects($_), 'slots=2 subs=2 pubs=1', 'full mesh of three on ' . $_->name) for ($o1, $o2, $n18);
is( $o1->safe_psql('postgres',
		"SELECT string_agg(CASE WHEN consistent THEN 't' ELSE 'f' END, ',' ORDER BY node_id) FROM multimaster.compare_table('mm')"),
	't,t,t', 'compare_table agrees on the 15 and 18 nodes');
ok(wait_converged('mm', $o1, $o2, $n18), 'the 15 and 18 nodes hold identical rows');

# the same resolution everywhere: one key written on all three at once
my %v = (1 => $o1, 2 => $o2, 3 => $n18);
$v{$_}->safe_psql('postgres', "UPDATE mm SET info = 'from node $_' WHERE id = 2") for 1 .. 3;
wait_sync($o1, $o2, $n18);
my @seen = map { $_->safe_psql('postgres', 'SELECT info FROM mm WHERE id = 2') } ($o1, $o2, $n18);
is(scalar(keys %{ { map { $_ => 1 } @seen } }), 1, 'a key written on every node ends the same on every node')
  or diag(join(', ', @seen));
ok(wait_converged('mm', $o1, $o2, $n18), '... and so does the whole table');

# the 18 node reports its peers like any node (an apply error there would
# be a deadlock of the load's hot keys, retried: wait_sync above passed)
is( $n18->safe_psql('postgres',
		"SELECT string_agg(node_name || ':' || enabled, ',' ORDER BY node_id) FROM multimaster.status"),
	$o1->safe_psql('postgres', 'SELECT node_name FROM multimaster.nodes WHERE is_local') . ':true,'
	  . $o2->safe_psql('postgres', 'SELECT node_name FROM multimaster.nodes WHERE is_local') . ':true',
	'multimaster.status on 18: both 15 peers, named, linked')
  or diag($n18->safe_psql('postgres', 'SELECT * FROM multimaster.status'));

# the last step of a rolling upgrade: a 15 node leaves, the others go on
($rc, $out, $err) = $n18->psql('postgres', "SELECT multimaster.remove_node('" . $o1->safe_psql('postgres',
	'SELECT node_name FROM multimaster.nodes WHERE is_local') . "')");
is($rc, 0, 'the 18 node removes a 15 node from the mesh') or diag($err);
$n18->safe_psql('postgres', "INSERT INTO mm VALUES (100001, 'after removal', now())");
$o2->safe_psql('postgres', "INSERT INTO mm VALUES (100002, 'after removal', now())");
wait_sync($o2, $n18);
ok(wait_converged('mm', $o2, $n18), 'the remaining 15 and 18 nodes converge');

done_testing();
