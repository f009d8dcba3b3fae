#!/usr/bin/perl
# Upgrade (WebSocket) through the proxy: the Upgrade request reaches the
# origin with its Upgrade/Connection headers, the 101 comes back with the
# origin's headers, then bytes flow both ways untouched (origin first,
# client small and large writes, bytes sent right behind the request),
# and a close on either side ends the tunnel on the other. A request
# without Upgrade to the same origin stays plain HTTP.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use Digest::MD5 qw(md5_hex);
use WeirTest;
use WeirOrigin;

my $t = WeirTest->new(main => { workers => 1 }, config => <<'INI');
[upstream ws]
server = 127.0.0.1:%%PORT1%%
keepalive = 32

[server s]
listen = 127.0.0.1:%%PORT0%%

[route ws]
server = s
match = /
upstream = ws
INI

my $origin = WeirOrigin->new(port => $t->port(1), handler => 'upgrade',
    greeting => "\x81\x05hello");

$t->start;

my $KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
my $UPGRADE = "GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
    . "Connection: Upgrade\r\nSec-WebSocket-Key: $KEY\r\nSec-WebSocket-Version: 13\r\n\r\n";

sub client {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port(0),
        Proto => 'tcp') or die "connect: $!";
    binmode $s;
    $s->blocking(0);
    return { s => $s, buf => '' };
}

sub send_all {
    my ($c, $data) = @_;
    my $dl = WeirTest::deadline(10);
    my $off = 0;
    while ($off < length $data && time < $dl) {
        my $win = '';
        vec($win, fileno($c->{s}), 1) = 1;
        select(undef, $win, undef, 0.05) > 0 or next;
        my $n = syswrite $c->{s}, $data, length($data) - $off, $off;
        $off += $n if $n;
        # keep reading so neither side blocks on a full buffer
        fill($c, 0);
    }
    return $off == length $data;
}

# Read what is there within $secs; returns 0 on EOF, undef on error.
sub fill {
    my ($c, $secs) = @_;
    my $rin = '';
    vec($rin, fileno($c->{s}), 1) = 1;
    return 1 unless select($rin, undef, undef, $secs) > 0;
    my $n = sysread $c->{s}, $c->{buf}, 262144, length $c->{buf};
    return $n if defined $n;
    return 1 if $!{EAGAIN};
    return undef;
}

# Wait until the buffer holds $len bytes (or a head); returns them.
sub take {
    my ($c, $len, $secs) = @_;
    my $dl = WeirTest::deadline($secs // 5);
    while (length $c->{buf} < $len && time < $dl) {
        my $n = fill($c, 0.05);
        last if defined $n && $n == 0 || !defined $n;
    }
    return substr($c->{buf}, 0, $len, '');
}

sub read_head {
    my ($c) = @_;
    my $dl = WeirTest::deadline(5);
    while (index($c->{buf}, "\r\n\r\n") < 0 && time < $dl) {
        my $n = fill($c, 0.05);
        last if defined $n && $n == 0 || !defined $n;
    }
    my $i = index($c->{buf}, "\r\n\r\n");
    return undef if $i < 0;
    return WeirTest::Response->parse_head(substr($c->{buf}, 0, $i + 4, ''));
}

# 'eof' when the peer closes within $secs
sub wait_eof {
    my ($c, $secs) = @_;
    my $dl = WeirTest::deadline($secs);
    while (time < $dl) {
        my $n = fill($c, 0.05);
        return 'eof' if defined $n && $n == 0;
        return 'reset' unless defined $n;
    }
    return undef;
}

# --- the upgrade ------------------------------------------------------------------

my $c = client();
ok(send_all($c, $UPGRADE), 'Upgrade request sent');
my $h = read_head($c);
ok($h, '101 head received') or BAIL_OUT('no 101 head: ' . $c->{buf});
is($h->status, 101, '101 Switching Protocols');
like($h->header('upgrade') // '', qr/^websocket$/i, '101: Upgrade: websocket');
like($h->header('connection') // '', qr/\bupgrade\b/i, '101: Connection: Upgrade');
is($h->header('sec-websocket-accept'), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=',
    "101: the origin's Sec-WebSocket-Accept");

my ($req) = $origin->requests;
like(WeirOrigin::header($req, 'upgrade') // '', qr/^websocket$/i, 'the origin got Upgrade: websocket');
like(WeirOrigin::header($req, 'connection') // '', qr/\bupgrade\b/i, 'the origin got Connection: Upgrade');
is(WeirOrigin::header($req, 'sec-websocket-key'), $KEY, 'the origin got the key');

is(take($c, 7), "\x81\x05hello", 'bytes from the origin right after the 101 arrive');

send_all($c, "\x81\x04ping");
is(take($c, 6), "\x81\x04ping", 'a small frame is echoed back through weir');

my $bin = join '', map { chr } 0 .. 255;
send_all($c, $bin);
is(take($c, 256), $bin, 'all 256 byte values pass both ways');

my $big = join '', map { WeirOrigin::pattern_chunk($_) } 0 .. 31;   # 2 MiB
ok(send_all($c, $big), '2 MiB written into the tunnel');
my $back = take($c, length $big, 20);
is(length $back, length $big, '2 MiB echoed back: length');
is(md5_hex($back), md5_hex($big), '2 MiB echoed back: same bytes');

# client closes: the origin sees the tunnel end
close $c->{s};
ok($origin->wait_until(sub { grep { $_->{ev} eq 'tunnel_eof' && $_->{conn} == 1 } $_[0]->events }, 5),
    'client closes: the origin sees the tunnel close');

# --- bytes right behind the request, origin closes --------------------------------

$c = client();
send_all($c, $UPGRADE . "\x81\x05early");
$h = read_head($c);
is($h && $h->status, 101, 'request with bytes behind it: 101');
is(take($c, 7), "\x81\x05hello", 'origin greeting');
is(take($c, 7), "\x81\x05early", 'bytes sent right behind the request are tunnelled');
# the origin's handler stops at its end of the tunnel when weir closes it;
# make the origin close first instead by stopping it
$origin->stop;
like(wait_eof($c, 5) // 'open', qr/^(?:eof|reset)$/, 'origin closes: the client connection is closed');
close $c->{s};

# --- no Upgrade: plain HTTP to an origin that could upgrade -------------------------

my $plain = WeirOrigin->new(port => $t->port(1), handler => 'upgrade');
my $r = $t->http_get('/plain');
is($r->status, 200, 'no Upgrade: a plain 200');
is((eval { WeirOrigin::json()->decode($r->body) } || {})->{target}, '/plain',
    'no Upgrade: the echo of the request');

WeirOrigin::check_workers($t);
$t->done_testing;
