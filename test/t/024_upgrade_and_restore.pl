# Copyright: see the multimaster LICENSE.
#
# 024_upgrade_and_restore.pl: a mesh built with version 1.0 of the
# extension, with data, tombstones and logged conflicts, is upgraded node by
# node with ALTER EXTENSION multimaster UPDATE while it replicates: the
# mixed mesh keeps working (conflicts included), and afterwards data,
# identities and links are intact and the 1.1 features work.  Then a node's
# pg_dump, restored into a new server, keeps its identity and
# configuration.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

my @nodes = map { new_node("up$_", _extension => 0) } 1 .. 2;
my ($n1, $n2) = @nodes;
$_->safe_psql('postgres', "CREATE EXTENSION multimaster VERSION '1.0'") for @nodes;
is($n1->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'multimaster'"),
	'1.0', 'version 1.0 installed');
create_mesh(@nodes);
make_table('CREATE TABLE t (id int PRIMARY KEY, v text, u text UNIQUE)', @nodes);
add_table_mesh('t', @nodes);
$n1->safe_psql('postgres', "INSERT INTO t SELECT g, 'v' || g, 'u' || g FROM generate_series(1, 1000) g");
$n2->safe_psql('postgres', 'DELETE FROM t WHERE id <= 10');
wait_sync(@nodes);

# a conflict logged under 1.0
sub conflict_on
{
	my ($id) = @_;
	$n1->safe_psql('postgres', 'ALTER SUBSCRIPTION multimaster_2_1 DISABLE');
	$n2->safe_psql('postgres', 'ALTER SUBSCRIPTION multimaster_1_2 DISABLE');
	$n1->safe_psql('postgres', "UPDATE t SET v = 'n1' WHERE id = $id");
	$n2->safe_psql('postgres', "UPDATE t SET v = 'n2' WHERE id = $id");
	$n1->safe_psql('postgres', 'ALTER SUBSCRIPTION multimaster_2_1 ENABLE');
	$n2->safe_psql('postgres', 'ALTER SUBSCRIPTION multimaster_1_2 ENABLE');
	wait_sync(@nodes);
}
conflict_on(100);
my $conflicts_before = $n1->safe_psql('postgres', 'SELECT count(*) FROM multimaster.conflicts');
ok($conflicts_before > 0, 'a conflict was logged under 1.0');
my $tombstones_before = $n1->safe_psql('postgres', 'SELECT count(*) FROM multimaster.tombstones');
is($tombstones_before, '10', 'ten tombstones under 1.0');

# rolling upgrade: node 1 first; the mixed mesh keeps replicating
$n1->safe_psql('postgres', 'ALTER EXTENSION multimaster UPDATE');
is($n1->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'multimaster'"),
	'1.1', 'node 1 runs 1.1');
$n1->safe_psql('postgres', "INSERT INTO t VALUES (2000, 'from 1.1', 'u2000')");
$n2->safe_psql('postgres', "INSERT INTO t VALUES (2001, 'from 1.0', 'u2001')");
$n2->safe_psql('postgres', 'DELETE FROM t WHERE id = 20');
conflict_on(200);
wait_converged('t', @nodes);
is($n2->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id IN (2000, 2001)'), '2',
	'the mixed mesh replicates both ways');
ok($n2->safe_psql('postgres', 'SELECT count(*) FROM multimaster.conflicts') > $conflicts_before,
	'the 1.0 node logs conflicts with the new library');
is( $n2->safe_psql('postgres',
		'SELECT coalesce(sum(apply_error_count + sync_error_count), 0) FROM pg_stat_subscription_stats'),
	'0', 'no apply error on the 1.0 node');
is( $n1->safe_psql('postgres',
		'SELECT coalesce(sum(apply_error_count + sync_error_count), 0) FROM pg_stat_subscription_stats'),
	'0', 'no apply error on the 1.1 node');

