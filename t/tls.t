#!/usr/bin/perl
# TLS termination: `listen = ... tls` with a throw-away certificate made
# here; TLS 1.2 and 1.3 only, ALPN http/1.1, the $ssl_ variables, https
# for $scheme and X-Forwarded-Proto, files and large bodies over TLS,
# pipelined requests in one record, handshakes that stall or are garbage,
# and certificates that do not load (weir -t names the file).

use strict;
use warnings;
use Test::More;
use WeirTest;
use WeirOrigin;
use WeirTLS;

WeirTLS::need_openssl();

my $origin = WeirOrigin->new(handler => 'echo');
my $t = WeirTest->new(files => {
    'html/index.html' => "hello over tls\n",
    'html/big.bin' => join('', map { chr(($_ * 7) % 251) } 1 .. 3_000_000),
});
WeirTLS::ca($t, 'ca');
WeirTLS::cert($t, 'site', ca => 'ca', names => ['localhost']);
my $ca = $t->path('certs/ca.pem');
my $port = $t->port(0);

$t->write_config(<<"INI");
[http]
access_log = logs/access.log
log_format = "\$request \$status \$scheme \$ssl_protocol \$ssl_cipher sni=\$ssl_server_name r=\$ssl_session_reused"
client_header_timeout = 1s

[upstream app]
server = ${\ $origin->addr }

[server s]
listen = 127.0.0.1:%%PORT0%% tls
tls_certificate = certs/site.pem
tls_certificate_key = certs/site.key
security_headers = on

[route app]
server = s
match = /app/
upstream = app

[route files]
server = s
match = /
root = html
INI
$t->start;

# ---- a request over TLS, the protocol versions ------------------------

SKIP: {
    skip 'curl is not installed', 6 unless WeirTLS::have_curl();
    my $r = WeirTLS::curl($t, '--cacert', $ca, '-v', '--resolve',
        "localhost:$port:127.0.0.1", "https://localhost:$port/");
    like($r->{out}, qr{^HTTP/1\.1 200}m, 'GET over TLS verified against the CA');
    like($r->{out}, qr/hello over tls/, 'the file came');
    like($r->{out}, qr{ALPN: server accepted http/1\.1}, 'ALPN chose http/1.1');
    like($r->{out}, qr{^Strict-Transport-Security: max-age=}mi,
         'HSTS (security_headers) on a TLS connection');

    my $big = WeirTLS::run($t, [ 'curl', '-sS', '--cacert', $ca, '--resolve',
        "localhost:$port:127.0.0.1", "https://localhost:$port/big.bin",
        '-o', $t->path('big.out') ]);
    is($big->{rc}, 0, 'a 3 MB file over TLS');
    ok($t->read_file('big.out') eq $t->read_file('html/big.bin'),
       'sent whole and intact (sendfile through SSL_write)');
}

my $v13 = WeirTLS::s_client($t, port => $port, args => [ '-tls1_3',
    '-CAfile', $ca, '-servername', 'localhost' ], input => '');
like($v13->{out}, qr/New, TLSv1\.3, Cipher is TLS_/, 'TLS 1.3 offered');
like($v13->{out}, qr/^Verification: OK/m, 'chain verifies');

my $v12 = WeirTLS::s_client($t, port => $port, args => [ '-tls1_2',
    '-CAfile', $ca ], input => '');
like($v12->{out}, qr/New, TLSv1\.2, Cipher is /, 'TLS 1.2 offered');
like($v12->{out}, qr/Cipher is ECDHE-RSA-AES\d+-GCM-SHA\d+/,
     'TLS 1.2 negotiates a forward-secret AEAD suite');

for my $old ([ '-tls1_1', 'TLS 1.1' ], [ '-tls1', 'TLS 1.0' ]) {
    my $r = WeirTLS::s_client($t, port => $port,
        args => [ $old->[0], '-cipher', 'DEFAULT:@SECLEVEL=0' ], input => '');
    like($r->{out}, qr/Cipher is \(NONE\)/, "$old->[1] refused");
}

my $weak = WeirTLS::s_client($t, port => $port, args => [ '-tls1_2',
    '-cipher', 'AES128-SHA' ], input => '');
like($weak->{out}, qr/Cipher is \(NONE\)/,
       'a suite without forward secrecy is refused');

# ---- pipelining: several requests in one TLS record ------------------

my $three = join '', map { "GET /index.html?$_ HTTP/1.1\r\nHost: localhost\r\n\r\n" } 1 .. 2;
$three .= "GET /index.html?3 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
my $p = WeirTLS::s_client($t, port => $port, args => [ '-quiet',
    '-servername', 'localhost', '-ign_eof' ], input => $three);
my $n = () = $p->{out} =~ m{HTTP/1\.1 200}g;
is($n, 3, 'three pipelined requests in one record: three answers');

# The same in small records (512 bytes, the least OpenSSL sends) that
# arrive together, each request exactly two records: weir reads ahead,
# so the records after a request wait inside OpenSSL, where no edge
# announces them, and must still be answered.
my $many = '';
for my $i (1 .. 3) {
    my $head = "GET /index.html?m$i HTTP/1.1\r\nHost: localhost\r\n"
        . ($i == 3 ? "Connection: close\r\n" : '') . "X-Pad: ";
    $many .= $head . ('x' x (1024 - length($head) - 4)) . "\r\n\r\n";
}
is(length($many), 3 * 1024, 'each request is two whole records');
my $pm = WeirTLS::s_client($t, port => $port, args => [ '-quiet',
    '-servername', 'localhost', '-ign_eof', '-max_send_frag', '512' ],
    input => $many);
