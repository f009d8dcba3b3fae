#!/usr/bin/perl
# Client certificates (tls_client_ca, tls_verify_client on | optional,
# per server, switched by SNI) and OCSP stapling from a file, per
# certificate (RSA stapled, ECDSA not).

use strict;
use warnings;
use Test::More;
use WeirTest;
use WeirTLS;

WeirTLS::need_openssl();

my $t = WeirTest->new;
WeirTLS::ca($t, 'ca');
WeirTLS::ca($t, 'other');
WeirTLS::cert($t, 'site', ca => 'ca', names => ['open.test', 'must.test', 'may.test']);
WeirTLS::cert($t, 'site-ec', ca => 'ca', names => ['open.test'], type => 'ec');
WeirTLS::cert($t, 'alice', ca => 'ca', names => ['alice'], client => 1);
WeirTLS::cert($t, 'mallory', ca => 'other', names => ['mallory'], client => 1);
WeirTLS::ocsp($t, 'site');
my $ca = $t->path('certs/ca.pem');
my $port = $t->port(0);

$t->write_config(<<'INI');
[http]
access_log = logs/access.log
log_format = "$server_name $request $status verify=$ssl_client_verify dn=$ssl_client_s_dn"

[server open]
listen = 127.0.0.1:%%PORT0%% tls
server_name = open.test
tls_certificate = certs/site.pem
tls_certificate_key = certs/site.key
tls_certificate = certs/site-ec.pem
tls_certificate_key = certs/site-ec.key
tls_stapling_file = certs/site.ocsp

[server must]
listen = 127.0.0.1:%%PORT0%% tls
server_name = must.test
tls_certificate = certs/site.pem
tls_certificate_key = certs/site.key
tls_client_ca = certs/ca.pem
tls_verify_client = on

[server may]
listen = 127.0.0.1:%%PORT0%% tls
server_name = may.test
tls_certificate = certs/site.pem
tls_certificate_key = certs/site.key
tls_client_ca = certs/ca.pem
tls_verify_client = optional

[route open]
server = open
match = /
return = 200 open

[route must]
server = must
match = /
return = 200 must

[route may]
server = may
match = /
return = 200 may
INI
$t->start;

sub get {
    my ($sni, $path, @args) = @_;
    return WeirTLS::s_client($t, port => $port, args => [ '-CAfile', $ca,
        '-servername', $sni, '-ign_eof', @args ],
        input => "GET $path HTTP/1.1\r\nHost: $sni\r\nConnection: close\r\n\r\n")->{out};
}
my @alice = ('-cert', $t->path('certs/alice.pem'), '-key', $t->path('certs/alice.key'));
my @mallory = ('-cert', $t->path('certs/mallory.pem'), '-key', $t->path('certs/mallory.key'));

# ---- tls_verify_client = on -------------------------------------------

my $mark = $t->log_mark;
unlike(get('must.test', '/none'), qr{HTTP/1\.1 200}, 'on: no client certificate, no answer');
ok($t->wait_for_log(qr/TLS handshake failed: .*certificate/i, from => $mark),
   'the handshake failure is logged (info)');
my $ok = get('must.test', '/alice', @alice);
like($ok, qr{HTTP/1\.1 200.*must}s, 'on: a certificate from tls_client_ca is let in');
like($ok, qr{Acceptable client certificate CA names\n.*weir test CA ca}i,
     'the CA names are sent to the client');
ok($t->wait_for_access_log(qr{^"?must GET /alice HTTP/1\.1 200 verify=SUCCESS dn=CN=alice}),
   '$ssl_client_verify SUCCESS, $ssl_client_s_dn');
unlike(get('must.test', '/mallory', @mallory), qr{HTTP/1\.1 200},
       'on: a certificate from another CA is refused');

# ---- tls_verify_client = optional -------------------------------------

like(get('may.test', '/none'), qr{HTTP/1\.1 200.*may}s, 'optional: no certificate is fine');
ok($t->wait_for_access_log(qr{^"?may GET /none HTTP/1\.1 200 verify=NONE dn=-}),
   '$ssl_client_verify NONE');
like(get('may.test', '/alice', @alice), qr{HTTP/1\.1 200}, 'optional: a good one is taken');
ok($t->wait_for_access_log(qr{^"?may GET /alice HTTP/1\.1 200 verify=SUCCESS}),
   'and verified');
like(get('may.test', '/mallory', @mallory), qr{HTTP/1\.1 400 },
     'optional: a certificate that does not verify gets 400 '
     . '(t/tls_client_verify.t has the rest)');

# ---- off: the default server asks for nothing -------------------------

my $open = get('open.test', '/', @alice);
like($open, qr{HTTP/1\.1 200.*open}s, 'off: a server without client verification');
like($open, qr/No client certificate CA names sent/, 'asks for no certificate');

# ---- OCSP stapling ----------------------------------------------------

my $st = WeirTLS::s_client($t, port => $port, args => [ '-CAfile', $ca,
    '-servername', 'open.test', '-status', '-tls1_2', '-sigalgs',
    'RSA+SHA256:RSA-PSS+SHA256', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256' ],
    input => '')->{out};
like($st, qr/OCSP Response Status: successful/, 'the RSA certificate comes with its OCSP response');
like($st, qr/Cert Status: good/, 'saying good');
my $ec = WeirTLS::s_client($t, port => $port, args => [ '-CAfile', $ca,
    '-servername', 'open.test', '-status', '-tls1_2', '-sigalgs',
    'ECDSA+SHA256', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256' ],
    input => '')->{out};
like($ec, qr/Cipher is ECDHE-ECDSA/, 'the ECDSA certificate for an ECDSA client');
like($ec, qr/OCSP response: no response sent/, 'without a response: none was given for it');
my $st13 = WeirTLS::s_client($t, port => $port, args => [ '-CAfile', $ca,
    '-servername', 'open.test', '-status', '-tls1_3', '-sigalgs',
    'rsa_pss_rsae_sha256' ], input => '')->{out};
like($st13, qr/OCSP Response Status: successful/, 'stapled over TLS 1.3 too');

# ---- a response that is not one ---------------------------------------

$t->stop;
$t->write_file('certs/site.ocsp', "junk");
my $r = $t->weir_ctl('-t');
isnt($r->{rc}, 0, 'weir -t fails on a stapling file that is not an OCSP response');
like($r->{err}, qr{\[server open\] tls_certificate: "[^"]*certs/site\.ocsp" is not a successful DER OCSP response},
     'naming it');

$t->done_testing;
