# Copyright: see the multimaster LICENSE.
#
# 017_partition_heals.pl: a node cut off from the mesh for a minute while
# every node keeps writing, then healed.
#
# Three nodes, full mesh, one table.  pgbench runs on every node for the
# whole test (bounded by -T): single-statement upserts, updates and deletes
# of random keys over one shared range, so writes of the same rows from
# different nodes conflict all the time.  Node 3 is cut off both ways for 60
# seconds: its subscriptions multimaster_1_3 and multimaster_2_3 and the
# peers' subscriptions multimaster_3_1 and multimaster_3_2 are disabled
# (ALTER SUBSCRIPTION ... DISABLE; the slots stay).  During the cut,
# multimaster.status is sampled on every node:
#
#   - each cut link shows the partition: enabled false, no worker,
#     lag_bytes and lag growing, lag at least the time since the cut (it is
#     the age of what is pending, not of the last message), no last_error
#     (the peer itself is reachable);
#   - slot_retained_bytes of a row is WAL retained *on the peer* by the slot
#     that feeds this node (multimaster_<peer>_<this node>, which lives on
#     the peer): it grows during the cut, matches what the peer's own
#     pg_replication_slots says for that slot, and is never less than
#     lag_bytes (restart_lsn <= confirmed_flush_lsn);
#   - the links between nodes 1 and 2 keep flowing.
#
# Then every link is enabled again while the load still runs; every node
# catches up (wait_for_sync), and once the load has stopped, the nodes hold
# the same rows (multimaster.compare_table and a row digest), each cut
# link's backlog met concurrent writes (conflicts counted in the status
# view), lag and lag_bytes return to zero everywhere, the retained WAL of
# the slots that served the cut links falls back, and no apply error other
# than a retried deadlock was logged.
#
# MM_PARTITION_SECONDS (default 60) sets the length of the cut,
# MM_PARTITION_RATE (default 60) the pgbench rate per node (scripts of three
# statements per second).

use strict;
use warnings;

use IPC::Run;
use List::Util qw(max min);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use MMTest;

my $CUT       = $ENV{MM_PARTITION_SECONDS} || 60;
my $RATE      = $ENV{MM_PARTITION_RATE}    || 60;
my $AFTER     = 15;        # seconds of load after the heal, at least
my $WARMUP    = 3;         # seconds of load before the cut, at least
my $KEYS      = 2000;
my $SAMPLE_EVERY = 3;      # seconds between status samples during the cut
my $started   = time;

my @nodes =
  map { new_node("part$_", log_statement => 'none', shared_buffers => '64MB') }
  1 .. 3;
my ($n1, $n2, $n3) = @nodes;
my %node_by_id = map { $_ => $nodes[ $_ - 1 ] } 1 .. 3;

make_table('CREATE TABLE tbl (id int PRIMARY KEY, v text, writer int)', @nodes);
create_mesh(@nodes);
add_table_mesh('tbl', @nodes);
$n1->safe_psql('postgres',
	"INSERT INTO tbl SELECT i, 'seed', 1 FROM generate_series(1, $KEYS, 2) i");
wait_sync(@nodes);

# The links of the partition, as [publisher id, subscriber id].
my @cut_links  = ([ 1, 3 ], [ 2, 3 ], [ 3, 1 ], [ 3, 2 ]);
my @kept_links = ([ 1, 2 ], [ 2, 1 ]);
sub lname { return link_name(@{ $_[0] }) }

# ---------------------------------------------------------------------------
# Load: pgbench on every node for the whole test, bounded by -T.
# ---------------------------------------------------------------------------
# Node ids as pgbench sees them: -D node=k.  Each statement is its own
# transaction; the keys overlap across nodes.
my $script = <<"EOS";
\\set id random(1, $KEYS)
INSERT INTO tbl VALUES (:id, md5(random()::text), :node) ON CONFLICT (id) DO UPDATE SET v = excluded.v, writer = excluded.writer;
\\set id random(1, $KEYS)
UPDATE tbl SET v = md5(random()::text), writer = :node WHERE id = :id;
\\set id random(1, $KEYS)
DELETE FROM tbl WHERE id = :id;
EOS
# Long enough to cover warm-up, cut and heal; the cut phase below is timed
# against the load's own start so that writes keep going after the heal.
my $LOAD = $WARMUP + $CUT + $AFTER + 5;
my @runs;
for my $k (1 .. 3)
{
	my $node = $node_by_id{$k};
	my $file = $node->basedir . "/partition$k.sql";
	PostgreSQL::Test::Utils::append_to_file($file, $script);
	my %run = (node => $node, out => '', err => '');
	$run{h} = IPC::Run::start(
		[
			'pgbench', '-n', '-c', 2, '-j', 1, '-R', $RATE, '--max-tries', 10,
			'-T', $LOAD, '-D', "node=$k", '-f', $file, '-h', $node->host,
			'-p', $node->port, 'postgres'
		],
		'<', \undef, '>', \$run{out}, '2>', \$run{err},
		IPC::Run::timeout($LOAD + 120));
	push @runs, \%run;
}
my $load_started = time;

