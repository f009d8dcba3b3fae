#!/usr/bin/perl
# Failures after the response head went out (DESIGN §4): the origin closes,
# resets or stalls inside a Content-Length body, or ends a chunked body
# without its last chunk. The client gets the head and fewer bytes, then
# the connection is closed: never a complete-looking response. The error
# log names the upstream; the broken upstream connection is not reused.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use WeirTest;
use WeirOrigin;

my $t = WeirTest->new(main => { workers => 1 }, config => <<'INI');
[http]
access_log = logs/access.log

[upstream cl_close]
server = 127.0.0.1:%%PORT1%%
keepalive = 32

[upstream cl_reset]
server = 127.0.0.1:%%PORT2%%
keepalive = 32

[upstream cl_stall]
server = 127.0.0.1:%%PORT3%%
keepalive = 32
read_timeout = 1s

[upstream chunk_close]
server = 127.0.0.1:%%PORT4%%
keepalive = 32

[upstream chunk_reset]
server = 127.0.0.1:%%PORT5%%
keepalive = 32

[upstream ok]
server = 127.0.0.1:%%PORT6%%

[server s]
listen = 127.0.0.1:%%PORT0%%

[route cl_close]
server = s
match = /cl_close/
upstream = cl_close

[route cl_reset]
server = s
match = /cl_reset/
upstream = cl_reset

[route cl_stall]
server = s
match = /cl_stall/
upstream = cl_stall

[route chunk_close]
server = s
match = /chunk_close/
upstream = chunk_close

[route chunk_reset]
server = s
match = /chunk_reset/
upstream = chunk_reset

[route ok]
server = s
match = /
upstream = ok
INI

my %o = (
    cl_close    => WeirOrigin->new(port => $t->port(1), handler => 'truncated', how => 'close'),
    cl_reset    => WeirOrigin->new(port => $t->port(2), handler => 'truncated', how => 'reset'),
    cl_stall    => WeirOrigin->new(port => $t->port(3), handler => 'truncated', how => 'stall', stall => 5),
    chunk_close => WeirOrigin->new(port => $t->port(4), handler => 'truncated_chunked', how => 'close'),
    chunk_reset => WeirOrigin->new(port => $t->port(5), handler => 'truncated_chunked', how => 'reset'),
);
my $ok = WeirOrigin->new(port => $t->port(6), handler => 'echo');

$t->start;

for my $name (qw(cl_close cl_reset cl_stall chunk_close chunk_reset)) {
    my $port = $o{$name}->port;
    my $chunked = $name =~ /^chunk/;
    for my $round (1, 2) {
        my $mark = $t->log_mark;
        my $c = $t->connect;
        my $t0 = time;
        my $r = $c->request("GET /$name/$round HTTP/1.1\r\nHost: localhost\r\n\r\n", timeout => 8);
        my $dt = time - $t0;
        is($r->status, 200, "$name #$round: the head was passed (200)") or diag($r->summary);
        ok($r->error, "$name #$round: the response is not complete") or diag($r->summary);
        if ($chunked) {
            unlike($r->error // '', qr/timeout/, "$name #$round: the stream ends with the connection, without the last chunk")
                or diag($r->error);
        } else {
            is($r->header('content-length'), 1000, "$name #$round: the origin's Content-Length");
            cmp_ok(length $r->body, '<', 1000, "$name #$round: fewer body bytes than announced");
            like($r->error // '', qr/^(?:eof|read: )/, "$name #$round: the connection is closed")
                or diag($r->error);
        }
        # (WeirTest's client keeps no partial chunked body to compare)
        is(substr($r->body, 0, 10), 'x' x 10, "$name #$round: the bytes that came are passed")
            unless $chunked;
        if ($name eq 'cl_stall') {
            cmp_ok($dt, '>=', 0.9, sprintf("$name #$round: closed after read_timeout (%.2f s)", $dt));
            cmp_ok($dt, '<', 4.5, "$name #$round: closed before the origin would have resumed");
        }
        ok($t->wait_for_log(qr/upstream: 127\.0\.0\.1:$port\b/, from => $mark),
            "$name #$round: the error log names the upstream");
        $c->close;
    }
    is($o{$name}->connections, 2, "$name: the broken upstream connection was not reused");
}

# weir itself is fine
my $r = $t->http_get('/after');
is($r->status, 200, 'a later request is answered');

WeirOrigin::check_workers($t);
$t->done_testing;
