#!/usr/bin/perl
# encoded_slash = pass on a route: "%2F" in a path (GitLab's
# /api/v4/projects/group%2Fproject) is kept encoded for routing and
# reaches the origin as "%2F", never as a '/'. It cannot escape the
# route: next to it no piece may be empty, "." or "..", and the path read
# with every "%2F" as '/' must take the same route, or the request is
# 400. A route without the key (the default, reject) still refuses "%2F"
# with 400, and weir -t refuses a value other than reject or pass.

use strict;
use warnings;
use Test::More;
use WeirTest;
use WeirOrigin;

my $t = WeirTest->new(main => { workers => 1 }, config => <<'INI');
[http]
access_log = logs/access.log
log_format = $status raw=$request_uri norm=$normalized_request_uri uri=$uri

[upstream api]
server = 127.0.0.1:%%PORT1%%

[upstream private]
server = 127.0.0.1:%%PORT2%%

[server s]
listen = 127.0.0.1:%%PORT0%%

[route private]
server = s
match = /api/private/
upstream = private

[route api]
server = s
match = /api/
upstream = api
encoded_slash = pass

[route files]
server = s
match = /files/
upstream = api

[route rest]
server = s
match = /
return = 404 nothing here
INI

my $api = WeirOrigin->new(port => $t->port(1), handler => 'echo');
my $priv = WeirOrigin->new(port => $t->port(2), handler => 'echo');
my $r = $t->weir_ctl('-t');
is($r->{rc}, 0, 'weir -t accepts encoded_slash = pass') or diag($r->{err});
$t->start;

sub send_target {
    my ($target) = @_;
    return $t->http("GET $target HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\n\r\n");
}

# [target sent, target the api origin must see]
my @passed = (
    [ '/api/v4/projects/group%2Fproject',
      '/api/v4/projects/group%2Fproject' ],
    [ '/api/v4/projects/group%2Fsub%2Fproject/repository/files/a%2Fb.txt?ref=main',
      '/api/v4/projects/group%2Fsub%2Fproject/repository/files/a%2Fb.txt?ref=main' ],
    # an escape is written in upper case, as every escape towards origins
    [ '/api/v4/projects/group%2fproject', '/api/v4/projects/group%2Fproject' ],
    # dot segments still resolve on whole segments
    [ '/api/x%2Fy/../z', '/api/z' ],
    [ '/api/./a%2Fb', '/api/a%2Fb' ],
    # "%252F" is a '%' then "2F": it stays "%252F"
    [ '/api/a%252Fb', '/api/a%252Fb' ],
);
for my $c (@passed) {
    my ($target, $want) = @$c;
    my ($na, $np) = ($api->request_count, $priv->request_count);
    my $res = send_target($target);
    is($res->status, 200, "$target: 200") or diag($res->summary);
    ok($api->wait_until(sub { $_[0]->request_count > $na }),
        "$target: the api origin got it");
    my @seen = $api->requests;
    is($seen[-1]{target}, $want, "$target: the origin saw $want");
    is($priv->request_count, $np, "$target: the private origin did not");
}

# Refused: 400, neither origin asked.
my @refused = (
    [ '/api/private%2Fx',              'read with /, the private route' ],
    [ '/api/private%2fx',              'the same in lower case' ],
    [ '/api/x%2F..%2Fprivate/y',       'a dot-dot piece inside the segment' ],
    [ '/api/x%2F..%2F..%2Fprivate/y',  'two of them' ],
    [ '/api/..%2Fprivate/y',           'a dot-dot piece first' ],
    [ '/api/%2e%2e%2Fprivate/y',       'an encoded dot-dot piece' ],
    [ '/api/x/..%2F',                  'a dot-dot piece last, empty after' ],
    [ '/api/a%2F.%2Fb',                'a dot piece' ],
    [ '/api/a%2F..;x%2Fb',             'a dot-dot piece with a parameter' ],
    [ '/api/%2Fprivate/y',             'an empty piece first' ],
    [ '/api/b/../..%2Fprivate/y',      'a dot-dot piece after a dropped ..' ],
    [ '/api/b/../%2Fprivate/y',        'an empty piece after a dropped ..' ],
    [ '/api/a%2F%2Fb',                 'an empty piece between' ],
    [ '/files/a%2Fb',                  'a route without the key rejects' ],
    [ '/a%2Fb',                        'the catch-all route rejects too' ],
    [ '/api%2Fv4',                     'read with /, the api route; as it '
                                       . 'is, the catch-all' ],
);
my ($na, $np) = ($api->request_count, $priv->request_count);
for my $c (@refused) {
    my ($target, $what) = @$c;
    my $res = send_target($target);
    is($res->status, 400, "$what ($target): 400") or diag($res->summary);
}
is($api->request_count, $na, 'refused targets: the api origin saw none');
is($priv->request_count, $np, 'refused targets: the private origin saw none');

# A route that moved because "%2F" is no separator: /api/private/ stays
# the private origin's, "%2F" or not after it.
my $before = $priv->request_count;
my $res = send_target('/api/private/a%2Fb');
is($res->status, 400, '/api/private/a%2Fb: the private route rejects %2F');
is($priv->request_count, $before, '  and its origin saw nothing');

# The access log: $uri keeps %2F, $normalized_request_uri too.
send_target('/api/g%2Fp');
ok($t->wait_for_access_log(
        qr{^200 raw=/api/g%2Fp norm=/api/g%2Fp uri=/api/g%2Fp$}m),
    'access log: $uri and $normalized_request_uri keep %2F');
ok($t->wait_for_log(qr/client sent invalid or ambiguous path/),
    'error log: a refusal is explained');

$t->stop;

# weir -t: a bad value names file:line and the key.
$t->write_config(<<'INI');
[server s]
listen = 127.0.0.1:%%PORT0%%

[route r]
server = s
match = /
return = 200 x
encoded_slash = decode
INI
$r = $t->weir_ctl('-t');
isnt($r->{rc}, 0, 'weir -t refuses encoded_slash = decode');
like($r->{err}, qr/:\d+.*encoded_slash/, '  naming the line and the key')
    or diag($r->{err});

$api->stop;
$priv->stop;
$t->done_testing;
