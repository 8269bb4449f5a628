# Copyright: see the multimaster LICENSE.
#
# 032_one_key_no_deadlock.pl: writers of the same few keys, applied and
# local, never deadlock with each other.
#
# Every writer takes a key's row lock before its key lock (mm_key.c), and a
# writer of an absent key that finds a row written while it waited for the
# key lock gives the key lock back and locks the row first.  Before that
# rule held everywhere, a node under this load saw about one deadlock a
# second (the victim is retried, but each costs deadlock_timeout, and an
# apply worker's counts as an apply error).
#
# One node, four sessions that look to the trigger like apply workers of
# four peers (a replication origin set, session_replication_role =
# replica), each applying single-row inserts, tombstone-then-delete
# transactions and updates; two local sessions inserting (ON CONFLICT DO
# UPDATE), updating and deleting.  All on 4 keys, for MM_LOAD_SECONDS
# (default 10).  Then: no deadlock in pg_stat_database, no failed
# transaction in any client, and the trigger still agrees with itself (the
# table's rows and tombstones form one version per key).

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use MMTest;

my $started  = time;
my $DURATION = $ENV{MM_LOAD_SECONDS} || 10;
my $KEYS     = 4;

my $node = new_node('solo', log_statement => 'none', deadlock_timeout => '100ms');
$node->safe_psql(
	'postgres', qq{
SELECT multimaster.init_node(1, 'n1');
INSERT INTO multimaster.nodes (node_id, node_name, priority)
  SELECT i, 'n' || i, 0 FROM generate_series(2, 5) i;
SELECT multimaster._invalidate_cache();
SELECT pg_replication_origin_create('peer' || i) FROM generate_series(2, 5) i;
CREATE TABLE hot (id int PRIMARY KEY, v text);
SELECT multimaster.add_table('hot');
});

# an applied change carries its version: origin, time, generation
my $apply = <<"EOS";
\\set k random(1, $KEYS)
\\set what random(1, 3)
SELECT CASE WHEN pg_replication_origin_session_is_setup() THEN NULL
            ELSE pg_replication_origin_session_setup('peer' || :node) END;
\\if :what = 1
INSERT INTO hot VALUES (:k, 'peer', :node, clock_timestamp(), 1);
\\elif :what = 2
BEGIN;
INSERT INTO multimaster.tombstones
  SELECT kk.*, :node, clock_timestamp(), 1 FROM multimaster.tombstone_key('hot', (:k)::text) kk;
DELETE FROM hot WHERE id = :k;
COMMIT;
\\else
UPDATE hot SET v = 'upd', mm_origin = :node, mm_version = clock_timestamp(), mm_generation = 2
 WHERE id = :k;
\\endif
EOS

my $local = <<"EOS";
\\set k random(1, $KEYS)
\\set what random(1, 3)
\\if :what = 1
INSERT INTO hot VALUES (:k, 'local') ON CONFLICT (id) DO UPDATE SET v = excluded.v;
\\elif :what = 2
DELETE FROM hot WHERE id = :k;
\\else
UPDATE hot SET v = 'lu' WHERE id = :k;
\\endif
EOS

PostgreSQL::Test::Utils::append_to_file($node->basedir . '/apply.sql', $apply);
PostgreSQL::Test::Utils::append_to_file($node->basedir . '/local.sql', $local);

my $deadlocks_before = $node->safe_psql('postgres',
	"SELECT deadlocks FROM pg_stat_database WHERE datname = 'postgres'");

my @runs;
for my $peer (2 .. 5, 'local')
{
	my $is_local = $peer eq 'local';
	my %run = (name => $is_local ? 'local sessions' : "peer $peer", out => '', err => '');
	local $ENV{PGOPTIONS} = $is_local ? '' : '-c session_replication_role=replica';
	$run{h} = IPC::Run::start(
		[
			'pgbench', '-n', '-c', $is_local ? 2 : 1, '-j', 1, '-T', $DURATION,
			($is_local ? () : ('-D', "node=$peer")),
			'-f', $node->basedir . ($is_local ? '/local.sql' : '/apply.sql'),
			'-h', $node->host, '-p', $node->port, 'postgres'
		],
		'<', \undef, '>', \$run{out}, '2>', \$run{err},
		IPC::Run::timeout($DURATION + 120));
	push @runs, \%run;
}

my ($total, $failed) = (0, 0);
for my $run (@runs)
{
	my $ok = eval { $run->{h}->finish; 1 };
	is($ok ? $run->{h}->result(0) : "died: $@", 0, "pgbench of $run->{name} ran to its end")
	  or diag("$run->{out}\n$run->{err}");
	my ($n) = $run->{out} =~ /number of transactions actually processed: (\d+)/;
	my ($f) = $run->{out} =~ /number of failed transactions: (\d+)/;
	$total  += $n // 0;
	$failed += $f // 0;
}
note("$total transactions in ${DURATION}s");
cmp_ok($total, '>', 0, 'the load ran');
is($failed, 0, 'no transaction failed');

# a backend reports its counts when it exits: wait for pgbench's to go
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
  or diag('pgbench sessions still connected');
my $deadlocks = $node->safe_psql('postgres',
	"SELECT deadlocks FROM pg_stat_database WHERE datname = 'postgres'") - $deadlocks_before;
is($deadlocks, 0, 'writers of the same keys, applied and local, never deadlocked')
  or diag(join '', grep { /deadlock|Process \d+/ } split /^/, slurp_file($node->logfile));

# a tombstone newer than its key's row removes the row (last update wins
# orders by time first)
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM hot h JOIN multimaster.tombstones t
    ON t.table_name = multimaster._table_name('hot') AND t.key = h.id::text
 WHERE t.mm_version > h.mm_version}),
	'0',
	'no row is older than its key\'s tombstone');

note(sprintf('032_one_key_no_deadlock: %.1f s', time - $started));
done_testing();
