#!/usr/bin/perl
# Upstream failures before any response byte reached the client (DESIGN
# §4): connect refused -> 502 UPSTREAM_CONNECT_FAILED, connect timeout and
# read timeout -> 504 UPSTREAM_TIMEOUT, garbage head -> 502
# UPSTREAM_BAD_RESPONSE, reset or close before the head -> 502 UPSTREAM_*.
# Each answer is HTML by default and JSON (status, error, message,
# request_id) for Accept: application/json; the error log names the
# upstream address and the request line; the access log the status and
# upstream address.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use WeirTest;
use WeirOrigin;

my $t = WeirTest->new(main => { workers => 1 }, config => <<'INI');
[http]
access_log = logs/access.log
log_format = $status $upstream_addr $upstream_status $retries $request_id $upstream_connect_time $upstream_response_time

[upstream refused]
server = 127.0.0.1:%%PORT1%%
retries = 0
max_fails = 0

[upstream blackhole]
server = 127.0.0.1:%%PORT2%%
connect_timeout = 1s
retries = 0
max_fails = 0

[upstream slow]
server = 127.0.0.1:%%PORT3%%
read_timeout = 1s
retries = 0
max_fails = 0

[upstream garbage]
server = 127.0.0.1:%%PORT4%%
retries = 0
max_fails = 0

[upstream reset]
server = 127.0.0.1:%%PORT5%%
retries = 0
max_fails = 0

[upstream eof]
server = 127.0.0.1:%%PORT6%%
retries = 0
max_fails = 0

[server s]
listen = 127.0.0.1:%%PORT0%%

[route refused]
server = s
match = /refused/
upstream = refused

[route blackhole]
server = s
match = /blackhole/
upstream = blackhole

[route slow]
server = s
match = /slow/
upstream = slow

[route garbage]
server = s
match = /garbage/
upstream = garbage

[route reset]
server = s
match = /reset/
upstream = reset

[route eof]
server = s
match = /eof/
upstream = eof
INI

# PORT1: nothing listens there (connection refused).
my $refused_port = $t->port(1);

# PORT2: a listener whose accept queue is full and never drained, so a new
# SYN is dropped and connect() hangs: a connect timeout on loopback.
my $bh = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $t->port(2),
    Proto => 'tcp', ReuseAddr => 1, Listen => 1) or die "listen: $!";
my (@fill, $blackhole_ok);
for (1 .. 64) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port(2),
        Proto => 'tcp', Timeout => 0.3);
    if (!$s) { $blackhole_ok = 1; last }
    push @fill, $s;
}

my $slow    = WeirOrigin->new(port => $t->port(3), handler => 'slow_head', delay => 3);
my $garbage = WeirOrigin->new(port => $t->port(4), handler => 'garbage');
my $reset   = WeirOrigin->new(port => $t->port(5), handler => 'reset', how => 'reset');
my $eof     = WeirOrigin->new(port => $t->port(6), handler => 'reset', how => 'close');

$t->start;

my $J = WeirOrigin::json();
my $n = 0;

# One failure case: JSON then HTML answer, timing, error and access logs.
sub failure_case {
    my (%c) = @_;
    my $name = $c{name};
    my $port = $c{port};
    my $path = "/$c{route}/x";
    my $code_re = ref $c{code} ? $c{code} : qr/^\Q$c{code}\E$/;

    # JSON
    my $id = sprintf '%032x', ++$n + 0xe0;
    my $mark = $t->log_mark;
    my $t0 = time;
    my $r = $t->http_get($path, Accept => 'application/json', 'X-Request-Id' => $id);
    my $dt = time - $t0;
    is($r->status, $c{status}, "$name: $c{status}") or diag($r->summary);
    like($r->header('content-type') // '', qr{^application/json}, "$name: JSON for Accept: application/json");
    my $j = eval { $J->decode($r->body) } || {};
    is($j->{status}, $c{status}, "$name: JSON status");
    like($j->{error} // '', $code_re, "$name: JSON error code") or diag($r->body);
    ok(defined $j->{message} && length $j->{message}, "$name: JSON message");
    is($j->{request_id}, $id, "$name: JSON request_id is the request's id");
    if ($c{min_time}) {
        cmp_ok($dt, '>=', $c{min_time}, sprintf("$name: after the timeout (%.2f s)", $dt));
        cmp_ok($dt, '<', $c{max_time} * $WeirTest::SCALE, "$name: not later than it should");
    }
    my $line = $t->wait_for_log(
        qr/upstream: 127\.0\.0\.1:$port\b.*request: "GET \Q$path\E HTTP\/1\.1"/,
        from => $mark, timeout => 3);
    ok($line, "$name: an error log line names the upstream and the request")
        or diag($t->error_log);
    like($line // '', $c{log}, "$name: the error log line says why") if $c{log};
    my $al = $t->wait_for_access_log(qr/ $id /);
    like($al // '', qr/^$c{status} 127\.0\.0\.1:$port\b/,
        "$name: access log status and upstream_addr") or diag($al // 'no line');

    # HTML
    $r = $t->http_get($path);
    is($r->status, $c{status}, "$name (HTML): $c{status}");
    like($r->header('content-type') // '', qr{^text/html}, "$name (HTML): text/html by default");
    like($r->body, qr/UPSTREAM_[A-Z_]+/, "$name (HTML): the error code in the page");
    like($r->body, qr/[0-9a-f]{32}/, "$name (HTML): the request id in the page");
    return;
}

failure_case(name => 'connect refused', route => 'refused', port => $refused_port,
    status => 502, code => 'UPSTREAM_CONNECT_FAILED',
    log => qr/upstream connect failed.*Connection refused.*upstream: 127\.0\.0\.1:$refused_port.*request: "GET \/refused\/x HTTP\/1\.1"/);

SKIP: {
    skip 'could not fill a loopback accept queue to provoke a connect timeout', 15
        unless $blackhole_ok;
    failure_case(name => 'connect timeout', route => 'blackhole', port => $t->port(2),
        status => 504, code => 'UPSTREAM_TIMEOUT', log => qr/time/i,
        min_time => 0.9, max_time => 2.5);
}

failure_case(name => 'read timeout before the head', route => 'slow', port => $slow->port,
    status => 504, code => 'UPSTREAM_TIMEOUT', log => qr/time/i,
    min_time => 0.9, max_time => 2.5);

failure_case(name => 'garbage response head', route => 'garbage', port => $garbage->port,
    status => 502, code => 'UPSTREAM_BAD_RESPONSE');

failure_case(name => 'reset before any response byte', route => 'reset', port => $reset->port,
    status => 502, code => qr/^UPSTREAM_[A-Z_]+$/);

failure_case(name => 'close before any response byte', route => 'eof', port => $eof->port,
    status => 502, code => qr/^UPSTREAM_[A-Z_]+$/);

# every failing origin got each request exactly once (retries = 0)
for ([ 'slow', $slow ], [ 'garbage', $garbage ], [ 'reset', $reset ], [ 'eof', $eof ]) {
    my ($name, $o) = @$_;
    is($o->request_count, 2, "$name origin: each request received once");
}

# the client connection survives a generated 502 on keep-alive
my $c = $t->connect;
my $r = $c->get('/refused/a');
is($r->status, 502, 'keep-alive client: 502');
$r = $c->get('/refused/b') if !$r->closes;
is($r->status, 502, 'keep-alive client: the connection still answers (or was closed cleanly)');

close $_ for @fill;
WeirOrigin::check_workers($t);
$t->done_testing;
