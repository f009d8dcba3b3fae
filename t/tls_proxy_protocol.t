#!/usr/bin/perl
# `listen = ADDR tls proxy_protocol`: the PROXY header (v1 or v2) comes
# first, then the TLS handshake on the same socket, as HAProxy sends it
# (send-proxy in front of a TLS backend) and nginx reads it. The carried
# address is the client for the access log, X-Forwarded-For and route
# allow/deny; the balancer stays $realip_remote_addr. The header and the
# ClientHello may come in one segment (the header is peeked at, then
# exactly its bytes taken, so OpenSSL reads the ClientHello whole) or the
# header in pieces. A bad or missing header closes the connection without
# a handshake.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use Socket qw(inet_aton IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(sleep time);
use WeirTest;
use WeirTLS;
use WeirOrigin;

WeirTLS::need_openssl();
eval { require IO::Socket::SSL; 1 }
    or plan(skip_all => 'IO::Socket::SSL is not installed '
                        . '(Debian package libio-socket-ssl-perl)');

my $t = WeirTest->new(main => { workers => 1 });
WeirTLS::cert($t, 'site', names => ['localhost']);
$t->write_config(<<'INI');
[http]
access_log = logs/access.log
log_format = $remote_addr $realip_remote_addr $scheme $status $request_uri
client_header_timeout = 2s

[upstream echo]
server = 127.0.0.1:%%PORT1%%

[server s]
listen = 127.0.0.1:%%PORT0%% tls proxy_protocol
tls_certificate = certs/site.pem
tls_certificate_key = certs/site.key

[route denied]
server = s
match = /denied
deny = 203.0.113.66
return = 200 let in

[route app]
server = s
match = /
upstream = echo
INI
my $PORT = $t->port(0);
my $echo = WeirOrigin->new(port => $t->port(1), handler => 'echo');
$t->start;

sub v1 { my ($src, $sport) = @_; return "PROXY TCP4 $src 127.0.0.1 $sport $PORT\r\n" }
sub v2 {
    my ($cmd_fam, $block) = @_;
    return "\r\n\r\n\0\r\nQUIT\n" . pack('CCn', 0x20 | ($cmd_fam >> 8),
        $cmd_fam & 0xff, length $block) . $block;
}
sub v2_inet {
    my ($src, $sport) = @_;
    return v2(0x111, inet_aton($src) . inet_aton('127.0.0.1')
        . pack('nn', $sport, $PORT));
}

sub tcp {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $PORT,
        Timeout => 10) or die "connect: $!";
    return $s;
}

# The header as given (pieces: one byte a write), then TLS on the same
# socket, then one request; returns the response text ('' if TLS failed).
use constant TCP_CORK => 3;     # Linux
sub over_tls {
    my ($hdr, $path, %o) = @_;
    my $s = tcp();
    if ($o{pieces}) {
        setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
        for my $b (split //, $hdr) {
            syswrite($s, $b);
            sleep 0.005;
        }
    } elsif ($o{with_hello}) {
        # Cork: the header waits and leaves with the ClientHello.
        setsockopt($s, IPPROTO_TCP, TCP_CORK, 1) or die "TCP_CORK: $!";
        syswrite($s, $hdr);
    } else {
        syswrite($s, $hdr);
    }
    IO::Socket::SSL->start_SSL($s, SSL_verify_mode => 0,
        SSL_hostname => 'localhost', Timeout => 10)
        or return '';
    setsockopt($s, IPPROTO_TCP, TCP_CORK, 0) if $o{with_hello};
    print {$s} "GET $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    my $out = '';
    my $dl = WeirTest::deadline(10);
    while (time < $dl) {
        my $n = sysread($s, my $buf, 65536);
        last if !$n;
        $out .= $buf;
    }
    close $s;
    return $out;
}

