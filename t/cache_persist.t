#!/usr/bin/perl
# What the cache keeps and what it lets go:
# - a HUP keeps the index and the files: hits before and after;
# - a restart keeps the files: the next request is a hit (the worker
#   opens the file even before the loader has indexed it);
# - max_size: the cache manager evicts the least recently used objects
#   until the bytes stored fit, and those become misses;
# - min_uses: stored only at the Nth request;
# - an error page from a cached route carries Cache-Status.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use WeirTest;
use WeirOrigin;
use WeirCacheOrigin;

my $conf = <<'INI';
[http]
access_log = logs/access.log

[upstream app]
server = 127.0.0.1:%%PORT1%%
max_fails = 0
retries = 0

[cache main]
path = cache
max_size = %%MAX%%

[cache twice]
path = twice
min_uses = 3

[server s]
listen = 127.0.0.1:%%PORT0%%

[route twice]
server = s
match = /twice/
upstream = app
cache = twice

[route app]
server = s
match = /
upstream = app
cache = main

[admin]
listen = 127.0.0.1:%%PORT2%%
INI
(my $c1 = $conf) =~ s/%%MAX%%/64m/;
my $t = WeirTest->new(main => { workers => 2 }, config => $c1);
my $o = WeirCacheOrigin->new(port => $t->port(1));
$t->start;
my $ma = 'h=Cache-Control:max-age%3D600';
sub get { my ($path, @h) = @_; return $t->http_get($path, @h) }
sub count { WeirCacheOrigin::count_of($o, $_[0]) }
sub metric {
    my ($re) = @_;
    my $r = $t->http(WeirTest::request('GET', '/metrics', Connection => 'close'), port => $t->port(2));
    return $r->body =~ /^$re (\d+)$/m ? $1 : undef;
}

get("/keep?$ma&b=kept");
like(get("/keep?$ma&b=kept")->header('cache-status'), qr/hit/, 'stored');

# --- HUP ------------------------------------------------------------------------
my $mark = $t->log_mark;
$t->signal('HUP');
ok($t->wait_for_log(qr/reload: generation \d+ started/, from => $mark, timeout => 10), 'reloaded');
$t->wait_workers(sub { @_ == 2 }, 15);
my $r = get("/keep?$ma&b=kept");
like($r->header('cache-status'), qr/hit/, 'a hit after a HUP');
is(count(qr{^/keep\?}), 1, 'the origin saw one request');

# --- restart ---------------------------------------------------------------------
$t->restart;
$r = get("/keep?$ma&b=kept");
like($r->header('cache-status'), qr/hit/, 'a hit after a restart');
is($r->body, 'kept', 'with its body');
is(count(qr{^/keep\?}), 1, 'still one origin request');
my $loaded;
for (1 .. 100) { last if ($loaded = metric('weir_cache_loaded\{cache="main"\}')); sleep 0.05 }
ok($loaded, 'the loader indexed the directory');
cmp_ok(metric('weir_cache_objects\{cache="main"\}'), '>=', 1, 'the object is in the index again');

# --- min_uses ----------------------------------------------------------------------
for my $i (1 .. 3) {
    $r = get("/twice/x?$ma");
    if ($i < 3) {
        like($r->header('cache-status'), qr/detail=min-uses/, "request $i: not stored yet (min_uses = 3)");
    }
}
$r = get("/twice/x?$ma");
like($r->header('cache-status'), qr/hit/, 'stored at the third request');

# --- an error page carries Cache-Status ------------------------------------------------
$o->stop;
$r = get("/gone?$ma");
is($r->status, 502, 'origin down, nothing cached: 502');
like($r->header('cache-status') // '', qr/fwd=uri-miss/, 'the error page says what the cache did');
$o = WeirCacheOrigin->new(port => $t->port(1));

# --- eviction under max_size -------------------------------------------------------------
(my $c2 = $conf) =~ s/%%MAX%%/1m/;
$t->write_config($c2);
$mark = $t->log_mark;
$t->signal('HUP');
ok($t->wait_for_log(qr/reload: generation \d+ started/, from => $mark, timeout => 10), 'reloaded with max_size = 1m');
$t->wait_workers(sub { @_ == 2 }, 15);
for my $i (1 .. 12) {
    get("/ev$i?$ma&n=200000");
    sleep 0.01;
}
# keep /ev12 recently used
get("/ev12?$ma&n=200000");
my $bytes;
for (1 .. 200) {
    $bytes = metric('weir_cache_stored_bytes\{cache="main"\}');
    last if defined $bytes && $bytes <= 1024 * 1024;
    sleep 0.05;
}
cmp_ok($bytes, '<=', 1024 * 1024, 'the manager brought the cache under max_size');
cmp_ok(metric('weir_cache_evictions_total\{cache="main"\}'), '>=', 7, 'objects were evicted');
$r = get("/ev1?$ma&n=200000");
like($r->header('cache-status'), qr/fwd=uri-miss/, 'the least recently used object is gone');
$r = get("/ev12?$ma&n=200000");
like($r->header('cache-status'), qr/hit/, 'the most recently used one is still there');

WeirOrigin::check_workers($t);
$t->done_testing;
