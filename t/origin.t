#!/usr/bin/perl
# The fake origins of t/lib/WeirOrigin.pm, talked to directly (no weir):
# the proxy tests are only as good as these servers, so each behaviour the
# proxy tests rely on is checked here first.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use Digest::MD5 qw(md5_hex);
use WeirTest;
use WeirOrigin;

my $J = WeirOrigin::json();

sub conn {
    my ($o) = @_;
    return WeirTest::Conn->new(port => $o->port, timeout => 10);
}

# --- echo --------------------------------------------------------------------

my $echo = WeirOrigin->new(handler => 'echo');
my $c = conn($echo);
my $r = $c->request(WeirTest::request('POST', '/a?b=1', 'X-A' => 'one',
    body => 'hello'));
is($r->status, 200, 'echo: 200');
my $d = eval { $J->decode($r->body) } || {};
is($d->{method}, 'POST', 'echo: method');
is($d->{target}, '/a?b=1', 'echo: target');
is($d->{body}, 'hello', 'echo: body');
is(WeirOrigin::header($d, 'x-a'), 'one', 'echo: a header');
is($r->header('x-origin-conn'), 1, 'echo: connection number');

$r = $c->request("PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    . "3;e=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: t\r\n\r\n");
$d = eval { $J->decode($r->body) } || {};
is($d->{body}, 'abcde', 'echo: chunked body decoded');
is_deeply($d->{chunk_ext}, [';e=1'], 'echo: chunk extension recorded');
is_deeply($d->{trailers}, ['X-T: t'], 'echo: trailer recorded');
is($r->header('x-origin-seq'), 2, 'echo: second request on the same connection');

$r = $c->request("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n");
ok($r->header('content-length') > 0 && $r->body eq '', 'echo: HEAD has a length, no body');
$r = $c->request("GET /s?sleep=0.3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
is($r->status, 200, 'echo: sleep=');
is($c->wait_close(3), 'eof', 'echo: closes after Connection: close');
ok($echo->wait_until(sub { $_[0]->request_count == 4 }), 'echo: 4 requests logged');
is($echo->connections, 1, 'echo: 1 connection logged');

# --- fixed, interim, chunked, close-delimited ----------------------------------

my $fx = WeirOrigin->new(handler => 'fixed', status => 200, body => 'x' x 100,
    chunked => [1, 10], interim => ["HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"],
    trailers => ['X-T: 1']);
$r = conn($fx)->get('/');
is(scalar $r->interim, 1, 'fixed: interim 103 sent');
is($r->body, 'x' x 100, 'fixed: chunked body');
like($r->header('transfer-encoding'), qr/chunked/, 'fixed: chunked');

my $cd = WeirOrigin->new(handler => 'fixed', body => 'abc' x 10, close_delimited => 1);
$r = conn($cd)->get('/');
is($r->body, 'abc' x 10, 'fixed: close-delimited body');
ok(!defined $r->header('content-length'), 'fixed: no Content-Length');

my $n204 = WeirOrigin->new(handler => 'fixed', status => 204);
$c = conn($n204);
$r = $c->get('/');
is($r->status, 204, 'fixed 204');
is($c->get('/')->status, 204, 'fixed 204 twice on one connection');

# --- slow head -----------------------------------------------------------------

my $slow = WeirOrigin->new(handler => 'slow_head', delay => 1);
my $t0 = time;
$r = conn($slow)->get('/');
my $dt = time - $t0;
ok($r->status == 200 && $dt >= 0.9, sprintf 'slow_head: 200 after %.2f s', $dt);

# --- reset, garbage, truncated --------------------------------------------------

my $rst = WeirOrigin->new(handler => 'reset');
$c = conn($rst);
$r = $c->get('/');
is($r->status, 0, 'reset: no response');
like($r->error // '', qr/reset|read/i, 'reset: connection reset') or diag $r->error;

my $rc = WeirOrigin->new(handler => 'reset', on_accept => 1, how => 'close');
$r = conn($rc)->get('/');
ok(!$r->status, 'reset on accept: no response');
ok($rc->wait_until(sub { $_[0]->connections == 1 }) && $rc->request_count == 0,
    'reset on accept: a connection, no request');

my $g = WeirOrigin->new(handler => 'garbage');
$r = conn($g)->get('/');
is($r->status, 0, 'garbage: not a response');

my $tr = WeirOrigin->new(handler => 'truncated');
$r = conn($tr)->get('/');
like($r->error // '', qr/eof after 10 of 1000/, 'truncated: 10 of 1000 bytes');

my $tc = WeirOrigin->new(handler => 'truncated_chunked');
$r = conn($tc)->get('/');
like($r->error // '', qr/eof in chunk/, 'truncated chunked: no last chunk');

# --- close after first ------------------------------------------------------------

my $caf = WeirOrigin->new(handler => 'close_after_first', idle => 0.2);
$c = conn($caf);
is($c->get('/1')->status, 200, 'close_after_first: first answered');
is($c->wait_close(3), 'eof', 'close_after_first: then closed while idle');

my $con = WeirOrigin->new(handler => 'close_after_first', mode => 'on_next');
$c = conn($con);
is($c->get('/1')->status, 200, 'on_next: first answered');
$r = $c->get('/2');
is($r->status, 0, 'on_next: second request dropped');
ok($con->wait_until(sub { grep { $_->{ev} eq 'dropped' } $_[0]->events }),
    'on_next: the dropped request is logged');

# --- upgrade ------------------------------------------------------------------------

my $up = WeirOrigin->new(handler => 'upgrade', greeting => 'hi!');
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $up->port) or die;
binmode $s;
syswrite $s, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
my $buf = '';
my $dl = time + 5;
while (time < $dl && $buf !~ /hi!$/) {
    my $rin = '';
    vec($rin, fileno($s), 1) = 1;
    select($rin, undef, undef, 0.1) > 0 or next;
    sysread($s, $buf, 4096, length $buf) or last;
}
like($buf, qr{^HTTP/1\.1 101 }, 'upgrade: 101');
like($buf, qr{Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n}, 'upgrade: accept key');
like($buf, qr/\r\n\r\nhi!$/, 'upgrade: greeting');
syswrite $s, "ping\0\xff";
$buf = '';
$dl = time + 5;
while (time < $dl && length $buf < 6) {
    my $rin = '';
    vec($rin, fileno($s), 1) = 1;
    select($rin, undef, undef, 0.1) > 0 or next;
    sysread($s, $buf, 4096, length $buf) or last;
}
is($buf, "ping\0\xff", 'upgrade: bytes echoed');
close $s;
ok($up->wait_until(sub { grep { $_->{ev} eq 'tunnel_eof' } $_[0]->events }),
    'upgrade: tunnel EOF logged');

# --- source and sink ------------------------------------------------------------------

my $size = 3 * 65536 + 100;
my $src = WeirOrigin->new(handler => 'source', size => $size);
$r = conn($src)->get('/');
is(length $r->body, $size, 'source: size');
is(md5_hex($r->body), WeirOrigin::pattern_md5($size), 'source: pattern checksum');
my $srcc = WeirOrigin->new(handler => 'source', size => $size, chunked => 1);
$r = conn($srcc)->get('/');
is(md5_hex($r->body), WeirOrigin::pattern_md5($size), 'source chunked: checksum');

my $sink = WeirOrigin->new(handler => 'sink');
my $body = join '', map { WeirOrigin::pattern_chunk($_) } 0 .. 2;
$r = conn($sink)->request(WeirTest::request('POST', '/', body => $body));
$d = eval { $J->decode($r->body) } || {};
is($d->{length}, length $body, 'sink: length');
is($d->{md5}, md5_hex($body), 'sink: md5');

# --- log_rx ----------------------------------------------------------------------------

my $rx = WeirOrigin->new(handler => 'echo', log_rx => 1);
$c = conn($rx);
$c->send("GET / HTTP/1.1\r\nHo");
ok($rx->wait_until(sub { $_[0]->rx_bytes == 18 }), 'log_rx: partial bytes counted');
is($rx->request_count, 0, 'log_rx: no complete request');

# --- stop ---------------------------------------------------------------------------------

my $p = $echo->port;
$echo->stop;
ok(!IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p),
    'stop: the port refuses connections');

WeirTest->done_testing;
