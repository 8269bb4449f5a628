
# Copyright: see the multimaster LICENSE.

=pod

=head1 NAME

MMTest - helpers for the multimaster multi-node TAP tests

=head1 SYNOPSIS

  use PostgreSQL::Test::Cluster;
  use PostgreSQL::Test::Utils;
  use Test::More;
  use MMTest;

  my @nodes = map { new_node("node$_") } 1 .. 3;
  create_mesh(@nodes);
  make_table('CREATE TABLE t (id int PRIMARY KEY, v text)', @nodes);
  add_table_mesh('t', @nodes);
  $nodes[0]->safe_psql('postgres', "INSERT INTO t VALUES (1, 'a')");
  wait_sync(@nodes);
  wait_converged('t', @nodes);
  done_testing();

=head1 DESCRIPTION

Every wait is a polled condition with a timeout ($MMTest::TIMEOUT seconds,
environment MM_TEST_TIMEOUT, default 120), never a sleep.  Helpers that
check something emit exactly one Test::More assertion (documented per
function) and print dump_state() on failure; helpers that set something up
die on error, so a broken setup ends the test file at once.

=cut

package MMTest;

use strict;
use warnings;

use Exporter 'import';
use File::Basename qw(dirname);
use File::Spec;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

our @EXPORT = qw(
  replication_errors link_name link_parts
  new_node dsn sql_literal sql_array create_mesh make_table add_table_mesh
  wait_mesh_ready wait_sync wait_converged wait_quiet dump_state
  poll_until mm_objects has_output_plugin_libraries table_digest
  mm_slot_stats set_conf drift classic_load finish_load pause_link
);

our $TIMEOUT = $ENV{MM_TEST_TIMEOUT} || 120;

# Deterministic text rendering of rows (timestamptz, dates, floats, bytea)
# on every node, whatever the nodes' own defaults.
our $FIXED_GUCS = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; "
  . "SET extra_float_digits = 3; SET IntervalStyle = 'postgres'; "
  . "SET bytea_output = 'hex';";

my %known_settings;    # cached, per postgres binary: the settings it has

# _has_setting($name): true when the installed server has the setting.
# Asks "postgres --describe-config" (once), which needs no data directory.
sub _has_setting
{
	my ($name, $install_path) = @_;
	my $postgres = defined $install_path ? "$install_path/bin/postgres" : 'postgres';
	if (!$known_settings{$postgres})
	{
		my ($out, $err) = ('', '');
		IPC::Run::run([ $postgres, '--describe-config' ],
			'>', \$out, '2>', \$err)
		  or die "$postgres --describe-config failed: $err";
		$known_settings{$postgres}{$_} = 1 for map { (split /\t/)[0] } split /\n/, $out;
	}
	return $known_settings{$postgres}{$name} ? 1 : 0;
}

my @made;          # every node new_node() made, in order
my %link_rule;     # the answers of link_name() and link_parts() so far

# has_output_plugin_libraries(): true when the installed server has the
# output_plugin_libraries setting (PostgreSQL 15.19 and later).
sub has_output_plugin_libraries
{
	return _has_setting('output_plugin_libraries');
}

# The settings every test node gets: test/node.conf, shared with the demo,
# the test runner's server and the benchmarks.  Its "name = value" lines,
# and its "#? name = value" lines when the server has that setting, as
# [name, value] pairs in file order.
my $NODE_CONF = File::Spec->catfile(dirname(File::Spec->rel2abs(__FILE__)),
	File::Spec->updir, 'node.conf');

