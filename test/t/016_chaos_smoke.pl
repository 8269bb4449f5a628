# Copyright: see the multimaster LICENSE.
#
# 016_chaos_smoke.pl: a short fault-injection campaign (test/chaos/Chaos.pm)
# in the normal suite: three runs, one per conflict policy, of 3, 5 and 3
# nodes, 12 seconds of load each, every fault on (link pauses, one node's
# clock 5 to 10 minutes ahead under libfaketime, one node crashed and
# restarted), each checked against its clients' ledger: identical nodes, no
# phantom, nothing lost, every key at the greatest version under its policy,
# surviving rows newer than their tombstones, each node's own writes of a
# key never going back.  About 2 to 2.5 minutes on a 2-core machine.
#
# Seeds are new on every run (consecutive from a printed base); a failing
# run prints the one command that replays it with the full campaign runner
# (test/run-tests.sh chaos, see test/chaos/campaign.pl).  MM_CHAOS_* are
# read by the campaign only: this file always makes its own three runs.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use MMTest;
use Chaos;

my $started = time;
my $base = (int(time * 1000) ^ $$) % 1_000_000_007;
my @runs = map {
	{
		seed    => $base + $_,
		nodes   => $_ == 1 ? 5 : 3,
		policy  => $Chaos::POLICIES[$_],
		seconds => 12,
	}
} 0 .. $#Chaos::POLICIES;

my @results = map { chaos_run($_) } @runs;
chaos_summary(@results);

note(sprintf('016_chaos_smoke: %.0f s', time - $started));
done_testing();
