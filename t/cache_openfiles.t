#!/usr/bin/perl
# The open-file cache (open_files, open_files_inactive), with 2 workers:
# - hits keep the object's file open in the worker that served them (seen
#   in /proc/PID/fd), in both workers once both served it;
# - a purge, a replacement by a new fill and a 304 that rewrites the
#   stored head are seen by every worker at its next hit: never the old
#   body or the old fields from a file kept open, and the old (unlinked)
#   file is closed then;
# - at most open_files files per worker;
# - files not hit for open_files_inactive are closed (their disk space
#   comes back after a purge even when no one asks again).
use strict;
use warnings;
use Test::More;
use File::Find;
use Time::HiRes qw(sleep time);
use WeirTest;
use WeirOrigin;
use WeirCacheOrigin;

my $t = WeirTest->new(main => { workers => 2 }, config => <<'INI');
[upstream app]
server = 127.0.0.1:%%PORT1%%

[cache main]
path = cache
; the query string is not in the key: /a?b=v1 and /a?b=v2 are one
; object, whose body the origin takes from b=
key = $scheme://$host:$server_port$uri
open_files = 4
open_files_inactive = 1s

[server s]
listen = 127.0.0.1:%%PORT0%%

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
my @workers = $t->wait_workers(sub { @_ == 2 }, 15);
is(scalar @workers, 2, 'two workers');
my $cache = $t->path('cache');
my $ma = 'h=Cache-Control:max-age%3D600';

sub get { my ($path, @h) = @_; return $t->http_get($path, @h) }
sub count { WeirCacheOrigin::count_of($o, $_[0]) }

# The object file whose stored key ends in $path.
sub object_file {
    my ($path) = @_;
    my $key = "http://localhost:" . $t->port(0) . $path;
    my $found;
    find(sub {
        return unless -f $_ && $File::Find::dir !~ m{/tmp\z};
        open(my $h, '<', $_) or return;
        binmode $h;
        read $h, my $head, 4096;
        $found = $File::Find::name if index($head, "$key") >= 0;
    }, $cache);
    return $found;
}

