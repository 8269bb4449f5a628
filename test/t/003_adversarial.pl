# Copyright: see the multimaster LICENSE.
#
# 003_adversarial.pl: delivery orders that break naive multi-master recipes.
#
# One 3-node mesh, one table t(id, v, doc) registered with the default policy
# (last_update_wins).  Each scenario holds back chosen links (a disabled
# subscription keeps its slot, so the held-back changes arrive later, after
# changes made after them on other nodes), then enables them again and checks
# that every node ends with the same, expected row:
#
#   a. an UPDATE that overtakes its INSERT (it ships as the full row);
#   b. the same key inserted concurrently on two nodes (the later one wins);
#   c. a DELETE racing an UPDATE, in both timestamp orders;
#   d. a DELETE overtaken by a later re-INSERT of the key;
#   e. a 20 kB out-of-line value left unchanged by an UPDATE, also when the
#      UPDATE is the first copy of the row a node receives;
#   f. no apply worker ever failed.
#
# Every wait is a polled condition with a timeout; nothing sleeps.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use MMTest;

my $started = time;

# Waits of this file give up after this many seconds.
my $WAIT = $ENV{MM_TEST_WAIT} // 60;

my @nodes;

# --------------------------------------------------------------------------
# Local helpers
# --------------------------------------------------------------------------

sub dump_all
{
	foreach my $node (@nodes)
	{
		my $rows = $node->safe_psql('postgres',
			"SELECT id, v, mm_origin, mm_version, mm_generation, "
			  . "length(doc), md5(doc) FROM t ORDER BY id");
		my $tomb = $node->safe_psql('postgres',
			"SELECT * FROM multimaster.tombstones ORDER BY 1, 2");
		my $conf = $node->safe_psql('postgres',
			"SELECT * FROM multimaster.conflicts ORDER BY conflict_id");
		diag("--- " . $node->name . " rows of t:\n$rows\n--- tombstones:\n$tomb"
			  . "\n--- conflicts:\n$conf");
	}
	dump_state(@nodes);
	return;
}

# Poll $sql on $node until it returns $expected.  A timeout is a failed
# assertion and ends the file: the scenario cannot go on.
sub wait_for
{
	my ($node, $sql, $expected, $what) = @_;
	my $ok;
	{
		local $PostgreSQL::Test::Utils::timeout_default = $WAIT;
		$ok = $node->poll_query_until('postgres', $sql, $expected);
	}
	return if $ok;
	fail("timed out waiting for $what on " . $node->name);
	dump_all();
	done_testing();
	exit 1;
}


sub workers_sql
{
	my ($sub) = @_;
	return "SELECT count(*) FROM pg_catalog.pg_stat_subscription "
	  . "WHERE subname = '$sub' AND relid IS NULL AND pid IS NOT NULL";
}

# Hold back the changes of node $from on node $to.
sub hold_back
{
	my ($from, $to) = @_;
	my $sub = link_name($from, $to);
	my $node = $nodes[ $to - 1 ];
	$node->safe_psql('postgres', "ALTER SUBSCRIPTION $sub DISABLE");
	wait_for($node, workers_sql($sub), '0', "apply worker of $sub to stop");
	return;
}

# Deliver them again: wait until the apply worker runs.
sub release
{
	my ($from, $to) = @_;
	my $sub = link_name($from, $to);
	my $node = $nodes[ $to - 1 ];
	$node->safe_psql('postgres', "ALTER SUBSCRIPTION $sub ENABLE");
	wait_for($node, workers_sql($sub), '1', "apply worker of $sub to start");
	return;
}

# Wait until node $to has received and applied (or skipped) everything node
# $from wrote so far: the slot of that link confirms the current position.
sub wait_link
{
	my ($from, $to) = @_;
	my $pub = $nodes[ $from - 1 ];
	my $slot = link_name($from, $to);
	my $lsn = $pub->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
	wait_for($pub,
		"SELECT confirmed_flush_lsn >= '$lsn' FROM pg_catalog.pg_replication_slots "
		  . "WHERE slot_name = '$slot'",
		't', "slot $slot to confirm $lsn");
	return;
}

# "v|mm_origin" of key $id on $node, '' when the row is absent.
sub row_sql
{
	my ($id) = @_;
	return "SELECT coalesce((SELECT v || '|' || mm_origin FROM t WHERE id = $id), '')";
}

sub row_of
{
	my ($node, $id) = @_;
	return $node->safe_psql('postgres', row_sql($id));
}

sub wait_row
{
	my ($node, $id, $expected, $what) = @_;
	wait_for($node, row_sql($id), $expected, $what);
	return;
}

# One assertion per node: key $id is "v|origin" ('' = absent) everywhere.
sub is_everywhere
{
	my ($id, $expected, $what) = @_;
	foreach my $node (@nodes)
	{
		is(row_of($node, $id), $expected, "$what: " . $node->name);
	}
	return;
}

