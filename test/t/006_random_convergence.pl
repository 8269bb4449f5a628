# Copyright: see the multimaster LICENSE.
#
# 006_random_convergence.pl: randomized convergence of a 3-node mesh, for
# each conflict policy and three kinds of primary key.
#
# Per policy and key type, a fresh table r_<policy>[_<type>] (id, v) on a
# 3-node mesh whose nodes have distinct priorities.  The key types:
#
#   int: plain integers 1..20;
#   ts:  timestamptz, key k being 2024-01-01 00:00+00 plus k minutes; node 2's
#     sessions run with TimeZone UTC, node 1's and node 3's with
#     America/New_York, and each statement spells the key one of three ways
#     (an expression, a literal without offset read in the session's zone,
#     a literal with an explicit offset), all denoting the same instant;
#   num: numeric, key k written as k, k.00, round(k, 1) or k.000 at random
#     per statement: equal keys with different scales (different binary
#     encodings, different text).
#
# For a bounded number of rounds of two kinds:
#
#   chaos: links are randomly disabled and enabled (a disabled subscription
#     keeps its slot, so its changes arrive late, after later changes from
#     other nodes: deliveries reorder and writes become concurrent), and
#     random transactions run on random nodes: INSERT ... ON CONFLICT DO
#     UPDATE, UPDATE, DELETE (alone or two or three in one transaction) and
#     now and then a change of primary key, over 20 keys so writes collide;
#   split: from a synced state, every link is cut, and two or three nodes
#     each write the same few keys once: concurrent writes with equal
#     generations, which only the policy's tie-breaks (clock, priority) can
#     order.
#
# Then every link is enabled, every node waits for sync, and:
#
#   - all nodes hold exactly the same rows, versions included, and for
#     numeric keys the same scale (multimaster.compare_table and a
#     row-by-row comparison);
#   - each key (by value: 7 and 7.00 are one key, as are two spellings of one
#     instant) ended at the greatest of all the versions written for it
#     anywhere (deletes included, as their tombstones' versions), under the
#     policy's total order (src/mm_version.c): merging is max, so nothing but
#     that version may survive, with the key as that write stored it;
#   - no apply worker ever failed.
#
# The run is reproducible: the seed is printed, MM_SEED=<seed> replays the
# same choices (timing still varies).  MM_ROUNDS sets the number of rounds
# of the int-key runs (default 20), each of which also stops after
# MM_POLICY_SECONDS (default 35); MM_EXTRA_ROUNDS and MM_EXTRA_SECONDS do
# the same for the timestamptz and numeric runs (defaults 8 and 12).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use List::Util qw(shuffle);
use Time::HiRes qw(time);

use MMTest;

my $started = time;
my $WAIT = $ENV{MM_TEST_WAIT} // 60;
my $ROUNDS = $ENV{MM_ROUNDS} // 20;
my $POLICY_SECONDS = $ENV{MM_POLICY_SECONDS} // 35;
my $EXTRA_ROUNDS = $ENV{MM_EXTRA_ROUNDS} // 8;
my $EXTRA_SECONDS = $ENV{MM_EXTRA_SECONDS} // 12;
my $KEYS = 20;    # at most 59: timestamptz keys are minutes of one hour

my $seed = $ENV{MM_SEED} // (int(time * 1000) ^ $$) % 1_000_000_007;
srand($seed);
diag("006_random_convergence: MM_SEED=$seed");

# Distinct priorities, deliberately not in node id order.
my %prio = (1 => 20, 2 => 30, 3 => 10);

my @policies = (
	[ 'last_update_wins',  'lww' ],
	[ 'node_priority',     'prio' ],
	[ 'first_update_wins', 'first' ]);

