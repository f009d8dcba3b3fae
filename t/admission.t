#!/usr/bin/perl
# Admission and running out of descriptors (one worker, so that the
# counts are its own; worker_rlimit_nofile = 64):
# - past shed_connections open connections, the first request of a new
#   connection gets a fast 503 with Retry-After and Connection: close,
#   while keep-alive connections that already had a request go on being
#   served, and the admin listener still answers;
# - when accept() runs out of descriptors the error log says so in one
#   clear line (not one per attempt), the connections weir holds keep
#   working, and new connections are served again once descriptors free;
# - /metrics counts both.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use WeirTest;
use LimitTest;

my ($t) = LimitTest::start(workers => 1, main => {
    worker_rlimit_nofile => 64, shed_connections => 20 }, config => <<'INI');
[server s]
listen = 127.0.0.1:%%PORT0%%

[route r]
server = s
match = /
return = 200 ok
INI

# Wait until the worker holds at least $n client connections.
sub wait_conns {
    my ($n) = @_;
    return wait_metric($t, 'weir_worker_connections', sub { $_[0] >= $n });
}

# Keep-alive clients that already had a request.
my @ka = map { $t->connect } 1 .. 3;
is($_->request(WeirTest::request('GET', '/'))->status, 200,
   'a keep-alive client is served') for @ka;

# --- shedding ------------------------------------------------------------------

my @idle = map { $t->connect } 1 .. 20;
ok(wait_conns(23) >= 23, 'the worker holds 23 client connections');
my $r = $t->http_get('/');
is($r->status, 503, 'a new connection\'s request gets 503');
is($r->header('retry-after'), '1', 'with Retry-After: 1');
is($r->header('connection'), 'close', 'and Connection: close');
like($r->body, qr/OVERLOADED/, 'the page says why');
is($_->request(WeirTest::request('GET', '/'))->status, 200,
   'a keep-alive client is still served') for @ka;
ok(metric($t, 'weir_worker_admission_rejected_total') >= 1,
   'metrics: the refusal is counted');
ok($t->wait_for_log(qr/overloaded: \d+ connections open \(shed at \d+\)/),
   'the error log says the worker is overloaded');

# --- out of descriptors ---------------------------------------------------------

my $mark = $t->log_mark;
push @idle, map { $t->connect } 1 .. 60;
ok($t->wait_for_log(qr/accept4\(\) failed: out of file descriptors/,
   from => $mark, timeout => 10), 'one clear line: out of file descriptors');
is($_->request(WeirTest::request('GET', '/'))->status, 200,
   'a connection weir holds is still served') for @ka;
my @lines = grep { /out of file descriptors/ } split /\n/,
    substr($t->error_log, $mark);
ok(@lines <= 2, 'not a line per attempt (' . scalar(@lines) . ')');

# Free the descriptors: the connections queued in the kernel are taken
# once the pause ends, and a new client is served.
$_->close for @idle;
@idle = ();
my $dl = WeirTest::deadline(20);
my $st = 0;
while (time < $dl) {
    $st = $t->http_get('/')->status;
    last if $st == 200;
    select(undef, undef, undef, 0.1);
}
is($st, 200, 'service recovers once descriptors are free');
ok(metric($t, 'weir_worker_accept_errors_total') >= 1,
   'metrics: accept errors counted');
$_->close for @ka;
$t->done_testing;
