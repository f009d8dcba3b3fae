#!/usr/bin/perl
# The shared disk cache, the rules a user sees first:
# - a cacheable answer is stored on the first request (MISS) and served
#   from the file on the next (HIT), with Cache-Status, a growing Age and
#   $cache_status in the access log; the origin sees one request;
# - the key holds the host: another Host is another object;
# - conditionals (304) and Range (206, 416) are answered from the cache;
#   HEAD from the cache too;
# - not stored: no-store, private, Set-Cookie, Authorization (unless
#   public / s-maxage), Vary: *, a POST; stored with public + Authorization;
# - Vary: one object per value of the named field;
# - cache_bypass and no_cache conditions;
# - an unsafe request that succeeds invalidates the URI and its Location;
# - purge through the admin listener (key, prefix, regex) and /metrics.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use WeirTest;
use WeirOrigin;
use WeirCacheOrigin;

my $t = WeirTest->new(main => { workers => 2 }, config => <<'INI');
[http]
access_log = logs/access.log
log_format = $request $status $cache_status

[upstream app]
server = 127.0.0.1:%%PORT1%%

[cache main]
path = cache
max_size = 10m

[server s]
listen = 127.0.0.1:%%PORT0%%

[route nocache]
server = s
match = /nc/
upstream = app
cache = main
cache_bypass = $arg_nocache
no_cache = $http_x_nostore

[route app]
server = s
match = /
upstream = app
cache = main

[admin]
listen = 127.0.0.1:%%PORT2%%
INI
my $o = WeirCacheOrigin->new(port => $t->port(1));
$t->start;

my $ma = 'h=Cache-Control:max-age%3D60';
sub get { my ($path, @h) = @_; return $t->http_get($path, @h) }

# --- miss then hit -------------------------------------------------------
my $r = get("/a?$ma&h=ETag:%22v1%22&b=hello");
is($r->status, 200, 'first request answered');
is($r->body, 'hello', 'with the origin body');
like($r->header('cache-status'), qr/^weir; fwd=uri-miss; fwd-status=200; stored/, 'Cache-Status says miss, stored');
$r = get("/a?$ma&h=ETag:%22v1%22&b=hello");
is($r->status, 200, 'second request answered');
is($r->body, 'hello', 'same body from the cache');
like($r->header('cache-status'), qr/^weir; hit; ttl=\d+/, 'Cache-Status says hit with a ttl');
like($r->header('age'), qr/^\d+$/, 'Age on a hit');
is($r->header('etag'), '"v1"', 'stored fields served');
is(WeirCacheOrigin::count_of($o, qr{^/a\?}), 1, 'the origin saw one request');
sleep 1.1;
$r = get("/a?$ma&h=ETag:%22v1%22&b=hello");
cmp_ok($r->header('age'), '>=', 1, 'Age grows while the object sits in the cache');
$t->wait_for_access_log(qr{GET /a\?\S+ HTTP/1.1 200 HIT});
ok((grep { m{GET /a\?\S+ HTTP/1.1 200 MISS} } $t->access_log_lines), '$cache_status MISS logged');

# --- the host is part of the key ------------------------------------------
$r = get("/a?$ma&h=ETag:%22v1%22&b=hello", Host => 'other.example');
like($r->header('cache-status'), qr/fwd=uri-miss/, 'another Host is another object');

# --- conditionals, Range, HEAD from the cache -----------------------------
$r = get("/a?$ma&h=ETag:%22v1%22&b=hello", 'If-None-Match' => '"v1"');
is($r->status, 304, 'If-None-Match answered 304 from the cache');
like($r->header('cache-status'), qr/hit/, '... as a hit');
$r = get("/a?$ma&h=ETag:%22v1%22&b=hello", Range => 'bytes=1-3');
is($r->status, 206, 'Range answered 206 from the cache');
is($r->body, 'ell', 'the right bytes');
is($r->header('content-range'), 'bytes 1-3/5', 'Content-Range');
$r = get("/a?$ma&h=ETag:%22v1%22&b=hello", Range => 'bytes=9-');
is($r->status, 416, 'unsatisfiable Range 416');
$r = $t->http_head("/a?$ma&h=ETag:%22v1%22&b=hello");
is($r->status, 200, 'HEAD from the cache');
is($r->header('content-length'), 5, 'with the length');
like($r->header('cache-status'), qr/hit/, 'HEAD is a hit');
is(WeirCacheOrigin::count_of($o, qr{^/a\?}), 2, 'still one origin request per host');

# --- what is not stored ------------------------------------------------------
for my $case (['no-store', 'h=Cache-Control:no-store', 'no-store'],
              ['private', 'h=Cache-Control:private,max-age%3D60', 'private'],
              ['set-cookie', "$ma&h=Set-Cookie:a%3Db", 'set-cookie'],
              ['vary star', "$ma&h=Vary:*", 'vary-star'],
              ['no freshness', 'h=X-No:freshness', 'no-freshness']) {
    my ($name, $q, $detail) = @$case;
    my $path = "/ns/$name?$q";
    $path =~ s/ /_/g;
    $r = get($path);
    like($r->header('cache-status'), qr/detail=\Q$detail\E/, "$name: not stored, detail says why");
    $r = get($path);
    like($r->header('cache-status'), qr/fwd=uri-miss/, "$name: the next request goes to the origin");
}
$r = get("/auth?$ma", Authorization => 'Basic eDp5');
like($r->header('cache-status'), qr/detail=authorization/, 'Authorization: not stored');
$r = get("/authpub?h=Cache-Control:public,max-age%3D60", Authorization => 'Basic eDp5');
$r = get("/authpub?h=Cache-Control:public,max-age%3D60", Authorization => 'Basic eDp5');
like($r->header('cache-status'), qr/hit/, 'Authorization with public: stored');

