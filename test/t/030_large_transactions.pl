# Copyright: see the multimaster LICENSE.
#
# 030_large_transactions.pl: transactions larger than
# logical_decoding_work_mem (64kB here) replicate and converge.  On
# PostgreSQL 15 they spill to disk on the sending node and are sent at
# commit; from 18 on, subscriptions default to streaming = parallel, so
# they are streamed while running and applied by a parallel apply worker,
# through the output plugin's stream_change callback: the upsert shipping
# of UPDATEs, tombstones travelling ahead of DELETEs and the resolving
# trigger must work there as well.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

my @nodes = map { new_node("big$_", logical_decoding_work_mem => "'64kB'") } 1 .. 2;
my ($n1, $n2) = @nodes;
create_mesh(@nodes);
make_table('CREATE TABLE big (id int PRIMARY KEY, v text)', @nodes);
add_table_mesh('big', @nodes);

$n1->safe_psql('postgres',
	q{INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g});
wait_converged('big', @nodes);

# one large transaction on each node, touching the same rows, while both
# links are paused (so that no apply meets a local writer: that would be a
# plain deadlock, retried); the later write wins everywhere
my %paused = ($n2 => link_name(1, 2), $n1 => link_name(2, 1));
pause_link($_, $paused{$_}) for @nodes;
$n2->safe_psql('postgres', q{UPDATE big SET v = 'n2 ' || id WHERE id <= 3000});
$n1->safe_psql('postgres', q{UPDATE big SET v = 'n1 ' || id WHERE id > 1000});
$_->safe_psql('postgres', "ALTER SUBSCRIPTION $paused{$_} ENABLE") for @nodes;
wait_sync(@nodes);
$n2->safe_psql('postgres', q{DELETE FROM big WHERE id % 2 = 0});
wait_sync(@nodes);
wait_converged('big', @nodes);
is( $n1->safe_psql('postgres',
		q{SELECT count(*) || ' ' || count(*) FILTER (WHERE v LIKE 'n1 %') || ' ' || count(*) FILTER (WHERE v LIKE 'n2 %') FROM big}),
	'2500 2000 500',
	'rows 1-1000 keep node 2\'s update, the later one of node 1 wins over 1001-3000, even rows are gone');

my $stats = $n1->safe_psql('postgres',
	q{SELECT coalesce(sum(stream_txns), 0) || ' ' || coalesce(sum(spill_txns), 0)
	    FROM pg_stat_replication_slots WHERE slot_name LIKE 'multimaster\_%'});
my ($stream_txns, $spill_txns) = split / /, $stats;
diag("node 1's slots: $stream_txns transactions streamed, $spill_txns spilled; subscriptions: "
	  . $n2->safe_psql('postgres', q{SELECT string_agg(subname || ' streaming=' || substream::text, ', ') FROM pg_subscription}));
ok($stream_txns + $spill_txns > 0, 'the sending node streamed or spilled the large transactions');

my @bad = map { replication_errors($_) } @nodes;
is(scalar(@bad), 0, 'no replication error on any node')
  or diag(join('', @bad));

$_->stop for @nodes;
done_testing();
