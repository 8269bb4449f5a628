# Copyright: see the multimaster LICENSE.
#
# 013_setup_checks.pl: setup calls refuse, naming the node and the fix, and
# leave nothing created or registered anywhere, when nodes run another
# version of the extension, when a node refuses the password, when two nodes
# have the same id, when a table is missing on a node, or when its columns
# differ between nodes; subscribe() the same for a peer without the
# extension, of another version, unreachable, refusing the password, or
# with this node's id.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

my @nodes = map { new_node("sc$_") } 1 .. 2;
my ($n1, $n2) = @nodes;
my $mesh = 'SELECT multimaster.create_mesh(' . sql_array(map { dsn($_) } @nodes) . ')';

# another extension version on node 2 (simulated in the catalog)
my $version = $n1->safe_psql('postgres',
	"SELECT extversion FROM pg_extension WHERE extname = 'multimaster'");
$n2->safe_psql('postgres',
	"UPDATE pg_extension SET extversion = '0.9' WHERE extname = 'multimaster'");
my ($rc, $out, $err) = $n1->psql('postgres', $mesh);
isnt($rc, 0, 'create_mesh refuses nodes of different extension versions');
like($err, qr/runs multimaster 0\.9.*runs \Q$version\E/s, '... naming the node and both versions');
like($err, qr/ALTER EXTENSION multimaster UPDATE/, '... and the fix');
is(mm_objects($_), 'slots=0 subs=0 pubs=0', 'nothing was created on ' . $_->name) for @nodes;
$n2->safe_psql('postgres',
	"UPDATE pg_extension SET extversion = '$version' WHERE extname = 'multimaster'");

# a wrong password for a node: its server's message, the node named, the
# warning about a password in a connection string, nothing created
$n2->safe_psql('postgres', "CREATE ROLE pw SUPERUSER LOGIN PASSWORD 'right'");
{
	my $hba = $n2->data_dir . '/pg_hba.conf';
	my $old = slurp_file($hba);
	open my $fh, '>', $hba or die $!;
	print $fh "local all pw scram-sha-256\nhost all pw 127.0.0.1/32 scram-sha-256\n$old";
	close $fh;
}
$n2->reload;
($rc, $out, $err) = $n1->psql('postgres',
	'SELECT multimaster.create_mesh(' . sql_array(dsn($n1), dsn($n2) . " user=pw password=wrong") . ')');
isnt($rc, 0, 'create_mesh fails on a wrong password');
like($err, qr/could not connect to node 2 of the list.*password authentication failed/s,
	'... naming the node and giving its server\'s reason');
like($err, qr/contains a password/, '... and warns about a password in a connection string');
unlike($err, qr/wrong/, '... without showing the password');
is(mm_objects($_), 'slots=0 subs=0 pubs=0', 'nothing was created on ' . $_->name) for @nodes;

# two nodes initialized with the same id
$_->safe_psql('postgres', "SELECT multimaster.init_node(7, 'seven')") for @nodes;
($rc, $out, $err) = $n1->psql('postgres', $mesh);
isnt($rc, 0, 'create_mesh refuses two nodes with the same id');
like($err, qr/would both be node 7/, '... naming the id');
is(mm_objects($_), 'slots=0 subs=0 pubs=0', 'nothing was created on ' . $_->name) for @nodes;
$_->safe_psql('postgres', 'DELETE FROM multimaster.nodes; SELECT multimaster._invalidate_cache()')
  for @nodes;

# the node-by-node way: subscribe() refuses the same mistakes, naming the
# peer, and leaves nothing created or registered on either node
$n1->safe_psql('postgres', "SELECT multimaster.init_node(1, 'one')");
$n2->safe_psql('postgres', "SELECT multimaster.init_node(2, 'two')");
my $subscribe = 'SELECT multimaster.subscribe(' . sql_literal(dsn($n2)) . ')';
sub nothing_subscribed
{
	my ($case) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	for my $node (@nodes)
	{
		is(mm_objects($node), 'slots=0 subs=0 pubs=0', "$case: nothing created on " . $node->name);
		is($node->safe_psql('postgres', 'SELECT count(*) FROM multimaster.nodes WHERE NOT is_local'),
			'0', "$case: no peer registered on " . $node->name);
	}
}