# --- response no-cache: stored, but validated on every use ----------------------
get('/rnc?h=Cache-Control:no-cache,max-age%3D60&h=ETag:%22n1%22&ims=1&b=nc');
$r = get('/rnc?h=Cache-Control:no-cache,max-age%3D60&h=ETag:%22n1%22&ims=1&b=nc');
is($r->body, 'nc', 'response no-cache: answered from the stored body');
like($r->header('cache-status'), qr/fwd=stale; fwd-status=304/, '... after a validation with the origin');
is(WeirCacheOrigin::count_of($o, qr{^/rnc\?}), 2, '... each time');

# --- Vary ----------------------------------------------------------------------
my $vq = "$ma&h=Vary:Accept-Language";
$r = get("/v?$vq&b=en", 'Accept-Language' => 'en');
$r = get("/v?$vq&b=en", 'Accept-Language' => 'en');
like($r->header('cache-status'), qr/hit/, 'Vary: same value is a hit');
is($r->body, 'en', '... with its body');
$r = get("/v?$vq&b=fr", 'Accept-Language' => 'fr');
like($r->header('cache-status'), qr/fwd=uri-miss/, 'Vary: another value misses');
$r = get("/v?$vq&b=fr", 'Accept-Language' => 'fr');
is($r->body, 'fr', 'Vary: each value has its own object');
$r = get("/v?$vq&b=en", 'Accept-Language' => 'en');
is($r->body, 'en', 'Vary: the first variant is still there');
like($r->header('cache-status'), qr/hit/, '... as a hit');

# --- cache_bypass and no_cache ------------------------------------------------------
get("/nc/x?$ma");
$r = get("/nc/x?$ma&nocache=1");
like($r->header('cache-status'), qr/fwd=bypass/, 'cache_bypass: goes to the origin');
$r = get("/nc/y?$ma", 'X-Nostore' => '1');
$r = get("/nc/y?$ma");
like($r->header('cache-status'), qr/fwd=uri-miss/, 'no_cache: the response was not stored');

# --- invalidation by an unsafe method ---------------------------------------------
get("/inv?$ma");
$r = get("/inv?$ma");
like($r->header('cache-status'), qr/hit/, 'object cached');
get("/loc?$ma");
$r = $t->http(WeirTest::request('POST', "/inv?$ma", 'X-Location' => "/loc?$ma", Connection => 'close', body => 'x'));
is($r->status, 200, 'POST answered');
$r = get("/inv?$ma");
like($r->header('cache-status'), qr/fwd=uri-miss/, 'a successful POST invalidated its URI');
$r = get("/loc?$ma");
like($r->header('cache-status'), qr/fwd=uri-miss/, '... and its Location');

# --- purge ---------------------------------------------------------------------------------
my $admin = $t->port(2);
get("/p/one?$ma") for 1 .. 2;
get("/p/two?$ma") for 1 .. 2;
get("/q/three?$ma") for 1 .. 2;
my $key = "http://localhost:" . $t->port(0) . "/p/one?$ma";
(my $ekey = $key) =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
$r = $t->http(WeirTest::request('POST', "/purge?key=$ekey", Connection => 'close'), port => $admin);
is($r->status, 200, 'purge by key answered');
like($r->body, qr/"purged": 1/, 'one object purged');
$r = get("/p/one?$ma");
like($r->header('cache-status'), qr/fwd=uri-miss/, 'the purged key misses');
$r = get("/p/two?$ma");
like($r->header('cache-status'), qr/hit/, 'the other key is still a hit');
$r = $t->http(WeirTest::request('POST', '/purge?prefix=http://localhost:' . $t->port(0) . '/p/', Connection => 'close'), port => $admin);
like($r->body, qr/"purged": 2/, 'prefix purge removed both /p/ objects');
$r = $t->http(WeirTest::request('POST', '/purge?regex=three', Connection => 'close'), port => $admin);
like($r->body, qr/"purged": 1\b/, "regex purge removed the matching object");
$r = get("/q/three?$ma");
like($r->header('cache-status'), qr/fwd=uri-miss/, 'regex-purged key misses');
$r = $t->http(WeirTest::request('POST', '/purge?regex=(', Connection => 'close'), port => $admin);
is($r->status, 400, 'a bad regex is 400');
$r = $t->http(WeirTest::request('GET', '/purge?key=x', Connection => 'close'), port => $admin);
is($r->status, 405, 'purge wants POST');

# --- metrics -------------------------------------------------------------------------
$r = $t->http(WeirTest::request('GET', '/metrics', Connection => 'close'), port => $admin);
like($r->body, qr/^weir_cache_requests_total\{cache="main",status="hit"\} [1-9]/m, 'hits counted');
like($r->body, qr/^weir_cache_requests_total\{cache="main",status="miss"\} [1-9]/m, 'misses counted');
like($r->body, qr/^weir_cache_objects\{cache="main"\} [1-9]/m, 'objects in the index');
like($r->body, qr/^weir_cache_errors_total\{cache="main",op="write"\} 0/m, 'no write errors');
SKIP: {
    skip 'promtool not installed (Debian package prometheus)', 1 unless -x '/usr/bin/promtool';
    $t->write_file('logs/metrics.txt', $r->body);
    my $f = $t->path('logs/metrics.txt');
    my $out = `/usr/bin/promtool check metrics < $f 2>&1`;
    is($?, 0, 'promtool accepts the page with the cache families') or diag($out);
}

WeirOrigin::check_workers($t);
$t->done_testing;
