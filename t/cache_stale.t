#!/usr/bin/perl
# Stale content and validation:
# - an expired object is revalidated with the stored validators; a 304
#   updates the stored fields and answers from the cache (REVALIDATED);
#   a 200 replaces it (EXPIRED);
# - stale-if-error: a 500/502/503/504 or a dead origin is answered with
#   the stale copy within the window (STALE), not after it, and never
#   for must-revalidate;
# - stale-while-revalidate: the stale copy at once (UPDATING) and exactly
#   one background request for many clients across both workers;
# - request no-cache / max-age=0 go to the origin.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);
use WeirTest;
use WeirOrigin;
use WeirCacheOrigin;

my $t = WeirTest->new(main => { workers => 2 }, config => <<'INI');
[http]
access_log = logs/access.log
log_format = $request $status $cache_status

[upstream app]
server = 127.0.0.1:%%PORT1%%
max_fails = 0
retries = 0

[cache main]
path = cache

[server s]
listen = 127.0.0.1:%%PORT0%%

[route app]
server = s
match = /
upstream = app
cache = main
INI
my $o = WeirCacheOrigin->new(port => $t->port(1));
$t->start;
sub get { my ($path, @h) = @_; return $t->http_get($path, @h) }
sub count { WeirCacheOrigin::count_of($o, $_[0]) }

# --- revalidation ---------------------------------------------------------------
# max-age=2: ages are whole seconds, so an object fresh for 1 s may be
# stale on the next request if a second boundary passes
my $q = 'h=Cache-Control:max-age%3D2&h=ETag:%22e1%22&h=X-Gen:one&ims=1&b=v1';
my $r = get("/rv?$q");
is($r->body, 'v1', 'stored');
sleep 2.2;
$r = get("/rv?$q");
is($r->status, 200, 'expired object: 200 to the client');
is($r->body, 'v1', 'the stored body after a 304');
like($r->header('cache-status'), qr/fwd=stale; fwd-status=304/, 'Cache-Status says revalidated with a 304');
my ($req) = grep { $_->{target} =~ m{^/rv\?} } reverse $o->requests;
my %h = map { lc $_->[0] => $_->[1] } @{ $req->{headers} };
is($h{'if-none-match'}, '"e1"', 'revalidated with the stored ETag');
$r = get("/rv?$q");
like($r->header('cache-status'), qr/^weir; hit/, 'fresh again after the 304');
is(count(qr{^/rv\?}), 2, 'one origin request per validation');
$t->wait_for_access_log(qr{/rv\?\S+ HTTP/1.1 200 REVALIDATED});
pass('$cache_status REVALIDATED');

# a 304 with new fields updates the stored ones (r= fields come only
# with the 304)
$q = 'h=Cache-Control:max-age%3D2&h=ETag:%22e2%22&h=X-Tag:old&ims=1&r=X-Tag:new&b=v2';
get("/upd?$q");
sleep 2.2;
$r = get("/upd?$q");
is($r->header('x-tag'), 'new', 'the 304\'s field answers the revalidated request');
$r = get("/upd?$q");
like($r->header('cache-status'), qr/^weir; hit/, 'then a hit');
is($r->header('x-tag'), 'new', 'with the updated field stored');
is($r->body, 'v2', 'and the same body');

# --- stale-if-error ---------------------------------------------------------------
$q = 'h=Cache-Control:max-age%3D1,stale-if-error%3D60&b=old';
get("/sie?$q");
sleep 1.2;
# the same key, now the origin answers 503: weir serves the stale copy
my $key503 = "/sie?$q";
$o->stop;
my $dead = WeirCacheOrigin->new(port => $t->port(1), );
$dead->stop;    # nothing listens on the port now: connect refused
$r = get($key503);
is($r->status, 200, 'origin down: the stale copy answers');
is($r->body, 'old', '... with its body');
like($r->header('cache-status'), qr/fwd=stale.*detail=stale-if-error/, 'Cache-Status says stale-if-error');
$t->wait_for_access_log(qr{/sie\?\S+ HTTP/1.1 200 STALE});
pass('$cache_status STALE');

# must-revalidate: never stale, the error goes through
$o = WeirCacheOrigin->new(port => $t->port(1));
get('/mr?h=Cache-Control:max-age%3D1,must-revalidate,stale-if-error%3D60');
sleep 1.2;
$o->stop;
$r = get('/mr?h=Cache-Control:max-age%3D1,must-revalidate,stale-if-error%3D60');
is($r->status, 502, 'must-revalidate: no stale copy on error');

# the window ends
$o = WeirCacheOrigin->new(port => $t->port(1));
get('/sw?h=Cache-Control:max-age%3D1,stale-if-error%3D1');
sleep 2.3;
$o->stop;
$r = get('/sw?h=Cache-Control:max-age%3D1,stale-if-error%3D1');
is($r->status, 502, 'past the stale-if-error window: the error');

# a 5xx from a live origin: the stale copy
$o = WeirCacheOrigin->new(port => $t->port(1));
get('/s5?h=Cache-Control:max-age%3D1,stale-if-error%3D60&b=good');
sleep 1.2;
# the next answer of the same URL is forced to 500 by a marker file the
# origin cannot see, so use a second origin that always says 500
$o->stop;
my $bad = WeirOrigin->new(port => $t->port(1), handler => 'fixed', status => 500, body => 'boom');
$r = get('/s5?h=Cache-Control:max-age%3D1,stale-if-error%3D60&b=good');
is($r->status, 200, 'a 500 from the origin: the stale copy answers');
is($r->body, 'good', '... with the good body');
$bad->stop;

# --- stale-while-revalidate: one background request --------------------------------
$o = WeirCacheOrigin->new(port => $t->port(1));
$q = 'h=Cache-Control:max-age%3D1,stale-while-revalidate%3D60&delay=0.5&b=swr';
get("/swr?$q");
sleep 1.2;
my $before = count(qr{^/swr\?});
my @got = map { get("/swr?$q") } 1 .. 20;
is(scalar(grep { $_->status == 200 && $_->body eq 'swr' } @got), 20, 'all 20 clients answered with the body');
is(scalar(grep { ($_->header('cache-status') // '') =~ /^weir; hit/ } @got), 20, 'all from the cache (stale, or refreshed), none forwarded');
ok(($got[0]->header('cache-status') // '') =~ /stale-while-revalidate/, 'the first answered stale at once (UPDATING)');
$o->wait_until(sub { count(qr{^/swr\?}) > $before }, 10);
sleep 1;
is(count(qr{^/swr\?}) - $before, 1, 'exactly one background request to the origin');
$r = get("/swr?$q");
like($r->header('cache-status'), qr/^weir; hit/, 'the refreshed object is fresh');

# --- request no-cache / max-age=0 ---------------------------------------------------
get('/nc?h=Cache-Control:max-age%3D60');
$before = count(qr{^/nc\?});
$r = get('/nc?h=Cache-Control:max-age%3D60', 'Cache-Control' => 'no-cache');
is(count(qr{^/nc\?}), $before + 1, 'request no-cache goes to the origin');
like($r->header('cache-status'), qr/fwd=request/, 'Cache-Status fwd=request');
$r = get('/nc?h=Cache-Control:max-age%3D60', 'Cache-Control' => 'max-age=0');
is(count(qr{^/nc\?}), $before + 2, 'request max-age=0 goes to the origin');

WeirOrigin::check_workers($t);
$t->done_testing;
