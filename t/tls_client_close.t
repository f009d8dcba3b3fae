#!/usr/bin/perl
# A TLS client that goes away while its request waits. On TLS the
# client's close_notify arrives as record bytes before the FIN, so a raw
# peek at the socket saw "more data" and the request waited for the
# origin's answer with nobody to read it. Now the watch looks through
# TLS (SSL_peek):
# - close_notify then close, or close_notify alone (TCP left open),
#   while weir waits for the upstream: 499 at once, the upstream request
#   abandoned, the peer not blamed;
# - the same while a [limit] delays the request: 499;
# - a TLS client that stays is answered, and a request pipelined while
#   the first waits (decrypted by the peek, kept in OpenSSL) is answered
#   next.
# The origin would answer after 20 s (read_timeout 30 s): a 499 in the
# log is the proof that the wait ended early (weir would log 200 after
# the answer otherwise), so no timing is asserted.

use strict;
use warnings;
use Test::More;
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
log_format = $status $request_uri

[upstream app]
server = 127.0.0.1:%%PORT1%%
read_timeout = 30s
max_fails = 1
fail_timeout = 30s
retries = 0

[limit slow]
key = $remote_addr
rate = 1r/m
burst = 5

[server s]
listen = 127.0.0.1:%%PORT0%% tls
tls_certificate = certs/site.pem
tls_certificate_key = certs/site.key

[route limited]
server = s
match = /limited
return = 200 limited
limit = slow

[route app]
server = s
match = /
upstream = app

[admin]
listen = 127.0.0.1:%%PORT9%%
INI
my $origin = WeirOrigin->new(port => $t->port(1), handler => 'echo');
$t->start;

sub tls_connect {
    my $c = IO::Socket::SSL->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port(0), SSL_verify_mode => 0,
        Timeout => WeirTest::deadline(10) - time)
        or die "TLS connect: " . IO::Socket::SSL::errstr();
    return $c;
}

sub origin_got {
    my ($target) = @_;
    return $origin->wait_until(sub {
        grep { ($_->{target} // '') eq $target } $_[0]->requests }, 10);
}

# Wait (bounded) until the limit has delayed $n requests (/metrics).
sub delayed_reaches {
    my ($n) = @_;
    my $m = q{weir_limit_requests_total{limit="slow",result="delayed"}};
    my $dl = WeirTest::deadline(10);
    while (time < $dl) {
        my $r = $t->http(WeirTest::request('GET', '/metrics',
            Connection => 'close'), port => $t->port(9));
        my ($v) = $r->body =~ /^\Q$m\E (\d+)$/m;
        return 1 if ($v // 0) >= $n;
        sleep 0.05;
    }
    return 0;
}

# Read one response (head and Content-Length body) from a TLS socket.
sub read_response {
    my ($c) = @_;
    my $buf = '';
    my $dl = WeirTest::deadline(15);
    while (time < $dl) {
        if ($buf =~ /\r\n\r\n/) {
            my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
            my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
            return ($head, substr($rest, 0, $len), substr($rest, $len))
                if defined $len && length($rest) >= $len;
        }
        my $n = sysread($c, my $chunk, 65536);
        if (!defined $n) {
            next if $!{EAGAIN} || $!{EINTR};
            last;
        }
        last if $n == 0;
        $buf .= $chunk;
    }
    return ($buf, undef, '');
}

my $mark = $t->log_mark;

# ---- close_notify and close while the upstream thinks --------------------

{
    my $c = tls_connect();
    print {$c} "GET /gone1?sleep=20 HTTP/1.1\r\nHost: x\r\n\r\n";
    ok(origin_got('/gone1?sleep=20'), 'the request reached the origin');
    # A FIN or close_notify within 20 ms of the request's last bytes
    # counts as sent with it (WEIR_FIN_WITH_DATA_MS): leave later.
    sleep 0.05;
    $c->close;          # close_notify, then FIN
    ok($t->wait_for_access_log(qr{^499 /gone1\?}m, timeout => 10),
       'close_notify and close while waiting for the upstream: 499');
}

# ---- close_notify alone: the TCP connection stays open -------------------

{
    my $c = tls_connect();
    print {$c} "GET /gone2?sleep=20 HTTP/1.1\r\nHost: x\r\n\r\n";
    ok(origin_got('/gone2?sleep=20'), 'the request reached the origin');
    # A FIN or close_notify within 20 ms of the request's last bytes
    # counts as sent with it (WEIR_FIN_WITH_DATA_MS): leave later.
    sleep 0.05;
    $c->stop_SSL(SSL_fast_shutdown => 1);   # close_notify, no FIN
    ok($t->wait_for_access_log(qr{^499 /gone2\?}m, timeout => 10),
       'close_notify alone (TLS half-close) while waiting: 499');
    $c->close;
}
ok($t->wait_for_log(qr/client closed connection while waiting for the upstream response/,
    from => $mark, timeout => 5), 'the error log says why');
unlike(substr($t->error_log, $mark), qr/marked down|timed out/,
       'the peer is not blamed');

# ---- the same while a limit delays the request ---------------------------

{
    my $c = tls_connect();
    print {$c} "GET /limited/1 HTTP/1.1\r\nHost: x\r\n\r\n";
    my ($head) = read_response($c);
    like($head, qr{^HTTP/1\.1 200}, 'the first request under the limit passes');
    print {$c} "GET /limited/2 HTTP/1.1\r\nHost: x\r\n\r\n";
    ok(delayed_reaches(1), 'the second waits for a token (a minute)');
    # A FIN or close_notify within 20 ms of the request's last bytes
    # counts as sent with it (WEIR_FIN_WITH_DATA_MS): leave later.
    sleep 0.05;
    $c->close;
    ok($t->wait_for_access_log(qr{^499 /limited/2}m, timeout => 10),
       'close_notify while a limit delays the request: 499');
}

# ---- clients that stay ----------------------------------------------------

{
    my $c = tls_connect();
    print {$c} "GET /stay?sleep=1 HTTP/1.1\r\nHost: x\r\n\r\n";
    ok(origin_got('/stay?sleep=1'), 'the first request reached the origin');
    # Pipelined while the first waits: the watch decrypts it to look.
    print {$c} "GET /next HTTP/1.1\r\nHost: x\r\n\r\n";
    my ($h1, $b1, $rest) = read_response($c);
    like($h1, qr{^HTTP/1\.1 200}, 'a TLS client that waits gets its slow answer');
    like($b1 // '', qr{/stay}, 'the right one');
    my ($h2, $b2);
    if (length $rest) {
        ($h2, $b2) = ($rest =~ /^(.*?)\r\n\r\n(.*)$/s);
    } else {
        ($h2, $b2) = read_response($c);
    }
    like($h2 // '', qr{^HTTP/1\.1 200}, 'the request pipelined meanwhile is answered');
    like($b2 // '', qr{/next}, 'the right one');
    $c->close;
}

WeirOrigin::check_workers($t);
$t->done_testing;
