#!/usr/bin/perl
# tls_verify_client = optional and optional_no_ca: the handshake completes
# whatever certificate the client sends, and the verdict is judged per
# request: optional answers 400 to a certificate that does not verify
# (none passes), optional_no_ca only records it. $ssl_client_verify
# (SUCCESS, FAILED:reason, NONE) and $ssl_client_s_dn in the access log
# and in set_header values sent to an origin. A request whose Host names
# a server with client verification over another server's TLS session
# is 421.

use strict;
use warnings;
use Test::More;
use WeirTest;
use WeirTLS;
use WeirOrigin;

WeirTLS::need_openssl();

my $t = WeirTest->new;
WeirTLS::ca($t, 'ca');
WeirTLS::ca($t, 'other');
WeirTLS::cert($t, 'site', ca => 'ca',
    names => ['may.test', 'pass.test', 'noca.test', 'must.test', 'open.test']);
WeirTLS::cert($t, 'alice', ca => 'ca', names => ['alice'], client => 1);
WeirTLS::cert($t, 'mallory', ca => 'other', names => ['mallory'], client => 1);
WeirTLS::cert($t, 'old', ca => 'ca', names => ['old'], client => 1, days => -1);
my $ca = $t->path('certs/ca.pem');
my $port = $t->port(0);
my $origin = WeirOrigin->new(port => $t->port(1), handler => 'echo');

my $site = <<'INI';
tls_certificate = certs/site.pem
tls_certificate_key = certs/site.key
INI
$t->write_config(<<"INI");
[http]
access_log = logs/access.log
log_format = "\$server_name \$request_uri \$status verify=\$ssl_client_verify dn=\$ssl_client_s_dn"

[upstream o]
server = 127.0.0.1:%%PORT1%%

[server open]
listen = 127.0.0.1:%%PORT0%% tls
server_name = open.test
$site
[server may]
listen = 127.0.0.1:%%PORT0%% tls
server_name = may.test
$site
tls_client_ca = certs/ca.pem
tls_verify_client = optional

[server pass]
listen = 127.0.0.1:%%PORT0%% tls
server_name = pass.test
$site
tls_client_ca = certs/ca.pem
tls_verify_client = optional_no_ca

[server noca]
listen = 127.0.0.1:%%PORT0%% tls
server_name = noca.test
$site
tls_verify_client = optional_no_ca

[server must]
listen = 127.0.0.1:%%PORT0%% tls
server_name = must.test
$site
tls_client_ca = certs/ca.pem
tls_verify_client = on

[route open]
server = open
match = /
return = 200 open

[route may]
server = may
match = /
return = 200 may

[route pass]
server = pass
match = /
upstream = o
set_header = X-Client-Verify: \$ssl_client_verify
set_header = X-Client-DN: <\$ssl_client_s_dn>

[route noca]
server = noca
match = /
return = 200 noca

[route must]
server = must
match = /
return = 200 must
INI
$t->start;

sub get {
    my ($sni, $host, $path, $who) = @_;
    my @cert = $who ? ('-cert', $t->path("certs/$who.pem"),
                       '-key', $t->path("certs/$who.key")) : ();
    return WeirTLS::s_client($t, port => $port, args => [ '-CAfile', $ca,
        '-servername', $sni, '-ign_eof', @cert ],
        input => "GET $path HTTP/1.1\r\nHost: $host\r\nConnection: close\r\n\r\n")->{out};
}

# ---- optional ------------------------------------------------------------

like(get('may.test', 'may.test', '/none'), qr{HTTP/1\.1 200.*may}s,
     'optional: no certificate passes');