# ---------------------------------------------------------------------------
# Status sampling
# ---------------------------------------------------------------------------
my @status_cols = qw(node_id enabled worker_stopped lag_bytes lag_s
  retained applied_lsn last_error);

# status($node): { peer id => { column => value } } from multimaster.status
# (empty strings for NULL), or undef and a diag if the query fails.
sub status
{
	my ($node) = @_;
	my ($rc, $out, $err) = $node->psql(
		'postgres', q{
SELECT node_id, enabled, worker_pid IS NULL,
       coalesce(lag_bytes::text, ''), coalesce(extract(epoch FROM lag)::text, ''),
       coalesce(slot_retained_bytes::text, ''), coalesce(applied_lsn::text, ''),
       coalesce(replace(last_error, E'\n', ' '), '')
  FROM multimaster.status ORDER BY node_id});
	if ($rc != 0)
	{
		diag($node->name . ": multimaster.status failed: $err");
		return undef;
	}
	my %rows;
	for my $line (split /\n/, $out)
	{
		my %r;
		@r{@status_cols} = split /\|/, $line, scalar @status_cols;
		$rows{ $r{node_id} } = \%r;
	}
	return \%rows;
}

# slots($node): { slot name => [retained bytes, active, wal_status] } from
# the node's own pg_replication_slots.
sub slots
{
	my ($node) = @_;
	my $out = $node->safe_psql(
		'postgres', q{
SELECT slot_name, coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text, ''),
       active, coalesce(wal_status, '')
  FROM pg_replication_slots WHERE slot_name LIKE 'multimaster\_%'});
	my %s;
	for my $line (split /\n/, $out)
	{
		my ($name, @rest) = split /\|/, $line;
		$s{$name} = \@rest;
	}
	return \%s;
}

# The status row of link [P, S]: on S, the row of peer P.
sub link_row
{
	my ($st, $link) = @_;
	my ($p, $s) = @$link;
	return $st->{$s} && $st->{$s}{$p};
}

# ---------------------------------------------------------------------------
# Warm-up: every link has applied something (lag is NULL before that).
# ---------------------------------------------------------------------------
ok( poll_until(
		'every link has applied a transaction of the load',
		sub {
			for my $node (@nodes)
			{
				my $st = status($node) or return 0;
				return 0
				  unless keys %$st == 2 && !grep { $_->{lag_s} eq '' } values %$st;
			}
			return time - $load_started >= $WARMUP;
		},
		60),
	'load running on every node, every link applying it')
  or dump_state(@nodes);

# ---------------------------------------------------------------------------
# The cut
# ---------------------------------------------------------------------------
my $cut_began = time;
for my $l (@cut_links)
{
	$node_by_id{ $l->[1] }->safe_psql('postgres', 'ALTER SUBSCRIPTION ' . lname($l) . ' DISABLE');
}
# Cut: the apply workers have exited and the peers' walsenders released the
# slots (from then on no position of a cut link moves).
ok( poll_until(
		'cut links stopped: no apply worker, slot inactive on the publisher',
		sub {
			for my $l (@cut_links)
			{
				my ($p, $s) = @$l;
				my $st = status($node_by_id{$s}) or return 0;
				return 0 unless $st->{$p}{worker_stopped} eq 't';
				my $slot = slots($node_by_id{$p})->{ lname($l) } or return 0;
				return 0 unless $slot->[1] eq 'f';
			}
			return 1;
		},
		30),
	'node 3 is cut off: its four links are stopped')
  or dump_state(@nodes);
my $cut_done = time;
diag(sprintf('cut in place %.1f s after the load started (took %.1f s)',
		$cut_done - $load_started, $cut_done - $cut_began));

# Markers written on each side of the cut, outside the load's key range.
$n3->safe_psql('postgres', "INSERT INTO tbl VALUES (900003, 'written on node 3 during the cut', 3)");
$n1->safe_psql('postgres', "INSERT INTO tbl VALUES (900001, 'written on node 1 during the cut', 1)");