sub _node_conf
{
	my ($install_path) = @_;
	open(my $fh, '<', $NODE_CONF) or die "cannot read $NODE_CONF: $!";
	my @settings;
	while (my $line = <$fh>)
	{
		my $known = 1;
		$known = _has_setting($1, $install_path)
		  if $line =~ s/^#\?\s*(?=(\w+))//;
		next if $line =~ /^\s*(#|$)/;
		$line =~ /^\s*(\w+)\s*=\s*(.*?)\s*$/
		  or die "$NODE_CONF: not a setting: $line";
		push @settings, [ $1, $2 ] if $known;
	}
	close $fh;
	return @settings;
}

# new_node($name, %conf): a PostgreSQL::Test::Cluster node initialized with
# everything a multimaster node needs (the settings of test/node.conf:
# wal_level = logical, enough slots, senders and workers for a mesh of up to
# 8 nodes, output_plugin_libraries when the server has it,
# wal_retrieve_retry_interval = 1s), plus what the TAP tests' many nodes on
# one machine want (max_connections = 40, shared_buffers = 32MB, messages in
# English at level info), started, with CREATE EXTENSION multimaster done in
# database postgres.
#
# %conf entries override or add postgresql.conf settings (values are written
# as is: quote strings yourself, e.g. shared_buffers => '16MB' is fine,
# output_plugin_libraries => "'pgoutput, test_decoding'"); a value of undef
# leaves the setting out.  Keys starting with "_" are options:
#   _extension => 0    do not create the extension
#   _start     => 0    do not start the node (implies no extension)
#   _install_path => d  run the PostgreSQL installed under d (its bin/),
#                       not the one on PATH (a mixed-version mesh)
sub new_node
{
	my ($name, %conf) = @_;
	my %opt;
	for my $k (grep { /^_/ } keys %conf)
	{
		$opt{$k} = delete $conf{$k};
	}
	$opt{_start}     //= 1;
	$opt{_extension} //= 1;

	my $node = PostgreSQL::Test::Cluster->new($name,
		defined $opt{_install_path} ? (install_path => $opt{_install_path}) : ());
	$node->init;
	push @made, $node;

	my @settings = (
		_node_conf($opt{_install_path}),
		[ max_connections  => 40 ],
		[ shared_buffers   => '32MB' ],
		[ log_min_messages => 'info' ],
		[ lc_messages      => "'C'" ],
	);

	my %seen;
	my $text = "\n# Added by MMTest::new_node (test/node.conf, then its own)\n";
	for my $s (@settings)
	{
		my ($k, $v) = @$s;
		$seen{$k} = 1;
		$v = $conf{$k} if exists $conf{$k};
		$text .= "$k = $v\n" if defined $v;
	}
	for my $k (sort keys %conf)
	{
		next if $seen{$k} || !defined $conf{$k};
		$text .= "$k = $conf{$k}\n";
	}
	$node->append_conf('postgresql.conf', $text);

	return $node unless $opt{_start};
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION multimaster')
	  if $opt{_extension};
	return $node;
}

# drift($node, $sql): runs $sql on the node as if a peer's change were
# applied (a replication origin set, session_replication_role = replica):
# the trigger takes the versions given and nothing is shipped, so the node
# drifts apart from its peers.  Dies on error.
sub drift
{
	my ($node, $sql) = @_;
	$node->safe_psql('postgres',
		"SELECT pg_replication_origin_create('drift') WHERE NOT EXISTS (SELECT 1 FROM pg_replication_origin WHERE roname = 'drift');
		 SELECT pg_replication_origin_session_setup('drift');
		 SET session_replication_role = replica;
		 $sql");
	return;
}

# set_conf($node, name => value, ...): appends settings to the node's
# postgresql.conf (later lines win); the caller reloads or restarts.
sub set_conf
{
	my ($node, %conf) = @_;
	$node->append_conf('postgresql.conf',
		join("\n", map { "$_ = $conf{$_}" } sort keys %conf));
	return;
}

# The role tests connect as: initdb's bootstrap superuser, i.e. the OS user.
sub _user
{
	return $ENV{PGUSER} if $ENV{PGUSER};
	return scalar getpwuid($>);
}

# Quote one libpq conninfo value only when it needs it.
sub _conninfo_value
{
	my ($v) = @_;
	return $v if $v =~ /^[A-Za-z0-9_.\/:,@+-]+$/;
	$v =~ s/([\\'])/\\$1/g;
	return "'$v'";
}

# dsn($node [, $dbname]): a libpq DSN for the node ("host=... port=...
# dbname=postgres user=..."), values quoted only where libpq needs it, so it
# can be embedded in an SQL literal with sql_literal().
sub dsn
{
	my ($node, $db) = @_;
	$db //= 'postgres';
	return join ' ',
	  'host=' . _conninfo_value($node->host),
	  'port=' . _conninfo_value($node->port),
	  'dbname=' . _conninfo_value($db),
	  'user=' . _conninfo_value(_user());
}

# sql_literal($s): $s as a standard SQL string literal.
sub sql_literal
{
	my ($s) = @_;
	return 'NULL' unless defined $s;
	$s =~ s/'/''/g;
	return "'$s'";
}

# sql_array(@strings): ARRAY['a', 'b', ...]::text[] with proper quoting.
sub sql_array
{
	return 'ARRAY[' . join(', ', map { sql_literal($_) } @_) . ']::text[]';
}

# poll_until($what, $code [, $timeout]): calls $code every 100 ms until it
# returns true or $timeout (default $MMTest::TIMEOUT) seconds pass.  Returns
# the last value of $code (false on timeout).  Emits no assertion.
sub poll_until
{
	my ($what, $code, $timeout) = @_;
	$timeout //= $TIMEOUT;
	my $deadline = time() + $timeout;
	while (1)
	{
		my $r = $code->();
		return $r if $r;
		if (time() >= $deadline)
		{
			diag("timed out after ${timeout}s waiting for: $what");
			return $r;
		}
		usleep(100_000);
	}
}

# mm_objects($node): "slots=N subs=N pubs=N": counts of the replication
# slots and subscriptions named as links (link_parts()) and of publications
# named multimaster on the node (all databases for slots and subscriptions).
sub mm_objects
{
	my ($node) = @_;
	my %count = (slot => 0, sub => 0);
	my $rows = $node->safe_psql(
		'postgres', q{
SELECT 'slot', slot_name FROM pg_replication_slots
UNION ALL SELECT 'sub', subname FROM pg_subscription});
	for (split /\n/, $rows)
	{
		my ($kind, $name) = split /\|/, $_, 2;
		$count{$kind}++ if link_parts($name);
	}
	my $pubs = $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_publication WHERE pubname = 'multimaster'});
	return "slots=$count{slot} subs=$count{sub} pubs=$pubs";
}

# create_mesh(@nodes): SELECT multimaster.create_mesh(ARRAY[dsn...]) on the
# first node (node ids 1..N in the order given), then wait_mesh_ready().
# Dies if create_mesh fails or the mesh does not come up.
sub create_mesh
{
	my (@nodes) = @_;
	my $sql = 'SELECT multimaster.create_mesh('
	  . sql_array(map { dsn($_) } @nodes) . ')';
	my ($rc, $out, $err) = $nodes[0]->psql('postgres', $sql);
	if ($rc != 0)
	{
		dump_state(@nodes);
		die "multimaster.create_mesh failed: $err\n";
	}
	wait_mesh_ready(@nodes)
	  or die "mesh of " . scalar(@nodes) . " nodes did not come up\n";
	return 1;
}

# make_table($sql, @nodes): runs $sql (e.g. CREATE TABLE ...) on every node.
sub make_table
{
	my ($sql, @nodes) = @_;
	$_->safe_psql('postgres', $sql) for @nodes;
	return;
}

# add_table_mesh($table [, $policy], @nodes): multimaster.add_table_mesh()
# run once on the first node, then wait_mesh_ready().  Dies on error.
sub add_table_mesh
{
	my ($table, @rest) = @_;
	my $policy = ref $rest[0] ? undef : shift @rest;
	my @nodes = @rest;
	my $sql = 'SELECT multimaster.add_table_mesh(' . sql_literal($table)
	  . (defined $policy ? ', ' . sql_literal($policy) : '') . ')';
	my ($rc, $out, $err) = $nodes[0]->psql('postgres', $sql);
	if ($rc != 0)
	{
		dump_state(@nodes);
		die "multimaster.add_table_mesh($table) failed: $err\n";
	}
	wait_mesh_ready(@nodes)
	  or die "mesh not ready after add_table_mesh($table)\n";
	return 1;
}

# pause_link($node, $sub): disables subscription $sub on $node and waits
# until its apply worker has stopped (dies if it does not); ALTER
# SUBSCRIPTION ... ENABLE resumes it.
sub pause_link
{
	my ($node, $sub) = @_;
	$node->safe_psql('postgres', "ALTER SUBSCRIPTION $sub DISABLE");
	$node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_subscription s JOIN pg_subscription p ON p.oid = s.subid
		  WHERE p.subname = '$sub' AND s.pid IS NOT NULL")
	  or die "apply worker of $sub did not stop";
	return;
}

# classic_load($node, $k, $seconds, $stride, $slots, $ids): the classic
# recipe's workload on table mm (pgbench, 2 clients, in the background):
# upserts of the node's own ids ($stride * (0..$slots) + $k, so that nodes
# numbered 1..$stride never insert the same id), updates of a random id in
# 1..$ids and deletes of the id after it.  Returns a handle for
# finish_load().
sub classic_load
{
	my ($node, $k, $seconds, $stride, $slots, $ids) = @_;
	my $file = $node->basedir . "/load$k.sql";
	my $s = "\\set id random(1, $ids)\n"
	  . "INSERT INTO mm SELECT $stride * (random() * $slots)::int + $k, md5(random()::text), now() "
	  . "ON CONFLICT (id) DO UPDATE SET info = excluded.info, mod_time = clock_timestamp();\n"
	  . "UPDATE mm SET info = md5(random()::text), mod_time = clock_timestamp() WHERE id = :id;\n"
	  . "DELETE FROM mm WHERE id = :id + 1;\n";
	unlink $file;
	PostgreSQL::Test::Utils::append_to_file($file, $s);
	my %run = (out => '', err => '', node => $node);
	$run{h} = IPC::Run::start(
		[
			'pgbench', '-n', '-c', 2, '-j', 2, '-T', $seconds, '-f', $file,
			'-h', $node->host, '-p', $node->port, 'postgres'
		],
		'<', \undef, '>', \$run{out}, '2>', \$run{err},
		IPC::Run::timeout($seconds + 120));
	return \%run;
}

# finish_load($run): waits for a classic_load(); one assertion, that
# pgbench finished without error (its output as a diagnostic if not).
sub finish_load
{
	my ($run) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $ok = eval { $run->{h}->finish; 1 };
	is($ok ? $run->{h}->result(0) : "died: $@", 0,
		'pgbench on ' . $run->{node}->name . ' finished without error')
	  or diag("$run->{out}\n$run->{err}");
}

# wait_mesh_ready(@nodes): polls until every node has N-1 enabled link
# subscriptions (named as link_parts() reads), each with a running apply
# worker and every subscribed table in state ready ('r').  Returns true, or
# false after printing dump_state().  Emits no assertion.  (From PostgreSQL
# 16 on, parallel apply workers also show with relid NULL: one row per
# subscription all the same.)
sub wait_mesh_ready
{
	my (@nodes) = @_;
	my $peers = @nodes - 1;
	my $q = q{
SELECT s.subname,
       s.subenabled
       AND EXISTS (SELECT 1 FROM pg_stat_subscription w
                    WHERE w.subid = s.oid AND w.relid IS NULL AND w.pid IS NOT NULL)
       AND NOT EXISTS (SELECT 1 FROM pg_subscription_rel r
                        WHERE r.srsubid = s.oid AND r.srsubstate <> 'r')
  FROM pg_subscription s};
	for my $node (@nodes)
	{
		my $ok = poll_until(
			"multimaster subscriptions ready on " . $node->name,
			sub {
				my ($rc, $out) = $node->psql('postgres', $q);
				return 0 if $rc != 0;
				my @links = grep { link_parts($_->[0]) }
				  map { [ split /\|/ ] } split /\n/, $out;
				return @links == $peers && !grep { $_->[1] ne 't' } @links;
			});
		if (!$ok)
		{
			dump_state(@nodes);
			return 0;
		}
	}
	return 1;
}

# wait_sync(@nodes): SELECT multimaster.wait_for_sync(...) on every node in
# turn.  Emits one assertion, failing with a diagnostic and dump_state()
# if any node returns false or errors.  Returns true on success.
sub wait_sync
{
	my (@nodes) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my @bad;
	for my $node (@nodes)
	{
		my ($rc, $out, $err) = $node->psql('postgres',
			"SELECT multimaster.wait_for_sync(interval '$TIMEOUT s')",
			timeout => $TIMEOUT + 30);
		push @bad, $node->name . ': ' . ($rc == 0 ? "returned '$out'" : $err)
		  unless $rc == 0 && $out eq 't';
	}
	my $ok = ok(!@bad,
		'wait_for_sync true on ' . join(', ', map { $_->name } @nodes));
	if (!$ok)
	{
		diag("wait_for_sync: $_") for @bad;
		dump_state(@nodes);
	}
	return $ok;
}

# table_digest($node, $table): "count|sum(hashtext(row::text))" of a table
# under fixed settings ($FIXED_GUCS: mm_version and bytea render the same
# everywhere).
sub table_digest
{
	my ($node, $table) = @_;
	my ($rc, $out, $err) = $node->psql('postgres',
		"$FIXED_GUCS SELECT count(*) || '|' || coalesce(sum(hashtext(x::text)), 0) FROM $table x"
	);
	return $rc == 0 ? $out : "error: $err";
}

# wait_converged($table, @nodes): polls until every node returns the same
# table_digest().  Emits one assertion; on timeout prints each node's digest
# and dump_state().  Returns true on success.
sub wait_converged
{
	my ($table, @nodes) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my @d;
	my $same = poll_until(
		"$table equal on all nodes",
		sub {
			@d = map { table_digest($_, $table) } @nodes;
			return !grep { $_ ne $d[0] || /^error/ } @d;
		});
	my $ok = ok($same,
		"$table converged on " . join(', ', map { $_->name } @nodes));
	if (!$ok)
	{
		diag($nodes[$_]->name . ": $d[$_]") for 0 .. $#nodes;
		dump_state(@nodes);
	}
	return $ok;
}

# wait_quiet(\@nodes, $window, $timeout): polls until no node's
# pg_current_wal_insert_lsn() moves across a $window-second interval
# (default 1 s); gives up after $timeout seconds (default 30).  Emits one
# assertion.  This shows the mesh *becomes* quiet; it sleeps only to
# measure, never to assert.
sub wait_quiet
{
	my ($nodes, $window, $timeout) = @_;
	$window  //= 1;
	$timeout //= 30;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $lsns = sub {
		join ',', map {
			$_->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()')
		} @$nodes;
	};
	my ($before, $after) = ('', '');
	my $quiet = poll_until(
		"WAL quiet on all nodes",
		sub {
			$before = $lsns->();
			usleep(int($window * 1_000_000));
			$after = $lsns->();
			return $before eq $after;
		},
		$timeout);
	my $ok = ok($quiet,
		"WAL stops advancing on " . join(', ', map { $_->name } @$nodes));
	if (!$ok)
	{
		diag("insert LSNs moved from $before to $after");
		dump_state(@$nodes);
	}
	return $ok;
}

# mm_slot_stats($node): [total_txns, total_bytes] summed over the node's
# link slots (named as link_parts() reads) in pg_stat_replication_slots.
sub mm_slot_stats
{
	my ($node) = @_;
	my ($txns, $bytes) = (0, 0);
	my $rows = $node->safe_psql('postgres',
		'SELECT slot_name, total_txns, total_bytes FROM pg_stat_replication_slots');
	for (split /\n/, $rows)
	{
		my ($slot, $t, $b) = split /\|/;
		next unless link_parts($slot);
		$txns  += $t;
		$bytes += $b;
	}
	return [ $txns, $bytes ];
}

# dump_state(@nodes): diag() of each node's replication state: multimaster
# status, subscriptions and their workers and error counts, slots, conflict
# count, and the last ERROR/FATAL lines of its server log.  Never dies.
sub dump_state
{
	my (@nodes) = @_;
	my @queries = (
		[ 'multimaster.status' => 'SELECT * FROM multimaster.status' ],
		[
			subscriptions => q{
SELECT s.subname, s.subenabled, s.subslotname, w.pid, w.received_lsn,
       w.latest_end_lsn, st.apply_error_count, st.sync_error_count
  FROM pg_subscription s
  LEFT JOIN pg_stat_subscription w ON w.subid = s.oid AND w.relid IS NULL
  LEFT JOIN pg_stat_subscription_stats st ON st.subid = s.oid}
		],
		[
			'subscription tables' => q{
SELECT s.subname, r.srrelid::regclass, r.srsubstate
  FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
 WHERE r.srsubstate <> 'r'}
		],
		[
			slots => q{
SELECT s.slot_name, s.plugin, s.active, s.restart_lsn, s.confirmed_flush_lsn,
       st.total_txns, st.total_bytes, pg_current_wal_lsn() AS current_lsn
  FROM pg_replication_slots s
  LEFT JOIN pg_stat_replication_slots st USING (slot_name)}
		],
		[
			conflicts => q{
SELECT kind, resolution, count(*) FROM multimaster.conflicts GROUP BY 1, 2}
		],
	);
	for my $node (@nodes)
	{
		my $name = $node->name;
		if (!defined $node->{_pid})
		{
			diag("--- $name: not running");
			next;
		}
		for my $q (@queries)
		{
			my ($rc, $out, $err) = $node->psql('postgres',
				$q->[1], extra_params => [ '-P', 'format=aligned', '-P',
					'tuples_only=off' ]);
			diag("--- $name: $q->[0]\n" . ($rc == 0 ? $out : $err));
		}
		my $log = eval { PostgreSQL::Test::Utils::slurp_file($node->logfile) }
		  // '';
		my @errs = grep { /\b(ERROR|FATAL|PANIC):/ } split /\n/, $log;
		@errs = @errs[ -10 .. -1 ] if @errs > 10;
		diag("--- $name: last server log errors\n" . join("\n", @errs))
		  if @errs;
	}
	return;
}


# A link's name is the library's rule (src/mm_names.c), which the helpers
# ask rather than spell again.  They reach it through these declarations of
# the C functions behind multimaster._link_name() and _link_parts(), made
# for one session in pg_temp: so it answers on any running node, whether its
# extension is 1.0 (which has no _link_name()) or not created at all.
my $LINK_RULE = q{
CREATE FUNCTION pg_temp.link_name(integer, integer) RETURNS name
    AS '$libdir/multimaster', 'mm_link_name_sql' LANGUAGE C IMMUTABLE STRICT;
CREATE FUNCTION pg_temp.link_parts(name, OUT publisher integer, OUT subscriber integer)
    RETURNS record AS '$libdir/multimaster', 'mm_link_parts_sql' LANGUAGE C IMMUTABLE STRICT;
};

# The answer of $query (which may call pg_temp.link_name() and
# pg_temp.link_parts()) on the first running node made by new_node() that
# gives one (a node may be going down under a fault).
sub _ask_link_rule
{
	my ($query) = @_;
	for my $node (grep { defined $_->{_pid} } @made)
	{
		my ($rc, $out) = $node->psql('postgres', $LINK_RULE . $query);
		return $out if $rc == 0;
	}
	die "no running node answered for link names: $query\n";
}

# link_name($from, $to): the name of the subscription (and slot) carrying
# node $from's changes to node $to.  Needs a running node (any) made by
# new_node(); each pair is asked once.
sub link_name
{
	my ($from, $to) = map { int } @_;
	return $link_rule{"name $from $to"} //=
	  _ask_link_rule("SELECT pg_temp.link_name($from, $to)");
}

# link_parts($name): ($from, $to) of a link's slot or subscription name, the
# empty list for any other name (in scalar context: 2 or 0).  Each name is
# asked once.
sub link_parts
{
	my ($name) = @_;
	my $parts = $link_rule{"parts $name"} //= _ask_link_rule(
		'SELECT l.publisher || \' \' || l.subscriber FROM pg_temp.link_parts('
		  . sql_literal($name) . ') l WHERE l.publisher IS NOT NULL');
	return split / /, $parts;
}

