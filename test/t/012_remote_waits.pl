# Copyright: see the multimaster LICENSE.
#
# 012_remote_waits.pl: every wait on another node can be cancelled and has a
# time limit.  A cancelled (statement_timeout) broadcast stops at once and
# its remote statement is cancelled too; multimaster.remote_timeout bounds a
# remote statement; a peer that accepts the TCP connection and never
# answers is given up after multimaster.connect_timeout even when the
# connection string says connect_timeout=0.
use strict;
use warnings;

use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use MMTest;

my @nodes = map { new_node("rw$_") } 1 .. 2;
my ($n1, $n2) = @nodes;
create_mesh(@nodes);

my $sleepers = sub {
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity
		  WHERE query LIKE 'SELECT pg_sleep(60)%' AND state = 'active'");
};

# a cancel (here statement_timeout) of the caller cancels the remote statement
my $t0 = time;
my ($rc, $out, $err) = $n1->psql('postgres',
	"SET statement_timeout = '2s'; SELECT multimaster.broadcast_ddl('SELECT pg_sleep(60)')");
my $took = time - $t0;
isnt($rc, 0, 'a broadcast cancelled by statement_timeout fails');
like($err, qr/canceling statement due to statement timeout/, '... as a cancel');
cmp_ok($took, '<', 15, "... at once (${took}s)");
ok(poll_until('no remote pg_sleep left',
		sub { $sleepers->($n1) eq '0' && $sleepers->($n2) eq '0' }, 20),
	'the remote statement was cancelled too');

# multimaster.remote_timeout bounds a remote statement
$t0 = time;
($rc, $out, $err) = $n1->psql('postgres',
	"SET multimaster.remote_timeout = 2; SELECT multimaster.broadcast_ddl('SELECT pg_sleep(60)')");
$took = time - $t0;
isnt($rc, 0, 'a remote statement longer than multimaster.remote_timeout fails');
like($err, qr/did not finish within 2 s/, '... saying so');
cmp_ok($took, '<', 20, "... in time (${took}s)");
ok(poll_until('no remote pg_sleep left',
		sub { $sleepers->($n1) eq '0' && $sleepers->($n2) eq '0' }, 20),
	'the timed-out statement was cancelled on the node');

# a peer that accepts the connection and never answers
my $silent = IO::Socket::INET->new(
	LocalAddr => '127.0.0.1',
	LocalPort => 0,
	Listen    => 5,
	Proto     => 'tcp') or die "cannot listen: $!";
my $port = $silent->sockport;
$t0 = time;
($rc, $out, $err) = $n1->psql('postgres',
	"SET multimaster.connect_timeout = 2; "
	  . "SELECT multimaster.subscribe('host=127.0.0.1 port=$port dbname=x connect_timeout=0')");
$took = time - $t0;
isnt($rc, 0, 'a peer that never answers is given up');
like($err, qr/timeout expired after 2 s/, '... after multimaster.connect_timeout');
cmp_ok($took, '<', 15, "... whatever the connection string says (${took}s)");
close $silent;

$_->stop for @nodes;
done_testing();
