# Copyright: see the multimaster LICENSE.
#
# 025_replicate_ddl.pl: replicate_ddl() changes the schema on every node
# while every node writes: registered tables stay registered (a new column
# is carried, the version columns stay), each change is recorded per node,
# a change that fails on one node is reported with the nodes that have it
# and can be finished or undone, and tables that no longer agree across
# nodes are named.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

my @nodes = map { new_node("dd$_", log_statement => 'none') } 1 .. 3;
my ($n1, $n2, $n3) = @nodes;
create_mesh(@nodes);
make_table('CREATE TABLE t (id int PRIMARY KEY, v text)', @nodes);
add_table_mesh('t', @nodes);

# a write load on every node for the first changes
my @runs;
for my $k (1 .. 3)
{
	my $node = $nodes[ $k - 1 ];
	my $file = $node->basedir . '/w.sql';
	PostgreSQL::Test::Utils::append_to_file($file,
		"\\set id random(1, 2000)\nINSERT INTO t (id, v) VALUES (:id, md5(random()::text)) "
		  . "ON CONFLICT (id) DO UPDATE SET v = excluded.v;\n");
	my %run = (node => $node, out => '', err => '');
	$run{h} = IPC::Run::start(
		[ 'pgbench', '-n', '-c', 2, '-T', 12, '-f', $file, '-h', $node->host, '-p', $node->port, 'postgres' ],
		'<', \undef, '>', \$run{out}, '2>', \$run{err}, IPC::Run::timeout(120));
	push @runs, \%run;
}

my ($rc, $id, $err) = $n1->psql('postgres',
	"SELECT multimaster.replicate_ddl('ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 7')");
is($rc, 0, 'replicate_ddl adds a column on every node while they write') or diag($err);
like($id, qr/^1-\d+$/, '... and returns the change\'s id');
($rc, my $out, $err) = $n2->psql('postgres',
	"SELECT multimaster.replicate_ddl('CREATE INDEX CONCURRENTLY t_v ON public.t (v)')");
like($err, qr/would wait on this node for this very call.*CALL multimaster\.replicate_ddl_concurrently/s,
	'replicate_ddl sends CREATE INDEX CONCURRENTLY to the procedure');
($rc, $out, $err) = $n2->psql('postgres',
	"CALL multimaster.replicate_ddl_concurrently('CREATE INDEX CONCURRENTLY t_v ON public.t (v)')");
is($rc, 0, 'replicate_ddl_concurrently builds an index on every node while they write') or diag($err);
my ($id2) = $err =~ /schema change (\S+) applied on every node/;
for my $run (@runs)
{
	my $ok = eval { $run->{h}->finish; 1 };
	is($ok ? $run->{h}->result(0) : "died: $@", 0, 'pgbench on ' . $run->{node}->name . ' went on');
}
$n3->safe_psql('postgres', 'UPDATE t SET c = 42 WHERE id = (SELECT min(id) FROM t)');
wait_sync(@nodes);
wait_converged('t', @nodes);
for my $node (@nodes)
{
	is($node->safe_psql('postgres', "SELECT count(*) FROM t WHERE c = 42"), '1',
		'the new column replicates to ' . $node->name);
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname IN ('mm_origin', 'mm_version', 'mm_generation')"),
		'3', '... which keeps the version columns');
	is($node->safe_psql('postgres', "SELECT count(*) FROM pg_indexes WHERE indexname = 't_v'"), '1',
		'... and got the index');
}
is( $n3->safe_psql('postgres',
		"SELECT count(*) FROM multimaster.ddl_status() WHERE ddl_id IN ('$id', '$id2') AND applied_at IS NOT NULL"),
	'6', 'ddl_status shows both changes on all three nodes');

# a change that fails on node 3 stops there, saying where it is
$n3->safe_psql('postgres', 'CREATE TABLE x (id int)');
($rc, $out, $err) = $n1->psql('postgres', "SELECT multimaster.replicate_ddl('CREATE TABLE x (id int PRIMARY KEY)')");
isnt($rc, 0, 'a change failing on one node fails');
like($err, qr/failed on node 3.*already exists.*Applied on nodes: 1, 2\. Not applied on nodes: 3\./s,
	'... naming the node, its error, and where it was applied');
like($err, qr/replicate_ddl_finish\('(1-\d+)'\)/, '... and how to finish it');
my ($xid) = $err =~ /replicate_ddl_finish\('(1-\d+)'\)/;
is( $n2->safe_psql('postgres',
		"SELECT string_agg(node_id || ':' || (applied_at IS NOT NULL), ',' ORDER BY node_id) FROM multimaster.ddl_status() WHERE ddl_id = '$xid'"),
	'1:true,2:true,3:false', 'ddl_status shows the node without it');
$n3->safe_psql('postgres', 'DROP TABLE x');
is($n1->safe_psql('postgres', "SELECT multimaster.replicate_ddl_finish('$xid')"), '1',
	'replicate_ddl_finish applies it on the missing node');
is($n3->safe_psql('postgres', "SELECT count(*) FROM pg_tables WHERE tablename = 'x'"), '1', '... node 3 has it');
is($n1->safe_psql('postgres', "SELECT multimaster.replicate_ddl_undo('$xid', 'DROP TABLE x')"), '3',
	'replicate_ddl_undo undoes it on every node that has it');
is($_->safe_psql('postgres', "SELECT count(*) FROM pg_tables WHERE tablename = 'x'"), '0',
	'... gone from ' . $_->name) for @nodes;
is($n2->safe_psql('postgres', "SELECT count(*) FROM multimaster.ddl_status() WHERE ddl_id = '$xid'"), '0',
	'... and forgotten');

# a table changed by hand on one node is named after the next change
$n2->safe_psql('postgres', 'ALTER TABLE t ADD COLUMN by_hand int');
($rc, $out, $err) = $n1->psql('postgres', "SELECT multimaster.replicate_ddl('CREATE INDEX t_c ON public.t (c)')");
is($rc, 0, 'the next change still runs');
like($err, qr/WARNING:  after the change, table public\.t has other columns on node 2/,
	'... and warns that a registered table differs between nodes');

# misuse
($rc, $out, $err) = $n1->psql('postgres', "SELECT multimaster.replicate_ddl('')");
like($err, qr/a command must be given/, 'an empty command is refused');
($rc, $out, $err) = $n1->psql('postgres', "SELECT multimaster.replicate_ddl_finish('nope')");
like($err, qr/no node has a schema change nope/, 'finishing an unknown change is refused');
($rc, $out, $err) = $n1->psql('postgres', "BEGIN; SELECT multimaster.replicate_ddl('SELECT 1'); COMMIT;");
like($err, qr/cannot run inside a transaction block/, 'replicate_ddl refuses a transaction block');

$_->stop for @nodes;
done_testing();