# Lines of $node's server log that show replication trouble: errors raised
# while applying or sending changes, and logical replication workers that
# exited with an error (named "logical replication worker" up to 16, then
# "logical replication apply worker", "... tablesync worker" and so on).
# A worker stopped on purpose (ALTER SUBSCRIPTION ... DISABLE, DROP
# SUBSCRIPTION) is not trouble: from PostgreSQL 16 on, a parallel apply
# worker so stopped logs "terminating logical replication worker due to
# administrator command" and exits with code 1.
sub replication_errors
{
	my ($node) = @_;
	my $log = slurp_file($node->logfile);
	my @errors = ($log =~ /^(.*(?:ERROR|PANIC): .*\n(?:.*(?:DETAIL|HINT|CONTEXT): .*\n)*)/mg);
	# log_line_prefix '%m [%p] %q%a ': a walsender's application name is
	# its link's name
	my @bad = grep {
		/processing remote data|logical replication/
		  || (/\] (\S+) / && link_parts($1))
	} @errors;
	my %stopped = map { $_ => 1 }
	  ($log =~ /\[(\d+)\] (?:\S+ )?FATAL:  terminating logical replication worker due to administrator command/g);
	push @bad, grep { !(/\(PID (\d+)\)/ && $stopped{$1}) }
	  ($log =~ /^(.*"logical replication [\w ]*worker" \(PID \d+\) exited with exit code [1-9].*\n)/mg);
	return @bad;
}

1;
