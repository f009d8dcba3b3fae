#!/usr/bin/perl
# One normalised path: the route is chosen on it and the origin is sent
# exactly it (the path re-encoded canonically, the query byte for byte),
# so a client cannot reach /admin/ through a route meant for /public/.
# Each case checks the status the client gets, which origin saw the
# request and the request line it saw. Ambiguous targets (%2F, a
# backslash raw or as %5C, a #fragment, %00, a malformed escape, "..;",
# a ".." above the root, ;parameters whose cutting changes the route)
# are 400 and reach no origin. $request_uri stays
# the raw target in the access log; $normalized_request_uri is the
# forwarded one.

use strict;
use warnings;
use Test::More;
use WeirTest;
use WeirOrigin;

my $t = WeirTest->new(main => { workers => 1 }, config => <<'INI');
[http]
access_log = logs/access.log
log_format = $status raw=$request_uri norm=$normalized_request_uri uri=$uri

[upstream pub]
server = 127.0.0.1:%%PORT1%%

[upstream adm]
server = 127.0.0.1:%%PORT2%%

[server s]
listen = 127.0.0.1:%%PORT0%%

[route admin]
server = s
match = /admin/
upstream = adm

[route public]
server = s
match = /public/
upstream = pub

[route rest]
server = s
match = /
return = 404 nothing here
INI

my $pub = WeirOrigin->new(port => $t->port(1), handler => 'echo');
my $adm = WeirOrigin->new(port => $t->port(2), handler => 'echo');
$t->start;

sub send_target {
    my ($target) = @_;
    return $t->http("GET $target HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\n\r\n");
}

# The target each origin saw last, by counting requests before and after.
sub seen_by {
    my ($o, $before) = @_;
    my @r = $o->requests;
    return undef if @r <= $before;
    return $r[-1]{target};
}

# [target sent, origin expected ('pub' or 'adm'), target it must see]
my @forwarded = (
    [ '/public/a/../b',              'pub', '/public/b' ],
    [ '/public/./a/./b',             'pub', '/public/a/b' ],
    [ '/public//a///b',              'pub', '/public/a/b' ],
    [ '/public/a/.',                 'pub', '/public/a/' ],
    [ '/public/a/b/..',              'pub', '/public/a/' ],
    # the dot-dot in every spelling leaves /public/: the route follows
    [ '/public/../admin/x',          'adm', '/admin/x' ],
    [ '/public/%2e%2e/admin/x',      'adm', '/admin/x' ],
    [ '/public/%2E%2E/admin/x',      'adm', '/admin/x' ],
    [ '/public/.%2e/admin/x',        'adm', '/admin/x' ],
    [ '/public/%2e./admin/x',        'adm', '/admin/x' ],
    [ '/public/%2e/x',               'pub', '/public/x' ],
    # ;parameters that leave the route as it is go as they came
    [ '/public/a;v=1/b',             'pub', '/public/a;v=1/b' ],
    [ '/admin;v=1/../public/x',      'pub', '/public/x' ],
    [ '/public/%2ehidden',           'pub', '/public/.hidden' ],
    [ '/admin/../public/x',          'pub', '/public/x' ],
    # unreserved bytes decoded, reserved ones kept as they came
    [ '/%70ublic/%41%7e%2d',         'pub', '/public/A~-' ],
    [ '/public/a%3Bb;c=d@e:f',       'pub', '/public/a%3Bb;c=d@e:f' ],
    [ '/public/%3f%23%25',           'pub', '/public/%3F%23%25' ],
    [ '/public/a%20b',               'pub', '/public/a%20b' ],
    [ '/public/{x}|"y"',             'pub', '/public/%7Bx%7D%7C%22y%22' ],
    # non-ASCII percent forms: kept, hex in upper case
    [ '/public/caf%c3%a9',           'pub', '/public/caf%C3%A9' ],
    [ '/public/%E2%82%AC',           'pub', '/public/%E2%82%AC' ],
    # the query goes byte for byte, dots, escapes and all
    [ '/public/a?x=%2e%2e/../&y=%zz&z=a+b%2F',
      'pub', '/public/a?x=%2e%2e/../&y=%zz&z=a+b%2F' ],
    [ '/public/a/../b?',             'pub', '/public/b?' ],
    [ '/public/%2e%2e/admin/?q=/public/',
      'adm', '/admin/?q=/public/' ],
    # absolute-form: reduced to origin-form, then normalised alike
    [ 'http://localhost/public/a/../../admin/y?k=v',
      'adm', '/admin/y?k=v' ],
    [ 'http://localhost/public/%2e%2e/x', 'rest', undef ],
);

