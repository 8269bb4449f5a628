
# Copyright: see the multimaster LICENSE.

# The classic recipe wired by hand: each node registers the table
# (multimaster.add_table: version columns and the ALWAYS trigger), publishes
# it with the tombstones through an ordinary publication, and subscribes to
# every other node with a plain CREATE SUBSCRIPTION.  The slots use stock
# pgoutput, which forwards applied changes, so every change comes back to
# its origin and goes round again; the trigger alone must make the echoes
# harmless (an echo carries an equal version and is skipped without a
# write).  So the mesh converges, and the traffic dies out instead of
# circulating for ever.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

my @nodes = map { new_node("node$_") } 1 .. 3;

for my $k (1 .. 3)
{
	$nodes[ $k - 1 ]->safe_psql(
		'postgres', qq{
SELECT multimaster.init_node($k, 'node$k');
CREATE TABLE t (id int PRIMARY KEY, v text);
SELECT multimaster.add_table('t');
CREATE PUBLICATION manual FOR TABLE t, multimaster.tombstones
    WITH (publish = 'insert, update, delete');});
}

for my $a (1 .. 3)
{
	for my $b (grep { $_ != $a } 1 .. 3)
	{
		my $conn = dsn($nodes[ $b - 1 ]);
		$nodes[ $a - 1 ]->safe_psql('postgres',
			"CREATE SUBSCRIPTION manual_${a}_$b CONNECTION '$conn' PUBLICATION manual WITH (copy_data = false)"
		);
	}
}

# $on: 1 to have every apply worker running, 0 to have none.
sub workers_running
{
	my ($on) = @_;
	my $want = $on ? 2 : 0;
	for my $node (@nodes)
	{
		poll_until(
			'apply workers ' . ($on ? 'running' : 'stopped') . ' on ' . $node->name,
			sub {
				$node->safe_psql('postgres',
					'SELECT count(pid) FROM pg_stat_subscription WHERE relid IS NULL')
				  == $want;
			}) or die 'apply workers did not ' . ($on ? 'start' : 'stop');
	}
}

sub set_subscriptions
{
	my ($on) = @_;
	my $verb = $on ? 'ENABLE' : 'DISABLE';
	for my $a (1 .. 3)
	{
		$nodes[ $a - 1 ]->safe_psql('postgres',
			join '', map { "ALTER SUBSCRIPTION manual_${a}_$_ $verb;\n" }
			  grep { $_ != $a } 1 .. 3);
	}
	workers_running($on);
}

sub on_all
{
	my ($sql) = @_;
	return [ map { $_->safe_psql('postgres', $sql) } @nodes ];
}

workers_running(1);

# Phase 1: each node inserts its own keys.
for my $k (1 .. 3)
{
	$nodes[ $k - 1 ]->safe_psql('postgres',
		"INSERT INTO t SELECT i, 'n$k-' || i FROM generate_series(${k}01, ${k}20) i"
	);
}
wait_converged('t', @nodes);
is_deeply(on_all('SELECT count(*) FROM t'), [ 60, 60, 60 ],
	'phase 1: 60 rows everywhere');
is_deeply(
	on_all('SELECT count(*) FROM t WHERE mm_origin = id / 100 AND mm_generation = 1'),
	[ 60, 60, 60 ],
	'phase 1: every row carries its writer and first version on every node');

# Phase 2: each node updates rows of the next node and deletes others.
for my $k (1 .. 3)
{
	my $next = $k % 3 + 1;
	$nodes[ $k - 1 ]->safe_psql(
		'postgres', qq{
UPDATE t SET v = v || '-u$k' WHERE id BETWEEN ${next}01 AND ${next}10;
DELETE FROM t WHERE id BETWEEN ${next}11 AND ${next}15;});
}
wait_converged('t', @nodes);
is_deeply(
	on_all(
		q{SELECT count(*) || '/' || count(*) FILTER (WHERE v LIKE '%-u_') || '/'
          || count(*) FILTER (WHERE mm_generation = 2) FROM t}),
	[ ('45/30/30') x 3 ],
	'phase 2: 15 rows deleted, 30 updated, everywhere');
is_deeply(
	on_all(q{SELECT count(*) FROM t WHERE v LIKE '%-u_' AND mm_origin <> (id / 100 + 1) % 3 + 1}),
	[ 0, 0, 0 ],
	'phase 2: updated rows carry the updating node as origin');
is_deeply(
	on_all(q{SELECT count(*) FROM multimaster.tombstones WHERE table_name = multimaster._table_name('t')}),
	[ 15, 15, 15 ],
	'phase 2: the 15 tombstones replicated everywhere');

# Phase 3: concurrent writes of the same keys on all nodes while no link
# delivers anything: every node updates ids 101..105 and inserts the same
# new ids 901..905.  The versions decide; nothing errors.
set_subscriptions(0);
for my $k (1 .. 3)
{
	$nodes[ $k - 1 ]->safe_psql(
		'postgres', qq{
UPDATE t SET v = 'c$k' WHERE id BETWEEN 101 AND 105;
INSERT INTO t SELECT i, 'i$k' FROM generate_series(901, 905) i;});
}
set_subscriptions(1);
wait_converged('t', @nodes);
is_deeply(
	on_all(
		q{SELECT count(*) || '/' || count(*) FILTER (WHERE mm_origin = 3 AND v IN ('c3', 'i3'))
            FROM t WHERE id BETWEEN 101 AND 105 OR id BETWEEN 901 AND 905}),
	[ ('10/10') x 3 ],
	'phase 3: the last writer (node 3) won every concurrently written key, everywhere'
);

# Echoes die out: the WAL of every node stops moving.
wait_quiet(\@nodes, 1, 30);

for my $node (@nodes)
{
	is( $node->safe_psql(
			'postgres',
			'SELECT coalesce(sum(apply_error_count + sync_error_count), 0) FROM pg_stat_subscription_stats'
		),
		0,
		'no apply error on ' . $node->name);
}

my $txns = join ', ', map {
	$_->name . ': '
	  . $_->safe_psql('postgres',
		'SELECT coalesce(sum(total_txns), 0) FROM pg_stat_replication_slots')
} @nodes;
diag("transactions decoded by the pgoutput slots (echoes included): $txns");
diag('conflicts logged: '
	  . join(', ', @{ on_all('SELECT count(*) FROM multimaster.conflicts') }));

done_testing();