# Key types.  For key number k (1..$KEYS): type is the column type; lit
# returns an SQL expression of the key written by a statement run in a
# session of node $n, picked at random among equal spellings, and a label
# of that spelling; session is SQL run first in every session of node $n;
# canon is SQL giving k back from a stored id; exact renders a stored id the
# same way on every node whatever the session settings, as stored (the
# numeric scale shows): rows are compared with it.
my $T0 = '2024-01-01 00:00:00+00';    # timestamptz key k: $T0 + k minutes
my %tz = (1 => 'America/New_York', 2 => 'UTC', 3 => 'America/New_York');
my %keytypes = (
	int => {
		type    => 'int',
		lit     => sub { my ($k) = @_; return ($k, 'int') },
		session => sub { return '' },
		canon   => 'id',
		exact   => 'id',
	},
	ts => {
		type => 'timestamptz',
		lit  => sub {
			my ($k, $n) = @_;
			my $mm = sprintf('%02d', $k);
			my $x = rand();
			# $T0 + k minutes is 2023-12-31 19:mm in New York (EST, -05)
			my $local = $tz{$n} eq 'UTC'
			  ? "2024-01-01 00:$mm:00" : "2023-12-31 19:$mm:00";
			return ("(timestamptz '$T0' + $k * interval '1 minute')", "$tz{$n} expr")
			  if $x < 0.34;
			return ("timestamptz '$local'", "$tz{$n} local") if $x < 0.67;
			return (rand() < 0.5
				? "timestamptz '2023-12-31 19:$mm:00-05'"
				: "timestamptz '2024-01-01 00:$mm:00+00'", "$tz{$n} offset");
		},
		session => sub { my ($n) = @_; return "SET TimeZone = '$tz{$n}';" },
		canon   => "((extract(epoch FROM id) - extract(epoch FROM timestamptz '$T0')) / 60)::int",
		exact   => "to_char(id AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')",
	},
	num => {
		type => 'numeric',
		lit  => sub {
			my ($k) = @_;
			my @forms = ("$k", "$k.00", "round(${k}::numeric, 1)", "$k.000");
			my $i = int(rand(@forms));
			return ($forms[$i], "scale $i");
		},
		session => sub { return '' },
		canon   => 'id::int',
		exact   => 'id::text',
	},
);
my @key_types = ('int', 'ts', 'num');

# --------------------------------------------------------------------------
# Local helpers
# --------------------------------------------------------------------------

my @nodes;

sub poll
{
	my ($node, $sql, $expected) = @_;
	local $PostgreSQL::Test::Utils::timeout_default = $WAIT;
	return $node->poll_query_until('postgres', $sql, $expected);
}


# All six links: [from, to].
my @links;
foreach my $to (1 .. 3)
{
	foreach my $from (1 .. 3)
	{
		push @links, [ $from, $to ] if $from != $to;
	}
}

my %disabled;    # "from_to" => 1 while the link is held back

sub set_link
{
	my ($from, $to, $enable) = @_;
	my $sub = link_name($from, $to);
	$nodes[ $to - 1 ]->safe_psql('postgres',
		"ALTER SUBSCRIPTION $sub " . ($enable ? 'ENABLE' : 'DISABLE'));
	if ($enable) { delete $disabled{"${from}_$to"}; }
	else         { $disabled{"${from}_$to"} = 1; }
	return;
}

# A setup step failed: the run cannot go on.
sub bail
{
	my ($why) = @_;
	fail($why);
	dump_state(@nodes);
	diag("006_random_convergence: MM_SEED=$seed");
	done_testing();
	exit 1;
}

# Enable (1) or disable (0) every link, and wait until the apply workers
# run (or have all stopped): a write made after set_all_links(0) returns
# reaches no other node until the links are enabled again.
sub set_all_links
{
	my ($enable) = @_;
	foreach my $l (@links)
	{
		my ($from, $to) = @$l;
		set_link($from, $to, $enable) if ($disabled{"${from}_$to"} ? 1 : 0) == $enable;
	}
	foreach my $node (@nodes)
	{
		poll($node,
			"SELECT count(*) FROM pg_catalog.pg_stat_subscription "
			  . "WHERE subname LIKE 'multimaster\\_%' AND relid IS NULL AND pid IS NOT NULL",
			$enable ? '2' : '0')
		  or bail("apply workers of " . $node->name . " did not "
			  . ($enable ? 'start' : 'stop'));
	}
	return;
}

# Every node has applied everything committed on the others.
sub sync_all_nodes
{
	foreach my $node (@nodes)
	{
		$node->safe_psql('postgres', "SELECT multimaster.wait_for_sync('${WAIT}s')") eq 't'
		  or bail("wait_for_sync timed out on " . $node->name);
	}
	return;
}

