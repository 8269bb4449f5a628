
# Copyright: see the multimaster LICENSE.

=pod

=head1 NAME

Chaos - replayable fault-injection runs of a multimaster mesh, checked
against a client ledger

=head1 SYNOPSIS

  use PostgreSQL::Test::Cluster;
  use PostgreSQL::Test::Utils;
  use Test::More;
  use MMTest;
  use Chaos;

  my @runs = chaos_plan_runs(sizes => [ 3, 5 ], runs => 10, seconds => 45);
  my @results = map { chaos_run($_) } @runs;
  chaos_summary(@results);
  done_testing();

=head1 DESCRIPTION

One I<run> is fully described by four values: a seed, a number of nodes, a
conflict policy and a number of seconds of load.  Everything random in it
(node priorities, the statements of every client, which fault hits which
node and when) is drawn from the seed, and no random choice depends on an
outcome, so the same four values replay the same statements and the same
faults at the same moments; only the timing, hence the interleaving and
the outcomes, differ.  A run:

=over

=item 1. Mesh

N nodes (MMTest::new_node), each given its id and a priority of 0, 10 or
20 drawn from the seed (ties happen: then the node id decides) with
multimaster.init_node() before create_mesh(); one table

  CREATE TABLE chaos (id int PRIMARY KEY, v text, n int)

registered with multimaster.add_table_mesh('chaos', <policy>).

=item 2. Clients and their ledger

$CLIENTS_PER_NODE forked clients per node, each with its own DBD::Pg
connection (AutoCommit: every statement is its own transaction), write for
the run's seconds over keys 1..$KEYS (few keys: most writes conflict):
plain INSERT (a duplicate key is a normal failure), INSERT ... ON CONFLICT
(id) DO UPDATE, UPDATE ... WHERE id = k, DELETE ... WHERE id = k, and
re-INSERT of a key the client deleted (at once after half of its deletes,
now and then later).  Every write sets v to a value
unique in the run ("c<client>-<seq>") and n to a random number, and returns
with RETURNING the row image it wrote or removed: id, v, n, mm_origin,
mm_generation and mm_version as exact microseconds
((extract(epoch FROM mm_version) * 1000000)::bigint, never text).

Each client appends every write to its own ledger file (JSON lines): first a
C<sent> record, then its outcome: C<committed> (the statement returned; its
images, none if it touched no row), C<failed> (a server error on a live
connection, with its SQLSTATE: nothing was written), or C<unknown> (the
connection broke during the statement: it may or may not have committed).
A C<sent> record without an outcome (a client killed in a statement) counts
as unknown.  After a broken connection the client reconnects (every 200 ms
until the load ends) and goes on.

=item 3. Faults

Drawn from the seed, during the load:

=over

=item link pauses

ALTER SUBSCRIPTION multimaster_<P>_<S> DISABLE on node S, ENABLE 1 to 6
seconds later; deliveries reorder and writes become concurrent.  The last
pause lasts until the load stops (a backlog to drain).  A pause whose
subscriber is down at that moment is skipped; an ENABLE waits for the node.

=item clock skew

One node's whole server runs 300 to 600 seconds ahead, under libfaketime
(LD_PRELOAD, FAKETIME="+<s>s", FAKETIME_DONT_FAKE_MONOTONIC=1 in the
environment of pg_ctl): it is restarted so before the load, and started so
again after a crash.  libfaketime alone does not reach the processes that
PostgreSQL 15's postmaster forks from a signal handler while it waits in
select() (background workers, apply workers included, the autovacuum
launcher, the WAL writer): its select() wrapper turns faking off for the
duration of the call, and such a child inherits that state for ever.  So a
tiny library whose select() calls the system call directly (compiled once
with cc, see select_shim()) is preloaded before libfaketime.  The run then
asserts that every apply worker of that node sees the skew: its
backend_start in pg_stat_activity (its own clock) is ahead, by nearly the
skew, of the real time it started (from /proc, which libfaketime cannot
touch), right after the restart and again after the load (the workers then
have been restarted by pauses and crashes).

=item crash

One node is stopped with pg_ctl stop -m immediate in the middle of the load
and started again 2 to 6 seconds later; its clients see broken connections
(unknown writes) and reconnect.

=back

=item 4. Checks

When the load has stopped, three assertions tell how the run went: every
client ran to the end, every fault was injected, and no server went down
but by the crash fault (a node that did, a segfault for instance, is named
with the lines of its server log that say why, and started again so that
the checks still run).  Then every link is enabled, every node waits for
sync (MMTest::wait_sync, one assertion), and the drain time is measured.
Then, one assertion each:

=over

=item (a)

all nodes hold identical rows (id, v, n, mm_origin, mm_generation, version
in microseconds);

=item (b)

no phantom: every row present on any node, and every row image a DELETE
returned, is exactly the image returned by a committed INSERT, UPSERT or
UPDATE of the ledger (v, n, origin, generation, version), or, for an
unknown one, has its v, n and origin;

=item (c)

nothing lost: a key absent on every node that a committed write created has
a DELETE in the ledger that removed a row (committed with an image) or may
have (unknown);

=item (d)

the policy's order: versions are (generation g, clock t in microseconds, writer
priority p, writer id o) and each policy is a total order, greater wins
(README, "Conflict policies"): last_update_wins (t, p, o, g),
node_priority (g, p, o, t), first_update_wins (g, -t, p, o).  Every
surviving row is >= every image of its key a committed INSERT, UPSERT or
UPDATE returned, and > every image a committed DELETE removed; for an
absent key, the tombstone each node holds (if any) is >= every committed
image of the key;

=item (e)

a surviving row is newer than its key's tombstone on every node that holds
one (the delete it outlived lost);

=item (f)

a node's own writes of a key never go back, whatever the policy: a write
committed on a node is newer than every write of that key committed on the
same node before it was sent (the row a DELETE removed is at least as new),
as a node keeps the greatest version of each key and stamps a local write
past the row or tombstone it finds.  This catches a local write stamped
without seeing a delete that committed before it, even when the policy's
order would hide it.

=back

Each failing check prints the offending keys with their ledger history,
their row and tombstone on every node and the conflicts logged for them,
then the seed and the one command that replays the run
(chaos_replay_command).  Every run also reports its writes (committed,
failed by SQLSTATE, unknown), the conflicts logged on all nodes, how long
the drain took, and the errors in the server logs of apply workers and
walsenders, counted by message.

=item 5. Teardown

The run's nodes are stopped before the next run starts; when the run
passed, their data directories and the run's ledger directory are removed
(server logs stay in tmp_check/log).

=back

Settings that apply to every run are the package variables below; the
campaign's selection of runs comes from chaos_plan_runs().

=cut

package Chaos;

use strict;
use warnings;

use Exporter 'import';
use DBI;
use File::Path qw(make_path remove_tree);
use IPC::Run;
use JSON::PP;
use List::Util qw(max min sum0);
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use MMTest;

our @EXPORT = qw(chaos_plan_runs chaos_run chaos_summary chaos_replay_command);

our @POLICIES = qw(last_update_wins node_priority first_update_wins);

our $TABLE            = 'chaos';
our $KEYS             = 30;      # keys 1..$KEYS
our $CLIENTS_PER_NODE = 2;
our $THINK_US         = 4000;    # a client pauses up to this long between writes
our $PRIORITIES       = [ 0, 10, 20 ];    # a node's priority is one of these
our $SKEW_MIN         = 300;     # the skewed node runs 300..600 s ahead
our $SKEW_RANGE       = 300;
our $SKEW_MARGIN      = 50;      # the skew seen must be within this of the skew set
our $CLIENT_GRACE     = 60;      # seconds a client may overrun the load before it is killed
our $REPORT_KEYS      = 5;       # offending keys told about per failed check
our $PROBLEMS_SHOWN   = 8;       # problem lines shown per key
our $HISTORY_TAIL     = 20;      # last writes of a key shown
our $HISTORY_CONTEXT  = 4;       # writes shown around each write a problem names

my $run_counter = 0;    # node names must be unique in a test file

# --------------------------------------------------------------------------
# Which runs
# --------------------------------------------------------------------------

=pod

=head2 chaos_plan_runs(%defaults)

The list of runs to make, each a hash { seed, nodes, policy, seconds }.
%defaults: sizes (array of node counts, default [3, 5]), runs (runs per
node count, default 10), seconds (default 45), env (default 1: the
environment may override, see below).  Seeds are consecutive from a base
seed (the current time unless given), in the order of the list; policies
cycle over all three within each node count.

Environment (when env is true): MM_CHAOS_SEED sets the base seed and, when
MM_CHAOS_RUNS is not set, makes it one run per node count (a replay);
MM_CHAOS_NODES ("3", "5", "3 5") the node counts; MM_CHAOS_POLICY one policy
for every run; MM_CHAOS_SECONDS the load; MM_CHAOS_RUNS the runs per node
count.  Dies on a value it does not understand.

