# Copyright: see the multimaster LICENSE.
#
# test/chaos/campaign.pl: the fault-injection campaign (test/chaos/Chaos.pm).
#
#   sudo test/run-tests.sh chaos
#
# By default 10 runs of 3 nodes and 10 runs of 5 nodes, 45 seconds of load
# each, policies cycling over last_update_wins, node_priority and
# first_update_wins, seeds consecutive from a base printed at the start.
# Every run: 2 clients per node writing a random mix over 30 keys into their
# ledger, link pauses, one node's clock 5 to 10 minutes ahead under
# libfaketime, one node crashed (immediate stop) and restarted; then every
# node drains and the rows are checked against the ledger (identical nodes,
# no phantom, nothing lost, the policy's order, tombstones, each node's own
# writes never going back).  A closing table lists every run; each failing
# run prints the command that replays it.
#
# Environment (empty = unset):
#   MM_CHAOS_SEED=<s>       base seed; alone, one run per node count (replay)
#   MM_CHAOS_NODES="3 5"    node counts (each 2..8)
#   MM_CHAOS_POLICY=<p>     one policy for every run
#   MM_CHAOS_SECONDS=<t>    seconds of load per run (default 45)
#   MM_CHAOS_RUNS=<n>       runs per node count (default 10)
#
# On a 2-core machine a run of 3 nodes takes the load plus 25 to 45
# seconds, one of 5 nodes the load plus 50 to 75; the default campaign about
# 35 minutes.  Run one campaign at a time.  Directly, as a user other than
# root, from the repository, with the extension installed:
#
#   make prove_installcheck PROVE_TESTS=test/chaos/campaign.pl PROVE_FLAGS=--verbose

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use MMTest;
use Chaos;

my $started = time;
my @runs = chaos_plan_runs(sizes => [ 3, 5 ], runs => 10, seconds => 45);
diag(sprintf('chaos campaign: %d runs, seeds %d..%d', scalar(@runs),
		$runs[0]{seed}, $runs[-1]{seed}));

my @results;
for my $i (0 .. $#runs)
{
	diag(sprintf('chaos campaign: run %d of %d', $i + 1, scalar(@runs)));
	push @results, chaos_run($runs[$i]);
}
chaos_summary(@results);

diag(sprintf('chaos campaign: %d runs, %d passed, in %.0f s', scalar(@results),
		scalar(grep { $_->{result} eq 'PASS' } @results), time - $started));
done_testing();
