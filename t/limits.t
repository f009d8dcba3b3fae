#!/usr/bin/perl
# Request limits and framing: 414 for a long request line, 431 for big
# headers, 413 for a big body, 400 (and close) for ambiguous framing that
# request smuggling lives on, 505 for an unsupported HTTP version.

use strict;
use warnings;
use Test::More;
use WeirTest;

my $t = WeirTest->new(config => <<'INI', files => { 'html/index.html' => "index\n" });
[http]
max_header_size = 1k
client_max_body_size = 1k

[server s]
listen = 127.0.0.1:%%PORT0%%

[route echo]
server = s
match = /post
return = 200 posted

[route site]
server = s
match = /
root = html
INI
$t->start;

# Send $raw; expect $status and the connection closed after it.
sub rejects {
    my ($raw, $status, $what, %o) = @_;
    my $c = $t->connect;
    my $r = $c->request($raw);
    my $st = $r->status;
    my $okst = ref $status ? (grep { $_ == $st } @$status) : $st == $status;
    ok($okst, "$what: " . (ref $status ? join('/', @$status) : $status))
        or diag($r->summary);
    unless ($o{keepalive}) {
        my $how = $c->wait_close(5);
        ok($how, "$what: connection closed after the error");
        is($c->extra // '', '', "$what: nothing after the error response")
            if $how;
    }
    $c->close;
    return $r;
}

# --- sizes -------------------------------------------------------------------

my $long = '/' . ('a' x 2000);
rejects("GET $long HTTP/1.1\r\nHost: localhost\r\n\r\n", 414,
    'request line over max_header_size');

rejects("GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " . ('b' x 2000) . "\r\n\r\n",
    431, 'one header over max_header_size');

rejects("GET / HTTP/1.1\r\nHost: localhost\r\n"
    . join('', map { "X-H$_: " . ('c' x 60) . "\r\n" } 1 .. 30) . "\r\n",
    431, 'many headers together over max_header_size');

my $r = $t->http("GET / HTTP/1.1\r\nHost: localhost\r\nX-Fits: "
    . ('d' x 500) . "\r\nConnection: close\r\n\r\n");
is($r->status, 200, 'headers under max_header_size are fine');

rejects("POST /post HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000\r\n\r\n",
    413, 'Content-Length over client_max_body_size (answered before the body)');

$r = $t->http(WeirTest::request('POST', '/post', Connection => 'close',
    body => 'e' x 1000));
is($r->status, 200, 'a body under client_max_body_size is accepted');
is($r->body, 'posted', '... and the route answers');

rejects("POST /post HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    . "400\r\n" . ('f' x 1024) . "\r\n" . "400\r\n" . ('f' x 1024) . "\r\n0\r\n\r\n",
    413, 'a chunked body growing over client_max_body_size');

# --- framing: 400 and close ----------------------------------------------------

rejects("POST /post HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
    . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
    400, 'Transfer-Encoding together with Content-Length');

rejects("POST /post HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n"
    . "Content-Length: 4\r\n\r\nabcd", 400, 'two different Content-Length values');

rejects("POST /post HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3, 4\r\n\r\nabcd",
    400, 'a Content-Length list with different values');

rejects("POST /post HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n",
    400, 'a negative Content-Length');

rejects("POST /post HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1x\r\n\r\nx",
    400, 'a non-numeric Content-Length');

rejects("POST /post HTTP/1.1\r\nHost: localhost\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    [ 400, 413 ], 'an overflowing Content-Length');

rejects("POST /post HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    [ 400, 501 ], 'a transfer coding other than chunked');

rejects("POST /post HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    [ 400, 501 ], 'chunked that is not the final coding');

rejects("POST /post HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    . "zz\r\nhello\r\n0\r\n\r\n", 400, 'an invalid chunk size');

rejects("POST /post HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    . "5\r\nhelloXX0\r\n\r\n", 400, 'chunk data not followed by CRLF');

rejects("GET / HTTP/1.1\r\nHost : localhost\r\n\r\n", 400,
    'whitespace between a header name and the colon');

rejects("GET / HTTP/1.1\r\nHost: localhost\r\nX-Folded: a\r\n b\r\n\r\n", 400,
    'an obs-fold continuation line');

rejects("GET / HTTP/1.1\r\n\r\n", 400, 'HTTP/1.1 without Host');

rejects("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, 'two Host headers');

rejects("GET / HTTP/1.1\r\nHost: localhost\r\nX-Nul: a\0b\r\n\r\n", 400,
    'a NUL in a header value');

rejects("GET /\0x HTTP/1.1\r\nHost: localhost\r\n\r\n", 400, 'a NUL in the target');

rejects("GET  / HTTP/1.1\r\nHost: localhost\r\n\r\n", 400,
    'two spaces in the request line');

rejects("GET / HTTP/1.1 extra\r\nHost: localhost\r\n\r\n", 400,
    'garbage after the version');

rejects("G(T / HTTP/1.1\r\nHost: localhost\r\n\r\n", [ 400, 501 ],
    'a method with a forbidden character');

rejects("GET / HTTP/1.1\r\nHost: localhost\r\nBad\x01Name: x\r\n\r\n", 400,
    'a control character in a header name');

rejects("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" . ("\0" x 40), 400,
    'a TLS ClientHello on the plain port');

# --- versions ------------------------------------------------------------------

rejects("GET / HTTP/2.0\r\nHost: localhost\r\n\r\n", 505, 'HTTP/2.0 request line');
rejects("GET / HTTP/3.0\r\nHost: localhost\r\n\r\n", 505, 'HTTP/3.0 request line');
rejects("GET / HTTP/1.x\r\nHost: localhost\r\n\r\n", 400, 'a malformed version');

$r = $t->http("GET / HTTP/1.0\r\n\r\n");
is($r->status, 200, 'HTTP/1.0 without Host is fine');
is($r->body, "index\n", '... and served');

# --- the server is still fine --------------------------------------------------

my $c = $t->connect;
$r = $c->get('/');
is($r->status, 200, 'after all this, a normal keep-alive request works');
$r = $c->get('/');
is($r->status, 200, '... twice on the same connection');
$c->close;

$t->done_testing;