# node 2 too
$n2->safe_psql('postgres', 'ALTER EXTENSION multimaster UPDATE');
for my $node (@nodes)
{
	my $name = $node->name;
	is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'multimaster'"),
		'1.1', "$name runs 1.1");
	is(mm_objects($node), 'slots=1 subs=1 pubs=1', "$name keeps its links");
}
is($n1->safe_psql('postgres', 'SELECT multimaster.local_node_id()'), '1', 'node 1 keeps its identity');
is($n2->safe_psql('postgres', 'SELECT multimaster.local_node_id()'), '2', 'node 2 keeps its identity');
is($n1->safe_psql('postgres', 'SELECT count(*) FROM multimaster.tombstones'), '11', 'the tombstones stay');
is( $n1->safe_psql('postgres', 'SELECT conflicts FROM multimaster.status'),
	$n1->safe_psql('postgres', 'SELECT count(*) FROM multimaster.conflicts WHERE remote_origin = 2'),
	'the status view counts the conflicts logged before the update');
is($n1->safe_psql('postgres', 'SELECT deadlocks FROM multimaster.status'), '0', 'and has the deadlock count');
is( $n1->safe_psql('postgres',
		"SELECT string_agg(CASE WHEN consistent THEN 't' ELSE 'f' END, ',' ORDER BY node_id) FROM multimaster.compare_table('t')"),
	't,t', 'the data is the same on both nodes');
$n1->safe_psql('postgres', 'CREATE TABLE g (id bigint PRIMARY KEY DEFAULT multimaster.global_id(), v text)');
$n2->safe_psql('postgres', 'CREATE TABLE g (id bigint PRIMARY KEY DEFAULT multimaster.global_id(), v text)');
add_table_mesh('g', @nodes);
$n2->safe_psql('postgres', "INSERT INTO g (v) VALUES ('after the update')");
$n1->safe_psql('postgres', "UPDATE t SET v = 'after' WHERE id = 500");
wait_sync(@nodes);
is($n1->safe_psql('postgres', 'SELECT v FROM g'), 'after the update', '1.1 features work after the update');
is($n2->safe_psql('postgres', 'SELECT v FROM t WHERE id = 500'), 'after', 'and replication goes on');

# pg_dump of node 1, restored into a new server: identity and configuration
my $dump = $n1->basedir . '/n1.dump';
my ($dump_out, $dump_err) = ('', '');
IPC::Run::run([ 'pg_dump', '-Fc', '--no-subscriptions', '-f', $dump, '-d', $n1->connstr('postgres') ],
	'>', \$dump_out, '2>', \$dump_err)
  or die "pg_dump failed: $dump_err";
my $r = new_node('up_restored', _extension => 0);
my ($restore_out, $restore_err) = ('', '');
IPC::Run::run([ 'pg_restore', '-d', $r->connstr('postgres'), $dump ],
	'>', \$restore_out, '2>', \$restore_err);
is($restore_err, '', 'pg_restore reports no error') or diag($restore_err);
is( $r->safe_psql('postgres', 'SELECT node_id || node_name FROM multimaster.nodes WHERE is_local'),
	'1node1', 'the restored node keeps its identity');
is( $r->safe_psql('postgres', 'SELECT string_agg(relid::text || \':\' || policy, \',\' ORDER BY relid::text) FROM multimaster.tables'),
	'g:last_update_wins,t:last_update_wins', '... and its registered tables');
is($r->safe_psql('postgres', 'SELECT count(*) FROM multimaster.tombstones'),
	$n1->safe_psql('postgres', 'SELECT count(*) FROM multimaster.tombstones'), '... and its tombstones');
is( $r->safe_psql('postgres',
		"SELECT tgenabled FROM pg_trigger WHERE tgrelid = 't'::regclass AND tgname = '000_multimaster_resolve'"),
	'A', '... and its resolving trigger, enabled ALWAYS');
is($r->safe_psql('postgres', 'SELECT count(*) FROM t'), $n1->safe_psql('postgres', 'SELECT count(*) FROM t'),
	'... and its rows');
$r->safe_psql('postgres', "UPDATE t SET v = 'restored' WHERE id = 600");
is($r->safe_psql('postgres', 'SELECT mm_origin FROM t WHERE id = 600'), '1',
	'a write on the restored node is stamped with its identity');

$_->stop for (@nodes, $r);
done_testing();
