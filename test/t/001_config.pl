
# Copyright: see the multimaster LICENSE.

# multimaster.create_mesh() checks every node before it creates anything:
# each configuration problem is reported with the node it concerns and what
# to change, and leaves no slot, subscription or publication behind on any
# node.  Once the configuration is fixed the same call builds the mesh, and
# calling it again changes nothing.
#
# Three nodes are reused throughout: each case breaks one thing on one node,
# then puts it back (reload or restart), which is much cheaper than a new
# cluster per case.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

my @nodes = map { new_node("node$_") } 1 .. 3;
my ($n1, $n2, $n3) = @nodes;
my @dsns = map { dsn($_) } @nodes;

# Nothing multimaster-named exists on any node.
sub assert_nothing_created
{
	my ($case) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	for my $node (@nodes)
	{
		is(mm_objects($node), 'slots=0 subs=0 pubs=0',
			"$case: nothing created on " . $node->name);
	}
}

# create_mesh on node1 with the given DSNs must fail with a message that
# matches $problem and names the offending node (by its port, its DSN or
# "node <position>"); then nothing may exist anywhere.
sub mesh_fails
{
	my ($case, $dsns, $problem, $port, $position) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($rc, $out, $err) = $n1->psql('postgres',
		'SELECT multimaster.create_mesh(' . sql_array(@$dsns) . ')');
	isnt($rc, 0, "$case: create_mesh fails");
	like($err, $problem, "$case: error names the problem");
	like(
		$err,
		qr/\b\Q$port\E\b|\bnode\s*"?$position\b/i,
		"$case: error names the node (port $port or node $position)");
	diag("$case: create_mesh said:\n$err") if $rc != 0;
	assert_nothing_created($case);
}

# Sanity: the starting point is clean.
assert_nothing_created('initially');

# (a) node2 does not allow the multimaster output plugin.
SKIP:
{
	skip 'this server has no output_plugin_libraries setting (before 15.19)',
	  6
	  unless has_output_plugin_libraries();

	set_conf($n2, output_plugin_libraries => "'pgoutput, test_decoding'");
	$n2->reload;
	poll_until(
		'node2 reloaded',
		sub {
			$n2->safe_psql('postgres',
				"SELECT setting FROM pg_settings WHERE name = 'output_plugin_libraries'"
			) !~ /multimaster/;
		});
	mesh_fails('output_plugin_libraries', \@dsns,
		qr/output_plugin_libraries/, $n2->port, 2);

	set_conf($n2,
		output_plugin_libraries => "'pgoutput, test_decoding, multimaster'");
	$n2->reload;
	poll_until(
		'node2 reloaded',
		sub {
			$n2->safe_psql('postgres',
				"SELECT setting FROM pg_settings WHERE name = 'output_plugin_libraries'"
			) =~ /multimaster/;
		});
}

# (b) node3 has wal_level = replica.
set_conf($n3, wal_level => 'replica');
$n3->restart;
mesh_fails('wal_level', \@dsns, qr/wal_level/, $n3->port, 3);

# (c) node2 has too few replication slots (it needs one per peer).
set_conf($n3, wal_level => 'logical');
$n3->restart;
set_conf($n2, max_replication_slots => 1);
$n2->restart;
mesh_fails('max_replication_slots', \@dsns, qr/max_replication_slots/,
	$n2->port, 2);

# (d) node3 has too few logical replication workers (one per peer).
set_conf($n2, max_replication_slots => 12);
$n2->restart;
set_conf($n3, max_logical_replication_workers => 1);
$n3->restart;
mesh_fails('max_logical_replication_workers', \@dsns,
	qr/max_logical_replication_workers/, $n3->port, 3);

# (e) the extension is not installed on node2.
set_conf($n3, max_logical_replication_workers => 12);
$n3->restart;
$n2->safe_psql('postgres', 'DROP EXTENSION multimaster');
mesh_fails('extension missing', \@dsns,
	qr/CREATE EXTENSION|not installed|extension/i, $n2->port, 2);
$n2->safe_psql('postgres', 'CREATE EXTENSION multimaster');