# wait_for_sync on every node, then t is the same everywhere (two
# assertions, from MMTest).
sub sync_all
{
	wait_sync(@nodes);
	wait_converged('t', @nodes);
	return;
}


# --------------------------------------------------------------------------
# Mesh and table
# --------------------------------------------------------------------------

@nodes = map { new_node("node$_") } 1 .. 3;
create_mesh(@nodes);

# doc is stored out of line and uncompressed (EXTERNAL).  No REPLICA
# IDENTITY FULL: the trigger puts a value an UPDATE left unchanged back into
# the new row, so that the UPDATE still ships whole.
make_table(
	"CREATE TABLE t (id int PRIMARY KEY, v text, doc text);
	 ALTER TABLE t ALTER COLUMN doc SET STORAGE EXTERNAL;", @nodes);
add_table_mesh('t', @nodes);
foreach my $node (@nodes)
{
	is( $node->safe_psql('postgres',
			"SELECT m.policy || ' ' || c.relreplident::text "
			  . "FROM multimaster.tables m JOIN pg_class c ON c.oid = m.relid "
			  . "WHERE m.relid = 't'::regclass"),
		'last_update_wins d',
		't registered with last_update_wins and REPLICA IDENTITY DEFAULT on ' . $node->name);
}

# --------------------------------------------------------------------------
# a. An UPDATE overtakes its INSERT: node 1 inserts, node 2 gets the row and
#    updates it, node 3 gets node 2's update first (a full row), node 1's
#    insert afterwards.
# --------------------------------------------------------------------------

hold_back(1, 3);
$nodes[0]->safe_psql('postgres', "INSERT INTO t (id, v) VALUES (1, 'a: n1 insert')");
wait_row($nodes[1], 1, 'a: n1 insert|1', 'a: node 1 insert on node 2');
$nodes[1]->safe_psql('postgres', "UPDATE t SET v = 'a: n2 update' WHERE id = 1");
wait_row($nodes[2], 1, 'a: n2 update|2', 'a: node 2 update on node 3');
pass('a: node 3 built the row from the update alone, before the insert');
release(1, 3);
wait_link(1, 3);
is(row_of($nodes[2], 1), 'a: n2 update|2',
	'a: node 3 did not regress to node 1 older insert');
sync_all();
is_everywhere(1, 'a: n2 update|2', 'a: update survives its late insert');

# --------------------------------------------------------------------------
# b. The same key inserted on nodes 1 and 2 while they are cut off from each
#    other: last_update_wins keeps the later insert (greater mm_version).
# --------------------------------------------------------------------------

hold_back(1, 2);
hold_back(2, 1);
$nodes[0]->safe_psql('postgres', "INSERT INTO t (id, v) VALUES (2, 'b: n1 insert')");
$nodes[1]->safe_psql('postgres', "INSERT INTO t (id, v) VALUES (2, 'b: n2 insert')");
my $ver1 = $nodes[0]->safe_psql('postgres', "SELECT mm_version FROM t WHERE id = 2");
my $ver2 = $nodes[1]->safe_psql('postgres', "SELECT mm_version FROM t WHERE id = 2");
my $n2_later = $nodes[0]->safe_psql('postgres',
	"SELECT '$ver2'::timestamptz > '$ver1'::timestamptz");
is($n2_later, 't', "b: node 2 insert ($ver2) is later than node 1 insert ($ver1)");
release(1, 2);
release(2, 1);
sync_all();
is_everywhere(2, $n2_later eq 't' ? 'b: n2 insert|2' : 'b: n1 insert|1',
	'b: concurrent inserts resolve to the later one');
foreach my $node (@nodes)
{
	is($node->safe_psql('postgres', "SELECT mm_version FROM t WHERE id = 2"),
		$n2_later eq 't' ? $ver2 : $ver1,
		'b: the winner keeps its own version on ' . $node->name);
}

# --------------------------------------------------------------------------
# c. DELETE on node 1 vs concurrent UPDATE on node 2, both timestamp orders:
#    id 10: delete, then a later update -> the row survives with the update;
#    id 11: update, then a later delete -> the row is gone.
# --------------------------------------------------------------------------

$nodes[2]->safe_psql('postgres',
	"INSERT INTO t (id, v) VALUES (10, 'c: base'), (11, 'c: base')");
sync_all();
is_everywhere(10, 'c: base|3', 'c: base row 10');
is_everywhere(11, 'c: base|3', 'c: base row 11');

hold_back(1, 2);
hold_back(2, 1);
$nodes[0]->safe_psql('postgres', "DELETE FROM t WHERE id = 10");
$nodes[1]->safe_psql('postgres', "UPDATE t SET v = 'c: n2 update' WHERE id = 10");
$nodes[1]->safe_psql('postgres', "UPDATE t SET v = 'c: n2 update' WHERE id = 11");
$nodes[0]->safe_psql('postgres', "DELETE FROM t WHERE id = 11");
release(1, 2);
release(2, 1);
sync_all();
is_everywhere(10, 'c: n2 update|2', 'c(i): update later than the delete survives');
is_everywhere(11, '', 'c(ii): delete later than the update wins');

# --------------------------------------------------------------------------
# d. A DELETE overtaken by a later re-INSERT: node 1 deletes id 20, node 2
#    receives the delete and inserts 20 again; node 3 gets node 2's insert
#    before node 1's delete.
# --------------------------------------------------------------------------

$nodes[0]->safe_psql('postgres', "INSERT INTO t (id, v) VALUES (20, 'd: base')");
sync_all();
is_everywhere(20, 'd: base|1', 'd: base row');

hold_back(1, 3);
$nodes[0]->safe_psql('postgres', "DELETE FROM t WHERE id = 20");
wait_row($nodes[1], 20, '', 'd: node 1 delete on node 2');
$nodes[1]->safe_psql('postgres', "INSERT INTO t (id, v) VALUES (20, 'd: n2 re-insert')");
wait_row($nodes[2], 20, 'd: n2 re-insert|2', 'd: node 2 re-insert on node 3');
release(1, 3);
wait_link(1, 3);
is(row_of($nodes[2], 20), 'd: n2 re-insert|2',
	'd: the late delete from node 1 left the newer re-insert on node 3');
sync_all();
is_everywhere(20, 'd: n2 re-insert|2', 'd: re-insert survives the older delete');

# --------------------------------------------------------------------------
# e. TOAST: a 20 kB incompressible value stored out of line, which an UPDATE
#    of v on another node leaves unchanged.
# --------------------------------------------------------------------------

my $doc_sql = "(SELECT string_agg(md5(i::text || 'mm'), '') FROM generate_series(1, 640) i)";
my $doc_md5 = $nodes[0]->safe_psql('postgres', "SELECT md5($doc_sql)");
my $doc_sig = "20480 $doc_md5";

sub doc_sql
{
	my ($id) = @_;
	return "SELECT coalesce((SELECT coalesce(length(doc) || ' ' || md5(doc), 'NULL') "
	  . "FROM t WHERE id = $id), 'absent')";
}

sub is_doc_everywhere
{
	my ($id, $what) = @_;
	foreach my $node (@nodes)
	{
		is($node->safe_psql('postgres', doc_sql($id)), $doc_sig,
			"$what: full doc on " . $node->name);
	}
	return;
}

# e1: every node had the insert
$nodes[0]->safe_psql('postgres',
	"INSERT INTO t (id, v, doc) VALUES (30, 'e: n1 insert', $doc_sql)");
is( $nodes[0]->safe_psql('postgres',
		"SELECT pg_relation_size(reltoastrelid) >= 20480 FROM pg_class WHERE oid = 't'::regclass"),
	't', 'e: doc is stored out of line (in the TOAST table)');
sync_all();
is_doc_everywhere(30, 'e1: after the insert');
$nodes[1]->safe_psql('postgres', "UPDATE t SET v = 'e: n2 update' WHERE id = 30");
sync_all();
is_everywhere(30, 'e: n2 update|2', 'e1: update of v applied');
is_doc_everywhere(30, 'e1: after an UPDATE of v only');

# e2: node 3 misses the insert, so the update is its first copy of the row
hold_back(1, 3);
$nodes[0]->safe_psql('postgres',
	"INSERT INTO t (id, v, doc) VALUES (31, 'e: n1 insert', $doc_sql)");
wait_row($nodes[1], 31, 'e: n1 insert|1', 'e2: node 1 insert on node 2');
$nodes[1]->safe_psql('postgres', "UPDATE t SET v = 'e: n2 update' WHERE id = 31");
wait_row($nodes[2], 31, 'e: n2 update|2', 'e2: node 2 update on node 3');
is($nodes[2]->safe_psql('postgres', doc_sql(31)), $doc_sig,
	'e2: the update alone brought the full doc to node 3');
release(1, 3);
wait_link(1, 3);
sync_all();
is_everywhere(31, 'e: n2 update|2', 'e2: update survives its late insert');
is_doc_everywhere(31, 'e2: update arrived before the insert');

# --------------------------------------------------------------------------
# f. Final agreement, and no apply worker ever failed.
# --------------------------------------------------------------------------

is( $nodes[0]->safe_psql('postgres',
		"SELECT count(*) || ' ' || bool_and(consistent)::text FROM multimaster.compare_table('t')"),
	'3 true', 'compare_table: three nodes, consistent');

foreach my $node (@nodes)
{
	is( $node->safe_psql('postgres',
			"SELECT coalesce(sum(apply_error_count + sync_error_count), 0) "
			  . "FROM pg_catalog.pg_stat_subscription_stats"),
		'0',
		'f: no apply or sync error counted on ' . $node->name);
	my @bad = replication_errors($node);
	is(scalar(@bad), 0, 'f: no apply worker or walsender error logged on ' . $node->name)
	  or diag(join('', @bad));
}

dump_all() unless Test::More->builder->is_passing;
note(sprintf('003_adversarial: %.1f s', time - $started));
done_testing();
