#!/usr/bin/perl
# Upstream TLS session reuse (tls_session_reuse, on by default): a new
# connection to a peer offers the session of the last handshake with it,
# and the origin resumes it (seen from the origin: $ssl_session_reused;
# and from weir: weir_upstream_tls_handshakes_total and
# $upstream_tls_resumed). With TLS 1.3 (the
# session arrives as a ticket after the handshake) and TLS 1.2. Off, every
# connection is a full handshake. An origin restarted with new ticket keys
# declines the session: the request still succeeds, with a full
# handshake, and the next one resumes the new session. The origin is weir
# itself on tls listeners; keepalive = 0 makes every request a new
# upstream connection.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use WeirTest;
use WeirTLS;

WeirTLS::need_openssl();

my $o = WeirTest->new(main => { workers => 1 });
WeirTLS::ca($o, 'ca');
WeirTLS::ca($o, 'other');
WeirTLS::cert($o, 'good', ca => 'ca', names => ['origin.test']);
WeirTLS::cert($o, 'bad', ca => 'other', names => ['origin.test']);
my $origin_conf = <<'INI';
[http]
access_log = logs/access.log
log_format = "$server_name $request reused=$ssl_session_reused $ssl_protocol"

[server v13]
listen = 127.0.0.1:%%PORT0%% tls
tls_certificate = certs/CERT.pem
tls_certificate_key = certs/CERT.key

[server v12]
listen = 127.0.0.1:%%PORT1%% tls
tls_certificate = certs/CERT.pem
tls_certificate_key = certs/CERT.key
tls_protocols = TLSv1.2

[route v13]
server = v13
match = /
return = 200 from v13

[route v12]
server = v12
match = /
return = 200 from v12
INI
(my $good_conf = $origin_conf) =~ s/CERT/good/g;
(my $bad_conf = $origin_conf) =~ s/CERT/bad/g;
$o->write_config($good_conf);
$o->start;
my ($v13, $v12) = map { $o->port($_) } 0 .. 1;
my $certs = $o->path('certs');

my $t = WeirTest->new(main => { workers => 1 });
my $ups = '';
for my $u (['reuse', $v13, ''], ['reuse12', $v12, ''],
           ['noreuse', $v13, "tls_session_reuse = off\n"]) {
    $ups .= "[upstream $u->[0]]\nserver = 127.0.0.1:$u->[1]\ntls = on\n"
          . "tls_ca = $certs/ca.pem\ntls_name = origin.test\nkeepalive = 0\n"
          . "retries = 0\nmax_fails = 0\n$u->[2]\n"
          . "[route $u->[0]]\nserver = s\nmatch = /$u->[0]/\n"
          . "upstream = $u->[0]\n\n";
}
$ups .= "[upstream pooled]\nserver = 127.0.0.1:$v13\ntls = on\n"
      . "tls_ca = $certs/ca.pem\ntls_name = origin.test\nkeepalive = 4\n\n"
      . "[route pooled]\nserver = s\nmatch = /pooled/\nupstream = pooled\n\n";
$t->write_config(<<"INI");
[http]
access_log = logs/access.log
log_format = "\$request \$status tls=\$upstream_tls_resumed"

[server s]
listen = 127.0.0.1:%%PORT0%%

$ups
[admin]
listen = 127.0.0.1:%%PORT9%%
INI
$t->start;

# GET through the proxy; then the origin's line for it: "r" or "."
sub via {
    my ($path) = @_;
    my $r = $t->http_get($path);
    return ($r->status, undef) if $r->status != 200;
    return (200, undef)
        unless $o->wait_for_access_log(qr{ GET \Q$path\E HTTP/1\.1 reused=});
    my ($line) = grep { m{ GET \Q$path\E HTTP/1\.1 reused=} }
                 $o->access_log_lines;
    my ($reused) = $line =~ /reused=(\S)/;
    return (200, $reused, $line);
}

sub metrics {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port(9), Proto => 'tcp', Timeout => 5)
        or return '';
    print $s "GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n";
    local $/;
    my $resp = eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm(10 * WeirTest::_detect_scale());
        my $x = <$s>;
        alarm(0);
        $x;
    } // '';
    close $s;
    return $resp;
}

sub handshakes {
    my ($u, $resumed) = @_;
    my ($n) = metrics() =~ m{^weir_upstream_tls_handshakes_total\{upstream="$u",resumed="$resumed"\} (\d+)$}m;
    return $n // -1;
}

# ---- TLS 1.3: the ticket that came after the handshake is offered -----

