#!/usr/bin/perl
# TLS to upstreams (`tls = on`): verified against tls_ca for tls_name
# (sent as SNI), a certificate that does not verify is 502 tls_error
# (and another peer is tried), tls_verify = off only by choice, a client
# certificate when the origin asks, pooled TLS connections reused, and
# health checks over TLS. The origins are weir itself on tls listeners.

use strict;
use warnings;
use Test::More;
use WeirTest;
use WeirTLS;

WeirTLS::need_openssl();

# The origin: a weir with two TLS servers, one with a certificate from
# the CA the proxy trusts, one from another CA, and one that wants a
# client certificate.
my $o = WeirTest->new(main => { workers => 1 });
WeirTLS::ca($o, 'ca');
WeirTLS::ca($o, 'other');
WeirTLS::cert($o, 'good', ca => 'ca', names => ['origin.test']);
WeirTLS::cert($o, 'bad', ca => 'other', names => ['origin.test']);
WeirTLS::cert($o, 'proxy', ca => 'ca', names => ['proxy'], client => 1);
$o->write_config(<<'INI');
[http]
access_log = logs/access.log
log_format = "$server_name $request sni=$ssl_server_name client=$ssl_client_verify"

[server good]
listen = 127.0.0.1:%%PORT0%% tls
tls_certificate = certs/good.pem
tls_certificate_key = certs/good.key

[server bad]
listen = 127.0.0.1:%%PORT1%% tls
tls_certificate = certs/bad.pem
tls_certificate_key = certs/bad.key

[server mtls]
listen = 127.0.0.1:%%PORT2%% tls
tls_certificate = certs/good.pem
tls_certificate_key = certs/good.key
tls_client_ca = certs/ca.pem
tls_verify_client = on

[route good]
server = good
match = /
return = 200 from the good origin

[route bad]
server = bad
match = /
return = 200 from the bad origin

[route mtls]
server = mtls
match = /
return = 200 from the mtls origin
INI
$o->start;
my ($good, $bad, $mtls) = map { $o->port($_) } 0 .. 2;
my $certs = $o->path('certs');

my $t = WeirTest->new(main => { workers => 1 });
# origin.test resolves to the origin (the loader's test hook, read instead
# of getaddrinfo(); see t/upstream_resolve.t)
$t->write_file('hosts', "127.0.0.1 origin.test\n");
$ENV{WEIR_TEST_HOSTS} = $t->path('hosts');
$t->write_config(<<"INI");
[http]
access_log = logs/access.log
log_format = "\$request \$status \$error_code connect=\$upstream_connect_time"

[upstream good]
server = 127.0.0.1:$good
tls = on
tls_ca = $certs/ca.pem
tls_name = origin.test
keepalive = 4
health_check = /health
health_interval = 200ms

[upstream byname]
server = origin.test:$good
tls = on
tls_ca = $certs/ca.pem

[upstream bad]
server = 127.0.0.1:$bad
tls = on
tls_ca = $certs/ca.pem
tls_name = origin.test
retries = 0

[upstream wrongname]
server = 127.0.0.1:$good
tls = on
tls_ca = $certs/ca.pem
tls_name = elsewhere.test
retries = 0

[upstream failover]
server = 127.0.0.1:$bad
server = 127.0.0.1:$good
tls = on
tls_ca = $certs/ca.pem
tls_name = origin.test
balance = round_robin
max_fails = 0

[upstream unverified]
server = 127.0.0.1:$bad
tls = on
tls_verify = off

[upstream mtls]
server = 127.0.0.1:$mtls
tls = on
tls_ca = $certs/ca.pem
tls_name = origin.test
tls_certificate = $certs/proxy.pem
tls_certificate_key = $certs/proxy.key

[upstream nocert]
server = 127.0.0.1:$mtls
tls = on
tls_ca = $certs/ca.pem
tls_name = origin.test
retries = 0

[server s]
listen = 127.0.0.1:%%PORT0%%

[route good]
server = s
match = /good/
upstream = good

[route byname]
server = s
match = /byname/
upstream = byname