$n2->safe_psql('postgres', 'DROP EXTENSION multimaster');
($rc, $out, $err) = $n1->psql('postgres', $subscribe);
isnt($rc, 0, 'subscribe refuses a peer without the extension');
like($err, qr/extension multimaster is not installed on the peer/, '... naming the peer');
like($err, qr/CREATE EXTENSION multimaster/, '... and the fix');
is(mm_objects($n1), 'slots=0 subs=0 pubs=0', 'extension missing: nothing created on this node');
is($n1->safe_psql('postgres', 'SELECT count(*) FROM multimaster.nodes WHERE NOT is_local'),
	'0', 'extension missing: no peer registered');
$n2->safe_psql('postgres', "CREATE EXTENSION multimaster; SELECT multimaster.init_node(2, 'two')");

$n2->safe_psql('postgres',
	"UPDATE pg_extension SET extversion = '0.9' WHERE extname = 'multimaster'");
($rc, $out, $err) = $n1->psql('postgres', $subscribe);
isnt($rc, 0, 'subscribe refuses a peer of another extension version');
like($err, qr/the peer .*runs multimaster 0\.9, this node runs \Q$version\E/s, '... naming both versions');
nothing_subscribed('other version');
$n2->safe_psql('postgres',
	"UPDATE pg_extension SET extversion = '$version' WHERE extname = 'multimaster'");

my $dead_port = PostgreSQL::Test::Cluster::get_free_port();
($rc, $out, $err) = $n1->psql('postgres',
	'SELECT multimaster.subscribe(' . sql_literal(dsn($n2) =~ s/port=\d+/port=$dead_port/r) . ')');
isnt($rc, 0, 'subscribe refuses an unreachable peer');
like($err, qr/could not connect to the peer/, '... naming it');
nothing_subscribed('unreachable');

($rc, $out, $err) = $n1->psql('postgres',
	'SELECT multimaster.subscribe(' . sql_literal(dsn($n2) . ' user=pw password=wrong') . ')');
isnt($rc, 0, 'subscribe fails on a wrong password');
like($err, qr/password authentication failed/, '... giving the peer\'s reason');
unlike($err, qr/wrong/, '... without showing the password');
nothing_subscribed('wrong password');

$n2->safe_psql('postgres', "DELETE FROM multimaster.nodes; SELECT multimaster._invalidate_cache();
	SELECT multimaster.init_node(1, 'also-one')");
($rc, $out, $err) = $n1->psql('postgres', $subscribe);
isnt($rc, 0, 'subscribe refuses a peer with this node\'s id');
like($err, qr/same node id 1 as this node/, '... naming the id');
like($err, qr/own id/, '... and the fix');
nothing_subscribed('same id');

$_->safe_psql('postgres', 'DELETE FROM multimaster.nodes; SELECT multimaster._invalidate_cache()')
  for @nodes;

create_mesh(@nodes);

# a table missing on a node
$n1->safe_psql('postgres', 'CREATE TABLE only_here (id int PRIMARY KEY, v text)');
($rc, $out, $err) = $n1->psql('postgres', "SELECT multimaster.add_table_mesh('only_here')");
isnt($rc, 0, 'add_table_mesh refuses a table missing on a node');
like($err, qr/does not exist on node 2/, '... naming the node');
is($_->safe_psql('postgres', 'SELECT count(*) FROM multimaster.tables'), '0',
	'nothing registered on ' . $_->name) for @nodes;

# the same table with other columns on a node
$n1->safe_psql('postgres', 'CREATE TABLE differs (id int PRIMARY KEY, v text, extra int)');
$n2->safe_psql('postgres', 'CREATE TABLE differs (id int PRIMARY KEY, v varchar(10))');
($rc, $out, $err) = $n1->psql('postgres', "SELECT multimaster.add_table_mesh('differs')");
isnt($rc, 0, 'add_table_mesh refuses a table whose columns differ between nodes');
like($err, qr/other columns on node 2/, '... naming the node');
like($err, qr/extra integer.*v character varying\(10\)/s, '... and showing both column lists');
is($_->safe_psql('postgres', 'SELECT count(*) FROM multimaster.tables'), '0',
	'nothing registered on ' . $_->name) for @nodes;

# once the same everywhere, it is registered everywhere
$n2->safe_psql('postgres', 'DROP TABLE differs; CREATE TABLE differs (id int PRIMARY KEY, v text, extra int)');
add_table_mesh('differs', @nodes);
is($_->safe_psql('postgres', 'SELECT count(*) FROM multimaster.tables'), '1',
	'registered on ' . $_->name) for @nodes;

$_->stop for @nodes;
done_testing();
