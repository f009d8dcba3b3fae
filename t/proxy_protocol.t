#!/usr/bin/perl
# The PROXY protocol, both ways.
# In: a `listen = ... proxy_protocol` listener takes v1 and v2 headers
# (whole, in pieces, with the first requests pipelined behind them) and
# the address they carry is what the origin sees in X-Forwarded-For and
# what the access log calls $remote_addr ($realip_remote_addr keeps the
# balancer's); v1 UNKNOWN and v2 LOCAL keep the socket's address; a plain
# request, an invalid header and a connection that stays silent are cut,
# with the reason in the error log.
# Out: an upstream with `proxy_protocol = v2` / `v1` gets a header at the
# start of each new connection (carrying the client and weir's listening
# address), never again on keep-alive reuse, and a pooled connection is
# reused only by the client connection it was opened for.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use Socket qw(inet_aton inet_pton inet_ntoa inet_ntop AF_INET6 IPPROTO_TCP
    TCP_NODELAY);
use WeirTest;
use WeirOrigin;

my $t = WeirTest->new(main => { workers => 1 }, config => <<'INI');
[http]
access_log = logs/access.log
log_format = $remote_addr $realip_remote_addr $status $request
client_header_timeout = 1s

[upstream echo]
server = 127.0.0.1:%%PORT1%%

[upstream ppv2]
server = 127.0.0.1:%%PORT2%%
proxy_protocol = v2
keepalive = 8

[upstream ppv1]
server = 127.0.0.1:%%PORT3%%
proxy_protocol = v1
keepalive = 8

[server balanced]
listen = 127.0.0.1:%%PORT0%% proxy_protocol

[server plain]
listen = 127.0.0.1:%%PORT4%%

[route chain]
server = balanced
match = /chain/
upstream = ppv2

[route balanced]
server = balanced
match = /
upstream = echo

[route v1]
server = plain
match = /v1/
upstream = ppv1

[route v2]
server = plain
match = /
upstream = ppv2
INI

my $PORT = $t->port(0);
my $echo = WeirOrigin->new(port => $t->port(1), handler => 'echo');

# An origin that expects a PROXY header at the start of each connection:
# logs it as {ev => 'pp', version, src, sport, dst, dport} (or
# {ev => 'no_pp'}), then answers requests like echo.
sub pp_origin {
    my ($port) = @_;
    return WeirOrigin->new(port => $port, handler => sub {
        my ($c) = @_;
        my %h = read_pp($c) or do { $c->log(ev => 'no_pp', data => $c->{buf}); return };
        $c->log(ev => 'pp', %h);
        while (my $req = $c->read_request) {
            WeirOrigin::echo_response($c, $req) or return;
        }
    });
}

sub read_pp {
    my ($c) = @_;
    my $sig = "\r\n\r\n\0\r\nQUIT\n";
    my $dl = time + 10 * WeirTest::_detect_scale();
    while (length $c->{buf} < 16) {
        last if substr($c->{buf}, 0, 5) eq 'PROXY' && index($c->{buf}, "\r\n") >= 0;
        return () unless $c->fill($dl);
    }
    if (substr($c->{buf}, 0, 12) eq $sig) {
        my ($vc, $fam, $len) = unpack('CCn', substr($c->{buf}, 12, 4));
        while (length $c->{buf} < 16 + $len) { return () unless $c->fill($dl) }
        my $blk = substr($c->{buf}, 16, $len);
        substr($c->{buf}, 0, 16 + $len, '');
        return (version => 2, cmd => $vc, fam => $fam) if $fam != 0x11 && $fam != 0x21;
        my ($s, $d, $rest) = $fam == 0x11
            ? (inet_ntoa(substr($blk, 0, 4)), inet_ntoa(substr($blk, 4, 4)), substr($blk, 8))
            : (inet_ntop(AF_INET6, substr($blk, 0, 16)), inet_ntop(AF_INET6, substr($blk, 16, 16)), substr($blk, 32));
        my ($sp, $dp) = unpack('nn', $rest);
        return (version => 2, cmd => $vc, fam => $fam, src => $s, sport => $sp,
            dst => $d, dport => $dp);
    }
    while (index($c->{buf}, "\r\n") < 0) {
        return () if length $c->{buf} > 107;
        return () unless $c->fill($dl);
    }
    my $i = index($c->{buf}, "\r\n");
    my $line = substr($c->{buf}, 0, $i + 2, '');
    my ($proto, $s, $d, $sp, $dp) = $line =~
        /^PROXY (TCP[46]) (\S+) (\S+) (\d+) (\d+)\r\n\z/ or return ();
    return (version => 1, proto => $proto, src => $s, sport => $sp + 0,
        dst => $d, dport => $dp + 0, line => $line);
}

