#!/usr/bin/perl
# Collapsing: one fill per key across all workers.
# - 100 concurrent misses of one key, spread over both workers, make
#   exactly one origin request; every client gets the whole body;
# - the waiters are woken when the fill lands (they do not wait out
#   lock_timeout);
# - a fill that fails (the origin cuts the body) leaves nothing stored and
#   the waiters are still answered;
# - past lock_timeout a waiter goes to the origin uncached;
# - a Range miss gets its range at once while the whole object fills once
#   in the background.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(sleep time);
use WeirTest;
use WeirOrigin;
use WeirCacheOrigin;

my $t = WeirTest->new(main => { workers => 2, worker_connections => 1024 }, config => <<'INI');
[http]
access_log = logs/access.log
log_format = $request $status $cache_status

[upstream app]
server = 127.0.0.1:%%PORT1%%
max_fails = 0
read_timeout = 10s

[cache main]
path = cache
lock_timeout = 8s

[cache short]
path = cache2
lock_timeout = 500ms

[server s]
listen = 127.0.0.1:%%PORT0%%

[route short]
server = s
match = /short/
upstream = app
cache = short

[route app]
server = s
match = /
upstream = app
cache = main
INI
my $o = WeirCacheOrigin->new(port => $t->port(1));
$t->start;
sub count { WeirCacheOrigin::count_of($o, $_[0]) }

# N raw clients at once: connect all, send all, then read all answers.
sub burst {
    my ($n, $path, @h) = @_;
    my @socks;
    for (1 .. $n) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port(0), Timeout => 5)
            or next;
        push @socks, $s;
    }
    my $req = WeirTest::request('GET', $path, Connection => 'close', @h);
    syswrite $_, $req for @socks;
    my %buf;
    my $sel = IO::Select->new(@socks);
    my $dl = WeirTest::deadline(30);
    while ($sel->count && time < $dl) {
        for my $s ($sel->can_read(1)) {
            my $k = sysread $s, my $chunk, 65536;
            if (!$k) { $sel->remove($s); next }
            $buf{$s} .= $chunk;
        }
    }
    return map { dechunk($buf{$_} // '') } @socks;
}

# A raw response with a chunked body turned into head + plain body (a
# waiter streams a fill in progress chunked); a cut chunked body is left
# cut (no terminator: then the result has no "\r\n\r\n" + full body).
sub dechunk {
    my ($raw) = @_;
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    return $raw unless defined $body && $head =~ /^Transfer-Encoding: chunked\r?$/mi;
    my $out = '';
    while ($body =~ s/^([0-9a-fA-F]+)\r\n//) {
        my $n = hex $1;
        return "$head\r\n\r\n${out}[cut]" if $n == 0 ? $body !~ /^\r\n/ : length($body) < $n + 2;
        last if $n == 0;
        $out .= substr($body, 0, $n, '');
        $body =~ s/^\r\n//;
    }
    return "$head\r\n\r\n$out";
}

my $body_len = 200000;
my @r = burst(100, "/big?h=Cache-Control:max-age%3D60&n=$body_len&delay=1");
is(scalar(@r), 100, '100 clients connected');
my $complete = grep { /^HTTP\/1.1 200 / && /\r\n\r\n(.*)\z/s && length($1) == $body_len } @r;
is($complete, 100, 'every client got the whole body');
is(count(qr{^/big\?}), 1, 'one origin request for 100 concurrent misses');
my $collapsed = grep { /Cache-Status: [^\r]*collapsed/ } @r;
cmp_ok($collapsed, '>=', 1, 'waiters say collapsed in Cache-Status');

# a waiter streams the fill as it grows: it has the first half of the
# body while the origin has not yet sent the second (the origin writes a
# marker file just before it does)
my $mark = $t->path('logs/second-half');
my $dq = "/drip?h=Cache-Control:max-age%3D60&b=abcdef&drip=2&mark=$mark";
my $filler = $t->background(sub { my $x = $t->http_get($dq); return { body => $x->body } });
$o->wait_until(sub { count(qr{^/drip\?}) >= 1 }, 10);
my $ws = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port(0)) or die;
syswrite $ws, WeirTest::request('GET', $dq, Connection => 'close');
my ($got, $sel) = ('', IO::Select->new($ws));
my $dl = WeirTest::deadline(10);
while ($got !~ /abc/ && time < $dl && $sel->can_read(1)) {
    sysread($ws, my $chunk, 4096) or last;
    $got .= $chunk;
}
like($got, qr/Transfer-Encoding: chunked.*abc/s, 'the waiter has the first half from the growing file');
ok(!-e $mark, '... before the origin sent the second half');
while (time < $dl) {
    next unless $sel->can_read(1);
    sysread($ws, my $chunk, 4096) or last;
    $got .= $chunk;
}
like(dechunk($got), qr/\r\n\r\nabcdef\z/, 'then the whole body, terminated');
is($filler->finish->{body}, 'abcdef', 'the filler\'s own client got it all');
is(count(qr{^/drip\?}), 1, 'one origin request');
$t->wait_for_access_log(qr{GET /big\S+ HTTP/1.1 200 MISS});