$n = () = $pm->{out} =~ m{HTTP/1\.1 200}g;
is($n, 3, 'three pipelined requests in six small records: three answers');

# ---- $variables, the proxy's view -------------------------------------

my $pr = WeirTLS::s_client($t, port => $port, args => [ '-quiet',
    '-servername', 'localhost', '-ign_eof' ],
    input => "GET /app/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
like($pr->{out}, qr{HTTP/1\.1 200}, 'proxied over TLS');
my ($req) = grep { $_->{target} eq '/app/x' } $origin->requests;
is(WeirOrigin::header($req, 'X-Forwarded-Proto'), 'https',
   'X-Forwarded-Proto: https');
ok($t->wait_for_access_log(qr{GET /app/x HTTP/1\.1 200 https TLSv1\.3 TLS_\S+ sni=localhost r=\.}),
   'access log: $scheme https, $ssl_protocol, $ssl_cipher, $ssl_server_name');
ok($t->wait_for_access_log(qr{GET /index.html\?1 HTTP/1\.1 200 https TLSv1\.3}),
   'the pipelined requests are logged');

# ---- handshakes that stall or are not TLS -----------------------------

my $mark = $t->log_mark;
my $stall = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
    or die "connect: $!";
ok($t->wait_for_log(qr/\[info\].*TLS handshake timed out/, from => $mark),
   'a client that never sends a ClientHello is cut at client_header_timeout');
my $dl = WeirTest::deadline(5);
my $buf;
my $got = sysread($stall, $buf, 1);
is($got, 0, 'and its connection is closed');

# Half a ClientHello, then silence.
$mark = $t->log_mark;
my $half = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
    or die "connect: $!";
syswrite($half, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
ok($t->wait_for_log(qr/TLS handshake timed out/, from => $mark),
   'a handshake that stalls half-way is timed out too');

$mark = $t->log_mark;
my $plain = $t->http_get('/index.html', port => $port);
ok($t->wait_for_log(qr/\[info\].*TLS handshake failed: /, from => $mark),
   'plain HTTP on the TLS port: handshake failed (info)');
ok(!$plain || !$plain->status || $plain->status != 200,
   'and no answer in clear text');

# ---- renegotiation is off ---------------------------------------------

my $reneg = WeirTLS::s_client($t, port => $port, args => [ '-tls1_2',
    '-servername', 'localhost' ], input => "R\n");
like($reneg->{out}, qr/RENEGOTIATING/, 'a client asks to renegotiate');
like($reneg->{out}, qr/no renegotiation/,
     'weir answers with the no_renegotiation alert');

# ---- the workers are fine ---------------------------------------------

SKIP: {
    skip 'curl is not installed', 1 unless WeirTLS::have_curl();
    my $r = WeirTLS::curl($t, '--cacert', $ca, '--resolve',
        "localhost:$port:127.0.0.1", "https://localhost:$port/");
    like($r->{out}, qr{^HTTP/1\.1 200}m, 'still serving after all that');
}

$t->stop;

# ---- certificates that do not load: weir -t names the file -------------

$t->write_file('certs/junk.pem', "not a certificate\n");
WeirTLS::cert($t, 'other', names => ['other']);
my $base = <<'INI';
[server s]
listen = 127.0.0.1:%%PORT0%% tls
[route r]
server = s
match = /
return = 200 x
INI
(my $bad = $base) =~ s/tls\n/tls\ntls_certificate = certs\/junk.pem\ntls_certificate_key = certs\/site.key\n/;
$t->write_config($bad);
my $r = $t->weir_ctl('-t');
isnt($r->{rc}, 0, 'weir -t fails on a file that is not a certificate');
like($r->{err}, qr{conf/weir\.ini:\d+: \[server s\] tls_certificate: cannot load the certificate "[^"]*certs/junk\.pem"},
     'naming the file and the key');

(my $mismatch = $base) =~ s/tls\n/tls\ntls_certificate = certs\/site.pem\ntls_certificate_key = certs\/other.key\n/;
$t->write_config($mismatch);
$r = $t->weir_ctl('-t');
like($r->{err}, qr{cannot load the key "[^"]*certs/other\.key": key values mismatch},
     'a key of another certificate is refused by name');

(my $nokey = $base) =~ s/tls\n/tls\ntls_certificate = certs\/site.pem\n/;
$t->write_config($nokey);
$r = $t->weir_ctl('-t');
like($r->{err}, qr{\[server s\] tls_certificate_key: 0 key\(s\) for 1 certificate},
     'a certificate without its key');

(my $pp = $base) =~ s/tls\n/tls proxy_protocol\ntls_certificate = certs\/site.pem\ntls_certificate_key = certs\/site.key\n/;
$t->write_config($pp);
$r = $t->weir_ctl('-t');
is($r->{rc}, 0, 'tls with proxy_protocol on one listen loads (t/tls_proxy_protocol.t)')
    or diag($r->{err});

$t->write_config($bad);
$r = $t->weir_cmd('-p', $t->prefix, '-c', $t->conf_file);
isnt($r->{rc}, 0, 'the start fails too');
like($r->{err}, qr{cannot load the certificate "[^"]*certs/junk\.pem"},
     'with the same message');

$t->done_testing;
