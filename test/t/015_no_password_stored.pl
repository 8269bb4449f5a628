# Copyright: see the multimaster LICENSE.
#
# 015_no_password_stored.pl: a password given in a connection string is used
# but never written by the extension: multimaster.nodes keeps the connection
# string without it (so pg_dump of a node copies no password), no server log
# shows it, and every later call that connects to peers (add_table_mesh,
# broadcast_ddl, refresh_mesh, the status view) still works because it
# reaches a peer through the subscription from it.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

my $secret = 'Sekr1t-Pw-015';
my @nodes = map { new_node("pw$_", log_statement => "'all'") } 1 .. 2;
my ($n1, $n2) = @nodes;

# node 2 accepts the role pw only with its password, over every transport
$n2->safe_psql('postgres', "CREATE ROLE pw SUPERUSER LOGIN PASSWORD '$secret'");
$n1->safe_psql('postgres', "CREATE ROLE pw SUPERUSER LOGIN");
{
	my $hba = $n2->data_dir . '/pg_hba.conf';
	my $old = slurp_file($hba);
	open my $fh, '>', $hba or die $!;
	print $fh "local all pw scram-sha-256\nhost all pw 127.0.0.1/32 scram-sha-256\n"
	  . "local replication pw scram-sha-256\n$old";
	close $fh;
}
$n2->reload;
my $dsn2 = dsn($n2) . " user=pw password=$secret";
my $log_start = { map { $_->name => -s $_->logfile } @nodes };

# the caller's own statement is logged by the caller's settings, not by the
# extension: keep it out of the log, so that the log shows what the
# extension wrote
my ($rc, $out, $err) = $n1->psql('postgres',
	"SET log_statement = 'none';\n"
	  . 'SELECT multimaster.create_mesh(' . sql_array(dsn($n1), $dsn2) . ')');
is($rc, 0, 'create_mesh works with a password in a connection string') or diag($err);
like($err, qr/contains a password/, '... and warns about it');
unlike($err, qr/\Q$secret\E/, '... without showing it');
wait_mesh_ready(@nodes) or die 'mesh did not come up';

for my $node (@nodes)
{
	my $stored = $node->safe_psql('postgres',
		'SELECT string_agg(coalesce(dsn, \'\'), \' | \' ORDER BY node_id) FROM multimaster.nodes');
	unlike($stored, qr/password|\Q$secret\E/,
		'multimaster.nodes on ' . $node->name . ' keeps no password');
}
like($n1->safe_psql('postgres', 'SELECT dsn FROM multimaster.nodes WHERE node_id = 2'),
	qr/user='pw'/, '... but keeps the rest of the connection string');

# pg_dump of a node (subscriptions are PostgreSQL's own, left out here)
for my $node (@nodes)
{
	my ($dump, $dump_err) = ('', '');
	IPC::Run::run(
		[ 'pg_dump', '--no-subscriptions', '-d', $node->connstr('postgres') ],
		'>', \$dump, '2>', \$dump_err)
	  or die "pg_dump failed: $dump_err";
	like($dump, qr/multimaster\.nodes/, 'pg_dump of ' . $node->name . ' copies multimaster.nodes');
	unlike($dump, qr/\Q$secret\E/, '... and no password');
}

# calls that connect to every node after create_mesh still reach node 2
make_table('CREATE TABLE t (id int PRIMARY KEY, v text)', @nodes);
($rc, $out, $err) = $n1->psql('postgres', "SELECT multimaster.add_table_mesh('t')");
is($rc, 0, 'add_table_mesh reaches the peer through its subscription') or diag($err);
wait_mesh_ready(@nodes);
($rc, $out, $err) = $n1->psql('postgres',
	"SELECT multimaster.broadcast_ddl('CREATE INDEX t_v ON public.t (v)')");
is($rc, 0, 'broadcast_ddl reaches the peer') or diag($err);
is($n2->safe_psql('postgres', "SELECT count(*) FROM pg_indexes WHERE indexname = 't_v'"),
	'1', '... and ran there');
($rc, $out, $err) = $n1->psql('postgres', 'SELECT multimaster.refresh_mesh()');
is($rc, 0, 'refresh_mesh reaches the peer') or diag($err);
$n2->safe_psql('postgres', "INSERT INTO t VALUES (2, 'from n2')");
$n1->safe_psql('postgres', "INSERT INTO t VALUES (1, 'from n1')");
wait_sync(@nodes);
wait_converged('t', @nodes);
is($n1->safe_psql('postgres', 'SELECT count(*) FROM multimaster.status WHERE lag_bytes IS NOT NULL'),
	'1', 'the status view reads the peer\'s slot');

# no server log of either node shows the password
for my $node (@nodes)
{
	my $log = slurp_file($node->logfile, $log_start->{ $node->name });
	unlike($log, qr/\Q$secret\E/, 'the server log of ' . $node->name . ' shows no password');
}

$_->stop for @nodes;
done_testing();
