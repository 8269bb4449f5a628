# Copyright: see the multimaster LICENSE.
#
# 020_apply_deadlocks.pl: when an apply worker and a local session deadlock
# and the apply worker is the victim, multimaster.status counts it
# (deadlocks), the link retries and the nodes converge.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

# The apply worker checks for a deadlock once, deadlock_timeout after it
# starts waiting: long enough for the local session to close the cycle
# first even on a busy machine.  The local session checks much later, so
# the apply worker is the one that finds the deadlock.
my @nodes = map { new_node("dl$_", deadlock_timeout => "'5s'") } 1 .. 2;
my ($n1, $n2) = @nodes;
create_mesh(@nodes);
make_table('CREATE TABLE d (id int PRIMARY KEY, v text)', @nodes);
add_table_mesh('d', @nodes);
$n1->safe_psql('postgres', "INSERT INTO d VALUES (1, 'a'), (2, 'b')");
wait_sync(@nodes);

my $deadlocks = sub {
	$n2->safe_psql('postgres',
		"SELECT deadlocks FROM multimaster.status WHERE subscription = 'multimaster_1_2'");
};
is($deadlocks->(), '0', 'no deadlock counted at first');

# a local session on n2 holds row 2 (and waits long before it checks for
# deadlocks, so that the apply worker is the one that finds it)
my $local = $n2->background_psql('postgres');
$local->query_safe("SET deadlock_timeout = '60s'; BEGIN; UPDATE d SET v = 'local 2' WHERE id = 2;");

# n1 updates rows 1 then 2 in one transaction: the apply worker on n2 locks
# row 1, then waits for row 2
$n1->safe_psql('postgres',
	"BEGIN; UPDATE d SET v = 'n1 1' WHERE id = 1; UPDATE d SET v = 'n1 2' WHERE id = 2; COMMIT;");
ok( poll_until(
		'the apply worker waits for the local session',
		sub {
			$n2->safe_psql('postgres',
				"SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'logical replication %worker' AND wait_event_type = 'Lock'"
			) eq '1';
		}),
	'the apply worker waits for row 2');

# the local session now wants row 1: a deadlock, found by the apply worker
$local->query_until(qr/waiting/, "\\echo waiting\nUPDATE d SET v = 'local 1' WHERE id = 1;\n");
$local->query_safe('COMMIT');
$local->quit;

ok(poll_until('the deadlock is counted', sub { $deadlocks->() eq '1' }),
	'apply_deadlocks_counted: multimaster.status counts the apply worker\'s deadlock');
like(slurp_file($n2->logfile), qr/deadlock detected/, '... which the server log shows');

# the link retried; last update wins on each row: row 1 was written last
# by the local session, row 2 by n1 (the local session wrote it first)
wait_sync(@nodes);
wait_converged('d', @nodes);
is($n1->safe_psql('postgres', 'SELECT string_agg(v, \',\' ORDER BY id) FROM d'),
	'local 1,n1 2', 'the later write of each row won on both nodes');
is($deadlocks->(), '1', 'the count stays');

$_->stop for @nodes;
done_testing();