# $n distinct random keys.
sub distinct_keys
{
	my ($n) = @_;
	my %seen;
	while (keys %seen < $n)
	{
		$seen{ 1 + int(rand($KEYS)) } = 1;
	}
	return shuffle(sort { $a <=> $b } keys %seen);
}

sub us_sql
{
	my ($col) = @_;
	return "(extract(epoch FROM $col) * 1000000)::bigint";
}

# Rows of $tbl (key type $kt) on $node, in key order:
# "id (exact)|v|mm_origin|mm_version(us)|mm_generation".
sub rows_of
{
	my ($node, $tbl, $kt) = @_;
	return $node->safe_psql('postgres',
		"SELECT $keytypes{$kt}{exact} AS exact_id, v, mm_origin, " . us_sql('mm_version')
		  . ", mm_generation FROM $tbl ORDER BY $tbl.id");
}

sub dump_state_of
{
	my ($tbl, $kt) = @_;
	diag("MM_SEED=$seed, table $tbl, links held back at the end of the rounds: "
		  . join(', ', sort keys %disabled));
	foreach my $node (@nodes)
	{
		my $rows = $node->safe_psql('postgres',
			"SET TimeZone = 'UTC'; SELECT $keytypes{$kt}{canon} AS k, id, v, mm_origin, "
			  . "mm_version, mm_generation FROM $tbl ORDER BY $tbl.id");
		my $tomb = $node->safe_psql('postgres',
			"SET TimeZone = 'UTC'; SELECT key, key_hash, key_data, mm_origin, mm_version, "
			  . "mm_generation FROM multimaster.tombstones "
			  . "WHERE table_name = multimaster._table_name('$tbl') ORDER BY key_hash, mm_version");
		my $conf = $node->safe_psql('postgres',
			"SET TimeZone = 'UTC'; SELECT conflict_id, key, kind, resolution, local_origin, "
			  . "local_version, local_generation, remote_origin, remote_version, remote_generation "
			  . "FROM multimaster.conflicts WHERE table_name = multimaster._table_name('$tbl') "
			  . "ORDER BY conflict_id");
		diag("--- " . $node->name . " rows of $tbl:\n$rows\n--- tombstones:\n$tomb"
			  . "\n--- conflicts:\n$conf");
	}
	return;
}

