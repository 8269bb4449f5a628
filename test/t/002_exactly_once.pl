
# Copyright: see the multimaster LICENSE.

# In a mesh built by multimaster.create_mesh() a change crosses each link
# exactly once: a row inserted on node 1 reaches every other node once,
# keeps the version node 1 gave it, and is never sent back or forwarded.
#
# The proof is in the publishers' slot statistics: the multimaster plugin
# drops changes that carry a replication origin before they are decoded, so
# for K single-row transactions on node 1 the mesh decodes exactly K*(N-1)
# transactions (one per link out of node 1), where forwarding would decode
# about K*(N-1)^2.  Autovacuum is off so that no ANALYZE transaction is
# decoded in between.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

my $K = 50;

# Sum of total_txns of every multimaster slot on every node, and the
# per-slot values (slot => total_txns).
sub txn_stats
{
	my (@nodes) = @_;
	my ($sum, %per) = (0);
	for my $node (@nodes)
	{
		my $rows = $node->safe_psql(
			'postgres', q{
SELECT slot_name, total_txns FROM pg_stat_replication_slots
 WHERE slot_name LIKE 'multimaster\_%'});
		for (split /\n/, $rows)
		{
			my ($slot, $txns) = split /\|/;
			$per{$slot} = $txns;
			$sum += $txns;
		}
	}
	return ($sum, \%per);
}

sub delta_text
{
	my ($before, $after) = @_;
	return join ', ',
	  map { "$_=" . ($after->{$_} - ($before->{$_} // 0)) } sort keys %$after;
}

sub tup_stats
{
	my ($node) = @_;
	return [
		split /\|/,
		$node->safe_psql(
			'postgres', q{
SELECT n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables
 WHERE relid = 'public.t'::regclass})
	];
}

# Returns the number of transactions decoded per change on node 1.
sub run_mesh
{
	my ($n, %conf) = @_;
	my @nodes = map { new_node("m${n}_node$_", autovacuum => 'off', %conf) }
	  1 .. $n;
	my $n1   = $nodes[0];
	my @rest = @nodes[ 1 .. $#nodes ];
	my $tag  = "$n nodes";

	create_mesh(@nodes);
	make_table('CREATE TABLE t (id int PRIMARY KEY, v text)', @nodes);
	add_table_mesh('t', @nodes);
	wait_sync(@nodes);

	# --- one insert on node 1
	my ($txns0, $per0) = txn_stats(@nodes);
	my $tup0 = tup_stats($n1);
	my $xid = $n1->safe_psql(
		'postgres', q{
BEGIN;
INSERT INTO t VALUES (1, 'one');
SELECT pg_current_xact_id();
COMMIT;});

	wait_sync(@nodes);
	for my $node (@nodes)
	{
		is( $node->safe_psql(
				'postgres',
				'SELECT count(*), min(mm_origin), min(mm_generation), max(v) FROM t WHERE id = 1'
			),
			'1|1|1|one',
			"$tag: the row is on " . $node->name
			  . ' exactly once, mm_origin = 1, mm_generation = 1');
	}
	is($n1->safe_psql('postgres', 'SELECT xmin FROM t WHERE id = 1'),
		$xid, "$tag: node 1's row is still the one its insert wrote");

	# Node 1's table statistics: only the local insert.  Poll until it shows
	# (the inserting backend reports at exit), then nothing else may.
	poll_until("$tag: insert counted",
		sub { tup_stats($n1)->[0] - $tup0->[0] >= 1 });
	my $tup1 = tup_stats($n1);
	is( join(',', map { $tup1->[$_] - $tup0->[$_] } 0 .. 2),
		'1,0,0', "$tag: node 1 saw one insert, no incoming insert/update/delete");

	for my $node (@nodes)
	{
		is($node->safe_psql('postgres', 'SELECT count(*) FROM multimaster.conflicts'),
			0, "$tag: no conflict logged on " . $node->name);
	}

	# One decoded transaction per link out of node 1, none anywhere else.
	my ($txns1, $per1);
	poll_until(
		"$tag: slot statistics show the insert",
		sub {
			($txns1, $per1) = txn_stats(@nodes);
			return $txns1 - $txns0 >= $n - 1;
		});
	wait_sync(@nodes);
	($txns1, $per1) = txn_stats(@nodes);
	is($txns1 - $txns0, $n - 1,
		"$tag: one insert is decoded once per peer (" . ($n - 1) . ')')
	  or diag('per slot: ' . delta_text($per0, $per1));
	my @back = grep { !/^multimaster_1_/ && $per1->{$_} != ($per0->{$_} // 0) }
	  sort keys %$per1;
	is("@back", '', "$tag: no slot of another node decoded anything (no echo, no forwarding)");

	wait_quiet(\@nodes, 1, 30);

	# --- K single-row transactions on node 1
	($txns0, $per0) = txn_stats(@nodes);
	$n1->safe_psql('postgres',
		join '', map { "INSERT INTO t VALUES ($_, 'v$_');\n" } 2 .. $K + 1);
	my $want = $K * ($n - 1);
	poll_until(
		"$tag: slot statistics show $want transactions",
		sub {
			($txns1, $per1) = txn_stats(@nodes);
			return $txns1 - $txns0 >= $want;
		});
	wait_sync(@nodes);
	wait_converged('t', @nodes);
	($txns1, $per1) = txn_stats(@nodes);
	my $got = $txns1 - $txns0;
	diag("$tag: $K transactions on node 1 -> $got decoded in the mesh; per slot: "
		  . delta_text($per0, $per1));
	# A little slack for housekeeping transactions (e.g. a sync barrier);
	# forwarding would add K*(N-1)*(N-2) more.
	my $slack = 2 * $n;
	ok($got >= $want && $got <= $want + $slack,
		"$tag: $K changes decoded $got times, expected K*(N-1) = $want (+ at most $slack)"
	);
	for my $p (2 .. $n)
	{
		my $slot = "multimaster_1_$p";
		is(($per1->{$slot} // 0) - ($per0->{$slot} // 0),
			$K, "$tag: $slot carried each of the $K transactions once");
	}
	is($n1->safe_psql('postgres', 'SELECT count(*) FROM t WHERE mm_origin = 1 AND mm_generation = 1'),
		$K + 1, "$tag: all rows on node 1 still carry their first version");
	for my $node (@rest)
	{
		is( $node->safe_psql(
				'postgres',
				'SELECT count(*), count(DISTINCT id), min(mm_origin), max(mm_origin), max(mm_generation) FROM t'
			),
			($K + 1) . '|' . ($K + 1) . '|1|1|1',
			"$tag: " . $node->name . " has every row once, as written by node 1");
	}
	is( join(',', map { $_->safe_psql('postgres', 'SELECT count(*) FROM multimaster.conflicts') } @nodes),
		join(',', (0) x $n), "$tag: conflict log empty on every node");

	$_->stop for @nodes;
	return $got / $K;
}

my $per3 = run_mesh(3);
my $per5 = run_mesh(5, shared_buffers => '16MB', max_connections => 20);
diag("transactions decoded per change: 3 nodes: $per3, 5 nodes: $per5");
ok($per3 > 0 && $per5 / $per3 > 1.9 && $per5 / $per3 < 2.1,
	'traffic per change grows with N-1 (4/2), not (N-1)^2 (16/4)');

done_testing();
