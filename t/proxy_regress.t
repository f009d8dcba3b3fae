#!/usr/bin/perl
# Regressions found in review of the proxy:
# - a slow client downloading for longer than read_timeout gets the whole
#   body (the upstream's read timer runs only while weir waits on it);
# - request bodies at the buffered/streamed boundary (64 KiB) arrive
#   intact and leave the pooled upstream connection in step;
# - keepalive_requests closes a client connection carrying proxied
#   requests too;
# - a transfer coding other than chunked (gzip, chunked) is kept, not
#   silently dropped while re-chunking.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_RCVBUF);
use WeirTest;
use WeirOrigin;
use Digest::MD5 qw(md5_hex);

my $SIZE = 6 << 20;
my $t = WeirTest->new(main => { workers => 1 }, config => <<'INI');
[http]
keepalive_requests = 3

[upstream big]
server = 127.0.0.1:%%PORT1%%
read_timeout = 1s

[upstream echo]
server = 127.0.0.1:%%PORT2%%
keepalive = 8

[upstream coded]
server = 127.0.0.1:%%PORT3%%

[server s]
listen = 127.0.0.1:%%PORT0%%

[route big]
server = s
match = /big
upstream = big

[route coded]
server = s
match = /coded
upstream = coded

[route echo]
server = s
match = /
upstream = echo
INI
my $src  = WeirOrigin->new(port => $t->port(1), handler => 'source', size => $SIZE);
my $echo = WeirOrigin->new(port => $t->port(2), handler => 'echo');
my $gz   = WeirOrigin->new(port => $t->port(3), handler => 'fixed',
    raw => "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n"
        . "Connection: close\r\n\r\n4\r\nGZIP\r\n8\r\nPEDBYTES\r\n0\r\n\r\n");
$t->start;

# --- slow reader, longer than read_timeout --------------------------------
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port(0)) or die "connect: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 65536);
    print $s "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    my ($t0, $got, $buf, $all) = (time, 0, '', '');
    my $dl = time + 30 * WeirTest::_detect_scale();
    while (time < $dl) {
        my $n = sysread($s, $buf, 16384);
        last unless $n;
        $all .= $buf;
        sleep 0.01;     # ~1.6 MB/s: the body takes several read_timeouts
    }
    my $elapsed = time - $t0;
    my ($head, $body) = split /\r\n\r\n/, $all, 2;
    cmp_ok($elapsed, '>', 2, 'slow reader: the download outlasted read_timeout (1 s)');
    is(length($body // ''), $SIZE, 'slow reader: the whole body arrived');
    ok(!$t->wait_for_log(qr/read_timeout|truncated/, timeout => 0),
        'slow reader: no upstream timeout, nothing truncated');
}

# --- bodies around the 64 KiB buffering boundary ------------------------------
for my $len (65535, 65536, 65537) {
    # The body ends in bytes that would look like a request if they ever
    # leaked onto the upstream connection.
    my $body = ('A' x ($len - 9)) . "GET /x\r\n\r";
    my $c = $t->connect;
    $c->send("POST /p$len HTTP/1.1\r\nHost: x\r\nContent-Length: $len\r\n"
        . "Connection: close\r\n\r\n$body");
    my $r = $c->read_response;
    is($r->status, 200, "CL $len: 200");
    $c->close;
    my ($req) = grep { $_->{target} eq "/p$len" } $echo->requests;
    is(($req // {})->{body_len}, $len, "CL $len: the origin got as many bytes");
    is(($req // {})->{md5}, md5_hex($body), "CL $len: ... and exactly the body");
}
# A request behind them on the same pooled upstream connection is clean.
my $r = $t->http_get('/after');
is($r->status, 200, 'the pooled connection is in step afterwards');
is(scalar($echo->events_of('bad_request')), 0, '... the origin never saw stray bytes');

# --- keepalive_requests on proxied requests ---------------------------------------
{
    my $c = $t->connect;
    my @conn;
    for my $i (1 .. 3) {
        $c->send("GET /k$i HTTP/1.1\r\nHost: x\r\n\r\n");
        my $res = $c->read_response;
        push @conn, lc($res->header('connection') // '');
    }
    is_deeply(\@conn, [ '', '', 'close' ],
        'keepalive_requests = 3: the third proxied response closes');
    $c->close;
}

# --- other transfer codings are kept ---------------------------------------------
$r = $t->http("GET /coded HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
is($r->status, 200, 'gzip, chunked from the peer: 200');
like($r->header('transfer-encoding') // '', qr/^gzip,\s*chunked$/i,
    '... the gzip coding is still declared');
$r = $t->http("GET /coded HTTP/1.0\r\nHost: x\r\n\r\n");
is($r->status, 502, '... and an HTTP/1.0 client (no Transfer-Encoding) gets 502');

WeirOrigin::check_workers($t);
$t->done_testing;
