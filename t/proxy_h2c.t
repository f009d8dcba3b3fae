#!/usr/bin/perl
# "Upgrade: h2c" never reaches an origin: after the origin's 101 the
# proxy would only pass bytes, and the client's HTTP/2 requests on that
# connection would bypass the routes and their access rules (h2c
# smuggling). The h2c token and HTTP2-Settings are dropped and the
# request goes on as an ordinary one; another protocol offered with h2c
# (websocket) still upgrades; an origin that switches to h2c anyway
# gets its 101 refused (502). t/proxy_websocket.t covers WebSocket.

use strict;
use warnings;
use Test::More;
use WeirTest;
use WeirOrigin;

my $t = WeirTest->new(main => { workers => 1 }, config => <<'INI');
[upstream app]
server = 127.0.0.1:%%PORT1%%

[upstream rogue]
server = 127.0.0.1:%%PORT2%%
retries = 0
max_fails = 0

[server s]
listen = 127.0.0.1:%%PORT0%%

[route rogue]
server = s
match = /rogue/
upstream = rogue

[route app]
server = s
match = /
upstream = app
INI

my $app = WeirOrigin->new(port => $t->port(1), handler => 'upgrade');
# Switches to h2c whatever it is asked: a 101 weir must not tunnel.
my $rogue = WeirOrigin->new(port => $t->port(2), handler => 'fixed',
    raw => "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
        . "Upgrade: h2c\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
$t->start;

my $settings = 'AAMAAABkAARAAAAAAAIAAAAA';

sub last_request {
    my ($o, $before) = @_;
    $o->wait_until(sub { $_[0]->request_count > $before }) or return undef;
    return ($o->requests)[-1];
}

# Read on a WeirTest::Conn until $re matches its buffer (bounded); the
# buffer up to the match's end is taken and returned.
sub read_until {
    my ($c, $re) = @_;
    my $dl = WeirTest::deadline(5);
    while ($c->{buf} !~ $re) {
        return undef unless $c->_fill($dl);
    }
    $c->{buf} =~ s/^(.*?$re)//s;
    return $1;
}

# The classic h2c upgrade: an ordinary 200, and the origin sees neither
# the Upgrade nor its settings nor a Connection naming them.
my $n = $app->request_count;
my $r = $t->http("GET /a HTTP/1.1\r\nHost: localhost\r\n"
    . "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
    . "HTTP2-Settings: $settings\r\n\r\n");
is($r->status, 200, 'Upgrade: h2c: an ordinary 200') or diag($r->summary);
isnt($r->status, 101, '... not switched');
my $req = last_request($app, $n);
ok($req, 'the origin got the request');
is(WeirOrigin::header($req, 'upgrade'), undef, '... without Upgrade');
is(WeirOrigin::header($req, 'http2-settings'), undef, '... without HTTP2-Settings');
unlike(WeirOrigin::header($req, 'connection') // '', qr/upgrade|http2/i,
    '... and no Connection naming them');

# HTTP2-Settings alone, not listed in Connection: dropped all the same.
$n = $app->request_count;
$r = $t->http_get('/b', 'HTTP2-Settings' => $settings);
is($r->status, 200, 'a stray HTTP2-Settings: 200');
$req = last_request($app, $n);
is(WeirOrigin::header($req, 'http2-settings'), undef, '... not forwarded');

# Case does not matter.
$n = $app->request_count;
$r = $t->http("GET /c HTTP/1.1\r\nHost: localhost\r\nConnection: upgrade\r\n"
    . "Upgrade: H2C\r\n\r\n");
is($r->status, 200, 'Upgrade: H2C: an ordinary 200');
$req = last_request($app, $n);
is(WeirOrigin::header($req, 'upgrade'), undef, '... without Upgrade');

# h2c next to websocket: the websocket offer alone goes on and upgrades.
$n = $app->request_count;
my $c = $t->connect;
$c->send("GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n"
    . "Upgrade: h2c, websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    . "Sec-WebSocket-Version: 13\r\n\r\n");
my $head = read_until($c, qr/\r\n\r\n/);
like($head // '', qr{^HTTP/1\.1 101 }, 'h2c with websocket: 101') or diag($head);
like($head // '', qr/^Upgrade: websocket\r$/mi, '... to websocket');
$req = last_request($app, $n);
is(WeirOrigin::header($req, 'upgrade'), 'websocket',
    '... the origin was offered websocket only');
$c->send("ping");
like(read_until($c, qr/ping/) // '', qr/ping/, '... and the tunnel echoes');
$c->close;

# An origin that answers 101 to a request weir did not upgrade: 502.
$r = $t->http("GET /rogue/x HTTP/1.1\r\nHost: localhost\r\n"
    . "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
    . "HTTP2-Settings: $settings\r\n\r\n");
is($r->status, 502, 'an origin switching to h2c anyway: 502')
    or diag($r->summary);
ok($t->wait_for_log(qr/client asked to upgrade to h2c, not forwarded/),
    'error log: the dropped upgrade is said');
ok($t->wait_for_log(qr/101 to a request that did not upgrade/),
    'error log: the rogue 101 is said');

$t->done_testing;