# (f) a DSN nobody answers at (same socket directory, a port with no server).
my $dead_port = PostgreSQL::Test::Cluster::get_free_port();
my $dead = dsn($n3) =~ s/port=\d+/port=$dead_port/r;
mesh_fails('unreachable node', [ @dsns, $dead ],
	qr/connect|unreachable|reach/i, $dead_port, 4);

# (g) the same node listed twice: the same string, and the same server
# reached through a differently written DSN.
mesh_fails('same DSN twice', [ @dsns, $dsns[1] ],
	qr/twice|more than once|duplicate|same|already/i, $n2->port, 4);
my $n2_other = join ' ', reverse split / /, $dsns[1];
mesh_fails('same node, other DSN', [ @dsns, $n2_other ],
	qr/twice|more than once|duplicate|same|already|system identifier/i,
	$n2->port, 4);

# Fixed: the mesh comes up, with one slot per peer on each publisher, one
# subscription per peer on each subscriber and the publication everywhere.
my ($rc, $out, $err) = $n1->psql('postgres',
	'SELECT multimaster.create_mesh(' . sql_array(@dsns) . ')');
is($rc, 0, 'create_mesh succeeds once the configuration is fixed')
  or diag($err);
for my $i (0 .. 2)
{
	is(mm_objects($nodes[$i]), 'slots=2 subs=2 pubs=1',
		'mesh objects on ' . $nodes[$i]->name);
	is($nodes[$i]->safe_psql('postgres', 'SELECT multimaster.local_node_id()'),
		$i + 1, $nodes[$i]->name . ' got node id ' . ($i + 1));
}
is( $n2->safe_psql(
		'postgres', q{
SELECT string_agg(slot_name || ':' || plugin, ',' ORDER BY slot_name)
  FROM pg_replication_slots WHERE slot_name LIKE 'multimaster\_%'}),
	'multimaster_2_1:multimaster,multimaster_2_3:multimaster',
	'node2 publishes through multimaster_2_<peer> slots using the multimaster plugin'
);
is( $n2->safe_psql(
		'postgres', q{
SELECT string_agg(subname || ':' || subslotname, ',' ORDER BY subname)
  FROM pg_subscription WHERE subname LIKE 'multimaster\_%'}),
	'multimaster_1_2:multimaster_1_2,multimaster_3_2:multimaster_3_2',
	'node2 subscribes through multimaster_<peer>_2');
ok(wait_mesh_ready(@nodes), 'all subscriptions are streaming');

# Idempotent: a second call succeeds and creates nothing more.
($rc, $out, $err) = $n1->psql('postgres',
	'SELECT multimaster.create_mesh(' . sql_array(@dsns) . ')');
is($rc, 0, 'create_mesh called again succeeds') or diag($err);
is(mm_objects($_), 'slots=2 subs=2 pubs=1',
	'second create_mesh created nothing more on ' . $_->name)
  for @nodes;
ok(wait_mesh_ready(@nodes), 'subscriptions still streaming');

# DDL broadcast: one call runs the command on every node, in id order; a
# failure names the node and where the command already ran.
($rc, $out, $err) = $n3->psql('postgres',
	q{SELECT multimaster.broadcast_ddl('CREATE TABLE bc (id int PRIMARY KEY)')});
is($rc, 0, 'broadcast_ddl succeeds') or diag($err);
is($_->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname = 'bc'}),
	1, 'broadcast_ddl created the table on ' . $_->name)
  for @nodes;
$n2->safe_psql('postgres', 'CREATE TABLE bc2 (id int)');
($rc, $out, $err) = $n1->psql('postgres',
	q{SELECT multimaster.broadcast_ddl('CREATE TABLE bc2 (id int)')});
isnt($rc, 0, 'broadcast_ddl stops at the first failure');
like($err, qr/command failed on node 2.*already run on node 1/s,
	'the error names the failing node and the nodes already done');

# Mesh functions refuse to run inside a transaction block.
($rc, $out, $err) = $n1->psql('postgres',
	'BEGIN; SELECT multimaster.create_mesh(' . sql_array(@dsns) . '); COMMIT;');
like($err, qr/cannot run inside a transaction block/,
	'create_mesh inside BEGIN is refused');

done_testing();
