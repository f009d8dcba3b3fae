#!/usr/bin/perl
# Access rules per route: `deny` ranges are refused whatever `allow`
# says, a non-empty `allow` refuses everyone outside it, and a route
# with neither lets everyone in. A refusal is 403 with the usual error
# page, in the access log and the error log, and nothing reaches the
# origin (a body included). The rule is decided on the normalised path's
# route, so /open/../closed/ is closed. Bad addresses fail `weir -t` with
# file:line and key. A path whose ;parameters, cut, would take a guarded
# route (/denied;x/y) is 400. The client here is always 127.0.0.1.

use strict;
use warnings;
use Test::More;
use WeirTest;
use WeirOrigin;

my $t = WeirTest->new(main => { workers => 1 }, config => <<'INI');
[http]
access_log = logs/access.log
log_format = $status $request_uri $error_code

[upstream app]
server = 127.0.0.1:%%PORT1%%

[server s]
listen = 127.0.0.1:%%PORT0%%

[route denied]
server = s
match = /denied/
deny = 127.0.0.1
upstream = app

[route other-net]
server = s
match = /other-net/
allow = 10.0.0.0/8
allow = 192.0.2.0/24 ::1
upstream = app

[route loopback]
server = s
match = /loopback/
allow = 127.0.0.0/8
upstream = app

[route deny-wins]
server = s
match = /deny-wins/
allow = 127.0.0.0/8
deny = 127.0.0.1/32
upstream = app

[route other-host]
server = s
match = /other-host/
deny = 127.0.0.2 10.0.0.0/8
upstream = app

[route static-closed]
server = s
match = /closed/
allow = 192.0.2.1
return = 200 secret

[route open]
server = s
match = /
upstream = app
INI

my $o = WeirOrigin->new(port => $t->port(1), handler => 'echo');
$t->start;

sub status_and_origin {
    my ($path, %o) = @_;
    my $n = $o->request_count;
    my $r = $o{raw} ? $t->http($o{raw}) : $t->http_get($path);
    return ($r, $o->request_count - $n);
}

for my $c (['/denied/x', 403, 'deny names the client'],
           ['/other-net/x', 403, 'the client is outside allow'],
           ['/loopback/x', 200, 'the client is inside allow'],
           ['/deny-wins/x', 403, 'in allow and in deny: deny wins'],
           ['/other-host/x', 200, 'deny names others only'],
           ['/x', 200, 'a route without rules'],
           ['/closed/', 403, 'a return route is guarded too'],
           ['/open/../closed/', 403, 'the rule of the normalised path'],
           ['/loopback/%2e%2e/denied/', 403, '... with an encoded dot-dot'],
           # "/" would take it as written, but a Tomcat-style origin cuts
           # the ;parameters and serves /denied/x: refused as ambiguous
           ['/denied;jsessionid=1/x', 400, 'a path parameter hiding the denied route'],
           ['/denied;/x', 400, '... an empty one'],
           ['/;/denied/x', 400, '... a parameter segment before it']) {
    my ($path, $want, $what) = @$c;
    # the origin may log after the answer: wait for it on a 200
    my ($r, undef) = status_and_origin($path);
    is($r->status, $want, "$what ($path): $want") or diag($r->summary);
    if ($want == 403) {
        like($r->body, qr/403|FORBIDDEN/, "$path: the generated error page");
        unlike($r->body, qr/secret/, "$path: not the guarded answer");
    }
}

# Nothing refused reached the origin: it saw only the allowed paths.
ok($o->wait_until(sub { $_[0]->request_count >= 3 }), 'the origin saw the allowed requests');
my @seen = sort map { $_->{target} } $o->requests;
is_deeply(\@seen, [ '/loopback/x', '/other-host/x', '/x' ],
    'the origin saw only the allowed requests');

# JSON error page for a client that wants one.
my $r = $t->http_get('/denied/j', Accept => 'application/json');
like($r->body, qr/"error"\s*:\s*"FORBIDDEN"/, '403 as JSON: its code');

# A refused request with a body: 403, the body never proxied.
my $n = $o->request_count;
$r = $t->http(WeirTest::request('POST', '/denied/post', body => 'x' x 5000,
    Connection => 'close'));
is($r->status, 403, 'POST with a body to a denied route: 403');
is($o->request_count, $n, '... the origin got nothing');

# The same connection goes on after a refused GET (keep-alive).
my $c = $t->connect;
$r = $c->request(WeirTest::request('GET', '/denied/ka'));
is($r->status, 403, 'keep-alive: 403');
$r = $c->request(WeirTest::request('GET', '/loopback/ka', Connection => 'close'));
is($r->status, 200, '... and the next request on it is served');
$c->close;

ok($t->wait_for_access_log(qr{^403 /denied/x FORBIDDEN$}),
    'access log: the 403 and its code');
ok($t->wait_for_log(qr/access forbidden by rule of \[route denied\]/),
    'error log: the route that refused');

# Bad addresses: weir -t names file:line and key.
for my $bad (['allow = 10.0.0.300', 'allow'], ['deny = 10.0.0.0/33', 'deny'],
             ['deny = example.com', 'deny']) {
    my ($line, $key) = @$bad;
    my $conf = $t->path("conf/bad-$key.ini");
    open my $fh, '>', $conf or die;
    print $fh "[server s]\nlisten = 127.0.0.1:1\n[route r]\nserver = s\n"
        . "match = /\n$line\nreturn = 200 x\n";
    close $fh;
    my $res = $t->weir_cmd('-t', '-p', $t->prefix, '-c', $conf);
    isnt($res->{rc}, 0, "weir -t refuses '$line'");
    like($res->{err}, qr/bad-\Q$key\E\.ini:6: \[route r\] \Q$key\E: invalid address/,
        "... naming file:line and key") or diag($res->{err});
}

$t->done_testing;