my $o2 = pp_origin($t->port(2));
my $o1 = pp_origin($t->port(3));

$t->start;

my $J = WeirOrigin::json();
sub saw {
    my ($r) = @_;
    my $d = eval { $J->decode($r->body) };
    return $d if $d;
    diag('not an echo response: ' . $r->summary);
    return { headers => [] };
}
sub xff { WeirOrigin::header(saw($_[0]), 'x-forwarded-for') // '' }

sub v1 { my ($src, $sport) = @_; return "PROXY TCP4 $src 127.0.0.1 $sport $PORT\r\n" }

sub v2 {
    my ($cmd_fam, $block) = @_;
    return "\r\n\r\n\0\r\nQUIT\n" . pack('CCn', 0x20 | ($cmd_fam >> 8), $cmd_fam & 0xff,
        length $block) . $block;
}
sub v2_inet {
    my ($src, $sport, $tlvs) = @_;
    return v2(0x111, inet_aton($src) . inet_aton('127.0.0.1')
        . pack('nn', $sport, $PORT) . ($tlvs // ''));
}

sub get { WeirTest::request('GET', $_[0], Connection => 'close') }
sub get_ka { WeirTest::request('GET', $_[0]) }

# One connection: $raw in one write, one response.
sub one {
    my ($raw) = @_;
    my $c = $t->connect;
    my $r = $c->request($raw);
    $c->close;
    return $r;
}

# --- in: valid headers ------------------------------------------------------

my $r = one(v1('203.0.113.7', 40001) . get('/v1-whole'));
is($r->status, 200, 'v1 header then a request: 200') or diag($r->summary);
is(xff($r), '203.0.113.7', 'v1: the origin sees the carried address in X-Forwarded-For');
ok($t->wait_for_access_log(qr{^203\.0\.113\.7 127\.0\.0\.1 200 GET /v1-whole }),
    'v1: $remote_addr is the carried address, $realip_remote_addr the socket peer');

$r = one(v2_inet('198.51.100.3', 40002) . get('/v2-whole'));
is($r->status, 200, 'v2 header then a request: 200') or diag($r->summary);
is(xff($r), '198.51.100.3', 'v2: X-Forwarded-For is the carried address');

# v2 over IPv6 with TLVs (an ALPN and a NOOP) that are skipped
my $v6 = v2(0x121, inet_pton(AF_INET6, '2001:db8::7') . inet_pton(AF_INET6, '2001:db8::1')
    . pack('nn', 40003, 80) . pack('Cn', 0x01, 8) . 'http/1.1' . pack('Cn', 0x04, 0));
$r = one($v6 . get('/v2-six'));
is($r->status, 200, 'v2 IPv6 header with TLVs: 200') or diag($r->summary);
is(xff($r), '2001:db8::7', 'v2 IPv6: X-Forwarded-For is the carried IPv6 address');
ok($t->wait_for_access_log(qr{^2001:db8::7 127\.0\.0\.1 200 GET /v2-six }),
    'v2 IPv6: in the access log');

$r = one(v2(0x000, '') . get('/v2-local'));
is($r->status, 200, 'v2 LOCAL: 200') or diag($r->summary);
is(xff($r), '127.0.0.1', 'v2 LOCAL keeps the socket address');

$r = one(v2(0x000, inet_aton('192.0.2.1') x 3) . get('/v2-local-block'));
is(xff($r), '127.0.0.1', 'v2 LOCAL with an address block: skipped, socket address');

$r = one("PROXY UNKNOWN\r\n" . get('/v1-unknown'));
is($r->status, 200, 'v1 UNKNOWN: 200') or diag($r->summary);
is(xff($r), '127.0.0.1', 'v1 UNKNOWN keeps the socket address');

# The header and the request in pieces: byte by byte with a pause between
# writes (TCP_NODELAY), so weir sees partial headers.
for my $case ([v1('192.0.2.44', 40004), '192.0.2.44', 'v1'],
              [v2_inet('192.0.2.45', 40005), '192.0.2.45', 'v2']) {
    my ($hdr, $want, $name) = @$case;
    my $c = $t->connect;
    setsockopt($c->{sock}, IPPROTO_TCP, TCP_NODELAY, 1);
    my $ok = 1;
    for my $byte (split //, $hdr) {
        $ok &&= $c->send($byte);
        sleep 0.002;
    }
    my $req = get("/pieces-$name");
    $ok &&= $c->send(substr($req, 0, 10));
    sleep 0.01;
    $ok &&= $c->send(substr($req, 10));
    ok($ok, "$name in pieces: sent");
    $r = $c->read_response;
    is($r->status, 200, "$name header in pieces: 200") or diag($r->summary);
    is(xff($r), $want, "$name in pieces: the carried address");
    $c->close;
}

# Pipelined: the header and two requests in one write, both answered.
for my $case ([v1('192.0.2.50', 40006), 'v1'], [v2_inet('192.0.2.50', 40006), 'v2']) {
    my ($hdr, $name) = @$case;
    my $c = $t->connect;
    ok($c->send($hdr . get_ka("/pipe-$name-1") . get("/pipe-$name-2")),
        "$name pipelined: header and two requests in one write");
    for my $i (1, 2) {
        $r = $c->read_response;
        is($r->status, 200, "$name pipelined: response $i is 200") or diag($r->summary);
        is(saw($r)->{target}, "/pipe-$name-$i", "$name pipelined: response $i answers request $i");
        is(xff($r), '192.0.2.50', "$name pipelined: response $i for the carried address");
    }
    is($c->wait_close(5), 'eof', "$name pipelined: closed after Connection: close");
}

# --- in: refused ------------------------------------------------------------

sub refused {
    my ($name, $raw, $why) = @_;
    my $mark = $t->log_mark;
    my $c = $t->connect;
    $c->send($raw) if length $raw;
    my $how = $c->wait_close(5);
    ok(defined $how, "$name: connection closed") or diag("still open");
    is($c->extra // '', '', "$name: no answer");
    ok($t->wait_for_log(qr/\[info\].*connection rejected: \Q$why\E/, from => $mark),
        "$name: the error log says why ($why)");
    $c->close;
}

refused('a plain request', get('/no-header'), 'no PROXY protocol header');
refused('v1 with a leading-zero port', "PROXY TCP4 192.0.2.1 127.0.0.1 080 80\r\n" . get('/x'),
    'PROXY v1 port is invalid');
refused('v1 with a bare LF', "PROXY TCP4 192.0.2.1 127.0.0.1 1 80\n" . get('/x'),
    'PROXY v1 line ends with a bare LF');
refused('v1 over 107 bytes', 'PROXY UNKNOWN ' . ('x' x 100) . "\r\n", 'PROXY v1 line longer than 107 bytes');
refused('v2 with a bad signature', "\r\n\r\n\0\r\nQUIX\n" . "\x21\x11\0\x0c" . ("\0" x 12),
    'no PROXY protocol header (bad v2 signature)');
refused('v2 with version 1', "\r\n\r\n\0\r\nQUIT\n" . "\x11\x11\0\x0c" . ("\0" x 12),
    'PROXY v2 header with a version other than 2');
refused('v2 with an unknown family', "\r\n\r\n\0\r\nQUIT\n" . "\x21\x41\0\x0c" . ("\0" x 12),
    'PROXY v2 header with an unknown address family or protocol');

# Silent, and a header that stops half-way: cut by client_header_timeout.
for my $case (['a silent connection', ''], ['a half header', 'PROXY TCP4 192.0.2.1 ']) {
    my ($name, $raw) = @$case;
    my $mark = $t->log_mark;
    my $c = $t->connect;
    $c->send($raw) if length $raw;
    my $t0 = time;
    my $how = $c->wait_close(10);
    ok(defined $how, "$name: cut") or diag('still open after 10 s');
    cmp_ok(time - $t0, '>=', 0.5, "$name: not before the 1 s header timeout");
    ok($t->wait_for_log(qr/connection rejected: no complete PROXY protocol header in time/,
        from => $mark), "$name: logged as a timeout");
    $c->close;
}

# A TCP health check (connect, close) is not worth a log line.
{
    my $mark = $t->log_mark;
    my $c = $t->connect;
    $c->close;
    $r = one(v1('192.0.2.60', 40007) . get('/after-check'));
    is($r->status, 200, 'a request after a bare connect/close: 200');
    unlike(substr($t->error_log, $mark), qr/connection rejected/,
        'connect/close without a byte: no rejection logged');
}

# --- out: PROXY header on new upstream connections --------------------------

# One client connection, three keep-alive requests: one upstream
# connection, one header, three requests on it.
sub pp_events { my ($o) = @_; return $o->events_of('pp') }

my $c1 = $t->connect(port => $t->port(4));
my $c1port = $c1->{sock}->sockport;
for my $i (1 .. 3) {
    $r = $c1->request(get_ka("/ka-$i"));
    is($r->status, 200, "v2 upstream: keep-alive request $i: 200") or diag($r->summary);
}
my @pp = pp_events($o2);
is(scalar @pp, 1, 'v2 upstream: one header for three requests on one connection');
is($o2->connections, 1, 'v2 upstream: one upstream connection');
is($pp[0]{version}, 2, 'v2 upstream: a version 2 header');
is($pp[0]{cmd}, 0x21, 'v2 upstream: version 2, PROXY command');
is($pp[0]{fam}, 0x11, 'v2 upstream: TCP over IPv4');
is("$pp[0]{src}:$pp[0]{sport}", "127.0.0.1:$c1port", 'v2 upstream: source is the client');
is("$pp[0]{dst}:$pp[0]{dport}", '127.0.0.1:' . $t->port(4), "v2 upstream: destination is weir's listener");
is(scalar(grep { $_->{conn} == 1 } $o2->requests), 3, 'v2 upstream: all three requests on that connection');
is(scalar($o2->events_of('no_pp')), 0, 'v2 upstream: no connection without a header');

# A second client: its own upstream connection and header, not the
# first client's pooled one (that one says the first client's address).
my $c2 = $t->connect(port => $t->port(4));
my $c2port = $c2->{sock}->sockport;
$r = $c2->request(get_ka('/other-client'));
is($r->status, 200, 'v2 upstream: a second client: 200');
@pp = pp_events($o2);
is(scalar @pp, 2, 'v2 upstream: a second client gets a new connection with its own header');
is($pp[-1]{sport}, $c2port, "v2 upstream: the second header names the second client's port");
is(saw($r)->{conn}, 2, "v2 upstream: the second client's request went on the new connection");

# The first client again: back on its own pooled connection, no header.
$r = $c1->request(get_ka('/ka-again'));
is($r->status, 200, 'v2 upstream: the first client again: 200');
is(saw($r)->{conn}, 1, 'v2 upstream: the first client reuses its own connection');
is(scalar(pp_events($o2)), 2, 'v2 upstream: no header on reuse');
$c1->close;
$c2->close;

# v1
my $c3 = $t->connect(port => $t->port(4));
my $c3port = $c3->{sock}->sockport;
for my $i (1 .. 2) {
    $r = $c3->request(get_ka("/v1/ka-$i"));
    is($r->status, 200, "v1 upstream: keep-alive request $i: 200") or diag($r->summary);
}
@pp = pp_events($o1);
is(scalar @pp, 1, 'v1 upstream: one header for two requests');
is($pp[0]{line} // '', "PROXY TCP4 127.0.0.1 127.0.0.1 $c3port " . $t->port(4) . "\r\n",
    'v1 upstream: the exact v1 line');
is(scalar($o1->requests), 2, 'v1 upstream: both requests arrived after the header');
$c3->close;

# In and out: a client behind a balancer, proxied to a proxy_protocol
# upstream: the upstream header carries the client the balancer named.
$r = one(v1('203.0.113.99', 41000) . get('/chain/x'));
is($r->status, 200, 'chained: 200') or diag($r->summary);
@pp = pp_events($o2);
is("$pp[-1]{src}:$pp[-1]{sport}", '203.0.113.99:41000', 'chained: the upstream header carries the relayed client');
is("$pp[-1]{dst}:$pp[-1]{dport}", "127.0.0.1:$PORT", "chained: and weir's listening address");
is(xff($r), '203.0.113.99', 'chained: X-Forwarded-For too');

WeirOrigin::check_workers($t);
$t->done_testing;
