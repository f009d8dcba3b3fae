#!/usr/bin/perl
# TLS with several servers on one address: SNI picks the server and so
# the certificate; RSA and ECDSA certificates side by side; sessions
# resumed on another worker (ticket keys in shm); a reload (SIGHUP) with
# a new certificate, and one with a broken file that keeps the old.

use strict;
use warnings;
use Test::More;
use WeirTest;
use WeirTLS;

WeirTLS::need_openssl();

my $t = WeirTest->new(main => { workers => 2 });
WeirTLS::ca($t, 'ca');
WeirTLS::cert($t, 'a-rsa', ca => 'ca', names => ['a.test']);
WeirTLS::cert($t, 'a-ec', ca => 'ca', names => ['a.test'], type => 'ec');
WeirTLS::cert($t, 'b', ca => 'ca', names => ['b.test']);
my $ca = $t->path('certs/ca.pem');
my $port = $t->port(0);

my $config = <<'INI';
[http]
access_log = logs/access.log
log_format = "$pid $server_name sni=$ssl_server_name r=$ssl_session_reused $request"

[server a]
listen = 127.0.0.1:%%PORT0%% tls
server_name = a.test
tls_certificate = certs/a-rsa.pem
tls_certificate_key = certs/a-rsa.key
tls_certificate = certs/a-ec.pem
tls_certificate_key = certs/a-ec.key

[server b]
listen = 127.0.0.1:%%PORT0%% tls
server_name = b.test
tls_certificate = certs/b.pem
tls_certificate_key = certs/b.key

[route a]
server = a
match = /
return = 200 site a

[route b]
server = b
match = /
return = 200 site b
INI
$t->write_config($config);
$t->start;

sub subject {
    my ($out) = @_;
    return $out =~ /^subject=\s*CN\s*=\s*(\S+)/m ? $1 : '';
}

