# Copyright: see the multimaster LICENSE.
#
# 014_create_mesh_undo.pl: a create_mesh that fails or is cancelled part-way
# leaves nothing behind on any node: no identity it gave, no peer (and so no
# connection string) it registered, no publication, slot or subscription.
# A step on node 3 is held back by a lock, and the call is cancelled by
# statement_timeout while it waits there; then the same with the step
# failing by multimaster.remote_timeout.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

my @nodes = map { new_node("un$_") } 1 .. 3;
my ($n1, $n2, $n3) = @nodes;
my $mesh = 'SELECT multimaster.create_mesh(' . sql_array(map { dsn($_) } @nodes) . ')';

my $left = sub {
	join ',', map {
		mm_objects($_) . ' nodes='
		  . $_->safe_psql('postgres', 'SELECT count(*) FROM multimaster.nodes')
	} @nodes;
};
my $clean = join ',', ('slots=0 subs=0 pubs=0 nodes=0') x 3;
is($left->(), $clean, 'nothing to begin with');

for my $how ("SET statement_timeout = '4s'", 'SET multimaster.remote_timeout = 3')
{
	# the publication step on node 3 waits for this lock
	my $blocker = $n3->background_psql('postgres');
	$blocker->query_safe('BEGIN; LOCK TABLE pg_catalog.pg_publication IN ACCESS EXCLUSIVE MODE;');

	my ($rc, $out, $err) = $n1->psql('postgres', "$how; $mesh", timeout => 120);
	isnt($rc, 0, "create_mesh held back on node 3 fails ($how)");
	like($err, qr/statement timeout|did not finish within 3 s/, '... for that reason') or diag($err);

	$blocker->query_safe('ROLLBACK');
	$blocker->quit;
	is($left->(), $clean, "nothing is left on any node ($how)");
}

# and then it works
create_mesh(@nodes);
is(mm_objects($_), 'slots=2 subs=2 pubs=1', 'the mesh is complete on ' . $_->name) for @nodes;

$_->stop for @nodes;
done_testing();