ok($t->wait_for_access_log(qr{^"?may /none 200 verify=NONE dn=-}), 'logged NONE');
like(get('may.test', 'may.test', '/alice', 'alice'), qr{HTTP/1\.1 200.*may}s,
     'optional: a good certificate passes');
ok($t->wait_for_access_log(qr{^"?may /alice 200 verify=SUCCESS dn=CN=alice}),
   'logged SUCCESS with the subject');

my $mark = $t->log_mark;
my $bad = get('may.test', 'may.test', '/mallory', 'mallory');
like($bad, qr{HTTP/1\.1 400 Bad Request}, 'optional: another CA\'s certificate: the handshake completes, the request is 400');
like($bad, qr{CLIENT_CERTIFICATE_ERROR}, 'the page says why');
unlike($bad, qr{\bmay\b(?!\.test)}, 'the route did not answer');
ok($t->wait_for_access_log(qr{^"?may /mallory 400 verify=FAILED:\S.* dn=CN=mallory}),
   'logged FAILED:reason');
ok($t->wait_for_log(qr/client certificate did not verify: FAILED:/, from => $mark),
   'the refusal is in the error log');

my $two = WeirTLS::s_client($t, port => $port, args => [ '-CAfile', $ca,
    '-servername', 'may.test', '-ign_eof', '-cert', $t->path('certs/mallory.pem'),
    '-key', $t->path('certs/mallory.key') ],
    input => "GET /ka1 HTTP/1.1\r\nHost: may.test\r\n\r\n"
           . "GET /ka2 HTTP/1.1\r\nHost: may.test\r\n\r\n")->{out};
like($two, qr{HTTP/1\.1 400 .*Connection: close}s, 'the 400 closes the connection');
my $answers = () = $two =~ m{HTTP/1\.1 \d{3}}g;
is($answers, 1, 'the pipelined second request gets no answer');

like(get('may.test', 'may.test', '/old', 'old'), qr{HTTP/1\.1 400 }, 'optional: an expired certificate is 400');
ok($t->wait_for_access_log(qr{^"?may /old 400 verify=FAILED:certificate has expired dn=CN=old}),
   'logged FAILED:certificate has expired');

# ---- optional_no_ca: recorded and passed to the origin -------------------

like(get('pass.test', 'pass.test', '/alice', 'alice'), qr{HTTP/1\.1 200}, 'optional_no_ca: a good one passes');
like(get('pass.test', 'pass.test', '/mallory', 'mallory'), qr{HTTP/1\.1 200},
     'optional_no_ca: one that does not verify passes too');
like(get('pass.test', 'pass.test', '/old', 'old'), qr{HTTP/1\.1 200}, 'and an expired one');
like(get('pass.test', 'pass.test', '/none'), qr{HTTP/1\.1 200}, 'and none');
ok($origin->wait_until(sub { $_[0]->request_count >= 4 }), 'the origin got all four');
my %seen = map { $_->{target} => $_ } $origin->requests;
is(WeirOrigin::header($seen{'/alice'}, 'X-Client-Verify'), 'SUCCESS', 'set_header $ssl_client_verify: SUCCESS');
is(WeirOrigin::header($seen{'/alice'}, 'X-Client-DN'), '<CN=alice>', 'set_header $ssl_client_s_dn');
like(WeirOrigin::header($seen{'/mallory'}, 'X-Client-Verify') // '', qr/^FAILED:\S/, 'FAILED:reason for the other CA');
is(WeirOrigin::header($seen{'/old'}, 'X-Client-Verify'), 'FAILED:certificate has expired', 'FAILED:reason for the expired one');
is(WeirOrigin::header($seen{'/none'}, 'X-Client-Verify'), 'NONE', 'NONE without one');
is(WeirOrigin::header($seen{'/none'}, 'X-Client-DN'), '<>', 'and an empty subject');
ok($t->wait_for_access_log(qr{^"?pass /mallory 200 verify=FAILED:\S.* dn=CN=mallory}),
   'the access log records the failure');

like(get('noca.test', 'noca.test', '/alice', 'alice'), qr{HTTP/1\.1 200.*noca}s,
     'optional_no_ca without tls_client_ca: asked for and passed');
ok($t->wait_for_access_log(qr{^"?noca /alice 200 verify=FAILED:\S.* dn=CN=alice}),
   'recorded as FAILED (nothing to verify against)');

# ---- Host and SNI ---------------------------------------------------------

like(get('open.test', 'must.test', '/x'), qr{HTTP/1\.1 421 Misdirected Request},
     'a Host with tls_verify_client = on over a session without it: 421');
like(get('open.test', 'may.test', '/x', 'alice'), qr{HTTP/1\.1 421 },
     'the same for optional');
like(get('may.test', 'open.test', '/x', 'mallory'), qr{HTTP/1\.1 200.*open}s,
     'a Host without client verification is served over any session');
like(get('must.test', 'must.test', '/alice', 'alice'), qr{HTTP/1\.1 200.*must}s,
     'on: the matching session and Host');
unlike(get('must.test', 'must.test', '/mallory', 'mallory'), qr{HTTP/1\.1 },
       'on: a bad certificate still fails the handshake');

# ---- configuration ---------------------------------------------------------

$t->stop;
my $cfg = $t->config_text;
$cfg =~ s/(\[server noca\][^\[]*tls_verify_client = )optional_no_ca/${1}optional/
    or die 'no noca section';
$t->write_config($cfg);
my $r = $t->weir_ctl('-t');
isnt($r->{rc}, 0, 'weir -t: optional without tls_client_ca is an error');
like($r->{err}, qr{\[server noca\] tls_verify_client: needs tls_client_ca}, 'naming it');

$t->done_testing;
