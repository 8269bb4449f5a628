# Copyright: see the multimaster LICENSE.
#
# 011_bad_input.pl: every SQL function of the extension, called with NULLs,
# OID 0, a dropped table's OID, empty and duplicate arrays, fails with an
# error (or does nothing) and never crashes a backend.  A crashed backend
# does not change pg_postmaster_start_time() (the postmaster survives and
# restarts the others), so the server log is what tells.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

my $node = new_node('bad');
$node->safe_psql('postgres', q{
SELECT multimaster.init_node(1, 'n1');
CREATE TABLE gone (id int PRIMARY KEY);
CREATE TABLE t (id int PRIMARY KEY, v text);
SELECT multimaster.add_table('t');
});
my $dropped = $node->safe_psql('postgres', "SELECT 'gone'::regclass::oid");
$node->safe_psql('postgres', 'DROP TABLE gone');

my @calls = (
	"multimaster.init_node(NULL, NULL, NULL)",
	"multimaster.add_table(NULL, NULL, NULL)",
	"multimaster.add_table(0)",
	"multimaster.add_table($dropped)",
	"multimaster.remove_table(NULL)",
	"multimaster.remove_table(0)",
	"multimaster.remove_table($dropped)",
	"multimaster.remove_table_mesh(NULL)",
	"multimaster.remove_table_mesh(0)",
	"multimaster.remove_table_mesh($dropped)",
	"multimaster.add_table_mesh(NULL, NULL, NULL)",
	"multimaster.add_table_mesh(0)",
	"multimaster.add_table_mesh($dropped)",
	"multimaster.compare_table(0)",
	"multimaster.compare_table($dropped)",
	"multimaster.purge_tombstones(NULL)",
	"* FROM multimaster.compare_table_keys(NULL)",
	"* FROM multimaster.compare_table_keys(0)",
	"* FROM multimaster.compare_table_keys($dropped)",
	"* FROM multimaster.repair_table(NULL)",
	"* FROM multimaster.repair_table(0, false)",
	"* FROM multimaster.repair_table($dropped)",
	"multimaster.replicate_ddl(NULL)",
	"multimaster.replicate_ddl('', NULL)",
	"multimaster.replicate_ddl_finish(NULL)",
	"multimaster.replicate_ddl_finish('')",
	"multimaster.replicate_ddl_undo('x', NULL)",
	"multimaster.replicate_ddl_undo('x', 'DROP INDEX CONCURRENTLY i')",
	"* FROM multimaster.ddl_status()",
	"multimaster.join_mesh(NULL)",
	"multimaster.join_mesh('')",
	"multimaster.join_mesh('port=1', '')",
	"multimaster.resolve_unique_conflict(NULL, NULL, NULL)",
	"* FROM multimaster.resolve_unique_conflict(0, ARRAY['1'], ARRAY['2'])",
	"* FROM multimaster.resolve_unique_conflict($dropped, ARRAY['1'], ARRAY['2'])",
	"* FROM multimaster.resolve_unique_conflict('t', ARRAY[]::text[], ARRAY['2'])",
	"* FROM multimaster.resolve_unique_conflict('t', ARRAY[NULL], ARRAY['2'])",
	"* FROM multimaster.resolve_unique_conflict('t', ARRAY[['1']], ARRAY['2'])",
	"* FROM multimaster.resolve_unique_conflict('t', ARRAY['1'], ARRAY['1'])",
	"multimaster._row_version(0, ARRAY['1'])",
	"multimaster._row_version($dropped, ARRAY['1'])",
	"multimaster._row_version('t', ARRAY[]::text[])",
	"multimaster._resolve_unique_local(NULL, NULL, NULL, NULL, NULL, NULL)",
	"multimaster._resolve_unique_local(0, ARRAY['1'], 1, 0, 1, ARRAY['2'])",
	"multimaster._resolve_unique_local('t', ARRAY['x'], 1, 0, 1, ARRAY['2'])",
	"multimaster.tombstone_key(0, '1')",
	"multimaster.tombstone_key($dropped, '1')",
	"multimaster.tombstone_key('t', VARIADIC ARRAY[]::text[])",
	"multimaster.tombstone_key('t', VARIADIC ARRAY[NULL]::text[])",
	"multimaster._table_name(0)",
	"multimaster._table_name($dropped)",
	"multimaster._check_table(0)",
	"multimaster._check_table($dropped)",
	"multimaster._move_tombstones('a', 'b')",
	"multimaster._peer_slot(0)",
	"multimaster._peer_slot(NULL)",
	"multimaster._link_name(NULL, NULL)",
	"multimaster._link_name(-1, 2)",
	"multimaster._link_name(2147483647, 2147483647)",
	"* FROM multimaster._link_parts(NULL)",
	"* FROM multimaster._link_parts('')",
	"multimaster.create_mesh(ARRAY[]::text[])",
	"multimaster.create_mesh(ARRAY[NULL]::text[])",
	"multimaster.create_mesh(ARRAY['dbname=postgres', 'dbname=postgres'])",
	"multimaster.subscribe('')",
	"multimaster.unsubscribe('')",
	"multimaster.remove_node('')",
	"multimaster.wait_for_sync(interval '-1 s')",
	"multimaster.broadcast_ddl('')",
	"multimaster.stagger_sequence(0)",
	"multimaster.stagger_sequence($dropped)",
	"multimaster.check_policy(NULL)",
	"multimaster.conflict_trigger()",
	"multimaster.tombstone_trigger()");
for my $c (@calls)
{
	my ($rc, $out, $err) = $node->psql('postgres', "SELECT $c");
	like($err . ($rc == 0 ? 'ok' : ''), qr/ERROR|ok/, "$c: an error or nothing, no crash");
}

# a subscription named like the mesh's but not a link's: the status view
# leaves it out, and _peer_slot() refuses to reach its host
$node->safe_psql('postgres',
	"CREATE SUBSCRIPTION multimaster_x CONNECTION 'host=127.0.0.1 port=1 dbname=postgres' "
	  . 'PUBLICATION p WITH (connect = false, slot_name = NONE)');
my $subid = $node->safe_psql('postgres',
	"SELECT oid FROM pg_subscription WHERE subname = 'multimaster_x'");
my ($rc, $out, $err) = $node->psql('postgres', "SELECT * FROM multimaster._peer_slot($subid)");
like($err, qr/is not a multimaster subscription/, '_peer_slot() refuses a subscription that is no link');
is($node->safe_psql('postgres', 'SELECT count(*) FROM multimaster.status'),
	'0', 'the status view leaves it out');
$node->safe_psql('postgres', 'DROP SUBSCRIPTION multimaster_x');

# incoming tombstones with NULLs, as an apply worker would see them
$node->safe_psql('postgres', "SELECT pg_replication_origin_create('bad_peer')");
for my $row ("NULL, 1, '\\x00', NULL, 2, now(), 1",
	"'\"public\".\"t\"', NULL, NULL, NULL, 2, now(), 1",
	"'\"public\".\"t\"', 1, '\\x00', NULL, 2, now(), 1")
{
	my ($rc, $out, $err) = $node->psql('postgres',
		"SELECT pg_replication_origin_session_setup('bad_peer');
		 SET session_replication_role = replica;
		 INSERT INTO multimaster.tombstones VALUES ($row);");
	like($err, qr/ERROR/, "a malformed incoming tombstone ($row) is an error");
}

my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|server process .* was terminated/,
	'no backend was terminated by a signal');

$node->stop;
done_testing();