# woken by the fill, not by lock_timeout (8 s): the whole burst is over
# well before it (the origin waits 1 s)
my $t0 = time;
@r = burst(20, "/quick?h=Cache-Control:max-age%3D60&b=q&delay=1");
my $took = time - $t0;
is(scalar(grep { /\r\n\r\nq\z/ } @r), 20, '20 collapsed clients answered');
cmp_ok($took, '<', 6, 'waiters woke when the fill landed, not at lock_timeout');

# a failed fill: the origin cuts the body; nothing stored, waiters answered
@r = burst(10, "/cut?h=Cache-Control:max-age%3D60&n=5000&cut=100&delay=0.5");
is(scalar(grep { length } @r), 10, 'every client of a failed fill got an answer');
my $r = $t->http_get('/cut?h=Cache-Control:max-age%3D60&n=5000&cut=100&delay=0.5');
unlike($r->header('cache-status') // '', qr/hit/, 'the cut object was not stored');
opendir(my $d, $t->path('cache/tmp'));
my @left = grep { !/^\./ } readdir $d;
is(scalar(@left), 0, 'no temporary file left behind');

# lock_timeout: a fill slower than the timeout; the waiter goes uncached
my $slow = $t->background(sub { $t->http_get('/short/s?h=Cache-Control:max-age%3D60&delay=3&b=slow') });
$o->wait_until(sub { count(qr{^/short/s\?}) >= 1 }, 10);
$t0 = time;
$r = $t->http_get('/short/s?h=Cache-Control:max-age%3D60&delay=3&b=slow');
is($r->body, 'slow', 'the waiter past lock_timeout got the answer');
like($r->header('cache-status'), qr/detail=lock-timeout/, 'Cache-Status says lock-timeout');
is(count(qr{^/short/s\?}), 2, 'it went to the origin itself');
$slow->finish;

# a Range miss: the client's range from the origin now, the whole object
# once in the background
$r = $t->http_get('/rg?h=Cache-Control:max-age%3D60&b=0123456789', Range => 'bytes=2-4');
ok($r->status == 206 || $r->status == 200, 'range miss answered by the origin');
$o->wait_until(sub { count(qr{^/rg\?}) >= 2 }, 10);
my ($full) = grep { $_->{target} =~ m{^/rg\?} && !grep { lc $_->[0] eq 'range' } @{ $_->{headers} } } $o->requests;
ok($full, 'the background fill asked for the whole object');
my $hit;
for (1 .. 50) {
    $r = $t->http_get('/rg?h=Cache-Control:max-age%3D60&b=0123456789', Range => 'bytes=2-4');
    last if ($hit = ($r->header('cache-status') // '') =~ /hit/);
    sleep 0.1;
}
ok($hit, 'then the range is a hit');
is($r->status, 206, '206 from the cache');
is($r->body, '234', 'with the right bytes');

WeirOrigin::check_workers($t);
$t->done_testing;
