# Copyright: see the multimaster LICENSE.
#
# 009_status_lag.pl: multimaster.status's lag is how old the changes are
# that this node has not applied yet, not the time since the peer's last
# message (which is near zero during a big catch-up, and unknown while the
# link is down).
#
# Node 2's link from node 1 is disabled while node 1 commits many small
# transactions; they age; then the link is enabled and node 2 catches up.
# While the link is down and while it catches up, lag must show the age of
# what is pending; once applied, lag and lag_bytes are zero.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use MMTest;

my @nodes = map { new_node("lag$_") } 1 .. 2;
my ($n1, $n2) = @nodes;
make_table('CREATE TABLE t (id int PRIMARY KEY, v text)', @nodes);
create_mesh(@nodes);
add_table_mesh('t', @nodes);

my $status = "FROM multimaster.status WHERE node_id = 1";

$n1->safe_psql('postgres', "INSERT INTO t VALUES (0, 'warm up')");
wait_sync(@nodes);
is($n2->safe_psql('postgres', "SELECT lag = interval '0' AND lag_bytes = 0 $status"),
	't', 'caught up: lag and lag_bytes are zero');

my $sub = $n2->safe_psql('postgres', "SELECT subscription $status");
$n2->safe_psql('postgres', "ALTER SUBSCRIPTION $sub DISABLE");
poll_until('the apply worker of node 2 stops',
	sub { $n2->safe_psql('postgres', "SELECT worker_pid IS NULL $status") eq 't' });

# Many small transactions: a catch-up that lasts a while.
$n1->safe_psql('postgres', q{
CREATE PROCEDURE fill(n int) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. n LOOP
        INSERT INTO t VALUES (i, 'pending');
        COMMIT;
    END LOOP;
END $$;
CALL fill(30000);
});
my $written = time;

ok( poll_until(
		'node 2 shows pending changes at least 3 s old while its link is down',
		sub {
			$n2->safe_psql('postgres',
				"SELECT coalesce(lag >= interval '3 s', false) AND lag_bytes > 0 $status") eq 't';
		}),
	'link down: lag is the age of what is pending');

# Let them age a little more, then catch up, sampling as it goes.
usleep(1_000_000) while time - $written < 4;
$n2->safe_psql('postgres', "ALTER SUBSCRIPTION $sub ENABLE");
my ($catching_up, $old_enough) = (0, 0);
my $deadline = time + 120;
while (time < $deadline)
{
	my $row = $n2->safe_psql('postgres',
		"SELECT worker_pid IS NOT NULL AND applied_lsn IS NOT NULL, lag_bytes > 500000,
		        coalesce(lag >= interval '3 s', false) $status");
	my ($running, $pending, $aged) = split /\|/, $row;
	last if $running eq 't' && $pending eq 'f';	# (nearly) caught up
	if ($running eq 't' && $pending eq 't')
	{
		$catching_up++;
		$old_enough++ if $aged eq 't';
	}
	usleep(100_000);
}
cmp_ok($catching_up, '>', 0, 'the catch-up was observed');
is($old_enough, $catching_up,
	'during the catch-up lag stayed at the age of the changes being applied');

ok( poll_until(
		'node 2 caught up: lag and lag_bytes are zero',
		sub {
			$n2->safe_psql('postgres', "SELECT lag = interval '0' AND lag_bytes = 0 $status") eq 't';
		}),
	'caught up again: lag and lag_bytes are zero');
is($n2->safe_psql('postgres', 'SELECT count(*) FROM t'), '30001', 'every change arrived');

# wait_for_sync right after a table is added: it waits for the initial copy
# (each check must see the tablesync worker's progress), then returns true
make_table('CREATE TABLE u (id int PRIMARY KEY, v text)', @nodes);
$n1->safe_psql('postgres', "INSERT INTO u SELECT i, 'copied' FROM generate_series(1, 50000) i");
$n1->safe_psql('postgres', "SELECT multimaster.add_table_mesh('u')");
is($n2->safe_psql('postgres', "SELECT multimaster.wait_for_sync('60 s')"),
	't', 'wait_for_sync during an initial copy waits for it and succeeds');
is($n2->safe_psql('postgres', 'SELECT count(*) FROM u'), '50000', 'the copy is complete');

$_->stop for @nodes;
done_testing();
