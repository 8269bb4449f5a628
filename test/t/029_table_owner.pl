# Copyright: see the multimaster LICENSE.
#
# 029_table_owner.pl: a replicated table owned by a role that is not a
# superuser replicates, resolves and logs its conflicts like any other.
# From PostgreSQL 16 on, the apply worker applies a table's changes as the
# table's owner (unless the subscription says run_as_owner), so the
# multimaster trigger then runs as that owner, who has no right on the
# extension's own tables: writing a tombstone, logging a conflict and
# recording apply progress must not depend on the owner's privileges.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

my @nodes = map { new_node("own$_") } 1 .. 2;
my ($n1, $n2) = @nodes;
create_mesh(@nodes);
make_table(
	q{CREATE ROLE app LOGIN;
	  CREATE TABLE t (id int PRIMARY KEY, v text);
	  ALTER TABLE t OWNER TO app;}, @nodes);
add_table_mesh('t', @nodes);

# plain replication of the owner's writes, both ways
$n1->safe_psql('postgres', q{SET ROLE app; INSERT INTO t VALUES (1, 'a'), (2, 'b')});
$n2->safe_psql('postgres', q{SET ROLE app; INSERT INTO t VALUES (3, 'c')});
wait_converged('t', @nodes);

# a conflict: both nodes update row 1 while both links are paused; the
# later write wins everywhere and the node that applies it over the other
# logs the conflict (as the owner, on PostgreSQL 16 and later)
my %paused = ($n2 => link_name(1, 2), $n1 => link_name(2, 1));
pause_link($_, $paused{$_}) for @nodes;
$n2->safe_psql('postgres', q{SET ROLE app; UPDATE t SET v = 'from 2' WHERE id = 1});
$n1->safe_psql('postgres', q{SET ROLE app; UPDATE t SET v = 'from 1' WHERE id = 1});
$n1->safe_psql('postgres', q{SET ROLE app; DELETE FROM t WHERE id = 2});
$_->safe_psql('postgres', "ALTER SUBSCRIPTION $paused{$_} ENABLE") for @nodes;
wait_sync(@nodes);
wait_converged('t', @nodes);
is($n2->safe_psql('postgres', 'SELECT v FROM t WHERE id = 1'),
	'from 1', 'the later write wins on the node that wrote the other one');
is($n2->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id = 2'),
	'0', 'the owner\'s delete is applied');
ok( $n2->safe_psql('postgres',
		"SELECT count(*) > 0 FROM multimaster.conflicts WHERE kind = 'update_update'"
	) eq 't',
	'the conflict is logged by the apply worker');
ok( $n2->safe_psql('postgres',
		"SELECT count(*) > 0 FROM multimaster.tombstones")
	  eq 't',
	'the delete\'s tombstone reached the other node');

my @bad = map { replication_errors($_) } @nodes;
is(scalar(@bad), 0, 'no replication error on any node')
  or diag(join('', @bad));

$_->stop for @nodes;
done_testing();