# The policies' total orders, as in src/mm_version.c: <0, 0, >0.
sub vcmp
{
	my ($policy, $x, $y) = @_;
	my (@kx, @ky);
	my $px = $prio{ $x->{origin} };
	my $py = $prio{ $y->{origin} };
	if ($policy eq 'last_update_wins')
	{
		@kx = ($x->{us}, $px, $x->{origin}, $x->{gen});
		@ky = ($y->{us}, $py, $y->{origin}, $y->{gen});
	}
	elsif ($policy eq 'node_priority')
	{
		@kx = ($x->{gen}, $px, $x->{origin}, $x->{us});
		@ky = ($y->{gen}, $py, $y->{origin}, $y->{us});
	}
	else    # first_update_wins: the earlier clock wins
	{
		@kx = ($x->{gen}, -$x->{us}, $px, $x->{origin});
		@ky = ($y->{gen}, -$y->{us}, $py, $y->{origin});
	}
	foreach my $i (0 .. $#kx)
	{
		return $kx[$i] <=> $ky[$i] if $kx[$i] != $ky[$i];
	}
	return 0;
}


# --------------------------------------------------------------------------
# Mesh with distinct priorities
# --------------------------------------------------------------------------

# Apply workers of re-enabled links start after at most
# wal_retrieve_retry_interval: keep it short, links are flipped all the time.
@nodes = map { new_node("node$_", wal_retrieve_retry_interval => "'200ms'") } 1 .. 3;
foreach my $k (1 .. 3)
{
	$nodes[ $k - 1 ]->safe_psql('postgres',
		"SELECT multimaster.init_node($k, 'node$k', $prio{$k})");
}
create_mesh(@nodes);

foreach my $k (1 .. 3)
{
	is( $nodes[ $k - 1 ]->safe_psql('postgres',
			"SELECT string_agg(node_id || ':' || priority, ',' ORDER BY node_id) "
			  . "FROM multimaster.nodes"),
		join(',', map { "$_:$prio{$_}" } 1 .. 3),
		"node $k knows every node's priority");
}

# --------------------------------------------------------------------------
# One randomized run per policy and key type
# --------------------------------------------------------------------------

sub run_variant
{
	my ($policy, $short, $kt, $max_rounds, $max_seconds) = @_;
	my $K = $keytypes{$kt};
	my $tbl = $kt eq 'int' ? "r_$short" : "r_${short}_$kt";
	my $label = "$policy/$kt";
	my $t0 = time;

	make_table("CREATE TABLE $tbl (id $K->{type} PRIMARY KEY, v text)", @nodes);
	add_table_mesh($tbl, $policy, @nodes);
	is( join(',', map {
			$_->safe_psql('postgres',
				"SELECT policy FROM multimaster.tables WHERE relid = '$tbl'::regclass")
		} @nodes),
		join(',', ($policy) x 3),
		"$label: $tbl registered with $policy on every node");

	# key => [ { origin, us, gen, v (undef: delete), exact, node, what } ]
	my %writes;
	my %spellings;    # key => { spelling => 1 }: how statements named it
	my $nwrites = 0;
	my $nxacts = 0;
	my $rounds = 0;
	my $lost_tombstones = 0;
	my $key_clashes = 0;
	my $split_rounds = 0;
	my @local_errors;
	my $vers = "mm_origin, " . us_sql('mm_version') . ", mm_generation";

	# SQL of one operation on key number $key, run on node $n.  Every write
	# reports itself on a tagged output line:  w|key|exact id|v|origin|us|gen
	# for a row written;  d|key  then  t|key|origin|us|gen  for a delete and
	# its tombstone: the tombstone of that key (found by value, through
	# tombstone_key) that this very transaction wrote, i.e. the delete's
	# version.  key is always the key's number, whatever the spelling.
	my $lit = sub {
		my ($key, $n) = @_;
		my ($sql, $how) = $K->{lit}->($key, $n);
		# a key named one way so far is named another way as soon as it
		# can be: even a short run (a busy machine) mixes spellings
		if (keys %{ $spellings{$key} // {} } == 1 && $spellings{$key}{$how})
		{
			for (1 .. 10)
			{
				my ($sql2, $how2) = $K->{lit}->($key, $n);
				next if $spellings{$key}{$how2};
				($sql, $how) = ($sql2, $how2);
				last;
			}
		}
		$spellings{$key}{$how} = 1;
		return $sql;
	};
	my $tomb_sql = sub {
		my ($key, $n) = @_;
		return "SELECT 't', $key, $vers FROM multimaster.tombstones "
		  . "WHERE table_name = multimaster._table_name('$tbl') "
		  . "AND key_hash = (SELECT key_hash FROM multimaster.tombstone_key('$tbl', ("
		  . $lit->($key, $n) . ")::text)) AND xmin = pg_current_xact_id()::xid;";
	};
	my $ret = "RETURNING 'w', $K->{canon}, $K->{exact}, v, $vers";
	my $op_sql = sub {
		my ($n, $kind, $key, $val, $key2) = @_;
		my $id = $lit->($key, $n);
		return "INSERT INTO $tbl (id, v) VALUES ($id, '$val') "
		  . "ON CONFLICT (id) DO UPDATE SET v = excluded.v $ret;"
		  if $kind eq 'upsert';
		return "UPDATE $tbl SET v = '$val' WHERE id = $id $ret;"
		  if $kind eq 'update';
		return "DELETE FROM $tbl WHERE id = $id RETURNING 'd', $K->{canon}; "
		  . $tomb_sql->($key, $n)
		  if $kind eq 'delete';
		# a change of primary key: the old key is deleted, the new one written
		my $id2 = $lit->($key2, $n);
		return "UPDATE $tbl SET id = $id2, v = '$val' WHERE id = $id "
		  . "RETURNING 'd', $key; " . $tomb_sql->($key, $n)
		  . " SELECT 'w', $K->{canon}, $K->{exact}, v, $vers FROM $tbl "
		  . "WHERE id = " . $lit->($key2, $n) . " AND v = '$val';";
	};

	# Run one transaction of @$ops on node $k; record what it wrote.
	my $run_xact = sub {
		my ($k, $ops, $tag) = @_;
		my $node = $nodes[ $k - 1 ];
		my $sql = $K->{session}->($k) . "BEGIN;\n";
		foreach my $j (0 .. $#$ops)
		{
			my ($kind, $key, $key2) = @{ $ops->[$j] };
			$sql .= $op_sql->($k, $kind, $key, "${tag}s$j", $key2) . "\n";
		}
		$sql .= "COMMIT;\n";
		$nxacts++;

		my ($rc, $out, $err) = $node->psql('postgres', $sql);
		if ($rc != 0)
		{
			# only a key change onto a key this node holds may fail
			if ($ops->[0][0] eq 'rekey' && $err =~ /duplicate key value/)
			{
				$key_clashes++;
			}
			else
			{
				push @local_errors, "node $k: $err";
			}
			return;
		}

		my %deleted;
		foreach my $line (split /\n/, $out)
		{
			my @f = split /\|/, $line, -1;
			my $w;
			if ($f[0] eq 'w')
			{
				$w = {
					key    => $f[1],
					exact  => $f[2],
					v      => $f[3],
					origin => $f[4],
					us     => $f[5],
					gen    => $f[6]
				};
			}
			elsif ($f[0] eq 'd')
			{
				$deleted{ $f[1] } = 1;
			}
			elsif ($f[0] eq 't' && delete $deleted{ $f[1] })
			{
				$w = { key => $f[1], v => undef, origin => $f[2], us => $f[3], gen => $f[4] };
			}
			next unless $w;
			$w->{node} = $k;
			$w->{what} = join('+', map { $_->[0] } @$ops);
			push @{ $writes{ $w->{key} } }, $w;
			$nwrites++;
		}
		foreach my $key (keys %deleted)
		{
			$lost_tombstones++;
			diag("node $k deleted key $key of $tbl but no tombstone is visible");
		}
		return;
	};
	my $random_kind = sub {
		my $x = rand();
		return $x < 0.45 ? 'upsert' : $x < 0.75 ? 'update' : 'delete';
	};

	for my $round (1 .. $max_rounds)
	{
		last if time - $t0 > $max_seconds;
		$rounds++;

		if (rand() < 0.3)
		{
			# Split round: from a common state, every node cut off from
			# every other, two or three nodes each write the same keys once.
			# Their writes have equal generations: the policy's tie-breaks
			# (clock, priority) decide.
			$split_rounds++;
			set_all_links(1);
			sync_all_nodes();
			set_all_links(0);
			foreach my $key (distinct_keys(2 + int(rand(3))))
			{
				my @writers = (shuffle(1 .. 3))[ 0 .. 1 + int(rand(2)) ];
				$run_xact->($_, [ [ $random_kind->(), $key ] ], "r${round}n${_}k$key")
				  foreach @writers;
			}
			next;
		}

		# Chaos round: flip some links, then a few transactions on random
		# nodes, most of one statement, some of two or three (keys in
		# ascending order, so that two transactions never wait for each
		# other's rows in opposite orders), now and then a key change.
		foreach my $l (@links)
		{
			next unless rand() < 0.25;
			my ($from, $to) = @$l;
			set_link($from, $to, $disabled{"${from}_$to"} ? 1 : 0);
		}
		my $n = 3 + int(rand(6));
		for my $i (1 .. $n)
		{
			my $k = 1 + int(rand(3));
			my $r = rand();
			my @ops;
			if ($r < 0.06)
			{
				my ($key, $key2) = distinct_keys(2);
				@ops = ([ 'rekey', $key, $key2 ]);
			}
			else
			{
				@ops = map { [ $random_kind->(), $_ ] }
				  sort { $a <=> $b } distinct_keys($r < 0.25 ? 2 + int(rand(2)) : 1);
			}
			$run_xact->($k, \@ops, "r${round}n${k}x$i");
		}
	}

	my $held = join(', ', sort keys %disabled) || 'none';
	note("$label: $rounds rounds ($split_rounds split), $nxacts transactions, $nwrites writes, "
		  . "$key_clashes key changes refused (key taken); held back at the end: $held");
	is($lost_tombstones, 0, "$label: every local delete wrote a tombstone");
	is(scalar(@local_errors), 0, "$label: no local write failed")
	  or diag(join("\n", @local_errors));
	if ($kt ne 'int')
	{
		# The run did name keys in several ways (time zones, scales).
		my @mixed = grep { keys %{ $spellings{$_} } > 1 } keys %spellings;
		ok(scalar(@mixed) > 0,
			"$label: keys were written with different spellings of one value ("
			  . scalar(@mixed) . " keys)");
	}

	# Release everything and wait.
	set_all_links(1);
	wait_sync(@nodes);

	# All nodes identical, right after wait_for_sync.
	my @rows = map { rows_of($_, $tbl, $kt) } @nodes;
	my $identical = ($rows[0] eq $rows[1] && $rows[0] eq $rows[2]);
	ok($identical, "$label: all nodes hold identical rows (id, v, mm_origin, mm_version, mm_generation)");
	if (!$identical)
	{
		# Lag or divergence?
		my $later = wait_converged($tbl, @nodes);
		diag("$label: after more waiting the nodes "
			  . ($later ? 'converged (wait_for_sync returned early)' : 'still differ'));
		@rows = map { rows_of($_, $tbl, $kt) } @nodes;
	}
	is( $nodes[0]->safe_psql('postgres',
			"SELECT bool_and(consistent) || '|' || count(*) "
			  . "FROM multimaster.compare_table('$tbl')"),
		'true|3', "$label: compare_table consistent on 3 nodes");

	# Each key holds the greatest version written for it anywhere, with the
	# key as that write stored it.
	my %expected;
	foreach my $key (keys %writes)
	{
		my ($best) = sort { vcmp($policy, $b, $a) } @{ $writes{$key} };
		next unless defined $best->{v};
		$expected{$key} = join('|', $best->{exact}, $best->{v}, $best->{origin}, $best->{us}, $best->{gen});
	}
	my $want = join("\n", map { $expected{$_} } sort { $a <=> $b } keys %expected);
	my $oracle_ok = 1;
	for my $i (0 .. $#nodes)
	{
		is($rows[$i], $want, "$label: " . $nodes[$i]->name . " holds the greatest version of every key")
		  or $oracle_ok = 0;
	}
	if (!$oracle_ok)
	{
		foreach my $key (sort { $a <=> $b } keys %writes)
		{
			diag("$label key $key writes: " . join('; ',
				map { sprintf('%s on n%d -> (o%d, %d us, g%d) %s',
						$_->{what}, $_->{node}, $_->{origin}, $_->{us}, $_->{gen},
						defined $_->{v} ? "$_->{exact} $_->{v}" : 'DELETED') } @{ $writes{$key} }));
		}
	}

	note("$label: conflicts logged per node: " . join(', ', map {
		$_->safe_psql('postgres',
			"SELECT count(*) FROM multimaster.conflicts "
			  . "WHERE table_name = multimaster._table_name('$tbl')")
	} @nodes));
	dump_state_of($tbl, $kt) unless $identical && $oracle_ok;
	note(sprintf('%s: %.1f s', $label, time - $t0));
	return;
}

foreach my $p (@policies)
{
	foreach my $kt (@key_types)
	{
		run_variant(@$p, $kt,
			$kt eq 'int' ? ($ROUNDS, $POLICY_SECONDS) : ($EXTRA_ROUNDS, $EXTRA_SECONDS));
	}
}

# --------------------------------------------------------------------------
# No apply worker ever failed
# --------------------------------------------------------------------------

foreach my $node (@nodes)
{
	is( $node->safe_psql('postgres',
			"SELECT coalesce(sum(apply_error_count + sync_error_count), 0) "
			  . "FROM pg_catalog.pg_stat_subscription_stats"),
		'0',
		'no apply or sync error on ' . $node->name);
	my @bad = replication_errors($node);
	is(scalar(@bad), 0, 'no apply worker or walsender error logged on ' . $node->name)
	  or diag(join('', @bad));
}

diag("006_random_convergence: MM_SEED=$seed") unless Test::More->builder->is_passing;
note(sprintf('006_random_convergence: %.1f s', time - $started));
done_testing();