sub xff {
    my ($resp) = @_;
    my ($body) = $resp =~ /\r\n\r\n(.*)\z/s or return '';
    my $d = eval { WeirOrigin::json()->decode($body) } or return '';
    return WeirOrigin::header($d, 'x-forwarded-for') // '';
}

# ---- headers, then the handshake -------------------------------------------

my $r = over_tls(v1('203.0.113.7', 40001), '/v1');
like($r, qr{^HTTP/1\.1 200}, 'v1 header, then TLS: 200');
is(xff($r), '203.0.113.7', 'v1: X-Forwarded-For is the carried address');
ok($t->wait_for_access_log(qr{^203\.0\.113\.7 127\.0\.0\.1 https 200 /v1$}m),
   'v1: $remote_addr the carried address, $realip_remote_addr the balancer, https');

$r = over_tls(v2_inet('198.51.100.3', 40002), '/v2');
like($r, qr{^HTTP/1\.1 200}, 'v2 header, then TLS: 200');
is(xff($r), '198.51.100.3', 'v2: X-Forwarded-For is the carried address');

$r = over_tls(v2_inet('198.51.100.4', 40003), '/with-hello', with_hello => 1);
like($r, qr{^HTTP/1\.1 200}, 'header and ClientHello in one segment: 200');
is(xff($r), '198.51.100.4', 'the carried address');

$r = over_tls(v1('192.0.2.44', 40004), '/pieces-v1', pieces => 1);
like($r, qr{^HTTP/1\.1 200}, 'v1 header in pieces, then TLS: 200');
is(xff($r), '192.0.2.44', 'the carried address');
$r = over_tls(v2_inet('192.0.2.45', 40005), '/pieces-v2', pieces => 1);
like($r, qr{^HTTP/1\.1 200}, 'v2 header in pieces, then TLS: 200');

$r = over_tls(v2(0x000, ''), '/local');
like($r, qr{^HTTP/1\.1 200}, 'v2 LOCAL, then TLS: 200');
is(xff($r), '127.0.0.1', 'LOCAL keeps the socket address');

# ---- the carried address in allow/deny -------------------------------------

like(over_tls(v1('203.0.113.66', 40006), '/denied'), qr{^HTTP/1\.1 403},
     'deny matches the carried address');
like(over_tls(v1('203.0.113.67', 40007), '/denied'), qr{^HTTP/1\.1 200.*let in}s,
     'another carried address is let in');

# ---- no header, a bad one: closed before any handshake ----------------------

my $mark = $t->log_mark;
for my $case (['no header (a ClientHello first)', undef],
              ['a bad v1 header', "PROXY TCP4 not-an-address\r\n"],
              ['a bad v2 header', "\r\n\r\n\0\r\nQUIT\n" . pack('CCn', 0x20, 0x99, 0)]) {
    my ($name, $hdr) = @$case;
    my $s = tcp();
    my $ok;
    if (defined $hdr) {
        syswrite($s, $hdr);
        # Nothing more from us: weir closes without a byte (a reset,
        # since the header it refused is still unread in its socket).
        my $n = sysread($s, my $buf, 4096);
        ok((defined $n && $n == 0) || (!defined $n && $!{ECONNRESET}),
           "$name: closed, nothing written (no handshake)")
            or diag("read " . ($n // "undef: $!"));
    } else {
        $ok = IO::Socket::SSL->start_SSL($s, SSL_verify_mode => 0,
            SSL_hostname => 'localhost', Timeout => 10);
        ok(!$ok, "$name: the handshake fails");
    }
    close $s;
}
ok($t->wait_for_log(qr/connection rejected: /, from => $mark),
   'the reason is in the error log');

# A silent client is cut by client_header_timeout.
{
    my $s = tcp();
    my $n = sysread($s, my $buf, 4096);
    is($n, 0, 'a silent connection is closed (client_header_timeout)');
    close $s;
}

# The worker still serves.
like(over_tls(v1('203.0.113.8', 40008), '/after'), qr{^HTTP/1\.1 200}, 'still serving');

$t->done_testing;