sub hello {
    my (%o) = @_;
    return WeirTLS::s_client($t, port => $port, args => [ '-CAfile', $ca,
        (defined $o{sni} ? ('-servername', $o{sni}) : ('-noservername')),
        @{ $o{args} || [] } ], input => $o{input} // '');
}

# ---- SNI chooses the certificate, Host the server ---------------------

is(subject(hello(sni => 'a.test')->{out}), 'a.test', 'SNI a.test: the certificate of server a');
is(subject(hello(sni => 'b.test')->{out}), 'b.test', 'SNI b.test: the certificate of server b');
is(subject(hello(sni => 'c.test')->{out}), 'a.test', 'an unknown name: the default server\'s');
is(subject(hello()->{out}), 'a.test', 'no SNI: the default server\'s');

my $r = hello(sni => 'b.test', args => [ '-quiet', '-ign_eof' ],
    input => "GET / HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n");
like($r->{out}, qr/site b/, 'a request over SNI b.test for Host b.test: server b');
$r = hello(sni => 'b.test', args => [ '-quiet', '-ign_eof' ],
    input => "GET / HTTP/1.1\r\nHost: nowhere.test\r\nConnection: close\r\n\r\n");
like($r->{out}, qr/site b/, 'a Host matching no server keeps the SNI server');
ok($t->wait_for_access_log(qr/ b sni=b\.test r=\. GET \/ HTTP/),
   '$server_name and $ssl_server_name logged');

SKIP: {
    skip 'curl is not installed', 1 unless WeirTLS::have_curl();
    my $c = WeirTLS::curl($t, '--cacert', $ca, '--resolve',
        "b.test:$port:127.0.0.1", "https://b.test:$port/");
    like($c->{out}, qr/site b/, 'curl verifies b.test\'s certificate by name');
}

# ---- RSA and ECDSA side by side ---------------------------------------

my $ec = hello(sni => 'a.test', args => [ '-tls1_2', '-sigalgs',
    'ECDSA+SHA256', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256' ]);
like($ec->{out}, qr/Cipher is ECDHE-ECDSA-/, 'an ECDSA-only client gets the ECDSA certificate');
like($ec->{out}, qr/^Verification: OK/m, 'which verifies');
my $rsa = hello(sni => 'a.test', args => [ '-tls1_2', '-sigalgs',
    'RSA+SHA256:RSA-PSS+SHA256', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256' ]);
like($rsa->{out}, qr/Cipher is ECDHE-RSA-/, 'an RSA-only client gets the RSA certificate');

# ---- resumption across workers ----------------------------------------

# One full handshake saves a session; reconnect with it until the access
# log shows resumed sessions on two different workers (the kernel spreads
# connections over the workers' sockets by port hash). Bounded tries.
my @workers = $t->worker_pids;
is(scalar @workers, 2, 'two workers');
my $sess = $t->path('sess.pem');
my $first = hello(sni => 'a.test', args => [ '-sess_out', $sess, '-quiet',
    '-ign_eof' ],
    input => "GET /first HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
like($first->{out}, qr/site a/, 'a first, full handshake');
my ($line) = $t->wait_for_access_log(qr{ r=\. GET /first });
my ($issuer) = ($line // '') =~ /^"?(\d+)/;
ok($issuer, "the ticket was issued by worker $issuer");
my (%resumed_on, $tries);
for my $i (1 .. 40) {
    $tries = $i;
    hello(sni => 'a.test', args => [ '-sess_in', $sess, '-quiet', '-ign_eof' ],
        input => "GET /again/$i HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
    my ($l) = $t->wait_for_access_log(qr{ GET /again/$i });
    my ($pid, $reused) = ($l // '') =~ /^"?(\d+) .* r=(\S) GET/;
    $resumed_on{$pid}++ if defined $reused && $reused eq 'r';
    last if keys %resumed_on >= 2;
}
is(scalar keys %resumed_on, 2,
   "the session resumed on both workers (after $tries connections)");
ok(grep({ $_ != ($issuer // 0) } keys %resumed_on),
   'including one that did not issue the ticket');

# TLS 1.3 clients use a ticket once: each resumption must bring a fresh
# ticket, or a client that resumes every time (browsers, wrk) is left
# with nothing and makes a full handshake every other connection.
# s_client writes -sess_out only when a new ticket arrives.
my $prev = $sess;
for my $i (1 .. 4) {
    my $next = $t->path("chain$i.pem");
    my $h = hello(sni => 'a.test', args => [ '-tls1_3', '-sess_in', $prev,
        '-sess_out', $next, '-ign_eof' ],
        input => "GET /chain/$i HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
    like($h->{out}, qr/^Reused, TLSv1\.3/m, "resumption $i with the ticket of the one before");
    ok(-s $next, "resumption $i brought a fresh ticket");
    last unless -s $next;
    $prev = $next;
}

# ---- reload with a new certificate ------------------------------------

my $serial_before = WeirTLS::openssl($t, 'x509', '-noout', '-serial', '-in',
    $t->path('certs/b.pem'));
WeirTLS::cert($t, 'b', ca => 'ca', names => ['b.test']);
my $serial_after = WeirTLS::openssl($t, 'x509', '-noout', '-serial', '-in',
    $t->path('certs/b.pem'));
isnt($serial_after, $serial_before, 'a new certificate for b.test on disk');
sub served_serial {
    my $o = hello(sni => 'b.test', args => [ '-showcerts' ])->{out};
    my ($pem) = $o =~ /(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----)/s;
    return '' unless $pem;
    $t->write_file('served.pem', "$pem\n");
    return WeirTLS::openssl($t, 'x509', '-noout', '-serial', '-in',
        $t->path('served.pem'));
}
is(served_serial(), $serial_before, 'before the reload: the old one is served');
my $mark = $t->log_mark;
$t->signal('HUP');
ok($t->wait_for_log(qr/generation 2/, from => $mark, timeout => 15),
   'SIGHUP: a new generation');
my $dl = WeirTest::deadline(15);
my $now = '';
while (time < $dl) {
    $now = served_serial();
    last if $now eq $serial_after;
    select(undef, undef, undef, 0.1);
}
is($now, $serial_after, 'after the reload: the new certificate is served');

# A broken certificate on reload: named, and the running one stays.
$t->write_file('certs/b.pem', "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n");
$mark = $t->log_mark;
$t->signal('HUP');
ok($t->wait_for_log(qr{reload failed: .*\[server b\] tls_certificate: cannot load the certificate "[^"]*certs/b\.pem"},
   from => $mark, timeout => 15), 'a broken certificate: reload failed, naming the file');
is(served_serial(), $serial_after, 'the running certificate stays');
like(hello(sni => 'a.test', args => [ '-quiet', '-ign_eof' ],
    input => "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")->{out},
    qr/site a/, 'and every site keeps serving');

$t->done_testing;