# Sample every node's status for the length of the cut; each sample is
# bracketed by the publishers' own view of their slots.
my %samples;    # link name => [ { t, row fields..., before, after, wal_status } ]
my $heal_at = $cut_began + $CUT;
my $sample_failures = 0;
while (1)
{
	my $t = time;
	my (%st, %tq);
	my %before = map { $_ => slots($node_by_id{$_}) } 1 .. 3;
	for my $id (1 .. 3)
	{
		$tq{$id} = time;    # the status query reads its clock after this
		$st{$id} = status($node_by_id{$id});
	}
	my %after = map { $_ => slots($node_by_id{$_}) } 1 .. 3;
	if (grep { !defined } values %st)
	{
		$sample_failures++;
	}
	else
	{
		for my $l (@cut_links, @kept_links)
		{
			my $row = link_row(\%st, $l) or next;
			my $name = lname($l);
			push @{ $samples{$name} },
			  {
				%$row,
				t          => $tq{ $l->[1] },
				before     => $before{ $l->[0] }{$name}[0] // '',
				after      => $after{ $l->[0] }{$name}[0]  // '',
				active     => $after{ $l->[0] }{$name}[1]  // '',
				wal_status => $after{ $l->[0] }{$name}[2]  // '',
			  };
		}
	}
	last if time + $SAMPLE_EVERY > $heal_at;
	# pacing of the samples only; nothing is asserted on time passing
	usleep(int(($SAMPLE_EVERY - (time - $t)) * 1e6)) if time - $t < $SAMPLE_EVERY;
}
is($sample_failures, 0, 'multimaster.status answered on every node during the cut');

# Still cut at the end: each side's marker has not crossed, while node 1's
# marker did reach node 2 (1 <-> 2 still replicates).
ok( poll_until(
		"node 1's marker reaches node 2 during the cut",
		sub { $n2->safe_psql('postgres', 'SELECT count(*) FROM tbl WHERE id = 900001') eq '1' },
		30),
	'links between nodes 1 and 2 keep replicating during the cut');
is( join(',',
		map { $_->safe_psql('postgres', 'SELECT count(*) FROM tbl WHERE id IN (900001, 900002, 900003)') }
		  @nodes),
	'1,1,1',
	"at the end of the cut each side has only its own side's marker");
is($n3->safe_psql('postgres', 'SELECT count(*) FROM tbl WHERE id = 900001'),
	'0', "node 1's marker has not reached node 3");

