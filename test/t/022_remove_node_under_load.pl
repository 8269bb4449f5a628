# Copyright: see the multimaster LICENSE.
#
# 022_remove_node_under_load.pl: remove_node() while every node keeps
# writing.  Every link to and from the removed node goes on every remaining
# node, nothing else stops (the others keep applying each other's writes
# without an error), and the remaining nodes converge.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

my @nodes = map { new_node("rn$_", log_statement => 'none') } 1 .. 3;
my ($n1, $n2, $n3) = @nodes;
create_mesh(@nodes);
make_table('CREATE TABLE mm (id int PRIMARY KEY, info text, mod_time timestamp)', @nodes);
add_table_mesh('mm', @nodes);

my @runs;
for my $k (1 .. 3)
{
	my $node = $nodes[ $k - 1 ];
	my $file = $node->basedir . "/load$k.sql";
	PostgreSQL::Test::Utils::append_to_file($file,
		    "\\set id random(1, 3000)\n"
		  . "INSERT INTO mm VALUES (:id, md5(random()::text), now()) "
		  . "ON CONFLICT (id) DO UPDATE SET info = excluded.info, mod_time = clock_timestamp();\n"
		  . "DELETE FROM mm WHERE id = :id + 7;\n");
	my %run = (node => $node, out => '', err => '');
	$run{h} = IPC::Run::start(
		[
			'pgbench', '-n', '-c', 2, '-j', 2, '-T', 20, '-f', $file,
			'-h', $node->host, '-p', $node->port, 'postgres'
		],
		'<', \undef, '>', \$run{out}, '2>', \$run{err},
		IPC::Run::timeout(140));
	push @runs, \%run;
}
ok( poll_until(
		'every node has written',
		sub { $n3->safe_psql('postgres', 'SELECT count(DISTINCT mm_origin) FROM mm') eq '3' }),
	'the load runs on every node');

my ($rc, $out, $err) = $n1->psql('postgres', "SELECT multimaster.remove_node('node3')");
is($rc, 0, 'remove_node succeeds while every node writes') or diag($err);
is(mm_objects($n1), 'slots=1 subs=1 pubs=1', 'node 1 keeps only its link with node 2');
is(mm_objects($n2), 'slots=1 subs=1 pubs=1', 'node 2 keeps only its link with node 1');
is(mm_objects($n3), 'slots=0 subs=0 pubs=0', 'node 3 has no link left');

for my $run (@runs)
{
	my $ok = eval { $run->{h}->finish; 1 };
	is($ok ? $run->{h}->result(0) : "died: $@", 0,
		'pgbench on ' . $run->{node}->name . ' went on to the end')
	  or diag("$run->{out}\n$run->{err}");
}

wait_sync($n1, $n2);
wait_converged('mm', $n1, $n2);
is( $n1->safe_psql('postgres',
		"SELECT string_agg(CASE WHEN consistent THEN 't' ELSE 'f' END, ',' ORDER BY node_id) FROM multimaster.compare_table('mm')"),
	't,t', 'compare_table agrees on the remaining nodes');
for my $node ($n1, $n2)
{
	is( $node->safe_psql('postgres',
			'SELECT coalesce(sum(apply_error_count + sync_error_count), 0) FROM pg_stat_subscription_stats'),
		'0', 'no apply error on ' . $node->name);
}
$n3->safe_psql('postgres', "INSERT INTO mm VALUES (100000, 'after removal', now())");
$n1->safe_psql('postgres', "INSERT INTO mm VALUES (100001, 'after removal', now())");
wait_sync($n1, $n2);
is($n2->safe_psql('postgres', 'SELECT count(*) FROM mm WHERE id >= 100000'), '1',
	'the removed node\'s writes no longer arrive; the others\' do');

$_->stop for @nodes;
done_testing();
