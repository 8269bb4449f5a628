# Copyright: see the multimaster LICENSE.
#
# 010_search_path_hijack.pl: a user who can create objects in a schema that
# a superuser's search_path reaches (here: public, first in the superuser's
# path) plants operators and functions named like those the extension's SQL
# uses, on every node.  Then a superuser runs every mesh function, reads the
# status view, and a background refresh runs.  None of the planted code may
# ever run (CVE-2018-1058 class: it would run as superuser, on any node).
#
# The superuser "dba" has public first in its search_path; the mesh's
# connection strings use it, so every session the extension opens on a
# peer starts with that path too, and so does the background refresh
# worker of an add_table() run by dba.  (The test's own queries run as
# another superuser whose path is a clean schema, so that they are not
# fooled.)
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MMTest;

my @nodes = map { new_node("sp$_") } 1 .. 3;
my ($n1, $n2, $n3) = @nodes;

my @types = qw(name text oid int4 int8 bool regclass pg_lsn timestamptz interval
  bytea tid xid);
my @pairs = ((map { [ $_, $_ ] } @types),
	[ 'name', 'text' ], [ 'text', 'name' ], [ 'oid', 'int4' ], [ 'int4', 'oid' ],
	[ 'regclass', 'oid' ], [ 'oid', 'regclass' ],
	[ 'pg_lsn', 'text' ], [ 'timestamptz', 'text' ]);

my $plant = q{
CREATE ROLE attacker LOGIN;
GRANT CREATE ON SCHEMA public TO attacker;
SET ROLE attacker;
CREATE TABLE public.pwned (who text, what text);
GRANT INSERT ON public.pwned TO PUBLIC;
CREATE FUNCTION public.evil(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.pwned VALUES (current_user, what);
    RETURN false;
END $$;
};
my $i = 0;
for my $p (@pairs)
{
	my ($l, $r) = @$p;
	for my $op ('~', '=', '<>', '<', '<=', '>', '>=', '~~', '!~')
	{
		$i++;
		$plant .= qq{
CREATE FUNCTION public.evil_$i(a $l, b $r) RETURNS boolean LANGUAGE sql
    AS \$\$ SELECT public.evil('$op($l,$r)') \$\$;
CREATE OPERATOR public.$op (LEFTARG = $l, RIGHTARG = $r, FUNCTION = public.evil_$i);
};
	}
}
# functions the extension calls, with argument types that match a name or
# unknown argument better than pg_catalog's own
for my $f (
	[ 'split_part', 'name, text, int4', 'text' ],
	[ 'to_regclass', 'name', 'regclass' ],
	[ 'quote_ident', 'name', 'text' ],
	[ 'format', 'name', 'text' ],
	[ 'hashtext', 'name', 'int4' ],
	[ 'pg_wal_lsn_diff', 'text, text', 'numeric' ],
	[ 'set_config', 'name, name, bool', 'text' ],
	[ 'current_database', 'int4', 'name' ],
	[ 'now', 'int4', 'timestamptz' ],
	[ 'clock_timestamp', 'int4', 'timestamptz' ],
	[ 'concat', 'name, oid', 'text' ],
	[ 'unnest', 'name', 'text' ],
	[ 'pg_current_wal_insert_lsn', 'int4', 'pg_lsn' ])
{
	my ($name, $args, $ret) = @$f;
	$plant .= qq{
CREATE FUNCTION public.$name($args) RETURNS $ret LANGUAGE plpgsql
    AS \$\$ BEGIN PERFORM public.evil('$name($args)'); RETURN NULL; END \$\$;
};
}
$plant .= "RESET ROLE;\n";
$plant .= "CREATE ROLE dba SUPERUSER LOGIN;\n";
$plant .= "ALTER ROLE dba SET search_path = public, pg_catalog;\n";
# even the default path ("$user", public) is fooled by a better match
# (name LIKE 'literal' picks a planted ~~(name, name)): the test's own
# role looks in a clean schema only, where the tables are
$plant .= "CREATE SCHEMA clean;\n";
$plant .= "ALTER ROLE CURRENT_USER SET search_path = clean;\n";
$_->safe_psql('postgres', $plant) for @nodes;

my $hostile = 'SET search_path = public, pg_catalog; ';
sub as_dba
{
	my ($node, $sql) = @_;
	return $node->psql('postgres', $sql, extra_params => [ '-U', 'dba' ]);
}

my $pwned = sub {
	join ',', map {
		$_->safe_psql('postgres',
			'SELECT count(*) || coalesce(' . "' ' || string_agg(DISTINCT what, ' ')" . q{, '') FROM public.pwned})
	} @nodes;
};
is($pwned->(), '0,0,0', 'planted: nothing ran yet');

