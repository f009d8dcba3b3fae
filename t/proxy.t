#!/usr/bin/perl
# The HTTP/1.1 reverse proxy, well-behaved origin: what the origin receives
# (HTTP/1.1, hop-by-hop headers removed, X-Forwarded-*, Via, X-Request-Id,
# Host or host_header, set_header/remove_header, bodies with
# Content-Length or chunked (small chunked bodies may arrive with their
# exact Content-Length), 100-continue) and what the client receives
# (status and end-to-end headers, add_header, bodies re-framed for 1.1 and
# 1.0 clients, HEAD/204/304 without body, 1xx but 100 forwarded), plus the
# access log fields of a proxied request.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use Digest::MD5 qw(md5_hex);
use WeirTest;
use WeirOrigin;

my $t = WeirTest->new(main => { workers => 1 }, config => <<'INI');
[http]
access_log = logs/access.log
log_format = $status $upstream_addr $upstream_status $retries $request_id $upstream_connect_time $upstream_response_time
client_max_body_size = 10m

[upstream app]
server = 127.0.0.1:%%PORT1%%
keepalive = 32
read_timeout = 10s

[server s]
listen = 127.0.0.1:%%PORT0%%

[route edits]
server = s
match = /edits/
upstream = app
host_header = example.org
set_header = X-A: 1
remove_header = X-B
add_header = X-C: 3

[route all]
server = s
match = /
upstream = app
INI

my $CHUNKED_BODY = join '', map { sprintf "line %05d of a chunked body\n", $_ } 1 .. 200;
my $CLOSE_BODY = join '', map { sprintf "close-delimited %05d\n", $_ } 1 .. 300;

