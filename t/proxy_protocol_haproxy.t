#!/usr/bin/perl
# A real balancer in front of a `proxy_protocol` listener: HAProxy in TCP
# mode with `send-proxy-v2` (and `send-proxy`, v1) relays curl's
# connection to weir. curl connects from 127.0.0.2, HAProxy reaches weir
# from 127.0.0.1: the origin's X-Forwarded-For and the access log's
# $remote_addr say 127.0.0.2, so the address really came in the header;
# $realip_remote_addr is HAProxy's 127.0.0.1. With openssl, the same over
# TLS passthrough: HAProxy relays curl's TLS connection to a
# `tls proxy_protocol` listener behind its send-proxy-v2 header.
# Skipped when HAProxy or curl is not installed.

use strict;
use warnings;
use Test::More;
use POSIX qw(_exit setpgid WNOHANG);
use Time::HiRes qw(time sleep);
use WeirTest;
use WeirOrigin;
use WeirTLS;

my $HAPROXY = $ENV{HAPROXY} // (grep { -x } '/usr/sbin/haproxy', '/usr/bin/haproxy',
    '/usr/local/sbin/haproxy')[0];
plan(skip_all => 'haproxy is not installed') unless $HAPROXY && -x $HAPROXY;
my $CURL = (grep { -x } '/usr/bin/curl', '/usr/local/bin/curl')[0];
plan(skip_all => 'curl is not installed') unless $CURL;

my $TLS = WeirTLS::have_openssl();
my $tls_server = $TLS ? <<'INI' : '';
[server tlsbal]
listen = 127.0.0.1:%%PORT4%% tls proxy_protocol
tls_certificate = certs/site.pem
tls_certificate_key = certs/site.key

[route tls]
server = tlsbal
match = /
upstream = echo
INI
my $t = WeirTest->new(main => { workers => 1 }, config => <<"INI" . $tls_server);
[http]
access_log = logs/access.log
log_format = \$remote_addr \$realip_remote_addr \$status \$request

[upstream echo]
server = 127.0.0.1:%%PORT1%%

[server balanced]
listen = 127.0.0.1:%%PORT0%% proxy_protocol

[route all]
server = balanced
match = /
upstream = echo
INI

WeirTLS::cert($t, 'site', names => ['localhost']) if $TLS;
my $origin = WeirOrigin->new(port => $t->port(1), handler => 'echo');
$t->start;

my ($FE2, $FE1) = ($t->port(2), $t->port(3));
my $cfg = $t->write_file('haproxy.cfg', $t->subst(<<'CFG'));
global
    maxconn 100

defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend v2
    bind 127.0.0.1:%%PORT2%%
    default_backend weir_v2

frontend v1
    bind 127.0.0.1:%%PORT3%%
    default_backend weir_v1

backend weir_v2
    server weir 127.0.0.1:%%PORT0%% send-proxy-v2

backend weir_v1
    server weir 127.0.0.1:%%PORT0%% send-proxy

frontend tls
    bind 127.0.0.1:%%PORT5%%
    default_backend weir_tls

backend weir_tls
    server weir 127.0.0.1:%%PORT4%% send-proxy-v2
CFG

# HAProxy in the foreground (-db) as our child, in its own process group;
# stopped by its pid at the end, whatever happens.
my $hlog = $t->path('logs/haproxy.log');
my $hpid = fork // die "fork: $!";
if ($hpid == 0) {
    setpgid(0, 0);
    open STDIN, '<', '/dev/null';
    open STDOUT, '>>', $hlog;
    open STDERR, '>>', $hlog;
    exec $HAPROXY, '-db', '-f', $cfg or _exit(127);
}
END {
    local $?;           # waitpid sets it; it is the test's exit code here
    if ($hpid) {
        kill 'TERM', $hpid;
        my $dl = time + 5;
        while (waitpid($hpid, WNOHANG) == 0 && time < $dl) { sleep 0.02 }
        if (waitpid($hpid, WNOHANG) == 0) { kill 'KILL', $hpid; waitpid($hpid, 0) }
    }
}

my $dl = WeirTest::deadline(10);
until (WeirTest::_listening($FE2) && WeirTest::_listening($FE1)
       && WeirTest::_listening($t->port(5))) {
    if (waitpid($hpid, WNOHANG) == $hpid) {
        $hpid = 0;
        BAIL_OUT("haproxy exited at start-up:\n" . ($t->read_file('logs/haproxy.log') // ''));
    }
    die "haproxy did not listen:\n" . ($t->read_file('logs/haproxy.log') // '') if time > $dl;
    sleep 0.02;
}

my $J = WeirOrigin::json();

# curl from 127.0.0.2 through a frontend; returns (status, body).
sub curl {
    my ($port, $path) = @_;
    my $out = $t->path('curl.out');
    unlink $out;
    my $status = `$CURL -s --max-time 10 --interface 127.0.0.2 -o '$out' -w '%{http_code}' http://127.0.0.1:$port$path`;
    return ($status, $t->read_file('curl.out') // '');
}

for my $case ([$FE2, 'v2', 'send-proxy-v2'], [$FE1, 'v1', 'send-proxy']) {
    my ($port, $name, $how) = @$case;
    my ($status, $body) = curl($port, "/hap-$name");
    is($status, '200', "$how: curl through HAProxy gets 200") or diag($body);
    my $d = eval { $J->decode($body) } || {};
    is(WeirOrigin::header($d, 'x-forwarded-for'), '127.0.0.2',
        "$how: the origin sees curl's address (127.0.0.2), not HAProxy's");
    ok($t->wait_for_access_log(qr{^127\.0\.0\.2 127\.0\.0\.1 200 GET /hap-\Q$name\E }),
        "$how: access log \$remote_addr 127.0.0.2, \$realip_remote_addr 127.0.0.1")
        or diag(join "\n", $t->access_log_lines);
}

SKIP: {
    skip 'openssl is not installed (Debian package openssl)', 3 unless $TLS;
    my $out = $t->path('curl.out');
    unlink $out;
    my $port = $t->port(5);
    my $status = `$CURL -s -k --max-time 10 --interface 127.0.0.2 -o '$out' -w '%{http_code}' https://localhost:$port/hap-tls --resolve localhost:$port:127.0.0.1`;
    my $body = $t->read_file('curl.out') // '';
    is($status, '200', 'TLS passthrough, send-proxy-v2: curl gets 200') or diag($body);
    my $d = eval { $J->decode($body) } || {};
    is(WeirOrigin::header($d, 'x-forwarded-for'), '127.0.0.2',
        'TLS passthrough: the origin sees curl\'s address');
    ok($t->wait_for_access_log(qr{^127\.0\.0\.2 127\.0\.0\.1 200 GET /hap-tls }),
        'TLS passthrough: the access log has the relayed address')
        or diag(join "\n", $t->access_log_lines);
}

unlike($t->error_log, qr/connection rejected/, 'no connection from HAProxy was rejected');

WeirOrigin::check_workers($t);
$t->done_testing;