[route bad]
server = s
match = /bad/
upstream = bad

[route wrongname]
server = s
match = /wrongname/
upstream = wrongname

[route failover]
server = s
match = /failover/
upstream = failover

[route unverified]
server = s
match = /unverified/
upstream = unverified

[route mtls]
server = s
match = /mtls/
upstream = mtls

[route nocert]
server = s
match = /nocert/
upstream = nocert
INI
$t->start;

my $r = $t->http_get('/good/1');
is($r->status, 200, 'a verified TLS upstream');
is($r->body, 'from the good origin', 'its answer');
ok($o->wait_for_access_log(qr{^"?good GET /good/1 HTTP/1\.1 sni=origin\.test}),
   'tls_name went as SNI');

$r = $t->http_get('/byname/1');
is($r->status, 200, 'a peer named by host name: verified for that name');
ok($o->wait_for_access_log(qr{^"?good GET /byname/1 HTTP/1\.1 sni=origin\.test}),
   'which went as SNI without tls_name');

# ---- verification failures: 502 tls_error -----------------------------

my $mark = $t->log_mark;
$r = $t->http_get('/bad/1');
is($r->status, 502, 'a certificate from another CA: 502');
ok($t->wait_for_log(qr{upstream TLS handshake failed \(tls_error\): .*certificate verify failed.*upstream: 127\.0\.0\.1:$bad},
   from => $mark), 'logged as tls_error, with the reason');
ok($t->wait_for_access_log(qr{GET /bad/1 HTTP/1\.1 502 UPSTREAM_TLS_ERROR}),
   '$error_code UPSTREAM_TLS_ERROR');

$mark = $t->log_mark;
$r = $t->http_get('/wrongname/1');
is($r->status, 502, 'a certificate for another name: 502');
ok($t->wait_for_log(qr{\(tls_error\): .*certificate verify failed}, from => $mark),
   'tls_error too');

$r = $t->http_get('/failover/1');
$r = $t->http_get('/failover/2') if $r->status == 200;
is($r->status, 200, 'with another peer: the bad one is skipped, the good one answers');

$r = $t->http_get('/unverified/1');
is($r->status, 200, 'tls_verify = off: any certificate');
is($r->body, 'from the bad origin', 'its answer');

# ---- client certificates ----------------------------------------------

$r = $t->http_get('/mtls/1');
is($r->status, 200, 'an origin that wants a client certificate gets tls_certificate');
ok($o->wait_for_access_log(qr{^"?mtls GET /mtls/1 .* client=SUCCESS}),
   'and verifies it');
$r = $t->http_get('/nocert/1');
is($r->status, 502, 'without one: 502');

# ---- pooled TLS connections are reused --------------------------------

my $c = $t->connect;
for my $i (1 .. 3) {
    $r = $c->request(WeirTest::request('GET', "/good/pool$i"));
    is($r->status, 200, "keep-alive request $i");
}
ok($t->wait_for_access_log(qr{GET /good/pool3 HTTP/1\.1 200 - connect=0\.000}),
   'the last one reused a pooled TLS connection (no connect time)');

# ---- health checks speak TLS ------------------------------------------

ok($o->wait_for_access_log(qr{^"?good GET /health HTTP/1\.1 sni=origin\.test}),
   'health probes over TLS, with SNI');
unlike($t->error_log, qr/health up -> down/, 'and pass');

# ---- a CA file that does not load is named ----------------------------

$t->stop;
(my $broken = $t->config_text) =~ s{tls_ca = \Q$certs\E/ca\.pem\ntls_name = origin\.test\nkeepalive}{tls_ca = $certs/good.key\ntls_name = origin.test\nkeepalive};
$t->write_config($broken);
my $res = $t->weir_ctl('-t');
isnt($res->{rc}, 0, 'weir -t fails on a tls_ca that is not a CA bundle');
like($res->{err}, qr{\[upstream good\] tls_ca: cannot load the CA "[^"]*good\.key"},
     'naming the key and the file');

$o->stop;
$t->done_testing;