# The origin: fixed answers for a few paths, an echo of the request for
# everything else.
my $origin = WeirOrigin->new(port => $t->port(1), handler => sub {
    my ($c) = @_;
    while (my $req = $c->read_request) {
        my $p = $req->{target};
        my $head = $req->{method} eq 'HEAD';
        if ($p =~ m{^/status/(\d+)}) {
            my $st = $1;
            $c->write(WeirOrigin::response(status => $st, body => "origin $st\n",
                headers => $st == 304 ? ['ETag: "e1"'] : ['X-Origin: status'],
                head_only => $head)) or return;
        } elsif ($p eq '/interim') {
            $c->write("HTTP/1.1 100 Continue\r\n\r\n"
                . "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                . WeirOrigin::response(body => "after interim\n")) or return;
        } elsif ($p eq '/chunked') {
            $c->write(WeirOrigin::response(body => $CHUNKED_BODY,
                chunked => [1, 10, 1000, 3], chunk_ext => ';ext=1',
                trailers => ['X-Checksum: abc'])) or return;
        } elsif ($p eq '/closedelim') {
            $c->write(WeirOrigin::response(body => $CLOSE_BODY, no_length => 1));
            return;
        } elsif ($p eq '/hop') {
            $c->write(WeirOrigin::response(body => "hop\n", headers => [
                'Connection: X-Resp-Hop', 'X-Resp-Hop: secret',
                'Keep-Alive: timeout=5, max=77', 'X-Origin: yes',
                'Set-Cookie: a=1', 'Set-Cookie: b=2'])) or return;
        } else {
            WeirOrigin::echo_response($c, $req) or return;
        }
    }
});
my $oport = $origin->port;

$t->start;

my $J = WeirOrigin::json();
# What the origin saw, from an echo response.
sub saw {
    my ($r) = @_;
    my $d = eval { $J->decode($r->body) };
    return $d if $d;
    diag('not an echo response: ' . $r->summary);
    return { headers => [] };
}
sub h { WeirOrigin::header(@_) }
sub hall { [ WeirOrigin::header_all(@_) ] }

# --- a plain GET ----------------------------------------------------------------

my $r = $t->http_get('/plain/a%20b?x=1&y=%2F');
is($r->status, 200, 'GET through the proxy: 200') or diag($r->summary);
my $d = saw($r);
is($d->{method}, 'GET', 'the origin got a GET');
is($d->{target}, '/plain/a%20b?x=1&y=%2F', 'the request target is passed unchanged');
is($d->{version}, '1.1', 'the upstream request is HTTP/1.1');
is(h($d, 'host'), 'localhost', 'Host is passed through');
is(scalar @{ hall($d, 'host') }, 1, 'exactly one Host');
is(h($d, 'x-forwarded-for'), '127.0.0.1', 'X-Forwarded-For: the client address');
is(h($d, 'x-forwarded-proto'), 'http', 'X-Forwarded-Proto: http');
is(h($d, 'x-forwarded-host'), 'localhost', 'X-Forwarded-Host: the client Host');
like(h($d, 'via') // '', qr/(?:^|,\s*)1\.1 weir\b/, 'Via: 1.1 weir');
like(h($d, 'x-request-id') // '', qr/^[0-9a-f]{32}$/, 'a generated X-Request-Id (32 hex)');
is($r->header('content-type'), 'application/json', 'the origin Content-Type reaches the client');
is($r->header('x-origin-conn'), 1, 'origin headers reach the client');

# the generated id is the one in the access log
my $gid = h($d, 'x-request-id') // 'none';
my $line = $t->wait_for_access_log(qr/ \Q$gid\E /);
like($line // '', qr/^200 127\.0\.0\.1:$oport 200 0 \Q$gid\E (?:\d+\.\d+|-) \d+\.\d+$/,
    'access log: status, upstream_addr, upstream_status, retries, the same request id, times')
    or diag($line // 'no line');

# --- hop-by-hop and forwarding headers ------------------------------------------------

my $c = $t->connect;
$r = $c->request(WeirTest::request('GET', '/hop-req',
    Host => 'www.client.test',
    Connection => 'keep-alive, X-Hop',
    'X-Hop' => 'must not pass',
    'Keep-Alive' => 'timeout=5',
    TE => 'trailers',
    Trailer => 'X-T',
    'Proxy-Connection' => 'keep-alive',
    Upgrade => 'foo/1',
    'X-End' => 'kept',
    'X-Forwarded-For' => '10.0.0.1',
    'X-Request-Id' => 'abcdef0123456789abcdef0123456789'));
is($r->status, 200, 'request with hop-by-hop headers: 200') or diag($r->summary);
$d = saw($r);
for my $hop (qw(x-hop keep-alive te trailer proxy-connection upgrade)) {
    ok(!defined h($d, $hop), "hop-by-hop $hop is not forwarded")
        or diag("$hop: " . h($d, $hop));
}
my $conn_h = h($d, 'connection');
ok(!defined $conn_h || $conn_h =~ /^\s*(?:keep-alive|close)\s*$/i,
    'Connection to the upstream names no client header') or diag($conn_h);
is(h($d, 'x-end'), 'kept', 'an end-to-end header is forwarded');
is(h($d, 'host'), 'www.client.test', 'the client Host is passed through');
is(h($d, 'x-forwarded-host'), 'www.client.test', 'X-Forwarded-Host is the client Host');
is(h($d, 'x-forwarded-for'), '10.0.0.1, 127.0.0.1',
    'X-Forwarded-For: the client address appended');
is_deeply(hall($d, 'x-request-id'), ['abcdef0123456789abcdef0123456789'],
    'a client X-Request-Id is passed through, once');
$line = $t->wait_for_access_log(qr/ abcdef0123456789abcdef0123456789 /);
like($line // '', qr/^200 127\.0\.0\.1:$oport 200 0 abcdef0123456789abcdef0123456789 /,
    'access log: the client request id');

# HTTP/1.0 from the client is still HTTP/1.1 upstream
$r = $t->http("GET /ten HTTP/1.0\r\nHost: localhost\r\n\r\n");
is($r->status, 200, 'HTTP/1.0 client: 200');
is(saw($r)->{version}, '1.1', 'HTTP/1.0 client: the upstream request is HTTP/1.1');

# --- route header edits, host_header ----------------------------------------------------

$r = $t->http_get('/edits/x', Host => 'www.client.test', 'X-A' => '0', 'X-B' => '2',
    'X-Keep' => 'yes');
is($r->status, 200, 'edits route: 200') or diag($r->summary);
$d = saw($r);
is(h($d, 'host'), 'example.org', 'host_header replaces Host');
is(h($d, 'x-forwarded-host'), 'www.client.test', 'X-Forwarded-Host stays the client Host');
is_deeply(hall($d, 'x-a'), ['1'], 'set_header replaces the client value');
ok(!defined h($d, 'x-b'), 'remove_header removes the header');
is(h($d, 'x-keep'), 'yes', 'other headers untouched');
is($r->header('x-c'), '3', 'add_header on the response');
is($r->header_count('x-c'), 1, 'add_header once');
$r = $t->http_get('/edits/y', Host => 'www.client.test');
is_deeply(hall(saw($r), 'x-a'), ['1'], 'set_header also adds when absent');

# --- request bodies ---------------------------------------------------------------------

$r = $t->http(WeirTest::request('POST', '/post', Connection => 'close',
    'Content-Type' => 'application/x-www-form-urlencoded', body => 'hello=world'));
$d = saw($r);
is($d->{method}, 'POST', 'POST: method');
is($d->{body}, 'hello=world', 'POST: body');
is(h($d, 'content-length'), 11, 'POST: same Content-Length');
ok(!defined h($d, 'transfer-encoding'), 'POST: not re-framed as chunked');
is(h($d, 'content-type'), 'application/x-www-form-urlencoded', 'POST: Content-Type');

my $big = join '', map { WeirOrigin::pattern_chunk($_) } 0 .. 4;   # 320 KiB
$r = $t->http(WeirTest::request('PUT', '/put-big', Connection => 'close', body => $big));
$d = saw($r);
is($d->{method}, 'PUT', 'PUT 320 KiB: method');
is($d->{body_len}, length $big, 'PUT 320 KiB: length');
is($d->{md5}, md5_hex($big), 'PUT 320 KiB: same bytes');
is(h($d, 'content-length'), length $big, 'PUT 320 KiB: same Content-Length');

$r = $t->http("POST /chunked-in HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    . "Transfer-Encoding: chunked\r\nTrailer: X-Trailer\r\n\r\n"
    . "5;name=value\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n");
is($r->status, 200, 'chunked request body: 200') or diag($r->summary);
$d = saw($r);
is($d->{body}, 'hello world', 'chunked request body: decoded body identical');
# Forwarded chunked, or (a small body weir buffered for a retry) with the
# exact Content-Length: one framing either way.
ok(framed_once($d), 'chunked request body: one framing, chunked or the exact length')
    or diag(explain $d->{headers});
is_deeply($d->{chunk_ext}, [], 'chunked request body: chunk extensions dropped');
is_deeply($d->{trailers}, [], 'chunked request body: trailers dropped');

{
    my ($raw, $off, $i) = ('', 0, 0);
    my @sizes = (1, 7, 4096, 65536, 100000, 3);
    for my $n (@sizes, length($big) - 1 - 7 - 4096 - 65536 - 100000 - 3) {
        $raw .= sprintf("%X\r\n", $n) . substr($big, $off, $n) . "\r\n";
        $off += $n;
    }
    $r = $t->http("PUT /chunked-big HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n$raw" . "0\r\n\r\n");
    $d = saw($r);
    is($d->{body_len}, length $big, 'chunked 320 KiB body: length');
    is($d->{md5}, md5_hex($big), 'chunked 320 KiB body: same bytes');
    ok(framed_once($d), 'chunked 320 KiB body: one framing, chunked or the exact length');
}

# Expect: 100-continue is answered by weir before the body is sent
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port(0),
        Proto => 'tcp') or die "connect: $!";
    binmode $s;
    syswrite $s, "POST /expect HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
        . "Content-Length: 7\r\nConnection: close\r\n\r\n";
    my $buf = read_until($s, qr/\r\n\r\n/, 5);
    like($buf, qr{^HTTP/1\.1 100 Continue\r\n}, 'Expect: 100-continue: 100 Continue first');
    $buf =~ s/^HTTP\/1\.1 100[^\r]*\r\n(?:[^\r]+\r\n)*\r\n//;
    syswrite $s, 'payload';
    $buf .= read_until($s, undef, 5);
    my ($hd, $body) = split /\r\n\r\n/, $buf, 2;
    like($hd // '', qr{^HTTP/1\.1 200 }, 'Expect: 100-continue: then the final 200');
    my $e = eval { $J->decode($body // '') } || {};
    is($e->{body}, 'payload', 'Expect: 100-continue: the origin got the body');
    close $s;
}

# --- response status, headers and bodies --------------------------------------------------

for my $st (404, 418, 503) {
    $r = $t->http_get("/status/$st",
        'X-Request-Id' => sprintf('%032d', $st));
    is($r->status, $st, "origin $st passes through");
    is($r->body, "origin $st\n", "origin $st: the origin's body, not a generated page");
    is($r->header('x-origin'), 'status', "origin $st: its headers");
}
$line = $t->wait_for_access_log(qr/ 0{29}404 /);
like($line // '', qr/^404 127\.0\.0\.1:$oport 404 0 0{29}404 /,
    'access log: a 404 from the origin');

$r = $t->http_get('/hop');
is($r->status, 200, 'response hop-by-hop: 200');
is($r->header('x-origin'), 'yes', 'response: end-to-end header passed');
is($r->header_count('set-cookie'), 2, 'response: both Set-Cookie headers passed');
ok(!defined $r->header('x-resp-hop'), 'response: a header named by Connection is removed');
unlike($r->header('keep-alive') // '', qr/max=77/, "response: the origin's Keep-Alive is not passed");
unlike($r->header('connection') // '', qr/x-resp-hop/i, "response: the origin's Connection is not passed");

# keep-alive client connection across bodiless responses
$c = $t->connect;
$r = $c->request("HEAD /head HTTP/1.1\r\nHost: localhost\r\n\r\n");
is($r->status, 200, 'HEAD: 200');
is($r->body, '', 'HEAD: no body');
ok(($r->header('content-length') // 0) > 0, "HEAD: the origin's Content-Length");
$r = $c->get('/after-head');
is(saw($r)->{target}, '/after-head', 'HEAD: the next request on the connection is answered');

$r = $c->get('/status/204');
is($r->status, 204, '204 passes through');
is($r->body, '', '204: no body');
$r = $c->get('/after-204');
is(saw($r)->{target}, '/after-204', '204: the next request on the connection is answered');

$r = $c->get('/status/304', 'If-None-Match' => '"e1"');
is($r->status, 304, '304 passes through');
is($r->header('etag'), '"e1"', '304: ETag');
is($r->body, '', '304: no body');
$r = $c->get('/after-304');
is(saw($r)->{target}, '/after-304', '304: the next request on the connection is answered');

$r = $c->get('/interim');
is($r->status, 200, '1xx then 200: 200');
# the 103 goes on, the origin's 100 does not (t/proxy_1xx.t has the rest)
is_deeply([ map { $_->status } $r->interim ], [ 103 ],
    '1xx interim responses: the 103 is forwarded, the 100 is not');
is($r->body, "after interim\n", '1xx then 200: the body');

$r = $c->get('/chunked');
is($r->status, 200, 'chunked response: 200');
is($r->body, $CHUNKED_BODY, 'chunked response: the body is identical');
like($r->header('transfer-encoding') // '', qr/chunked/i, 'chunked response: chunked to an HTTP/1.1 client');
ok(!$r->closes, 'chunked response: the client connection stays open');

$r = $c->get('/closedelim');
is($r->status, 200, 'close-delimited response: 200') or diag($r->summary);
is($r->body, $CLOSE_BODY, 'close-delimited response: the body is identical');
like($r->header('transfer-encoding') // '', qr/chunked/i, 'close-delimited response: chunked to an HTTP/1.1 client');
ok(!$r->closes, 'close-delimited response: the client connection stays open');
$r = $c->get('/after-closedelim');
is(saw($r)->{target}, '/after-closedelim', 'close-delimited: the next request on the connection is answered');
$c->close;

# HTTP/1.0 clients get no chunked encoding
$c = $t->connect;
$r = $c->request("GET /chunked HTTP/1.0\r\nHost: localhost\r\n\r\n");
is($r->body, $CHUNKED_BODY, 'chunked response to HTTP/1.0: the body is identical');
unlike($r->header('transfer-encoding') // '', qr/chunked/i, 'chunked response to HTTP/1.0: not chunked');
$c->close;

$c = $t->connect;
$r = $c->request("GET /closedelim HTTP/1.0\r\nHost: localhost\r\n\r\n");
is($r->status, 200, 'close-delimited to HTTP/1.0: 200');
is($r->body, $CLOSE_BODY, 'close-delimited to HTTP/1.0: the body is identical');
unlike($r->header('transfer-encoding') // '', qr/chunked/i, 'close-delimited to HTTP/1.0: not chunked');
ok(!defined $r->error, 'close-delimited to HTTP/1.0: ends with the connection')
    or diag($r->error);
$c->close;

# the origin saw no request that we did not send
my @bad = grep { $_->{ev} =~ /^(?:bad_request|incomplete|handler_died)$/ } $origin->events;
ok(!@bad, 'the origin saw only well-formed, complete requests')
    or diag(explain \@bad);

WeirOrigin::check_workers($t);
$t->done_testing;

# The upstream request carried exactly one body framing: chunked, or one
# Content-Length equal to the body length.
sub framed_once {
    my ($d) = @_;
    my @te = WeirOrigin::header_all($d, 'transfer-encoding');
    my @cl = WeirOrigin::header_all($d, 'content-length');
    return @te == 1 && $te[0] =~ /^chunked$/i && !@cl && $d->{chunked}
        if @te;
    return @cl == 1 && $cl[0] eq $d->{body_len} && !$d->{chunked};
}

# Read from $s until $re matches the buffer (or EOF when $re is undef),
# at most $secs (scaled).
sub read_until {
    my ($s, $re, $secs) = @_;
    my $dl = WeirTest::deadline($secs);
    my $buf = '';
    while (time < $dl) {
        last if $re && $buf =~ $re;
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        next unless select($rin, undef, undef, 0.05) > 0;
        my $n = sysread $s, $buf, 65536, length $buf;
        last unless $n;
    }
    return $buf;
}
