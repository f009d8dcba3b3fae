#!/usr/bin/perl
# Clients that half-close or go away.
# - Pipelined requests followed by shutdown(SHUT_WR) are all answered,
#   then the connection closes (static/return routes and proxied ones).
# - A client that sends one request and half-closes is answered and its
#   connection closed at once, not held until keepalive_timeout; one whose
#   FIN came with its request is answered even when the upstream is slow.
# - A client that closes while weir waits for the upstream's response
#   head abandons the upstream request at once: logged 499, the upstream
#   connection closed, and not counted against the peer (clients that give
#   up must not mark a healthy peer down for everyone).

use strict;
use warnings;
use Test::More;
use Socket qw(SHUT_WR IPPROTO_TCP);
use Time::HiRes qw(time sleep);
use WeirTest;
use WeirOrigin;

my $t = WeirTest->new(main => { workers => 1 }, config => <<'INI');
[http]
access_log = logs/access.log
log_format = $status $request_uri
keepalive_timeout = 60s

[upstream app]
server = 127.0.0.1:%%PORT1%%
read_timeout = 30s
max_fails = 3
fail_timeout = 30s
retries = 0

[server s]
listen = 127.0.0.1:%%PORT0%%

[route ret]
server = s
match = /ret
return = 200 ret

[route app]
server = s
match = /
upstream = app
INI
my $origin = WeirOrigin->new(port => $t->port(1), handler => 'echo');
$t->start;

# Send $n pipelined GETs for $path and half-close. TCP_CORK holds the
# bytes until shutdown() sends them with the FIN in one segment, as a
# client that writes everything and then shuts down usually does on a
# real network; without it, when the FIN arrives is up to the scheduler.
use constant TCP_CORK => 3;     # Linux
sub send_halfclose {
    my ($c, $bytes) = @_;
    setsockopt($c->{sock}, IPPROTO_TCP, TCP_CORK, 1) or die "TCP_CORK: $!";
    $c->send($bytes);
    shutdown($c->{sock}, SHUT_WR);
}

sub pipelined_halfclose {
    my ($path, $n) = @_;
    my $c = $t->connect;
    send_halfclose($c, join '',
        map { "GET $path?i=$_ HTTP/1.1\r\nHost: x\r\n\r\n" } 1 .. $n);
    my $got = 0;
    for (1 .. $n) {
        my $r = $c->read_response;
        last if $r->error || ($r->status // 0) != 200;
        $got++;
    }
    my $end = $c->wait_close(10);
    $c->close;
    return ($got, $end);
}

for my $round (1 .. 5) {
    my ($got, $end) = pipelined_halfclose('/ret', 3);
    is($got, 3, "return route, round $round: 3 pipelined requests then "
        . "SHUT_WR: all 3 answered");
    is($end, 'eof', "return route, round $round: then closed");
}
for my $round (1 .. 5) {
    my ($got, $end) = pipelined_halfclose('/echo', 3);
    is($got, 3, "proxy route, round $round: 3 pipelined requests then "
        . "SHUT_WR: all 3 answered");
    is($end, 'eof', "proxy route, round $round: then closed");
}

# One request and a half-close in the same breath: answered, then closed
# well before the 60 s keepalive_timeout.
{
    my $c = $t->connect;
    $c->send("GET /ret HTTP/1.1\r\nHost: x\r\n\r\n");
    shutdown($c->{sock}, SHUT_WR);
    is($c->read_response->status, 200, 'request then SHUT_WR: answered');
    is($c->wait_close(10), 'eof', '... and the connection closed at once');
    $c->close;
}

# A client that sends its request and half-closes at once (nc -N) is
# waiting for the answer, not gone: a slow upstream answer still reaches
# it.
{
    my $c = $t->connect;
    send_halfclose($c, "GET /halfclosed?sleep=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    my $r = $c->read_response(timeout => 15);
    is($r->status, 200, 'request + FIN in one segment, slow upstream: answered');
    is($c->wait_close(10), 'eof', '... then closed');
    $c->close;
}

# Clients that give up while the upstream is still thinking (it would
# answer after 20 s; read_timeout is 30 s).
my $mark = $t->log_mark;
for my $i (1 .. 5) {
    my $c = $t->connect;
    $c->send("GET /gone$i?sleep=20 HTTP/1.1\r\nHost: x\r\n\r\n");
    # Wait until weir has passed the request on, then go away.
    my $dl = WeirTest::deadline(10);
    sleep 0.01 until time > $dl
        || grep { ($_->{target} // '') eq "/gone$i?sleep=20" } $origin->requests;
    # A FIN within WEIR_FIN_WITH_DATA_MS (20 ms) of the request's last
    # bytes counts as sent with it; these clients leave later than that.
    sleep 0.05;
    $c->close;
}
for my $i (1 .. 5) {
    ok($t->wait_for_access_log(qr{^499 /gone$i\?}m, timeout => 10),
        "client $i gone: logged 499 at once, not after read_timeout");
}
ok($t->wait_for_log(qr/client closed connection while waiting for the upstream response/,
    from => $mark, timeout => 5), 'the abandoned request is in the error log');
unlike(substr($t->error_log, $mark), qr/marked down|timed out/,
    'the peer is not blamed (no timeout, not marked down)');
my $r = $t->http_get('/after');
is($r->status, 200, 'the peer still serves');

# A client that stays gets its slow answer.
$r = $t->http_get('/patient?sleep=1');
is($r->status, 200, 'a client that waits is answered');

WeirOrigin::check_workers($t);
$t->done_testing;
