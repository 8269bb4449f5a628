# Copyright: see the multimaster LICENSE.
#
# 028_compare_keys_by_value.pl: compare_table_keys() and repair_table() tell
# keys apart by value, never by how a session prints them.  The two nodes'
# databases print timestamps, floats, bytes and intervals differently
# (DateStyle, TimeZone, extra_float_digits, bytea_output, IntervalStyle),
# the caller's session differs again, and some keys are one value stored
# with different bytes (float8 -0 and 0, numeric 1.0 and 1.00): each key
# whose rows differ is found exactly once, with what every node holds for
# it, no other key is, and the repair makes the nodes agree.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

my $n1 = new_node(
	'kv1',
	DateStyle          => "'SQL, DMY'",
	TimeZone           => "'Pacific/Chatham'",
	extra_float_digits => -4,
	bytea_output       => "'escape'",
	IntervalStyle      => "'sql_standard'");
my $n2 = new_node(
	'kv2',
	DateStyle          => "'German, DMY'",
	TimeZone           => "'America/Sao_Paulo'",
	extra_float_digits => 0,
	bytea_output       => "'hex'",
	IntervalStyle      => "'iso_8601'");
my @nodes = ($n1, $n2);
create_mesh(@nodes);
make_table('CREATE TABLE k (ts timestamptz, f float8, b bytea, v text, PRIMARY KEY (ts, f, b))', @nodes);
make_table('CREATE TABLE n (id numeric PRIMARY KEY, v text)', @nodes);
add_table_mesh('k', @nodes);
add_table_mesh('n', @nodes);

