#!/usr/bin/perl
# return = CODE [text|URL]: fixed responses and redirects, routes tried in
# file order with prefix, exact and regex matches.

use strict;
use warnings;
use Test::More;
use WeirTest;

my $t = WeirTest->new(config => <<'INI', files => { 'html/index.html' => "index\n" });
[server s]
listen = 127.0.0.1:%%PORT0%%

[route hello]
server = s
match = = /hello
return = 200 hello

[route moved]
server = s
match = /old/
return = 301 http://x/

[route found]
server = s
match = = /found
return = 302 https://example.com/new?a=1

[route gone]
server = s
match = = /gone
return = 410 gone away

[route empty]
server = s
match = = /empty
return = 204

[route regex]
server = s
match = ~ ^/api/v[0-9]+/
return = 200 versioned api

[route first]
server = s
match = /a/
return = 200 first

[route second]
server = s
match = /a/b/
return = 200 second

[route site]
server = s
match = /
root = html
INI
$t->start;

my $r = $t->http_get('/hello');
is($r->status, 200, 'return 200: status');
is($r->body, 'hello', 'return 200 hello: body');
is($r->header('content-length'), 5, 'return 200 hello: Content-Length');
ok(defined $r->header('content-type'), 'return 200 hello: a Content-Type');

$r = $t->http_head('/hello');
is($r->status, 200, 'HEAD on a return route: 200');
is($r->header('content-length'), 5, 'HEAD: the GET Content-Length');
is($r->body, '', 'HEAD: no body');

$r = $t->http_get('/hello?x=1');
is($r->body, 'hello', 'the query string does not affect an exact match');

$r = $t->http_get("/hello/");
isnt($r->body, 'hello', 'an exact match is exact: /hello/ is not /hello');

$r = $t->http_get('/old/page');
is($r->status, 301, 'return 301: status');
is($r->header('location'), 'http://x/', 'return 301: Location');

$r = $t->http_get('/found');
is($r->status, 302, 'return 302: status');
is($r->header('location'), 'https://example.com/new?a=1', 'return 302: Location as written');

$r = $t->http_get('/gone');
is($r->status, 410, 'return 410: status');
is($r->body, 'gone away', 'return 410 with text: body');

$r = $t->http_get('/empty');
is($r->status, 204, 'return 204: status');
is($r->body, '', 'return 204: no body');
ok(!defined $r->header('content-length') || $r->header('content-length') eq '0',
    'return 204: no positive Content-Length');

$r = $t->http_get('/api/v2/users');
is($r->body, 'versioned api', 'regex route matches');
$r = $t->http_get('/api/vX/users');
is($r->status, 404, 'regex route does not match: falls through to the site');

$r = $t->http_get('/a/b/c');
is($r->body, 'first', 'routes are tried in file order: the first match wins');

$r = $t->http(WeirTest::request('POST', '/hello', Connection => 'close', body => 'x'));
is($r->status, 200, 'return routes answer any method');
is($r->body, 'hello', '... with their text');

# several on one connection
my $c = $t->connect;
my @b = map { $c->get($_)->body } qw(/hello /a/ /gone /hello);
is_deeply(\@b, [ 'hello', 'first', 'gone away', 'hello' ],
    'return responses on one keep-alive connection');
$c->close;

$t->done_testing;
