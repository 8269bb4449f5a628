# Copyright: see the multimaster LICENSE.
#
# 018_purge_horizon.pl: purging tombstones cannot bring a deleted row back.
# A tombstone goes only once every peer has seen it and sent everything it
# wrote before, whatever retention the caller gives: a link paused longer
# than the retention keeps it, an unreachable peer keeps it, and once the
# link resumes the stale write it carried loses against the tombstone on
# every node.  Then the background worker purges by itself.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

my @nodes = map { new_node("ph$_") } 1 .. 3;
my ($n1, $n2, $n3) = @nodes;
create_mesh(@nodes);
make_table('CREATE TABLE t (id int PRIMARY KEY, v text)', @nodes);
add_table_mesh('t', @nodes);
$n1->safe_psql('postgres', "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g");
wait_sync(@nodes);

sub tombstones
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM multimaster.tombstones WHERE table_name = multimaster._table_name('t')");
}

# n3's changes stop reaching n1; n3 updates row 1, then n1 deletes it (a
# later write: the delete wins everywhere)
$n1->safe_psql('postgres', 'ALTER SUBSCRIPTION multimaster_3_1 DISABLE');
$n3->safe_psql('postgres', "UPDATE t SET v = 'stale update from n3' WHERE id = 1");
$n1->safe_psql('postgres', 'DELETE FROM t WHERE id = 1');
ok(poll_until('n3 applied the delete',
		sub { $n3->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id = 1') eq '0' }),
	'the delete reached n3');

# a purge with any retention keeps the tombstone while n3's stale update
# is on its way (the wait lets the live links confirm even on a loaded
# machine, so that the paused one is the one named)
my ($rc, $out, $err) = $n1->psql('postgres',
	"SET multimaster.purge_wait = '15s'; SELECT multimaster.purge_tombstones('0')");
is($out, '0', 'purge_keeps_unconfirmed_tombstones: nothing purged while a link is paused');
like($err, qr/not every peer has passed them yet.*multimaster_3_1/s,
	'... saying which slot has not confirmed');
is(tombstones($n1), '1', '... the tombstone is still on n1');

# the link resumes: the stale update loses against the tombstone
$n1->safe_psql('postgres', 'ALTER SUBSCRIPTION multimaster_3_1 ENABLE');
wait_sync(@nodes);
is($_->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id = 1'), '0',
	'row 1 stays deleted on ' . $_->name) for @nodes;
wait_converged('t', @nodes);

# now every peer has passed it
is($n1->safe_psql('postgres', "SELECT multimaster.purge_tombstones('0')"), '1',
	'the tombstone goes once every peer has passed it');
is(tombstones($n1), '0', '... from n1');

# an unreachable peer keeps every tombstone
$n2->safe_psql('postgres', 'DELETE FROM t WHERE id = 2');
wait_sync(@nodes);
$n3->stop;
($rc, $out, $err) = $n1->psql('postgres',
	"SET multimaster.purge_wait = '2s'; SELECT multimaster.purge_tombstones('0')");
is($out, '0', 'nothing purged while a peer is down');
like($err, qr/node 3 \("node3"\) cannot be reached/, '... naming it');
$n3->start;

# the background worker purges by itself once the retention has passed
for my $node (@nodes)
{
	$node->safe_psql('postgres',
		"LOAD 'multimaster'; ALTER SYSTEM SET multimaster.tombstone_retention = '1s'; SELECT pg_reload_conf()");
}
$n1->safe_psql('postgres', 'DELETE FROM t WHERE id BETWEEN 3 AND 6');
wait_sync(@nodes);
ok( poll_until(
		'every node purged its tombstones',
		sub { !grep { tombstones($_) ne '0' } @nodes }),
	'background_purge: every node purged its tombstones');
is( $n2->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'multimaster purge'"),
	'1', '... with one purge worker per node');
$n2->safe_psql('postgres', "INSERT INTO t VALUES (3, 'back')");
wait_sync(@nodes);
wait_converged('t', @nodes);

$_->stop for @nodes;
done_testing();