# microseconds, floats that need 17 digits, bytes that print as escapes
$n1->safe_psql('postgres',
	"INSERT INTO k SELECT timestamptz '2024-02-29 23:59:59.000001+00' + g * interval '1.000001 s',
	                      g / 7.0::float8, decode(md5(g::text), 'hex'), 'r' || g
	   FROM generate_series(1, 5000) g;
	 INSERT INTO k VALUES (timestamptz '2000-01-01 00:00:00+00', 0, '\\x00ff', 'zero');
	 INSERT INTO n SELECT round(g / 4.0, 2), 'r' || g FROM generate_series(1, 1000) g;");
wait_sync(@nodes);
wait_converged('k', @nodes);
wait_converged('n', @nodes);

# node 2 holds a newer row of key r10
drift($n2,
	"INSERT INTO k SELECT ts, f, b, 'changed on node 2', 2, now() + interval '1 minute', 9 FROM k WHERE v = 'r10'");
# node 2 lost key r20 (no tombstone)
drift($n2, "DELETE FROM k WHERE v = 'r20'");
# node 1 has a key nobody else has
drift($n1,
	"INSERT INTO k VALUES (timestamptz '1999-12-31 23:59:59.999999+00', 2.5e-300, '\\x5c', 'only on node 1', 1, now(), 1)");
# node 2 holds key zero as -0: the same key, another row
drift($n2,
	"DELETE FROM k WHERE v = 'zero';
	 INSERT INTO k VALUES (timestamptz '2000-01-01 00:00:00+00', '-0', '\\x00ff', 'minus zero', 2, now() + interval '1 minute', 9)");
# numeric: node 2 holds key 1.00 as 1.0, with another row; node 1 has 0.1 only
drift($n2,
	"DELETE FROM n WHERE id = 1;
	 INSERT INTO n VALUES (1.0, 'one decimal', 2, now() + interval '1 minute', 9)");
drift($n1, "INSERT INTO n VALUES (0.1, 'only on node 1', 1, now(), 1)");

is($n2->safe_psql('postgres', "SELECT f::text FROM k WHERE v = 'minus zero'"), '-0',
	'node 2 stores key zero as -0');

# The caller prints values differently from both nodes; keys are shown in
# its settings and compared by value.
my $caller = "SET DateStyle = 'Postgres, MDY'; SET TimeZone = 'Asia/Kathmandu';
	SET extra_float_digits = 1; SET bytea_output = 'escape'; SET IntervalStyle = 'postgres_verbose';";

sub keys_of
{
	my ($node, $tbl) = @_;
	my ($rc, $out, $err) = $node->psql('postgres',
		"$caller SELECT key, node_id, holds FROM multimaster.compare_table_keys('$tbl') ORDER BY key, node_id");
	is($rc, 0, "compare_table_keys('$tbl') runs on " . $node->name) or diag($err);
	my %keys;
	for (split /\n/, $out)
	{
		my ($key, $node_id, $holds) = split /\|/;
		$keys{$key}{$node_id} = $holds;
	}
	return \%keys;
}

# the key as the caller's session prints it, for the row of node 1 with value v
sub shown
{
	my ($tbl, $cols, $v) = @_;
	return $n1->safe_psql('postgres',
		"$caller SELECT ARRAY[$cols]::text FROM $tbl WHERE v = '$v'");
}
my $cols = 'ts::text, f::text, b::text';

for my $from (@nodes)
{
	my $k = keys_of($from, 'k');
	is(scalar(keys %$k), 4, 'table k: exactly four keys differ, from ' . $from->name)
	  or diag(explain $k);
	my @absent = grep { $_ eq 'absent' } map { values %$_ } values %$k;
	is(scalar(@absent), 2, '... and only node 2 misses keys: r20 and the one only node 1 has');
	my $r10 = $k->{ shown('k', $cols, 'r10') } // {};
	like($r10->{2} // '', qr/^row 2\//, '... key r10 is found, node 2 holds its own newer row');
	like($r10->{1} // '', qr/^row 1\//, '... and node 1 its row');
	is(($k->{ shown('k', $cols, 'r20') } // {})->{2}, 'absent', '... key r20 is absent on node 2');
	ok(exists $k->{ shown('k', $cols, 'only on node 1') }, '... the key only node 1 has is found');
	my ($zero) = grep { $k->{$_}{1} !~ /^absent/ && $k->{$_}{2} !~ /^absent/ && $_ ne shown('k', $cols, 'r10') } keys %$k;
	ok(defined $zero, '... key zero (0 on node 1, -0 on node 2) is one key that both nodes hold');

	my $n = keys_of($from, 'n');
	is(join(' ', sort keys %$n), '{0.1} {1.00}', 'table n: keys 0.1 and 1.00 (1.0 on node 2) differ, once each')
	  or diag(explain $n);
	like($n->{'{1.00}'}{2} // '', qr/^row 2\//, '... node 2 holds its row of key 1.0 = 1.00');
}

my ($rc, $out, $err) = $n1->psql('postgres', "$caller SELECT key, action FROM multimaster.repair_table('n') ORDER BY key");
is($rc, 0, 'repair_table dry run') or diag($err);
like($out, qr/^\{1\.00\}\|write the row of node 2 again there \(dry run: not done\)$/m,
	'... keeps node 2\'s newer row of key 1.0');
like($out, qr/^\{0\.1\}\|write the row of node 1 again there \(dry run: not done\)$/m,
	'... copies the key only node 1 has');

for my $tbl ('k', 'n')
{
	($rc, $out, $err) = $n2->psql('postgres',
		"$caller SELECT key, action FROM multimaster.repair_table('$tbl', dry_run => false)");
	is($rc, 0, "repair_table('$tbl') repairs") or diag($err);
}
wait_sync(@nodes);
wait_converged('k', @nodes);
wait_converged('n', @nodes);
for my $tbl ('k', 'n')
{
	is($n1->safe_psql('postgres', "SELECT bool_and(consistent)::text FROM multimaster.compare_table('$tbl')"),
		'true', "the nodes agree on $tbl");
	is($n1->safe_psql('postgres', "SELECT count(*) FROM multimaster.compare_table_keys('$tbl')"),
		'0', "compare_table_keys('$tbl') finds nothing left");
}
is($n1->safe_psql('postgres', "SELECT v FROM k WHERE f = 0 AND b = '\\x00ff'"), 'minus zero',
	'key zero holds node 2\'s newer row on node 1');
is($n1->safe_psql('postgres', "SELECT v FROM n WHERE id = 1"), 'one decimal',
	'key 1.00 holds node 2\'s newer row on node 1');
is($n2->safe_psql('postgres', "SELECT count(*) FROM k WHERE v IN ('r20', 'only on node 1')"), '2',
	'node 2 has key r20 back and the key only node 1 had');

# the key functions need a table row with a primary key
($rc, $out, $err) = $n1->psql('postgres', 'SELECT multimaster._key_hash(ROW(1, 2))');
like($err, qr/needs a row of a table/, '_key_hash refuses a row that is not a table\'s');
$n1->safe_psql('postgres', 'CREATE TABLE nopk (a int)');
($rc, $out, $err) = $n1->psql('postgres', 'SELECT multimaster._key_hash(x) FROM (SELECT ROW(1)::nopk) s(x)');
like($err, qr/table "nopk" has no primary key/, '... and one with a primary key');

$_->stop for @nodes;
done_testing();
