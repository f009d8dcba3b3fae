#!/usr/bin/perl
# Connection handling: keep-alive, pipelining answered in order, HEAD
# without a body, Expect: 100-continue, chunked request bodies,
# Connection: close and HTTP/1.0 honoured.

use strict;
use warnings;
use Test::More;
use WeirTest;

my $t = WeirTest->new(config => <<'INI', files => {
[http]
keepalive_requests = 5
client_max_body_size = 1k

[server s]
listen = 127.0.0.1:%%PORT0%%

[route post]
server = s
match = /post
return = 200 posted

[route site]
server = s
match = /
root = html
INI
    'html/index.html' => "index\n",
    'html/1.txt'      => "one\n",
    'html/2.txt'      => "two\n",
    'html/3.txt'      => "three\n",
});
$t->start;

# --- keep-alive --------------------------------------------------------------

my $c = $t->connect;
for my $n (1 .. 3) {
    my $r = $c->get("/$n.txt");
    is($r->status, 200, "keep-alive request $n: 200");
    is($r->body, ($n == 1 ? "one\n" : $n == 2 ? "two\n" : "three\n"),
        "keep-alive request $n: its body");
    ok(!$r->closes, "keep-alive request $n: connection kept");
}
$c->close;

# keepalive_requests = 5: the 5th response closes the connection
$c = $t->connect;
my @closes = map { $c->get('/1.txt')->closes } 1 .. 5;
is_deeply(\@closes, [ 0, 0, 0, 0, 1 ],
    'keepalive_requests = 5: Connection: close on the 5th response');
ok($c->wait_close(3), '... and the connection is closed');
$c->close;

# --- pipelining ----------------------------------------------------------------

$c = $t->connect;
$c->send(join '', map { WeirTest::request('GET', "/$_.txt") } 1, 2, 3, 2, 1);
my @bodies = map { $c->read_response->body } 1 .. 5;
is_deeply(\@bodies, [ "one\n", "two\n", "three\n", "two\n", "one\n" ],
    'five pipelined requests in one write: answered in order');
$c->close;

# pipelined requests mixing HEAD, a 404, a POST with a body and a GET
$c = $t->connect;
$c->send(WeirTest::request('HEAD', '/1.txt')
    . WeirTest::request('GET', '/missing')
    . WeirTest::request('POST', '/post', body => 'a=1&b=2')
    . WeirTest::request('GET', '/2.txt', Connection => 'close'));
my $r = $c->read_response(head => 1);
is($r->status, 200, 'pipelined HEAD: 200');
is($r->header('content-length'), 4, 'pipelined HEAD: the GET length');
$r = $c->read_response;
is($r->status, 404, 'pipelined 404 after HEAD (HEAD sent no body)');
$r = $c->read_response;
is($r->status, 200, 'pipelined POST with a body');
is($r->body, 'posted', '... its response');
$r = $c->read_response;
is($r->body, "two\n", 'pipelined GET after the POST body: the body was consumed');
ok($r->closes, 'Connection: close on the last one is echoed');
ok($c->wait_close(3), '... and honoured');
$c->close;

# a request split across many small writes
$c = $t->connect;
my $raw = WeirTest::request('GET', '/3.txt');
$c->send($_) for $raw =~ /(.{1,3})/sg;
is($c->read_response->body, "three\n", 'a request sent 3 bytes at a time');
$c->close;

# --- HEAD ----------------------------------------------------------------------

$c = $t->connect;
$r = $c->request(WeirTest::request('HEAD', '/'));
is($r->status, 200, 'HEAD /: 200');
is($r->header('content-length'), 6, 'HEAD /: Content-Length of the body');
ok($c->closed_by_peer == 0 && !length $c->{buf}, 'HEAD: no body bytes follow');
$r = $c->get('/1.txt');
is($r->body, "one\n", 'GET after HEAD on the same connection');
$c->close;

# --- Expect: 100-continue ------------------------------------------------------

$c = $t->connect;
$c->send("POST /post HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
    . "Expect: 100-continue\r\n\r\n");
# read the interim response before sending the body
my $interim = '';
{
    my $dl = WeirTest::deadline(5);
    while ($c->{buf} !~ /\r\n\r\n/ && $c->_fill($dl)) { }
    $interim = $c->{buf};
}
like($interim, qr{^HTTP/1\.1 100 Continue\r\n\r\n}, '100 Continue before the body is sent');
$c->{buf} = '';
$c->send('hello');
$r = $c->read_response;
is($r->status, 200, 'final response after 100-continue');
is($r->body, 'posted', '... its body');
$c->close;

$r = $t->http("POST /post HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n"
    . "Expect: 100-continue\r\nConnection: close\r\n\r\n");
is($r->status, 413, 'Expect: 100-continue with a body too big: 413, no 100');
ok(!grep({ $_->status == 100 } $r->interim), '... no 100 Continue before it');

$r = $t->http("GET /1.txt HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
    . "Connection: close\r\n\r\n");
is($r->status, 200, 'Expect: 100-continue on a GET without a body');

# --- chunked request bodies ------------------------------------------------------

$c = $t->connect;
$r = $c->request("POST /post HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    . "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
is($r->status, 200, 'chunked body with an extension and a trailer: 200');
is($r->body, 'posted', '... answered');
$r = $c->get('/1.txt');
is($r->body, "one\n", 'the chunked body was consumed: next request on the connection');
$c->close;

$c = $t->connect;
$c->send("POST /post HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n");
$c->send($_) for ("3\r", "\nabc", "\r\n", "0\r\n", "\r\n");
$r = $c->read_response;
is($r->status, 200, 'chunked body split inside the framing');
$c->close;

# --- Connection: close and HTTP/1.0 ----------------------------------------------

$c = $t->connect;
$r = $c->get('/1.txt', Connection => 'close');
ok($r->closes, 'Connection: close is echoed');
ok($c->wait_close(3), 'Connection: close is honoured');
$c->close;

$c = $t->connect;
$r = $c->request("GET /1.txt HTTP/1.0\r\n\r\n");
is($r->status, 200, 'HTTP/1.0: 200');
is($r->version, '1.1', 'the response is HTTP/1.1 (RFC 9110 2.5)');
ok($c->wait_close(3), 'HTTP/1.0 without keep-alive: closed');
$c->close;

$c = $t->connect;
$r = $c->request("GET /1.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
is($r->status, 200, 'HTTP/1.0 keep-alive: 200');
$r = $c->request("GET /2.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
is($r->body, "two\n", 'HTTP/1.0 keep-alive: a second request on the connection');
$c->close;

$t->done_testing;