=cut

sub chaos_plan_runs
{
	my (%opt) = @_;
	my @sizes   = @{ $opt{sizes} // [ 3, 5 ] };
	my $runs    = $opt{runs} // 10;
	my $seconds = $opt{seconds} // 45;
	my $seed    = $opt{seed} // (int(time * 1000) ^ $$) % 1_000_000_007;
	my $policy;

	if ($opt{env} // 1)
	{
		if (defined $ENV{MM_CHAOS_SEED} && $ENV{MM_CHAOS_SEED} ne '')
		{
			$seed = $ENV{MM_CHAOS_SEED};
			die "MM_CHAOS_SEED must be a non-negative integer, not '$seed'\n"
			  unless $seed =~ /^\d+$/;
			$runs = 1;
		}
		if (defined $ENV{MM_CHAOS_NODES} && $ENV{MM_CHAOS_NODES} ne '')
		{
			@sizes = split /[\s,]+/, $ENV{MM_CHAOS_NODES};
			die "MM_CHAOS_NODES must list node counts from 2 to 8, not '$ENV{MM_CHAOS_NODES}'\n"
			  if !@sizes || grep { !/^\d+$/ || $_ < 2 || $_ > 8 } @sizes;
		}
		if (defined $ENV{MM_CHAOS_POLICY} && $ENV{MM_CHAOS_POLICY} ne '')
		{
			$policy = $ENV{MM_CHAOS_POLICY};
			die "MM_CHAOS_POLICY must be one of @POLICIES, not '$policy'\n"
			  unless grep { $_ eq $policy } @POLICIES;
		}
		if (defined $ENV{MM_CHAOS_SECONDS} && $ENV{MM_CHAOS_SECONDS} ne '')
		{
			$seconds = $ENV{MM_CHAOS_SECONDS};
			die "MM_CHAOS_SECONDS must be a number of seconds >= 5, not '$seconds'\n"
			  unless $seconds =~ /^\d+(\.\d+)?$/ && $seconds >= 5;
		}
		if (defined $ENV{MM_CHAOS_RUNS} && $ENV{MM_CHAOS_RUNS} ne '')
		{
			$runs = $ENV{MM_CHAOS_RUNS};
			die "MM_CHAOS_RUNS must be a positive integer, not '$runs'\n"
			  unless $runs =~ /^[1-9]\d*$/;
		}
	}

	my @list;
	for my $n (@sizes)
	{
		for my $j (0 .. $runs - 1)
		{
			push @list,
			  {
				seed    => $seed + @list,
				nodes   => $n,
				policy  => $policy // $POLICIES[ $j % @POLICIES ],
				seconds => $seconds,
			  };
		}
	}
	return @list;
}

=pod

=head2 chaos_replay_command($run)

The one command, run as root from the repository, that replays $run.

=cut

sub chaos_replay_command
{
	my ($run) = @_;
	return "MM_CHAOS_SEED=$run->{seed} MM_CHAOS_NODES=$run->{nodes} "
	  . "MM_CHAOS_POLICY=$run->{policy} MM_CHAOS_SECONDS=$run->{seconds} "
	  . "test/run-tests.sh chaos";
}

sub _label
{
	my ($run) = @_;
	return "[seed $run->{seed}, $run->{nodes} nodes, $run->{policy}]";
}

# --------------------------------------------------------------------------
# The plan of a run: everything random, drawn from the seed up front
# --------------------------------------------------------------------------

# draw_plan($run): srand($seed), then, in this order: node priorities, the
# clients' own seeds, the skewed node and its skew, the crash, the link
# pauses.  Nothing else may draw between srand and the end of this
# function (other modules use rand() too: they only ever do so later).
sub draw_plan
{
	my ($run) = @_;
	my ($n, $secs) = ($run->{nodes}, $run->{seconds});
	srand($run->{seed});

	my %plan = (run => $run);
	$plan{priority} =
	  { map { $_ => $PRIORITIES->[ int(rand(@$PRIORITIES)) ] } 1 .. $n };

	my $id = 0;
	for my $node (1 .. $n)
	{
		for (1 .. $CLIENTS_PER_NODE)
		{
			$id++;
			push @{ $plan{clients} },
			  { id => $id, node => $node, seed => int(rand(2**31)) };
		}
	}

	$plan{skew} = {
		node    => 1 + int(rand($n)),
		seconds => $SKEW_MIN + int(rand($SKEW_RANGE + 1)),
	};

	my $crash_at = $secs * (0.2 + 0.35 * rand());
	$plan{crash} = {
		node => 1 + int(rand($n)),
		at   => $crash_at,
		for  => min(2 + 4 * rand(), 0.9 * ($secs - $crash_at)),
	};

	# Link pauses: every 0.5 to 3 s a random link not already paused is
	# held back for 1 to 6 s, until 80 % of the load; then one last pause,
	# from somewhere in the last 40 %, that lasts until the load stops.
	my @links;
	for my $p (1 .. $n)
	{
		push @links, map { [ $p, $_ ] } grep { $_ != $p } 1 .. $n;
	}
	my %busy_until;    # "P_S" => end of the link's latest pause
	my @pauses;
	my $t = rand(2);
	while ($t < 0.8 * $secs)
	{
		my ($p, $s) = @{ $links[ int(rand(@links)) ] };
		my $until = min($t + 1 + 5 * rand(), $secs);
		if (($busy_until{"${p}_$s"} // -1) < $t)
		{
			push @pauses, { from => $p, to => $s, at => $t, until => $until };
			$busy_until{"${p}_$s"} = $until;
		}
		$t += 0.5 + 2.5 * rand();
	}
	my ($p, $s) = @{ $links[ int(rand(@links)) ] };
	my $at = $secs * (0.6 + 0.3 * rand());
	@pauses = grep {
		!($_->{from} == $p && $_->{to} == $s && $_->{until} > $at)
	} @pauses;
	push @pauses, { from => $p, to => $s, at => $at, until => undef };
	$plan{pauses} = \@pauses;

	return \%plan;
}

# The plan as text, one fault per line.
sub plan_text
{
	my ($plan) = @_;
	my @l;
	push @l, 'priorities: '
	  . join(', ', map { "node $_ = $plan->{priority}{$_}" } sort { $a <=> $b } keys %{ $plan->{priority} });
	push @l, 'clients: '
	  . join(', ', map { "c$_->{id}\@n$_->{node}" } @{ $plan->{clients} });
	push @l, sprintf('skew: node %d runs +%d s', $plan->{skew}{node}, $plan->{skew}{seconds});
	push @l, sprintf('crash: node %d at %.1f s for %.1f s',
		$plan->{crash}{node}, $plan->{crash}{at}, $plan->{crash}{for});
	# (drawn before any node runs to tell the link's name)
	push @l, sprintf('pause link %d -> %d: %.1f s .. %s', $_->{from}, $_->{to},
		$_->{at}, defined $_->{until} ? sprintf('%.1f s', $_->{until}) : 'end of load')
	  for @{ $plan->{pauses} };
	return join("\n", @l);
}

# --------------------------------------------------------------------------
# libfaketime
# --------------------------------------------------------------------------

my $shim_cache;    # [path or undef, error]

=pod

=head2 select_shim()

Path of a shared library defining select() as the bare system call,
compiled once per test file with $ENV{CC} or cc into a temporary directory;
(undef, reason) if it cannot be built.  Preloaded before libfaketime so that
children the postmaster forks from a signal handler during select() are
faked too (see DESCRIPTION).

=cut

sub select_shim
{
	return @$shim_cache if $shim_cache;
	my $dir = PostgreSQL::Test::Utils::tempdir('chaos_shim');
	my $src = "$dir/select_shim.c";
	my $so  = "$dir/select_shim.so";
	PostgreSQL::Test::Utils::append_to_file($src, <<'EOC');
/*
 * select() as the bare system call.  libfaketime's select() turns faking
 * off while it waits; a process forked from a signal handler during that
 * wait (PostgreSQL 15's postmaster starts background workers so) would
 * inherit that and never see the fake time.
 */
#define _GNU_SOURCE
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int
select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
#ifdef SYS_select
	return (int) syscall(SYS_select, nfds, r, w, e, tv);
#else
	struct timespec ts;
	int			rc;

	if (tv)
	{
		ts.tv_sec = tv->tv_sec;
		ts.tv_nsec = tv->tv_usec * 1000;
	}
	rc = (int) syscall(SYS_pselect6, nfds, r, w, e, tv ? &ts : NULL, NULL);
	if (tv)
	{
		tv->tv_sec = ts.tv_sec;
		tv->tv_usec = ts.tv_nsec / 1000;
	}
	return rc;
#endif
}
EOC
	my $cc = $ENV{CC} || 'cc';
	my ($out, $err) = ('', '');
	my $ok = eval {
		IPC::Run::run([ $cc, '-shared', '-fPIC', '-O2', '-o', $so, $src ],
			'<', \undef, '>', \$out, '2>', \$err);
	};
	$shim_cache = $ok && -f $so
	  ? [ $so, undef ]
	  : [ undef, "$cc could not build $so: " . ($@ || $err || $out) ];
	return @$shim_cache;
}

=pod

=head2 faketime_env($seconds)

The environment entries that run a server $seconds ahead: (LD_PRELOAD =>
"<shim> <libfaketime.so.1>", FAKETIME => "+<s>s",
FAKETIME_DONT_FAKE_MONOTONIC => 1), or (undef, reason).  libfaketime is
looked up in MM_CHAOS_FAKETIME_LIB, then the Debian locations of package
libfaketime.

=cut

sub faketime_env
{
	my ($seconds) = @_;
	my ($lib) = grep { defined && -f } $ENV{MM_CHAOS_FAKETIME_LIB},
	  glob('/usr/lib/*/faketime/libfaketime.so.1'),
	  '/usr/lib/faketime/libfaketime.so.1';
	return (undef, 'libfaketime.so.1 not found (Debian package faketime)')
	  unless $lib;
	my ($shim, $why) = select_shim();
	return (undef, $why) unless $shim;
	return {
		LD_PRELOAD                   => "$shim $lib",
		FAKETIME                     => "+${seconds}s",
		FAKETIME_DONT_FAKE_MONOTONIC => 1,
	};
}

# --------------------------------------------------------------------------
# Nodes
# --------------------------------------------------------------------------

# A run's context: { run, plan (draw_plan), dir (ledgers and reports),
# prefix (of the node names), nodes (array, node id - 1), up (node id =>
# 1/0), disabled ("P_S" => 1 while link P -> S is disabled), skipped
# (pauses skipped), skew_env (environment of the skewed node, undef without
# libfaketime) and skew_error, clients (pid => client), fault_errors }.

sub node_of { my ($ctx, $id) = @_; return $ctx->{nodes}[ $id - 1 ]; }

# start_node($ctx, $id): starts node $id, under libfaketime if it is the
# skewed one.  True on success.
sub start_node
{
	my ($ctx, $id) = @_;
	my %env = %ENV;
	%env = (%env, %{ $ctx->{skew_env} })
	  if $ctx->{skew_env} && $id == $ctx->{plan}{skew}{node};
	local %ENV = %env;
	my $ok = node_of($ctx, $id)->start(fail_ok => 1);
	$ctx->{up}{$id} = 1 if $ok;
	return $ok;
}

# node_alive($node): its postmaster runs.
sub node_alive
{
	my ($node) = @_;
	return defined $node->{_pid} && kill(0, $node->{_pid});
}

# find_dead_nodes($ctx): nodes believed up whose postmaster is gone (a
# crash of the server itself: PostgreSQL::Test::Cluster sets
# restart_after_crash = off) are marked down and recorded in
# $ctx->{died}, with the time; heal() starts them again.
sub find_dead_nodes
{
	my ($ctx, $t0) = @_;
	for my $id (1 .. $ctx->{run}{nodes})
	{
		my $node = node_of($ctx, $id);
		next if !$ctx->{up}{$id} || node_alive($node);
		$ctx->{up}{$id} = 0;
		$ctx->{died}{$id} = sprintf('%.2f s', time - $t0);
		$node->stop('immediate', fail_ok => 1);    # forgets the dead postmaster
	}
	return;
}

# The lines of a node's server log that tell why it went down.
sub crash_lines
{
	my ($node) = @_;
	my $log = eval { slurp_file($node->logfile) } // '';
	my @l = grep {
		/terminated by signal|was terminated|PANIC:|TRAP:|restart_after_crash|terminating any other/
	} split /\n/, $log;
	return @l > 10 ? @l[ -10 .. -1 ] : @l;
}

# crash_node($ctx, $id): pg_ctl stop -m immediate.  True on success.
sub crash_node
{
	my ($ctx, $id) = @_;
	my $ok = node_of($ctx, $id)->stop('immediate', fail_ok => 1);
	$ctx->{up}{$id} = 0;
	return $ok;
}

# (rc, stdout, stderr) of $sql on node $id, with a time limit.
sub node_psql
{
	my ($ctx, $id, $sql) = @_;
	my ($out, $err) = ('', '');
	my $rc = node_of($ctx, $id)->psql('postgres', $sql,
		stdout => \$out, stderr => \$err, timeout => 60);
	return ($rc, $out, $err);
}

# set_link($ctx, $from, $to, $enable): ALTER SUBSCRIPTION on node $to.
# True on success.
sub set_link
{
	my ($ctx, $from, $to, $enable) = @_;
	my ($rc, $out, $err) = node_psql($ctx, $to,
		'ALTER SUBSCRIPTION ' . link_name($from, $to) . ($enable ? ' ENABLE' : ' DISABLE'));
	if ($rc == 0)
	{
		if ($enable) { delete $ctx->{disabled}{"${from}_$to"} }
		else         { $ctx->{disabled}{"${from}_$to"} = 1 }
	}
	return ($rc == 0, $err);
}

# process_start_time($pid): the real time (epoch seconds, to about a
# second) process $pid started, from /proc: the kernel's clock, which
# libfaketime cannot touch.  Undef if it cannot be read.
sub process_start_time
{
	my ($pid) = @_;
	my ($stat, $boot);
	open(my $fh, '<', "/proc/$pid/stat") or return;
	$stat = <$fh>;
	close $fh;
	open($fh, '<', '/proc/stat') or return;
	($boot) = map { /^btime (\d+)/ ? $1 : () } <$fh>;
	close $fh;
	# fields after "(comm)": state is field 3, starttime field 22, in
	# clock ticks since boot
	my ($rest) = $stat =~ /\)\s+(.*)$/s;
	return unless defined $rest && defined $boot;
	my $ticks = (split ' ', $rest)[19];
	return $boot + $ticks / POSIX::sysconf(POSIX::_SC_CLK_TCK());
}

# skew_seen($ctx): [apply workers of the skewed node, the least skew among
# them (their backend_start, as their own clock gave it, minus the real
# time they started), seconds now() of a session there is ahead of this
# process's clock, error] (undef values if not found).
sub skew_seen
{
	my ($ctx) = @_;
	my $id = $ctx->{plan}{skew}{node};
	my $before = time;
	my ($rc, $out, $err) = node_psql($ctx, $id, q{
SELECT pid, extract(epoch FROM backend_start), extract(epoch FROM now())
  FROM pg_stat_activity WHERE backend_type LIKE 'logical replication %worker'});
	return [ 0, undef, undef, $err ] unless $rc == 0;
	my ($n, $least, $now_ahead) = (0);
	for my $line (split /\n/, $out)
	{
		my ($pid, $start, $now) = split /\|/, $line;
		$now_ahead = $now - $before;
		my $real = process_start_time($pid) // next;    # gone meanwhile
		$n++;
		$least = $start - $real if !defined $least || $start - $real < $least;
	}
	return [ $n, $least, $now_ahead, $n ? undef : 'no apply worker found' ];
}

# assert_skew($ctx, $when): one assertion: the skewed node's apply workers
# run ahead by nearly the skew.
sub assert_skew
{
	my ($ctx, $when) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $plan = $ctx->{plan};
	my $want = $plan->{skew}{seconds} - $SKEW_MARGIN;
	my $label = _label($ctx->{run});
	if (!$ctx->{skew_env})
	{
		fail("$label node $plan->{skew}{node} runs under libfaketime ($when)");
		diag("libfaketime could not be set up: $ctx->{skew_error}");
		return 0;
	}
	my ($n, $ahead, $now_ahead, $err) = @{ skew_seen($ctx) };
	my $ok = ok($n > 0 && defined $ahead && $ahead > $want,
		sprintf('%s node %d: its apply workers run +%s s ahead (want > %d s) %s',
			$label, $plan->{skew}{node}, defined $ahead ? sprintf('%.0f', $ahead) : '?',
			$want, $when));
	diag("skewed node $plan->{skew}{node}: $n apply workers, the least skewed started "
		  . ($ahead // '?') . " s ahead of the real clock, now() is " . ($now_ahead // '?')
		  . " s ahead: FAKETIME did not reach the background workers"
		  . ($err ? " ($err)" : ''))
	  unless $ok;
	return $ok;
}

# setup_mesh($ctx): nodes with their priorities, the mesh, the table, and
# the skewed node restarted under libfaketime.  Dies on a setup failure.
sub setup_mesh
{
	my ($ctx) = @_;
	my ($run, $plan) = ($ctx->{run}, $ctx->{plan});
	my $prefix = 'r' . (++$run_counter) . 'n';
	$ctx->{prefix} = $prefix;
	my @nodes;
	for my $id (1 .. $run->{nodes})
	{
		# Short retry interval: apply workers of re-enabled links and of
		# restarted peers come back quickly.  No statement logging: the
		# clients write thousands of statements.
		push @nodes,
		  new_node("$prefix$id",
			wal_retrieve_retry_interval => "'200ms'",
			log_statement               => 'none',
			max_connections             => 60);
		$ctx->{up}{$id} = 1;
	}
	$ctx->{nodes} = \@nodes;
	for my $id (1 .. $run->{nodes})
	{
		node_of($ctx, $id)->safe_psql('postgres',
			"SELECT multimaster.init_node($id, '$prefix$id', $plan->{priority}{$id})");
	}
	create_mesh(@nodes);
	make_table("CREATE TABLE $TABLE (id int PRIMARY KEY, v text, n int)", @nodes);
	add_table_mesh($TABLE, $run->{policy}, @nodes);

	my $want = join(',', map { "$_:$plan->{priority}{$_}" } 1 .. $run->{nodes});
	my @bad = grep {
		node_of($ctx, $_)->safe_psql('postgres',
			"SELECT string_agg(node_id || ':' || priority, ',' ORDER BY node_id) FROM multimaster.nodes")
		  ne $want
	} 1 .. $run->{nodes};
	ok(!@bad, _label($run) . " every node knows every priority ($want)")
	  or diag('nodes with other priorities: ' . join(', ', @bad));

	# The skewed node: restarted under libfaketime.
	my ($env, $why) = faketime_env($plan->{skew}{seconds});
	$ctx->{skew_env}   = $env;
	$ctx->{skew_error} = $why;
	if ($env)
	{
		my $id = $plan->{skew}{node};
		node_of($ctx, $id)->stop('fast');
		$ctx->{up}{$id} = 0;
		start_node($ctx, $id) or die "node $id did not start under libfaketime\n";
		wait_mesh_ready(@nodes) or die "mesh not ready after the skewed restart\n";
	}
	assert_skew($ctx, 'after its restart');
	return;
}

# stop_nodes($ctx, $clean): stops every node of the run that runs.  With
# $clean (a run that passed), at once (immediate) and their data directories
# are removed; else cleanly (fast), for a look at the data afterwards.
sub stop_nodes
{
	my ($ctx, $clean) = @_;
	for my $node (@{ $ctx->{nodes} || [] })
	{
		$node->stop($clean ? 'immediate' : 'fast', fail_ok => 1) if defined $node->{_pid};
		$node->stop('immediate', fail_ok => 1) if defined $node->{_pid};
		$node->clean_node if $clean;
	}
	return;
}

# --------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------

my $RETURNING = 'RETURNING id, v, n, mm_origin, mm_generation, '
  . '(extract(epoch FROM mm_version) * 1000000)::bigint';

# The statements of the clients, by operation; parameters ($1 key, $2 v,
# $3 n) as listed.
my %STATEMENTS = (
	insert => [ "INSERT INTO $TABLE (id, v, n) VALUES (\$1, \$2, \$3) $RETURNING", 3 ],
	upsert => [
		"INSERT INTO $TABLE (id, v, n) VALUES (\$1, \$2, \$3) "
		  . "ON CONFLICT (id) DO UPDATE SET v = excluded.v, n = excluded.n $RETURNING", 3
	],
	update => [ "UPDATE $TABLE SET v = \$2, n = \$3 WHERE id = \$1 $RETURNING", 3 ],
	delete => [ "DELETE FROM $TABLE WHERE id = \$1 $RETURNING", 1 ],
);

sub _user { return $ENV{PGUSER} || scalar getpwuid($>); }

# client_connect($node, $client, $deadline): a DBI handle with the client's
# statements prepared, retrying every 200 ms until $deadline; undef then.
sub client_connect
{
	my ($node, $c, $deadline) = @_;
	my $dsn = 'dbi:Pg:dbname=postgres;host=' . $node->host . ';port=' . $node->port
	  . ';connect_timeout=5';
	my $attempts = 0;
	while (time < $deadline)
	{
		$attempts++;
		my $dbh = DBI->connect($dsn, _user(), '',
			{ AutoCommit => 1, RaiseError => 0, PrintError => 0 });
		if ($dbh
			&& $dbh->do("SET application_name = 'chaos-c$c->{id}'")
			&& $dbh->do("SET statement_timeout = '20s'"))
		{
			my %sth = map { $_ => $dbh->prepare($STATEMENTS{$_}[0]) } keys %STATEMENTS;
			if (!grep { !$_ } values %sth)
			{
				print STDERR "connected after $attempts attempts\n" if $attempts > 1;
				return ($dbh, \%sth);
			}
		}
		usleep(200_000);
	}
	print STDERR "gave up connecting after $attempts attempts\n";
	return;
}

# client_main($ctx, $c, $ledger, $t0, $deadline): the body of one forked
# client.  Writes its ledger; never returns to the test (POSIX::_exit: no
# END block of the test may run in a child, it would stop the nodes).
sub client_main
{
	my ($ctx, $c, $file, $t0, $deadline) = @_;
	srand($c->{seed});
	open(my $led, '>', $file) or die "$file: $!";
	$led->autoflush(1);
	my $json = JSON::PP->new->canonical;
	my $node = node_of($ctx, $c->{node});
	usleep(int(1_000_000 * ($t0 - time))) if $t0 > time;

	my ($dbh, $sth);    # connection and its prepared statements
	my $seq = 0;
	my @deleted;        # keys this client deleted lately, to re-insert
	my $reinsert;       # key to re-insert at once, after a delete
	while (time < $deadline)
	{
		($dbh, $sth) = client_connect($node, $c, $deadline) unless $dbh;
		last unless $dbh;

		# Every write draws the same random numbers whatever happens, and
		# no choice depends on an outcome: the client's sequence of
		# statements is a function of its seed alone.
		my ($r, $k, $n, $coin, $pick, $think) =
		  (rand(), 1 + int(rand($KEYS)), int(rand(1_000_000)), rand(), rand(), rand());

		# The operation: half of the deletes are followed at once by a
		# re-insert of their key, a few writes re-insert a key deleted
		# lately, the rest is a random mix over random keys.
		my ($op, $key) = ('reinsert', $reinsert);
		undef $reinsert;
		if (!defined $key)
		{
			if ($r >= 0.92 && @deleted)
			{
				$key = splice(@deleted, int($pick * @deleted), 1);
			}
			else
			{
				$op = $r < 0.20 ? 'insert' : $r < 0.47 ? 'upsert'
				  : $r < 0.75 ? 'update' : $r < 0.92 ? 'delete' : 'insert';
				$key = $k;
			}
		}
		if ($op eq 'delete')
		{
			if ($coin < 0.5) { $reinsert = $key }
			else
			{
				push @deleted, $key;
				shift @deleted if @deleted > 10;
			}
		}

		my $kind = $op eq 'reinsert' ? 'insert' : $op;
		my %rec = (
			c    => $c->{id},
			node => $c->{node},
			seq  => ++$seq,
			op   => $op,
			key  => $key,
			v    => "c$c->{id}-$seq",
			n    => $n,
			t0   => sprintf('%.6f', time - $t0),
		);
		print $led $json->encode({ %rec, status => 'sent' }), "\n";

		my @args = ($key, $rec{v}, $rec{n})[ 0 .. $STATEMENTS{$kind}[1] - 1 ];
		my $s = $sth->{$kind};
		if (defined $s->execute(@args))
		{
			$rec{status} = 'committed';
			$rec{rows} = $s->fetchall_arrayref;
		}
		else
		{
			# A server error on a live connection wrote nothing; a broken
			# connection may have committed the statement or not.
			$rec{state} = $dbh->state;
			($rec{error}) = split /\n/, ($dbh->errstr // '');
			if ($dbh->ping)
			{
				$rec{status} = 'failed';
			}
			else
			{
				$rec{status} = 'unknown';
				$dbh->disconnect;
				undef $dbh;
			}
		}
		$rec{t1} = sprintf('%.6f', time - $t0);
		print $led $json->encode(\%rec), "\n";
		usleep(int($think * $THINK_US));
	}
	$dbh->disconnect if $dbh;
	close $led;
	return;
}

# start_clients($ctx, $t0, $deadline): forks every client; returns
# { pid => client }.
sub start_clients
{
	my ($ctx, $t0, $deadline) = @_;
	my %pids;
	for my $c (@{ $ctx->{plan}{clients} })
	{
		my $file = "$ctx->{dir}/ledger.c$c->{id}.jsonl";
		my $pid = fork();
		die "fork: $!" unless defined $pid;
		if ($pid == 0)
		{
			my $rc = 0;
			eval {
				open(STDOUT, '>>', "$ctx->{dir}/client.c$c->{id}.log");
				open(STDERR, '>>&', \*STDOUT);
				client_main($ctx, $c, $file, $t0, $deadline);
				1;
			} or do { print STDERR "client died: $@"; $rc = 1; };
			POSIX::_exit($rc);
		}
		$pids{$pid} = $c;
	}
	return \%pids;
}

# wait_clients($pids, $until): reaps the clients; any still running at
# $until is killed (it is ours: by its pid).  Returns the list of problems
# ("c3 exited with status 1", "c4 killed").
sub wait_clients
{
	my ($pids, $until) = @_;
	my @problems;
	while (%$pids)
	{
		for my $pid (keys %$pids)
		{
			my $r = waitpid($pid, POSIX::WNOHANG());
			next unless $r == $pid || $r == -1;
			push @problems, "c$pids->{$pid}{id} exited with status " . ($? >> 8)
			  if $r == $pid && $? != 0;
			delete $pids->{$pid};
		}
		last unless %$pids;
		if (time > $until)
		{
			for my $pid (keys %$pids)
			{
				push @problems, "c$pids->{$pid}{id} still writing ${CLIENT_GRACE}s after the load: killed";
				kill 'KILL', $pid;
				waitpid($pid, 0);
			}
			last;
		}
		usleep(100_000);
	}
	return @problems;
}

# --------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------

# The plan's faults as events sorted by time:
# { at, what => disable|enable|crash|start, from, to, node }.
sub fault_events
{
	my ($plan) = @_;
	my @ev;
	for my $p (@{ $plan->{pauses} })
	{
		push @ev, { at => $p->{at}, what => 'disable', from => $p->{from}, to => $p->{to} };
		push @ev, { at => $p->{until}, what => 'enable', from => $p->{from}, to => $p->{to} }
		  if defined $p->{until};
	}
	my $cr = $plan->{crash};
	push @ev, { at => $cr->{at}, what => 'crash', node => $cr->{node} };
	push @ev, { at => $cr->{at} + $cr->{for}, what => 'start', node => $cr->{node} };
	my $i = 0;
	$_->{i} = $i++ for @ev;
	return sort { $a->{at} <=> $b->{at} || $a->{i} <=> $b->{i} } @ev;
}

# run_faults($ctx, $t0, $deadline): plays the events until $deadline.  A
# pause whose subscriber is down is skipped (its apply workers are gone
# anyway); an enable waits until the subscriber is up.  Returns the list of
# what happened, as text, and counts unexpected errors in $ctx->{fault_errors}.
# Links still disabled at $deadline are left to heal().
sub run_faults
{
	my ($ctx, $t0, $deadline) = @_;
	my @queue = fault_events($ctx->{plan});
	my (@log, @pending);
	my $say = sub { push @log, sprintf('%6.2f s %s', time - $t0, $_[0]) };
	my $do = sub {
		my ($e) = @_;
		if ($e->{what} eq 'crash' && !$ctx->{up}{ $e->{node} })
		{
			$say->("crash node $e->{node} skipped: it is down");
			return 1;
		}
		if ($e->{what} eq 'crash' || $e->{what} eq 'start')
		{
			my $crash = $e->{what} eq 'crash';
			my $ok = $crash ? crash_node($ctx, $e->{node}) : start_node($ctx, $e->{node});
			$say->(($crash ? "crash node $e->{node}" : "start node $e->{node}")
				  . ($ok ? '' : ': FAILED'));
			$ctx->{fault_errors}++ unless $ok;
			return 1;
		}
		my $name = link_name($e->{from}, $e->{to});
		my $key = "$e->{from}_$e->{to}";
		if (!$ctx->{up}{ $e->{to} })
		{
			if ($e->{what} eq 'disable')
			{
				$ctx->{skipped}{$key} = 1;
				$say->("disable $name skipped: node $e->{to} is down");
				return 1;
			}
			return 0;    # enable: later
		}
		if ($e->{what} eq 'enable' && delete $ctx->{skipped}{$key})
		{
			$say->("enable $name: nothing to do (its pause was skipped)");
			return 1;
		}
		my ($ok, $err) = set_link($ctx, $e->{from}, $e->{to}, $e->{what} eq 'enable');
		if ($ok) { $say->("$e->{what} $name") }
		else
		{
			$say->("$e->{what} $name FAILED: $err");
			$ctx->{fault_errors}++;
		}
		return 1;
	};

	usleep(int(1_000_000 * ($t0 - time))) if $t0 > time;
	while (time < $deadline)
	{
		find_dead_nodes($ctx, $t0);
		@pending = grep { !$do->($_) } @pending;
		while (@queue && $queue[0]{at} <= time - $t0)
		{
			my $e = shift @queue;
			push @pending, $e unless $do->($e);
		}
		usleep(50_000);
	}
	$say->('load stops');
	return @log;
}

# heal($ctx, $t0): every node up (those that died on their own too), every
# link enabled.  Returns what it did.
sub heal
{
	my ($ctx, $t0) = @_;
	my @log;
	find_dead_nodes($ctx, $t0);
	for my $id (1 .. $ctx->{run}{nodes})
	{
		next if $ctx->{up}{$id};
		push @log, start_node($ctx, $id)
		  ? "node $id started" : "node $id did not start";
	}
	for my $key (sort keys %{ $ctx->{disabled} || {} })
	{
		my ($from, $to) = split /_/, $key;
		my ($ok, $err) = set_link($ctx, $from, $to, 1);
		push @log, 'enable ' . link_name($from, $to) . ($ok ? '' : " FAILED: $err");
	}
	return @log;
}

# --------------------------------------------------------------------------
# What the run left: ledger, rows, tombstones, conflicts, logs
# --------------------------------------------------------------------------

# read_ledger($ctx): the ledger of every client as a list of writes
# { c, node, seq, op, kind, key, v, n, status, state, error, t0, t1,
#   images => [ { id, v, n, o, g, t } ] }, a sent write without outcome
# being unknown.  Also returns the number of unreadable lines and missing
# ledger files.
sub read_ledger
{
	my ($ctx) = @_;
	my $json = JSON::PP->new;
	my (@writes, $bad);
	for my $c (@{ $ctx->{plan}{clients} })
	{
		my $file = "$ctx->{dir}/ledger.c$c->{id}.jsonl";
		my %by_seq;
		my $fh;
		if (!open($fh, '<', $file))
		{
			$bad++;    # a client that never started
			next;
		}
		while (my $line = <$fh>)
		{
			my $r = eval { $json->decode($line) };
			if (!$r) { $bad++; next; }
			if ($r->{status} eq 'sent')
			{
				$by_seq{ $r->{seq} } = { %$r, status => 'unknown', error => 'no outcome recorded' };
				next;
			}
			$by_seq{ $r->{seq} } = $r;
		}
		close $fh;
		for my $w (map { $by_seq{$_} } sort { $a <=> $b } keys %by_seq)
		{
			$w->{kind} = $w->{op} eq 'reinsert' ? 'insert' : $w->{op};
			$w->{images} = [
				map { { id => $_->[0], v => $_->[1], n => $_->[2], o => $_->[3], g => $_->[4], t => $_->[5] } }
				  @{ delete $w->{rows} // [] } ];
			push @writes, $w;
		}
	}
	return (\@writes, $bad // 0);
}

# node_rows($node): { key => { id, v, n, o, g, t } } of the table.
sub node_rows
{
	my ($node) = @_;
	my %rows;
	my $out = $node->safe_psql('postgres',
		"SELECT id, v, n, mm_origin, mm_generation, "
		  . "(extract(epoch FROM mm_version) * 1000000)::bigint FROM $TABLE ORDER BY id");
	for (split /\n/, $out)
	{
		my %r;
		@r{qw(id v n o g t)} = split /\|/;
		$rows{ $r{id} } = \%r;
	}
	return \%rows;
}

# node_tombstones($node): { key => { o, g, t } } for keys 1..$KEYS, found by
# value through multimaster.tombstone_key().
sub node_tombstones
{
	my ($node) = @_;
	my %tombs;
	my $out = $node->safe_psql('postgres', qq{
SELECT k, t.mm_origin, t.mm_generation,
       (extract(epoch FROM t.mm_version) * 1000000)::bigint
  FROM generate_series(1, $KEYS) AS k
 CROSS JOIN LATERAL multimaster.tombstone_key('$TABLE', k::text) AS tk
  JOIN multimaster.tombstones t
    ON t.table_name = tk.table_name AND t.key_hash = tk.key_hash
   AND t.key_data = tk.key_data
 ORDER BY k});
	for (split /\n/, $out)
	{
		my ($k, $o, $g, $t) = split /\|/;
		$tombs{$k} = { o => $o, g => $g, t => $t };
	}
	return \%tombs;
}

# Errors that a crash, a restart or a paused link explain by themselves.
our @FAULT_ERRORS = (
	qr/could not connect to the publisher/,
	qr/could not receive data from WAL stream/,
	qr/could not send end-of-streaming message/,
	qr/server closed the connection unexpectedly/,
	qr/terminating .* due to administrator command/,
	qr/the database system is (?:shutting down|starting up|not yet accepting connections|in recovery mode)/,
);

# server_errors($node): the ERROR, FATAL and PANIC messages of background
# processes (apply workers among them) and walsenders (their application
# name is the subscription's) in the node's server log, with numbers and
# quoted names blurred: { "apply/bgworker: message" or "walsender: message"
# => count }.  Client sessions' errors are in the ledger.
sub server_errors
{
	my ($node) = @_;
	my %count;
	my $log = eval { slurp_file($node->logfile) } // '';
	for my $line (split /\n/, $log)
	{
		# log_line_prefix '%m [%p] %q%a ': nothing after the pid for
		# processes without a session.
		next unless $line =~ /^\S+ \S+ \S+ \[\d+\] (?:(\S+) )?(ERROR|FATAL|PANIC):\s+(.*)$/;
		my ($app, $level, $msg) = ($1, $2, $3);
		my $who = !defined $app ? 'apply/bgworker'
		  : link_parts($app) ? 'walsender' : next;
		$msg =~ s/"[^"]*"/"..."/g;
		$msg =~ s/\d+/N/g;
		$count{"$who $level: " . substr($msg, 0, 110)}++;
	}
	return \%count;
}

# --------------------------------------------------------------------------
# The policies' orders
# --------------------------------------------------------------------------

=pod

=head2 version_key($policy, \%priority, $version)

The list that sorts versions { o, g, t } under $policy, greater wins
(README, "Conflict policies"): last_update_wins (t, p, o, g), node_priority
(g, p, o, t), first_update_wins (g, -t, p, o), p being the priority of node
o.  vcmp($policy, \%priority, $x, $y) compares two versions (-1, 0, 1).

=cut

sub version_key
{
	my ($policy, $prio, $v) = @_;
	my $p = $prio->{ $v->{o} } // 0;
	return ($v->{t}, $p, $v->{o}, $v->{g}) if $policy eq 'last_update_wins';
	return ($v->{g}, $p, $v->{o}, $v->{t}) if $policy eq 'node_priority';
	return ($v->{g}, -$v->{t}, $p, $v->{o}) if $policy eq 'first_update_wins';
	die "unknown policy $policy";
}

sub vcmp
{
	my ($policy, $prio, $x, $y) = @_;
	my @kx = version_key($policy, $prio, $x);
	my @ky = version_key($policy, $prio, $y);
	for my $i (0 .. $#kx)
	{
		return $kx[$i] <=> $ky[$i] if $kx[$i] != $ky[$i];
	}
	return 0;
}

# --------------------------------------------------------------------------
# Checks: each returns { key => [ problem text, ... ] }
# --------------------------------------------------------------------------

# A data set: { policy, prio, nodes (count), rows => [ per node { key =>
# image } ], tombs => [ per node { key => version } ], writes => [ ledger ] }.

sub _row_text
{
	my ($r) = @_;
	return 'absent' unless $r;
	return "v=$r->{v} n=$r->{n} o$r->{o} g$r->{g} t=$r->{t}";
}

sub _version_text
{
	my ($x) = @_;
	return "o$x->{o} g$x->{g} t=$x->{t}";
}

# (a) the same rows everywhere.
sub check_identical
{
	my ($d) = @_;
	my %bad;
	my %keys = map { %$_ } @{ $d->{rows} };
	for my $k (sort { $a <=> $b } keys %keys)
	{
		my @t = map { _row_text($_->{$k}) } @{ $d->{rows} };
		next unless grep { $_ ne $t[0] } @t;
		push @{ $bad{$k} }, 'differs: ' . join('; ', map { 'n' . ($_ + 1) . ": $t[$_]" } 0 .. $#t);
	}
	return \%bad;
}

# Index of the ledger: writes by v, and by key.
sub index_ledger
{
	my ($d) = @_;
	return if $d->{by_v};
	for my $w (sort { $a->{t0} <=> $b->{t0} } @{ $d->{writes} })
	{
		$d->{by_v}{ $w->{v} } = $w;
		push @{ $d->{by_key}{ $w->{key} } }, $w;
	}
	return;
}

# (b) no phantom: every row, and every image a DELETE returned, is a write's
# own image.
sub check_no_phantom
{
	my ($d) = @_;
	index_ledger($d);
	my %bad;
	my $match = sub {
		my ($k, $img, $where) = @_;
		my $w = $d->{by_v}{ $img->{v} };
		my $why;
		if (!$w)                                    { $why = 'no write of the ledger has this v' }
		elsif ($w->{kind} eq 'delete')              { $why = 'v is that of a DELETE' }
		elsif ($w->{key} != $k)                     { $why = "v was written to key $w->{key}" }
		elsif ($w->{status} eq 'failed')            { $why = "its write failed ($w->{state})" }
		elsif ($w->{status} eq 'committed')
		{
			my ($i) = @{ $w->{images} };
			$why = 'its write returned ' . _row_text($i)
			  unless $i && _row_text($i) eq _row_text($img);
		}
		else    # unknown: v, n and origin only
		{
			$why = "its unknown write had n=$w->{n} on node $w->{node}"
			  unless $img->{n} == $w->{n} && $img->{o} == $w->{node};
		}
		push @{ $bad{$k} }, "$where: " . _row_text($img) . ": $why" if $why;
	};
	my %seen;
	for my $i (0 .. $#{ $d->{rows} })
	{
		for my $k (keys %{ $d->{rows}[$i] })
		{
			my $r = $d->{rows}[$i]{$k};
			next if $seen{ "$k " . _row_text($r) }++;
			$match->($k, $r, 'row on n' . ($i + 1));
		}
	}
	for my $w (grep { $_->{kind} eq 'delete' && $_->{status} eq 'committed' } @{ $d->{writes} })
	{
		$match->($w->{key}, $_, "image removed by DELETE $w->{v}") for @{ $w->{images} };
	}
	return \%bad;
}

# (c) nothing lost: a key absent everywhere that a committed write created
# has a DELETE that removed a row or may have.
sub check_nothing_lost
{
	my ($d) = @_;
	index_ledger($d);
	my %bad;
	for my $k (sort { $a <=> $b } keys %{ $d->{by_key} })
	{
		next if grep { $_->{$k} } @{ $d->{rows} };
		my @h = @{ $d->{by_key}{$k} };
		my @written = grep {
			$_->{kind} ne 'delete' && $_->{status} eq 'committed' && @{ $_->{images} }
		} @h;
		next unless @written;
		my @deletes = grep {
			$_->{kind} eq 'delete'
			  && ($_->{status} eq 'unknown' || ($_->{status} eq 'committed' && @{ $_->{images} }))
		} @h;
		push @{ $bad{$k} }, 'absent on every node after ' . scalar(@written)
		  . ' committed writes, but no DELETE removed it' unless @deletes;
	}
	return \%bad;
}

# (d) the policy's order.
sub check_order
{
	my ($d) = @_;
	index_ledger($d);
	my ($pol, $prio) = ($d->{policy}, $d->{prio});
	my %bad;
	for my $k (sort { $a <=> $b } keys %{ $d->{by_key} })
	{
		my @h = grep { $_->{status} eq 'committed' } @{ $d->{by_key}{$k} };
		my @written = map { [ $_, $_->{images}[0] ] }
		  grep { $_->{kind} ne 'delete' && @{ $_->{images} } } @h;
		my @removed = map { [ $_, $_->{images}[0] ] }
		  grep { $_->{kind} eq 'delete' && @{ $_->{images} } } @h;
		my %said;
		for my $i (0 .. $#{ $d->{rows} })
		{
			my $r = $d->{rows}[$i]{$k};
			my $where = 'n' . ($i + 1);
			if ($r)
			{
				for my $x (@written)
				{
					next if vcmp($pol, $prio, $r, $x->[1]) >= 0;
					push @{ $bad{$k} }, "row " . _row_text($r) . " is older than the committed "
					  . "$x->[0]{op} $x->[0]{v} (" . _version_text($x->[1]) . ")"
					  unless $said{"w $r->{v} $x->[0]{v}"}++;
				}
				for my $x (@removed)
				{
					next if vcmp($pol, $prio, $r, $x->[1]) > 0;
					push @{ $bad{$k} }, "row " . _row_text($r) . " is not newer than the row "
					  . "removed by DELETE $x->[0]{v} (" . _version_text($x->[1]) . ")"
					  unless $said{"d $r->{v} $x->[0]{v}"}++;
				}
			}
			elsif (my $t = $d->{tombs}[$i]{$k})
			{
				for my $x (@written)
				{
					next if vcmp($pol, $prio, $t, $x->[1]) >= 0;
					push @{ $bad{$k} }, "absent: tombstone on $where (" . _version_text($t)
					  . ") is older than the committed $x->[0]{op} $x->[0]{v} ("
					  . _version_text($x->[1]) . ")";
				}
			}
		}
	}
	return \%bad;
}

# (e) a surviving row is newer than its key's tombstone.
sub check_tombstones
{
	my ($d) = @_;
	my %bad;
	for my $i (0 .. $#{ $d->{rows} })
	{
		for my $k (sort { $a <=> $b } keys %{ $d->{rows}[$i] })
		{
			my $t = $d->{tombs}[$i]{$k} or next;
			my $r = $d->{rows}[$i]{$k};
			push @{ $bad{$k} }, 'n' . ($i + 1) . ': row ' . _row_text($r)
			  . ' is not newer than its tombstone (' . _version_text($t) . ')'
			  unless vcmp($d->{policy}, $d->{prio}, $r, $t) > 0;
		}
	}
	return \%bad;
}

# (f) a node's own writes of a key never go back: a write committed on a
# node is newer than every write of its key committed on that node before
# it started (the row a DELETE removed is at least as new), whatever the
# policy.  A node keeps the greatest version of each key, and a local write
# is stamped past the row or tombstone it finds.  "Before" is read on the
# clients' clocks (one host): the earlier write returned before the later
# one was sent.
sub check_local_order
{
	my ($d) = @_;
	index_ledger($d);
	my ($pol, $prio) = ($d->{policy}, $d->{prio});
	my %bad;
	for my $k (sort { $a <=> $b } keys %{ $d->{by_key} })
	{
		my %by_node;
		push @{ $by_node{ $_->{node} } }, $_
		  for grep { $_->{status} eq 'committed' && @{ $_->{images} } } @{ $d->{by_key}{$k} };
		for my $n (sort { $a <=> $b } keys %by_node)
		{
			# starts and ends in time order, a start first on a tie
			my @events = sort { $a->[0] <=> $b->[0] || $a->[1] <=> $b->[1] }
			  map { ([ $_->{t0}, 0, $_ ], [ $_->{t1}, 1, $_ ]) } @{ $by_node{$n} };
			my ($max, $max_w);    # the newest version committed so far here
			for my $e (@events)
			{
				my (undef, $end, $w) = @$e;
				my $v = $w->{images}[0];
				if ($end)
				{
					($max, $max_w) = ($v, $w) if !$max || vcmp($pol, $prio, $v, $max) > 0;
					next;
				}
				next unless $max;
				my $c = vcmp($pol, $prio, $v, $max);
				next if $c > 0 || ($c == 0 && $w->{kind} eq 'delete');
				push @{ $bad{$k} }, sprintf(
					'n%d: %s %s sent at %.6fs wrote %s, not newer than %s of %s %s, '
					  . 'committed on the same node at %.6fs',
					$n, $w->{op}, $w->{v}, $w->{t0}, _version_text($v),
					_version_text($max), $max_w->{op}, $max_w->{v}, $max_w->{t1});
			}
		}
	}
	return \%bad;
}

# --------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------

# One line of ledger history.
sub _write_text
{
	my ($w) = @_;
	my $s = sprintf('%9.3fs c%d@n%d %-8s %-9s v=%s n=%d', $w->{t0}, $w->{c}, $w->{node},
		$w->{op}, $w->{status}, $w->{v}, $w->{n});
	$s .= ' (' . ($w->{state} // '') . ': ' . ($w->{error} // '') . ')'
	  if $w->{status} ne 'committed';
	$s .= ' -> ' . join(', ', map { _row_text($_) } @{ $w->{images} })
	  if $w->{images} && @{ $w->{images} };
	$s .= ' -> no row' if $w->{status} eq 'committed' && !@{ $w->{images} };
	return $s;
}

# key_report($ctx, $d, $k, $full, @problems): the story of key $k as text:
# its ledger history (all of it if $full, else the writes around those
# that @problems or the rows name, and the last ones), its row and
# tombstone on every node, the conflicts logged for it.
sub key_report
{
	my ($ctx, $d, $k, $full, @problems) = @_;
	index_ledger($d);
	my @h = @{ $d->{by_key}{$k} || [] };
	my %named = map { $_ => 1 } join(' ', @problems) =~ /\b(c\d+-\d+)\b/g;
	$named{ $_->{$k}{v} } = 1 for grep { $_->{$k} } @{ $d->{rows} };
	my %show;
	for my $i (0 .. $#h)
	{
		next unless $full || $named{ $h[$i]{v} }
		  || grep { $named{ $_->{v} } } @{ $h[$i]{images} };
		$show{$_} = 1 for max(0, $i - $HISTORY_CONTEXT) .. min($#h, $i + $HISTORY_CONTEXT);
	}
	$show{$_} = 1 for max(0, @h - $HISTORY_TAIL) .. $#h;
	my @l = ("key $k: ledger history, " . scalar(@h)
		  . ' writes (client clock, seconds since the load started):');
	my $last = -1;
	for my $i (sort { $a <=> $b } keys %show)
	{
		push @l, '  ...' if $i > $last + 1;
		push @l, '  ' . _write_text($h[$i]);
		$last = $i;
	}
	for my $i (0 .. $#{ $d->{rows} })
	{
		my $t = $d->{tombs}[$i]{$k};
		push @l, sprintf('n%d: row %s; tombstone %s', $i + 1, _row_text($d->{rows}[$i]{$k}),
			$t ? _version_text($t) : 'none');
		my ($rc, $out) = node_psql($ctx, $i + 1, qq{
SELECT conflict_id, kind, resolution,
       'local o' || local_origin || ' g' || local_generation || ' t='
         || (extract(epoch FROM local_version) * 1000000)::bigint,
       'remote o' || remote_origin || ' g' || remote_generation || ' t='
         || (extract(epoch FROM remote_version) * 1000000)::bigint
  FROM multimaster.conflicts
 WHERE key = '$k' AND table_name IN ('public.$TABLE', multimaster._table_name('$TABLE'))
 ORDER BY conflict_id});
		my @c = $rc == 0 ? split(/\n/, $out) : ("(conflicts not read: $out)");
		@c = ('...', @c[ -$HISTORY_TAIL .. -1 ]) if !$full && @c > $HISTORY_TAIL;
		push @l, 'n' . ($i + 1) . " conflicts logged for key $k:", map { "  $_" } @c
		  if @c;
	}
	return join("\n", @l);
}

# report_check($ctx, $d, $name, $bad): one assertion; on failure, in a
# diag, the problems and the story of the first $REPORT_KEYS keys, the seed
# and the replay command; everything, full histories included, in the run
# directory's report.txt.
sub report_check
{
	my ($ctx, $d, $name, $bad) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my @keys = sort { $a <=> $b } keys %$bad;
	my $ok = ok(!@keys, _label($ctx->{run}) . " $name");
	return 1 if $ok;

	my $head = "$name: " . scalar(@keys) . ' keys: ' . join(', ', @keys);
	my (@full, @short);
	for my $k (@keys)
	{
		my @p = @{ $bad->{$k} };
		push @full, join("\n", (map { "key $k: $_" } @p), key_report($ctx, $d, $k, 1, @p));
		next if @short >= $REPORT_KEYS;
		my @shown = @p[ 0 .. min($#p, $PROBLEMS_SHOWN - 1) ];
		push @short, join("\n", (map { "key $k: $_" } @shown),
			(@p > @shown ? ('key ' . $k . ': ... and ' . (@p - @shown) . ' more') : ()),
			key_report($ctx, $d, $k, 0, @shown));
	}
	PostgreSQL::Test::Utils::append_to_file("$ctx->{dir}/report.txt",
		join("\n\n", $head, @full) . "\n\n");
	diag(join("\n\n", $head, @short));
	diag("(every key, with its whole history, in $ctx->{dir}/report.txt)");
	diag('seed ' . $ctx->{run}{seed} . '; replay: ' . chaos_replay_command($ctx->{run}));
	return 0;
}

# --------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------

=pod

=head2 chaos_run($run)

Makes the run { seed, nodes, policy, seconds } (see DESCRIPTION); emits its
assertions; returns its result { run, result (PASS, FAIL or DIED), writes
(committed, failed, unknown), conflicts, drain (seconds) }.  A run that
dies (a setup failure) counts as one failed assertion; its nodes are
stopped either way.

=cut

sub chaos_run
{
	my ($run) = @_;
	my $plan = draw_plan($run);
	my $label = _label($run);
	my $dir = "$PostgreSQL::Test::Utils::tmp_check/chaos/seed$run->{seed}_$run->{nodes}n_$run->{policy}";
	remove_tree($dir);
	make_path($dir);
	my $ctx = { run => $run, plan => $plan, dir => $dir, up => {}, disabled => {} };
	my $started = time;
	my $builder = Test::More->builder;
	my $failed_before = grep { !$_ } $builder->summary;

	diag(sprintf('chaos run: seed=%d nodes=%d policy=%s seconds=%s',
		$run->{seed}, $run->{nodes}, $run->{policy}, $run->{seconds}));
	note(plan_text($plan));
	my %result = (run => $run, result => 'DIED', writes => {}, conflicts => '?', drain => '?');
	my $ok = eval { _run_body($ctx, \%result); 1 };
	if (!$ok)
	{
		fail("$label the run completed");
		diag("run died: $@");
		diag('seed ' . $run->{seed} . '; replay: ' . chaos_replay_command($run));
		# clients of a run that died in the middle of its load: ours, by pid
		kill 'KILL', keys %{ $ctx->{clients} || {} };
		wait_clients($ctx->{clients} || {}, time);
	}
	else
	{
		my $failed_now = grep { !$_ } $builder->summary;
		$result{result} = $failed_now > $failed_before ? 'FAIL' : 'PASS';
	}
	stop_nodes($ctx, $result{result} eq 'PASS');
	if ($result{result} eq 'PASS')
	{
		remove_tree($dir);
	}
	else
	{
		diag("kept for analysis: $dir (ledgers, faults.txt, report.txt), the nodes' data "
			  . 'directories, and their server logs '
			  . "$PostgreSQL::Test::Utils::log_path/*_$ctx->{prefix}*.log")
		  if $ctx->{prefix};
	}
	diag(sprintf('chaos run: seed=%d %s in %.0f s', $run->{seed}, $result{result}, time - $started));
	return \%result;
}

sub _run_body
{
	my ($ctx, $result) = @_;
	my ($run, $plan) = ($ctx->{run}, $ctx->{plan});
	my $label = _label($run);

	setup_mesh($ctx);

	# Load and faults.
	my $t0 = time + 1;
	my $deadline = $t0 + $run->{seconds};
	$ctx->{clients} = start_clients($ctx, $t0, $deadline);
	my @fault_log = run_faults($ctx, $t0, $deadline);
	my @client_problems = wait_clients($ctx->{clients}, $deadline + $CLIENT_GRACE);
	my $load_end = time;
	push @fault_log, map { sprintf('%6.2f s %s', time - $t0, $_) } heal($ctx, $t0);
	PostgreSQL::Test::Utils::append_to_file("$ctx->{dir}/faults.txt", join("\n", @fault_log) . "\n");
	note("faults as played:\n" . join("\n", @fault_log));
	ok(!@client_problems, "$label every client ran to the end")
	  or diag(join("\n", @client_problems));
	ok(!$ctx->{fault_errors}, "$label every fault was injected")
	  or diag("faults as played:\n" . join("\n", @fault_log));
	my $died = $ctx->{died} || {};
	ok(!%$died, "$label no server went down but by the crash fault")
	  or diag(join("\n", map {
			"node $_ found down at $died->{$_} (started again after the load); its log says:\n  "
			  . join("\n  ", crash_lines(node_of($ctx, $_)))
		} sort keys %$died));

	# Drain: from the end of the load until every node has synced.
	wait_mesh_ready(@{ $ctx->{nodes} })
	  or diag("$label apply workers did not all come back");
	wait_sync(@{ $ctx->{nodes} });
	$result->{drain} = sprintf('%.1f', time - $load_end);
	assert_skew($ctx, 'after the load');

	# What is there.
	my ($writes, $bad_lines) = read_ledger($ctx);
	my %d = (
		policy => $run->{policy},
		prio   => $plan->{priority},
		writes => $writes,
		rows   => [ map { node_rows($_) } @{ $ctx->{nodes} } ],
		tombs  => [ map { node_tombstones($_) } @{ $ctx->{nodes} } ],
	);
	my %status;
	$status{ $_->{status} }++ for @$writes;
	my %failed;
	$failed{ $_->{state} // '?' }++ for grep { $_->{status} eq 'failed' } @$writes;
	$result->{writes} = { map { $_ => $status{$_} // 0 } qw(committed failed unknown) };
	ok($status{committed} && !$bad_lines,
		"$label every client's ledger is there, readable, with committed writes")
	  or diag("committed writes: " . ($status{committed} // 0)
		  . ", unreadable lines or missing ledgers: $bad_lines");

	# The checks.
	my $a_ok = report_check($ctx, \%d, '(a) all nodes hold identical rows', check_identical(\%d));
	if (!$a_ok)
	{
		my $later = wait_converged($TABLE, @{ $ctx->{nodes} });
		diag("$label after more waiting the nodes "
			  . ($later ? 'converged: wait_for_sync returned too early' : 'still differ'));
	}
	report_check($ctx, \%d, '(b) no phantom: every row is the image of a write', check_no_phantom(\%d));
	report_check($ctx, \%d, '(c) nothing lost: a key absent everywhere was deleted', check_nothing_lost(\%d));
	report_check($ctx, \%d, "(d) every key holds the greatest version under $run->{policy}", check_order(\%d));
	report_check($ctx, \%d, '(e) a surviving row is newer than its tombstone', check_tombstones(\%d));
	report_check($ctx, \%d, "(f) a node's own writes of a key never go back", check_local_order(\%d));

	# Report.
	my @conflicts = map {
		$_->safe_psql('postgres', 'SELECT count(*) FROM multimaster.conflicts')
	} @{ $ctx->{nodes} };
	$result->{conflicts} = sum0(@conflicts);
	my %errors;    # message => { node => count }
	for my $i (0 .. $#{ $ctx->{nodes} })
	{
		my $c = server_errors($ctx->{nodes}[$i]);
		$errors{$_}{ 'n' . ($i + 1) } += $c->{$_} for keys %$c;
	}
	$result->{server_errors} = \%errors;
	diag(sprintf('%s writes: %d committed, %d failed (%s), %d unknown; '
			  . 'rows: %d; tombstones: %d; conflicts logged: %d (%s); drain: %s s',
			$label, $result->{writes}{committed}, $result->{writes}{failed},
			join(', ', map { "$_: $failed{$_}" } sort keys %failed) || 'none',
			$result->{writes}{unknown}, scalar(keys %{ $d{rows}[0] }),
			scalar(keys %{ $d{tombs}[0] }), $result->{conflicts},
			join(', ', map { 'n' . ($_ + 1) . ": $conflicts[$_]" } 0 .. $#conflicts),
			$result->{drain}));
	my $errors_text = sub {
		my ($m) = @_;
		return "\n  " . sum0(values %{ $errors{$m} }) . " x $m ("
		  . join(', ', map { "$_: $errors{$m}{$_}" } sort keys %{ $errors{$m} }) . ')';
	};
	my @unexplained = grep { my $m = $_; !grep { $m =~ $_ } @FAULT_ERRORS } sort keys %errors;
	diag("$label errors of apply workers, background workers and walsenders in the server logs:"
		  . (join('', map { $errors_text->($_) } sort keys %errors) || ' none'));
	diag("$label of which NOT explained by a crash, restart or paused link:"
		  . join('', map { $errors_text->($_) } @unexplained))
	  if @unexplained;
	$result->{unexplained_errors} = scalar @unexplained;
	return;
}

=pod

=head2 chaos_summary(@results)

Prints (diag) the table of the runs: seed, nodes, policy, result, writes
(committed/failed/unknown), conflicts logged, drain seconds, kinds of
server errors no fault explains; then the replay command of every run that
did not pass.

=cut

sub chaos_summary
{
	my (@results) = @_;
	my $format = '%-12s %5s  %-17s %-6s %-20s %9s %7s %6s';
	my @l = sprintf($format, 'seed', 'nodes', 'policy', 'result',
		'writes c/f/u', 'conflicts', 'drain', 'odd');
	for my $r (@results)
	{
		my $w = $r->{writes};
		push @l, sprintf($format, $r->{run}{seed}, $r->{run}{nodes}, $r->{run}{policy},
			$r->{result}, join('/', map { $w->{$_} // '?' } qw(committed failed unknown)),
			$r->{conflicts}, $r->{drain}, $r->{unexplained_errors} // '?');
	}
	push @l, '(writes: committed/failed/unknown; drain: seconds from the end of the '
	  . 'load to sync everywhere; odd: kinds of apply or walsender errors no fault explains)';
	my @bad = grep { $_->{result} ne 'PASS' } @results;
	push @l, '', 'replay the runs that did not pass:', map { '  ' . chaos_replay_command($_->{run}) } @bad
	  if @bad;
	diag(join("\n", 'chaos runs:', @l));
	return;
}

1;