make_table('CREATE TABLE t (id int PRIMARY KEY, v text); CREATE TABLE u (id int PRIMARY KEY, v text)', @nodes);
my ($rc, $out, $err) = as_dba($n1,
	'SELECT multimaster.create_mesh(' . sql_array(map { dsn($_) . ' user=dba' } @nodes) . ')');
is($rc, 0, 'create_mesh runs with a planted search_path') or diag($err);
wait_mesh_ready(@nodes) or die "mesh did not come up\n";
($rc, $out, $err) = as_dba($n1, "SELECT multimaster.add_table_mesh('clean.t')");
is($rc, 0, 'add_table_mesh runs with a planted search_path') or diag($err);
wait_mesh_ready(@nodes) or die "mesh not ready after add_table_mesh\n";
$n1->safe_psql('postgres', "INSERT INTO t VALUES (1, 'a')");
$n2->safe_psql('postgres', "UPDATE t SET v = 'b' WHERE id = 1");
$n3->safe_psql('postgres', "DELETE FROM t WHERE id = 1");
$n1->safe_psql('postgres', "INSERT INTO t VALUES (2, 'c')");
$n2->safe_psql('postgres', "INSERT INTO t VALUES (3, 'd')");
wait_sync(@nodes);

my @calls = (
	'SELECT multimaster.refresh_mesh()',
	'SELECT multimaster.wait_for_sync()',
	'SELECT * FROM multimaster.status',
	"SELECT * FROM multimaster.compare_table('clean.t')",
	"SELECT multimaster.broadcast_ddl('SELECT 1')",
	"SELECT multimaster.add_table_mesh('clean.u')",
	"SELECT multimaster.remove_table_mesh('clean.u')",
	'SELECT multimaster.purge_tombstones(interval \'0\')',
	"SELECT * FROM multimaster.tombstone_key('clean.t', '1')",
	"SELECT * FROM multimaster.resolve_unique_conflict('clean.t', ARRAY['2'], ARRAY['3'])");
for my $sql (@calls)
{
	($rc, $out, $err) = as_dba($n1, $hostile . $sql);
	is($rc, 0, "runs with a planted search_path: $sql") or diag($err);
}

# the background refresh after add_table() on nodes of a mesh
$_->safe_psql('postgres', 'CREATE TABLE w (id int PRIMARY KEY, v text)') for @nodes;
for my $node (@nodes)
{
	($rc, $out, $err) = as_dba($node, "SELECT multimaster.add_table('clean.w')");
	is($rc, 0, 'add_table(w) on ' . $node->name) or diag($err);
}
ok( poll_until(
		'the background refresh subscribes every node to w',
		sub {
			!grep {
				$_->safe_psql('postgres',
					"SELECT count(*) FROM pg_subscription_rel WHERE srrelid = 'w'::regclass AND srsubstate = 'r'"
				) ne '2'
			} @nodes;
		}),
	'the background refresh ran');
$n2->safe_psql('postgres', "INSERT INTO w VALUES (1, 'x')");
wait_sync(@nodes);

($rc, $out, $err) = as_dba($n1, 'SELECT multimaster.drop_mesh()');
is($rc, 0, 'drop_mesh runs with a planted search_path') or diag($err);

is($pwned->(), '0,0,0', 'no planted operator or function ever ran, on any node');

$_->stop for @nodes;
done_testing();
