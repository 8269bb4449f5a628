# Copyright: see the multimaster LICENSE.
#
# 026_repair_table.pl: nodes that drifted apart (changes made on one node
# that never replicated) are found key by key without shipping the table,
# and repair_table() makes every node hold what the table's policy
# prefers: a dry run lists it, the repair does it, and the nodes agree.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

my $ROWS = 100000;
my @nodes = map { new_node("rp$_") } 1 .. 3;
my ($n1, $n2, $n3) = @nodes;
create_mesh(@nodes);
make_table('CREATE TABLE t (id int PRIMARY KEY, v text)', @nodes);
add_table_mesh('t', @nodes);
$n1->safe_psql('postgres', "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, $ROWS) g");
wait_sync(@nodes);
$n2->safe_psql('postgres', 'DELETE FROM t WHERE id = 50');
wait_sync(@nodes);

# node 2 holds a newer version of key 5 than anyone
drift($n2, "INSERT INTO t VALUES (5, 'only on node 2', 3, now() + interval '1 minute', 9)");
# node 3 lost key 7 (no tombstone): the others' row wins
drift($n3, 'DELETE FROM t WHERE id = 7');
# node 1 has key 50 back (an old version, older than the delete's tombstone)
$n1->safe_psql('postgres',
	"DELETE FROM multimaster.tombstones t USING multimaster.tombstone_key('t', '50') k
	  WHERE t.table_name = k.table_name AND t.key_data = k.key_data");
drift($n1, "INSERT INTO t VALUES (50, 'resurrected', 1, '2020-01-01', 1)");
# node 1 has a key nobody else has
drift($n1, "INSERT INTO t VALUES ($ROWS + 1, 'only on node 1', 1, now(), 1)");

is( $n1->safe_psql('postgres',
		"SELECT bool_and(consistent)::text FROM multimaster.compare_table('t')"),
	'false', 'compare_table sees the drift');

my ($rc, $out, $err) = $n2->psql('postgres',
	"SELECT key, node_id, holds FROM multimaster.compare_table_keys('t') ORDER BY key, node_id");
is($rc, 0, 'compare_table_keys runs') or diag($err);
my %keys = map { (split /\|/)[0] => 1 } split /\n/, $out;
is(join(' ', sort keys %keys), join(' ', sort ('{5}', '{7}', '{50}', '{' . ($ROWS + 1) . '}')),
	'compare_table_keys finds exactly the four keys that differ');
like($out, qr/^\{7\}\|3\|absent$/m, '... and what each node holds');
my ($bytes) = $err =~ /(\d+) bytes came back/;
diag("compare_table_keys: $ROWS rows on 3 nodes, $bytes bytes came back");
ok(defined $bytes && $bytes < $ROWS, '... without shipping the table (fewer bytes than rows)');

($rc, $out, $err) = $n3->psql('postgres', "SELECT key, action FROM multimaster.repair_table('t') ORDER BY key");
is($rc, 0, 'repair_table dry run') or diag($err);
like($out, qr/^\{5\}\|write the row of node 2 again there \(dry run: not done\)$/m, '... keeps node 2\'s newer row of key 5');
like($out, qr/^\{50\}\|delete the row on node 1 \(dry run: not done\)$/m, '... deletes the resurrected key 50');
is($n1->safe_psql('postgres', "SELECT bool_and(consistent)::text FROM multimaster.compare_table('t')"),
	'false', '... and changes nothing');

($rc, $out, $err) = $n3->psql('postgres', "SELECT key, action FROM multimaster.repair_table('t', dry_run => false) ORDER BY key");
is($rc, 0, 'repair_table repairs') or diag($err);
wait_sync(@nodes);
wait_converged('t', @nodes);
is($n1->safe_psql('postgres', "SELECT bool_and(consistent)::text FROM multimaster.compare_table('t')"),
	'true', 'the nodes agree again');
is($n3->safe_psql('postgres', 'SELECT v FROM t WHERE id = 5'), 'only on node 2', 'key 5 holds the newest row');
is($n2->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id = 50'), '0', 'key 50 stays deleted');
is($n3->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id = 7'), '1', 'key 7 is back on node 3');
is($n2->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id = ' . ($ROWS + 1)), '1',
	'the key only node 1 had is everywhere');
($rc, $out, $err) = $n1->psql('postgres', "SELECT count(*) FROM multimaster.compare_table_keys('t')");
is($out, '0', 'compare_table_keys finds nothing left');

($rc, $out, $err) = $n1->psql('postgres', "SELECT * FROM multimaster.repair_table('pg_class')");
like($err, qr/not registered with multimaster/, 'repair_table refuses a table that does not replicate');

$_->stop for @nodes;
done_testing();
