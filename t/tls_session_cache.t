#!/usr/bin/perl
# Without session tickets (tls_session_tickets = off), sessions resume
# from the per-worker session cache: on the worker that made them, and
# only there (a full handshake on the other one). With the cache off as
# well, nothing resumes. The counterpart of t/tls_sni.t, where tickets
# (keys shared in shm) resume on every worker.

use strict;
use warnings;
use Test::More;
use WeirTest;
use WeirTLS;

WeirTLS::need_openssl();

my $t = WeirTest->new(main => { workers => 2 });
WeirTLS::cert($t, 'site', names => ['localhost']);
$t->write_config(<<'INI');
[http]
access_log = logs/access.log
log_format = "$pid r=$ssl_session_reused $request"

[server cached]
listen = 127.0.0.1:%%PORT0%% tls
tls_certificate = certs/site.pem
tls_certificate_key = certs/site.key
tls_session_tickets = off

[server none]
listen = 127.0.0.1:%%PORT1%% tls
tls_certificate = certs/site.pem
tls_certificate_key = certs/site.key
tls_session_tickets = off
tls_session_cache = 0

[route cached]
server = cached
match = /
return = 200 cached

[route none]
server = none
match = /
return = 200 none
INI
$t->start;

# Connect with the saved session until both workers have answered at
# least once (bounded); returns {pid => [reused flags]}.
sub rounds {
    my ($port, $tag) = @_;
    my $sess = $t->path("sess-$tag.pem");
    WeirTLS::s_client($t, port => $port, args => [ '-sess_out', $sess,
        '-quiet', '-ign_eof' ],
        input => "GET /$tag/first HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    my ($l) = $t->wait_for_access_log(qr{ GET /$tag/first });
    my ($issuer) = ($l // '') =~ /^"?(\d+)/;
    my %seen;
    for my $i (1 .. 40) {
        WeirTLS::s_client($t, port => $port, args => [ '-sess_in', $sess,
            '-quiet', '-ign_eof' ],
            input => "GET /$tag/$i HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        my ($line) = $t->wait_for_access_log(qr{ GET /$tag/$i });
        my ($pid, $r) = ($line // '') =~ /^"?(\d+) r=(\S)/;
        push @{ $seen{$pid} }, $r if $pid;
        last if keys %seen >= 2 && $seen{$issuer // 0};
    }
    return ($issuer, \%seen);
}

my ($issuer, $seen) = rounds($t->port(0), 'cached');
ok($issuer, 'a first handshake');
is(scalar keys %$seen, 2, 'both workers answered');
ok(@{ $seen->{$issuer} || [] } && !grep({ $_ ne 'r' } @{ $seen->{$issuer} }),
   'the worker that made the session resumes it (session cache)');
my ($other) = grep { $_ != $issuer } keys %$seen;
ok($other && !grep({ $_ eq 'r' } @{ $seen->{$other} }),
   'the other worker does a full handshake (no shared tickets)');

($issuer, $seen) = rounds($t->port(1), 'none');
ok(!grep({ $_ eq 'r' } map { @$_ } values %$seen),
   'with the cache off too, nothing resumes');

$t->done_testing;