for my $c (@forwarded) {
    my ($target, $who, $want) = @$c;
    my ($np, $na) = (scalar $pub->requests, scalar $adm->requests);
    my $r = send_target($target);
    if ($who eq 'rest') {
        is($r->status, 404, "$target: routed to neither origin");
        next;
    }
    is($r->status, 200, "$target: 200") or diag($r->summary);
    my ($o, $other) = $who eq 'pub' ? ($pub, $adm) : ($adm, $pub);
    my ($before, $obefore) = $who eq 'pub' ? ($np, $na) : ($na, $np);
    ok($o->wait_until(sub { $_[0]->request_count > $before }),
        "$target: the $who origin got it");
    is(seen_by($o, $before), $want, "$target: the origin saw $want");
    is(scalar $other->requests, $obefore, "$target: the other origin did not");
}

# Refused: no single meaning. Nothing reaches either origin.
my @refused = (
    [ '/public/..%2fadmin/x',        'encoded slash after dot-dot' ],
    [ '/public/a%2Fb',               'encoded slash' ],
    [ '/public/a%2fb',               'encoded slash, lower case' ],
    [ '/public/%2e%2e%2fadmin/',     'fully encoded dot-dot slash' ],
    [ '/public\\..\\admin/x',        'backslashes' ],
    [ '/public/..\\admin/x',         'backslash after dot-dot' ],
    [ '/public/%5C..%5Cadmin/x',     'encoded backslashes' ],
    [ '/public/%5c',                 'encoded backslash, lower case' ],
    [ '/public/..;/admin/x',         'dot-dot with a path parameter' ],
    [ '/public/.;x/a',               'dot with a path parameter' ],
    # routed to neither origin as written, but /admin/x to an origin that
    # cuts ;parameters (Tomcat): the route would be walked around
    [ '/admin;x/y',                  'parameter hiding the admin route' ],
    [ '/admin;/y',                   'empty parameter hiding the admin route' ],
    [ '/;x/admin/y',                 'parameter segment before admin' ],
    [ '/public;v=1/a',               'parameter hiding the public route' ],
    [ '/public/a%00b',               'encoded NUL' ],
    [ '/public/a#frag',              'fragment' ],
    [ '/public/a?x=1#frag',          'fragment after a query' ],
    [ '/public/a%zz',                'invalid escape' ],
    [ '/public/a%2',                 'cut escape' ],
    [ '/public/a%',                  'lone percent' ],
    [ '/public/../../admin/x',       'dot-dot above the root' ],
    [ '/%2e%2e/admin/x',             'encoded dot-dot above the root' ],
);
my ($np, $na) = (scalar $pub->requests, scalar $adm->requests);
for my $c (@refused) {
    my ($target, $what) = @$c;
    my $r = send_target($target);
    is($r->status, 400, "$what ($target): 400") or diag($r->summary);
}
is(scalar $pub->requests, $np, 'refused targets: the public origin saw none');
is(scalar $adm->requests, $na, 'refused targets: the admin origin saw none');

# The log keeps the raw target; the normalised one has its own variable.
send_target('/public/x/../%7ey?a=%2e');
ok($t->wait_for_access_log(
        qr{^200 raw=/public/x/\.\./%7ey\?a=%2e norm=/public/~y\?a=%2e uri=/public/~y$}m),
    'access log: $request_uri raw, $normalized_request_uri forwarded, $uri decoded');
ok($t->wait_for_access_log(qr{^400 raw=/public/a%2Fb }m),
    'access log: a refused target is logged as it came');
ok($t->wait_for_log(qr/client sent invalid or ambiguous path/),
    'error log: the refusal is explained');

$t->done_testing;