# The cache files a worker has open: [path, deleted?] each.
sub open_files {
    my ($pid) = @_;
    my @f;
    opendir(my $d, "/proc/$pid/fd") or return ();
    for my $fd (readdir $d) {
        my $l = readlink "/proc/$pid/fd/$fd" // next;
        next unless index($l, "$cache/") == 0 && $l !~ m{^\Q$cache\E/tmp/};
        my $del = $l =~ s/ \(deleted\)\z//;
        push @f, [ $l, $del ];
    }
    return @f;
}
# How many workers hold the current file at $file open.
sub holders {
    my ($file) = @_;
    return scalar grep { my $w = $_; grep { $_->[0] eq $file && !$_->[1] } open_files($w) } @workers;
}
sub deleted_held { return scalar map { grep { $_->[1] } open_files($_) } @workers }
# A worker gives a file back when the request's end is done, which may
# come a little after the client has the whole answer: poll.
sub no_deleted_held {
    my $dl = WeirTest::deadline(10);
    while (deleted_held() > 0 && time < $dl) {
        sleep 0.05;
    }
    return deleted_held() == 0;
}
# A fill is published after the body has gone to its client: wait until
# a request finds it, before asking every later answer to be the new one.
sub until_hit {
    my ($path, $check) = @_;
    my $dl = WeirTest::deadline(10);
    while (1) {
        my $r = get($path);
        return 1 if ($r->header('cache-status') // '') =~ /; hit/ && $check->($r);
        return 0 if time > $dl;
        sleep 0.05;
    }
}

# Hit $path on new connections until both workers hold $file open; every
# answer must pass $check. Returns (both held, bad answers).
sub warm {
    my ($path, $file, $check) = @_;
    my ($bad, $dl) = (0, WeirTest::deadline(20));
    for (1 .. 400) {
        my $r = get($path);
        $bad++ unless $check->($r);
        return (1, $bad) if holders($file) == 2;
        last if time > $dl;
    }
    return (0, $bad);
}

# --- hits keep the file open, in each worker -------------------------------
my $r = get("/a?$ma&b=v1");
like($r->header('cache-status'), qr/fwd=uri-miss; .*stored/, 'v1 stored');
ok(until_hit("/a?$ma&b=v1", sub { $_[0]->body eq 'v1' }), '... and then a hit');
my $fa = object_file('/a');
ok($fa, 'its file is on disk');
my $n = count(qr{^/a\?});
my ($both, $bad) = warm("/a?$ma&b=v1", $fa, sub {
    $_[0]->body eq 'v1' && ($_[0]->header('cache-status') // '') =~ /; hit/ });
ok($both, 'both workers keep the file of a hit object open');
is($bad, 0, '... and every answer was a hit with the body');
is(count(qr{^/a\?}), $n, '... from the cache alone');

# --- purge: the next hit in either worker is not the old file -----------
my $key = "http://localhost:" . $t->port(0) . "/a";
(my $ekey = $key) =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
$r = $t->http(WeirTest::request('POST', "/purge?key=$ekey", Connection => 'close'), port => $t->port(2));
like($r->body, qr/"purged": 1/, 'purged');
ok(!-e $fa, 'the purged file is unlinked');
$r = get("/a?$ma&b=v2");
is($r->body, 'v2', 'after the purge: the new body');
like($r->header('cache-status'), qr/fwd=uri-miss/, '... from the origin, as a miss');
ok(until_hit("/a?$ma&b=v2", sub { $_[0]->body eq 'v2' }), '... which is then a hit');
$n = count(qr{^/a\?});
($both, $bad) = warm("/a?$ma&b=v2", $fa, sub { $_[0]->body eq 'v2' });
ok($both, 'both workers hold the new file');
is($bad, 0, '... and no answer came from the purged one');
is(count(qr{^/a\?}), $n, '... all hits');
ok(no_deleted_held(), 'the purged file is closed in both workers');

# --- replaced by a new fill (a request with no-cache) -------------------
$r = get("/a?$ma&b=v3", 'Cache-Control' => 'no-cache');
is($r->body, 'v3', 'a no-cache request fetches v3');
like($r->header('cache-status'), qr/fwd=request; .*stored/, '... and stores it');
ok(until_hit("/a?$ma&b=v3", sub { $_[0]->body eq 'v3' }), '... which is then a hit');
($both, $bad) = warm("/a?$ma&b=v3", $fa, sub {
    $_[0]->body eq 'v3' && ($_[0]->header('cache-status') // '') =~ /; hit/ });
ok($both, 'both workers hold the replacing file');
is($bad, 0, '... and every hit had the new body');
ok(no_deleted_held(), 'the replaced file is closed in both workers');

# --- a 304 rewrites the stored head ------------------------------------
my $rv = "/r?$ma&h=ETag:%22e1%22&h=X-Rev:1&ims=1";
$r = get($rv);
like($r->header('cache-status'), qr/stored/, 'an object with an ETag stored');
ok(until_hit($rv, sub { 1 }), '... and then a hit');
my $fr = object_file('/r');
ok($fr, 'its file is on disk');
($both, $bad) = warm($rv, $fr, sub { ($_[0]->header('x-rev') // '') eq '1' });
ok($both, 'both workers hold it');
is($bad, 0, '... with X-Rev: 1');
$r = get("$rv&r=X-Rev:2", 'Cache-Control' => 'no-cache');
is($r->header('x-rev'), '2', 'validated: the 304 brings X-Rev: 2');
like($r->header('cache-status'), qr/fwd-status=304/, '... from a 304');
$n = count(qr{^/r\?});
($both, $bad) = warm($rv, $fr, sub {
    ($_[0]->header('x-rev') // '') eq '2' && $_[0]->body eq 'body of /r' });
ok($both, 'both workers hold the rewritten file');
is($bad, 0, '... and every hit had the 304\'s field, and the body');
is(count(qr{^/r\?}), $n, '... all hits');
ok(no_deleted_held(), 'the file before the rewrite is closed in both workers');

# --- a file removed behind this master's back ---------------------------
# (during a binary upgrade, the other master purges, evicts and fills in
# the same directory through an index of its own)
($both, $bad) = warm($rv, $fr, sub { 1 });
ok($both, 'both workers hold /r');
unlink $fr or die "unlink $fr: $!";
$n = count(qr{^/r\?});
$r = get("$rv&r=X-Rev:3");
like($r->header('cache-status') // '', qr/fwd=uri-miss/, 'removed behind weir\'s back: a miss, not the file kept open');
ok(count(qr{^/r\?}) > $n, '... which the origin answered');

# --- at most open_files per worker -------------------------------------
for my $round (1 .. 3) {
    get("/m$_?$ma") for 1 .. 8;
}
# (a request still ending may hold a file just dropped: poll)
my @most;
my $dl0 = WeirTest::deadline(10);
while (1) {
    @most = map { scalar open_files($_) } @workers;
    last if (grep { $_ <= 4 } @most) == 2 || time > $dl0;
    sleep 0.05;
}
ok((grep { $_ <= 4 } @most) == 2, 'at most open_files (4) files open per worker')
    or diag("open: @most");
ok((grep { $_ > 0 } @most) >= 1, '... and some are');

# --- closed when not hit for open_files_inactive -----------------------
$r = $t->http(WeirTest::request('POST', "/purge?key=$ekey", Connection => 'close'), port => $t->port(2));
like($r->body, qr/"purged": 1/, 'purged again, and no one asks for it');
my $dl = WeirTest::deadline(15);
my $left;
while (1) {
    $left = 0;
    $left += scalar open_files($_) for @workers;
    last if $left == 0 || time > $dl;
    sleep 0.1;
}
is($left, 0, 'every file, the purged one too, closed after open_files_inactive');

WeirOrigin::check_workers($t);
$t->done_testing;