# Wait out the rest of the cut (so it lasts $CUT seconds), then heal.
usleep(int(($heal_at - time) * 1e6)) if time < $heal_at;
my $healed_at = time;
for my $l (@cut_links)
{
	$node_by_id{ $l->[1] }->safe_psql('postgres', 'ALTER SUBSCRIPTION ' . lname($l) . ' ENABLE');
}
diag(sprintf('healed after a cut of %.1f s, %.1f s after the load started; %d samples per link',
		$healed_at - $cut_began, $healed_at - $load_started,
		scalar @{ $samples{ lname($cut_links[0]) } // [] }));

# ---------------------------------------------------------------------------
# What the cut looked like
# ---------------------------------------------------------------------------
sub nondecreasing { my @v = @_; return !grep { $v[$_] < $v[ $_ - 1 ] } 1 .. $#v }

my %peak_retained;
for my $l (@cut_links)
{
	my $name = lname($l);
	my ($p, $s) = @$l;
	my @smp = @{ $samples{$name} // [] };
	my $where = "$name (on node $s, row of peer $p)";
	if (@smp < 5)
	{
		fail("$where: at least 5 samples during the cut (got " . scalar(@smp) . ')');
		next;
	}
	my ($first, $last) = @smp[ 0, -1 ];
	diag(sprintf('%s: lag_bytes %s -> %s, lag %.1f s -> %.1f s, slot_retained_bytes %s -> %s (peer sees %s..%s), wal_status %s',
			$where, $first->{lag_bytes}, $last->{lag_bytes}, $first->{lag_s}, $last->{lag_s},
			$first->{retained}, $last->{retained}, $last->{before}, $last->{after}, $last->{wal_status}));

	is( join(',', map { "$_->{enabled}$_->{worker_stopped}" } @smp),
		join(',', ('ft') x @smp),
		"$where: disabled, no apply worker, in every sample");
	is(join('', map { $_->{last_error} } @smp), '', "$where: no last_error (the peer is reachable)");

	# lag_bytes: the peer's WAL written since the slot's confirmed position,
	# which is frozen: it only grows.
	my @lb = map { $_->{lag_bytes} eq '' ? -1 : $_->{lag_bytes} } @smp;
	ok($lb[0] >= 0 && nondecreasing(@lb) && $lb[-1] > $lb[0],
		"$where: lag_bytes grows during the cut")
	  or diag("lag_bytes samples: @lb");

	# lag: the age of what is pending, so at least the time since the cut,
	# growing in real time.
	my @late = grep { $_->{lag_s} eq '' || $_->{lag_s} < ($_->{t} - $cut_done) - 0.5 } @smp;
	ok(!@late, "$where: lag is at least the time since the cut in every sample")
	  or diag(join ', ', map { sprintf('lag %s at %.1f s', $_->{lag_s}, $_->{t} - $cut_done) } @late);
	cmp_ok($last->{lag_s} - $first->{lag_s}, '>=', ($last->{t} - $first->{t}) - 2,
		"$where: lag grows with the clock");
	diag(sprintf("%s: lag %.1f s in the last sample, %.1f s after the cut",
			$where, $last->{lag_s}, $last->{t} - $cut_done));

	# slot_retained_bytes: WAL kept on the peer by slot multimaster_P_S
	# (the slot lives on the publisher P); the peer's own
	# pg_replication_slots, read just before and after, brackets it.
	my @rb = map { $_->{retained} eq '' ? -1 : $_->{retained} } @smp;
	ok($rb[0] >= 0 && nondecreasing(@rb) && $rb[-1] > $rb[0],
		"$where: slot_retained_bytes grows during the cut")
	  or diag("slot_retained_bytes samples: @rb");
	my @off = grep {
		$_->{before} eq '' || $_->{after} eq ''
		  || $_->{retained} < $_->{before} || $_->{retained} > $_->{after}
	} @smp;
	ok(!@off,
		"$where: slot_retained_bytes is what node $p reports for its slot $name")
	  or diag(join ', ', map { "$_->{before} <= $_->{retained} <= $_->{after}?" } @off);
	my @under = grep { $_->{retained} < $_->{lag_bytes} } @smp;
	ok(!@under, "$where: slot_retained_bytes >= lag_bytes (restart_lsn <= confirmed position)")
	  or diag(join ', ', map { "$_->{retained} < $_->{lag_bytes}" } @under);
	is(join(',', map { $_->{active} } @smp), join(',', ('f') x @smp),
		"$where: the slot on node $p stays inactive");
	$peak_retained{$name} = max(@rb);
}

for my $l (@kept_links)
{
	my $name = lname($l);
	my @smp = @{ $samples{$name} // [] };
	my ($first, $last) = @smp[ 0, -1 ];
	ok( @smp >= 2
		  && $first->{worker_stopped} eq 'f'
		  && $last->{worker_stopped} eq 'f'
		  && $last->{applied_lsn} ne $first->{applied_lsn},
		"$name: kept applying during the cut")
	  or diag("$name: first " . join(' ', %{ $first // {} }) . "; last " . join(' ', %{ $last // {} }));
	diag(sprintf('%s (not cut): lag_bytes at most %s, lag at most %.1f s, slot_retained_bytes at most %s',
			$name, max(map { $_->{lag_bytes} || 0 } @smp),
			max(map { $_->{lag_s} || 0 } @smp), max(map { $_->{retained} || 0 } @smp)))
	  if @smp;
}

# ---------------------------------------------------------------------------
# Heal: catch up under load, then converge once the load stops
# ---------------------------------------------------------------------------
ok( poll_until(
		'every link enabled again with a running apply worker',
		sub {
			for my $node (@nodes)
			{
				my $st = status($node) or return 0;
				return 0 if grep { $_->{enabled} ne 't' || $_->{worker_stopped} ne 'f' } values %$st;
			}
			return 1;
		},
		60),
	'healed: every link enabled with an apply worker')
  or dump_state(@nodes);

my $sync_started = time;
wait_sync(@nodes);
my $caught_up = time;
my $still_loading = grep { $_->{h}->pumpable } @runs;
diag(sprintf('caught up under load in %.1f s after the heal (pgbench still running on %d nodes)',
		$caught_up - $healed_at, $still_loading));

for my $run (@runs)
{
	my $name = $run->{node}->name;
	my $ok = eval { $run->{h}->finish; 1 };
	my $rc = $ok ? $run->{h}->result(0) : "died: $@";
	is($rc, 0, "pgbench on $name ran to its end without error")
	  or diag("pgbench on $name:\n$run->{out}\n$run->{err}");
	my ($txns) = $run->{out} =~ /number of transactions actually processed: (\d+)/;
	my ($failed) = $run->{out} =~ /number of failed transactions: (\d+)/;
	my ($retried) = $run->{out} =~ /number of transactions retried: (\d+)/;
	diag("pgbench on $name: " . ($txns // '?') . ' scripts, '
		  . ($failed // 0) . ' failed, ' . ($retried // 0) . ' retried');
}
my $load_ended = time;
diag(sprintf('load ran %.1f s, %.1f s of it after the heal',
		$load_ended - $load_started, $load_ended - $healed_at));

wait_sync(@nodes);

my $cmp = $n1->safe_psql('postgres',
	"SELECT node_id, row_count, checksum, consistent FROM multimaster.compare_table('tbl') ORDER BY node_id");
my @rows = map { [ split /\|/ ] } split /\n/, $cmp;
is(join(',', map { "$_->[0]:$_->[3]" } @rows), '1:t,2:t,3:t',
	'compare_table: consistent on all three nodes')
  or diag("compare_table('tbl'):\n$cmp");
is(scalar(keys %{ { map { "$_->[1]/$_->[2]" } @rows } }), 1,
	'compare_table: same row count and checksum everywhere');
wait_converged('tbl', @nodes);
is( join(',',
		map { $_->safe_psql('postgres', 'SELECT count(*) FROM tbl WHERE id IN (900001, 900003)') }
		  @nodes),
	'2,2,2',
	"both sides' markers are on every node");

# The load wrote the same keys on every node, so the backlog of each cut
# link met concurrent writes: conflicts resolved, and counted per link.
for my $l (@cut_links)
{
	my ($p, $s) = @$l;
	my $n = $node_by_id{$s}->safe_psql('postgres',
		"SELECT conflicts FROM multimaster.status WHERE node_id = $p");
	cmp_ok($n, '>', 0, lname($l) . ": conflicts with changes of node ${p} resolved on node $s");
}
diag('conflicts logged: ' . join('; ', map {
	$_->name . ': ' . $_->safe_psql('postgres', q{
SELECT coalesce(string_agg(kind || '/' || resolution || '=' || n, ', '), 'none')
  FROM (SELECT kind, resolution, count(*) AS n FROM multimaster.conflicts
         GROUP BY 1, 2 ORDER BY 1, 2) c})
} @nodes));

ok( poll_until(
		'lag and lag_bytes zero on every link',
		sub {
			for my $node (@nodes)
			{
				my $st = status($node) or return 0;
				return 0
				  if grep { $_->{lag_bytes} ne '0' || $_->{lag_s} eq '' || $_->{lag_s} != 0 }
				  values %$st;
			}
			return 1;
		},
		60),
	'lag and lag_bytes are back to zero on every link')
  or dump_state(@nodes);

# The slots that served the cut links release the WAL they held.  A logical
# slot's restart_lsn only moves to a point where the walsender decoded a
# running-transactions record that the subscriber has since confirmed;
# such records are written every 15 s by the background writer while WAL is
# being written, and by every checkpoint.
my %now_retained;
my $released = poll_until(
	'the slots of the cut links released the WAL they held',
	sub {
		for my $l (@cut_links)
		{
			my ($p, $s) = @$l;
			my $st = status($node_by_id{$s}) or return 0;
			$now_retained{ lname($l) } = $st->{$p}{retained};
		}
		return !grep {
			$now_retained{$_} eq '' || $now_retained{$_} >= $peak_retained{$_} / 10
		} keys %peak_retained;
	},
	45);
ok($released, 'slot_retained_bytes of the cut links fell below a tenth of their peak')
  or diag(join ', ', map { "$_: peak $peak_retained{$_}, now $now_retained{$_}" } sort keys %peak_retained);
diag(sprintf('retained WAL released %.1f s after the load ended: %s',
		time - $load_ended,
		join(', ', map { "$_ $peak_retained{$_} -> $now_retained{$_}" } sort keys %peak_retained)));

# Apply errors seen during the test (the load's writes of the same rows
# conflict with the apply workers; none may be more than a retried deadlock).
for my $node (@nodes)
{
	my @errs = replication_errors($node);
	my @bad = grep { !/deadlock detected/ } @errs;
	is(scalar @bad, 0, $node->name . ': no apply error other than a retried deadlock')
	  or diag(join '', @bad[ 0 .. min($#bad, 9) ]);
	diag($node->name . ': ' . scalar(@errs) . ' apply errors in the server log (deadlocks, retried)')
	  if @errs;
}

$_->stop for @nodes;
diag(sprintf('017_partition_heals: %.0f s in all', time - $started));
done_testing();