my ($st, $reused, $line) = via('/reuse/1');
is($st, 200, 'first request through a TLS upstream');
is($reused, '.', 'a full handshake (nothing to resume yet)');
like($line // '', qr/TLSv1\.3/, 'over TLS 1.3');
for my $i (2 .. 4) {
    ($st, $reused) = via("/reuse/$i");
    is($st, 200, "request $i: 200");
    is($reused, 'r', "request $i: a new connection that resumed the session");
}
is(handshakes('reuse', 'no'), 1, 'metric: one full handshake');
is(handshakes('reuse', 'yes'), 3, 'metric: three resumed');

# ---- TLS 1.2: the session comes with the handshake ----------------------

($st, $reused, $line) = via('/reuse12/1');
is($st, 200, 'TLS 1.2 origin');
is($reused, '.', 'first: full');
like($line // '', qr/TLSv1\.2/, 'over TLS 1.2');
for my $i (2 .. 3) {
    ($st, $reused) = via("/reuse12/$i");
    is($reused, 'r', "TLS 1.2 request $i resumed");
}

# ---- tls_session_reuse = off ------------------------------------------

for my $i (1 .. 3) {
    ($st, $reused) = via("/noreuse/$i");
    is($st, 200, "reuse off, request $i: 200");
    is($reused, '.', "reuse off, request $i: a full handshake");
}
is(handshakes('noreuse', 'no'), 3, 'metric: reuse off, three full');
is(handshakes('noreuse', 'yes'), 0, 'metric: reuse off, none resumed');

# ---- $upstream_tls_resumed ----------------------------------------------

sub proxy_line {
    my ($path) = @_;
    $t->wait_for_access_log(qr{GET \Q$path\E HTTP});
    my ($l) = grep { m{GET \Q$path\E HTTP} } $t->access_log_lines;
    return $l // '';
}
like(proxy_line('/reuse/1'), qr/ 200 tls=\."?$/, '$upstream_tls_resumed: . for a full handshake');
like(proxy_line('/reuse/2'), qr/ 200 tls=r"?$/, 'r for a resumed one');
like(proxy_line('/noreuse/2'), qr/ 200 tls=\."?$/, '. with reuse off');
my $kc = $t->connect;
is($kc->request(WeirTest::request('GET', '/pooled/1'))->status, 200, 'pooled 1');
is($kc->request(WeirTest::request('GET', '/pooled/2'))->status, 200, 'pooled 2');
like(proxy_line('/pooled/2'), qr/ 200 tls=-"?$/, '- on a pooled connection (no handshake)');
$kc->close;

# ---- the origin restarts: new ticket keys, an empty session cache -------

$o->restart;
($st, $reused) = via('/reuse/after-restart');
is($st, 200, 'after the origin restarted: the request succeeds');
is($reused, '.', 'with a full handshake (the old session was declined)');
($st, $reused) = via('/reuse/after-restart-2');
is($reused, 'r', 'and the next one resumes the new session');
($st, $reused) = via('/reuse12/after-restart');
is($st, 200, 'TLS 1.2 after the restart: 200');
is($reused, '.', 'full');
($st, $reused) = via('/reuse12/after-restart-2');
is($reused, 'r', 'then resumed');
is(handshakes('reuse', 'no'), 2, 'metric: two full handshakes in all');
is(handshakes('reuse', 'yes'), 4, 'metric: four resumed in all');

# ---- a failed handshake drops the session --------------------------------

# The origin reloads (its ticket keys, in its shm, stay) with a certificate
# the proxy does not trust and tickets off, so it declines the session:
# the full handshake fails verification (502). Reloaded back to the good
# certificate with tickets on, it would resume the old session, but the
# proxy dropped it: a full handshake.
sub origin_reload {
    my ($conf) = @_;
    $o->write_config($conf);
    my $m = $o->log_mark;
    $o->signal('HUP');
    ok($o->wait_for_log(qr/reload: generation \d+ started/, from => $m),
       'origin reloaded');
    $o->wait_workers(sub { @_ == 1 });
}
($st, $reused) = via('/reuse/before-untrusted');
is($reused, 'r', 'a session to offer');
(my $declining = $bad_conf) =~ s/(tls_certificate_key = certs\/bad\.key\n)/$1tls_session_tickets = off\n/g;
origin_reload($declining);
my $mark = $t->log_mark;
my $r = $t->http_get('/reuse/untrusted');
is($r->status, 502, 'an origin whose certificate does not verify: 502');
ok($t->wait_for_log(qr{\(tls_error\): .*certificate verify failed}, from => $mark),
   'tls_error');
origin_reload($good_conf);
($st, $reused) = via('/reuse/trusted-again');
is($st, 200, 'the origin trusted again: 200');
is($reused, '.', 'a full handshake: the session went with the failure');
($st, $reused) = via('/reuse/trusted-again-2');
is($reused, 'r', 'then resumed');

# ---- a reload of the proxy starts without sessions -----------------------

$mark = $t->log_mark;
$t->signal('HUP');
ok($t->wait_for_log(qr/reload: generation 2 started/, from => $mark),
   'proxy reloaded');
$t->wait_workers(sub { @_ == 1 });
($st, $reused) = via('/reuse/after-proxy-reload');
is($st, 200, 'after the proxy reloaded: 200');
is($reused, '.', 'a full handshake (new contexts, no sessions)');
($st, $reused) = via('/reuse/after-proxy-reload-2');
is($reused, 'r', 'then resumed');

$o->stop;
$t->done_testing;
