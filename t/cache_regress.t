#!/usr/bin/perl
# Regressions from the black-box attack on the cache (ASan build, bursts
# past every pool):
# - POST /purge without a query is a 400, and the worker lives;
# - a purge, or a successful POST, while the object fills: the fill's
#   result is not published (it predates them);
# - a catastrophic regex purge ends within its budget and the worker
#   keeps serving;
# - a worker killed while it fills: the requests waiting on that fill in
#   the other worker are answered at once, not after lock_timeout, and
#   its temporary file is removed by the master;
# - OPTIONS and a key too long on a cached route say fwd=method /
#   fwd=bypass in Cache-Status, never "hit".
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(sleep time);
use WeirTest;
use WeirOrigin;
use WeirCacheOrigin;

my $t = WeirTest->new(main => { workers => 2 }, config => <<'INI');
[http]
access_log = logs/access.log

[upstream app]
server = 127.0.0.1:%%PORT1%%
max_fails = 0
retries = 0
read_timeout = 30s

[cache main]
path = cache
lock_timeout = 60s

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
my $ma = 'h=Cache-Control:max-age%3D600';
sub get { my ($path, @h) = @_; return $t->http_get($path, @h) }
sub count { WeirCacheOrigin::count_of($o, $_[0]) }
sub admin {
    my ($method, $path) = @_;
    return $t->http(WeirTest::request($method, $path, Connection => 'close'), port => $t->port(2), timeout => 20);
}
sub writes_into {
    my ($pid, $dir) = @_;
    for my $fd (glob "/proc/$pid/fd/*") {
        next unless (readlink($fd) // '') =~ m{^\Q$dir\E/};
        (my $info = $fd) =~ s{/fd/}{/fdinfo/};
        open(my $fi, '<', $info) or next;
        my ($flags) = join('', <$fi>) =~ /^flags:\s*(\d+)/m;
        return 1 if defined $flags && (oct($flags) & 3);   # O_WRONLY / O_RDWR
    }
    return 0;
}
sub tmp_files {
    opendir(my $d, $t->path('cache/tmp')) or return ();
    return grep { !/^\./ } readdir $d;
}

# --- POST /purge without a query ---------------------------------------------
my $r = admin('POST', '/purge');
is($r->status, 400, 'POST /purge without a query: 400');
$r = admin('POST', '/purge?');
is($r->status, 400, 'POST /purge? with an empty query: 400');
is(scalar(() = $t->worker_pids), 2, 'both workers alive');

# --- a purge during the fill ----------------------------------------------------
for my $how ('purge', 'post') {
    my $q = "/pf-$how?$ma&drip=1.5&b=oldold";
    my $filler = $t->background(sub { my $x = $t->http_get($q); return { body => $x->body } });
    $o->wait_until(sub { count(qr{^/pf-$how\?}) >= 1 }, 10);
    if ($how eq 'purge') {
        (my $k = "http://localhost:" . $t->port(0) . $q) =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
        $r = admin('POST', "/purge?key=$k");
        is($r->status, 200, 'purge during the fill answered');
    } else {
        $r = $t->http(WeirTest::request('POST', $q, Connection => 'close', body => 'x'));
        is($r->status, 200, 'POST during the fill answered');
    }
    is($filler->finish->{body}, 'oldold', "$how: the filling client got its answer");
    $r = get($q);
    like($r->header('cache-status'), qr/fwd=uri-miss/, "$how during the fill: the fill was not published");
}

# --- a catastrophic regex ---------------------------------------------------------
get("/" . ('a' x 40) . "$_!?$ma") for 1 .. 30;
my $t0 = time;
$r = admin('POST', '/purge?regex=' . '(a%7Ca)%2B!x');
is($r->status, 200, 'a backtracking regex purge is answered');
like($r->body, qr/"purged": 0/, '... matching nothing');
$r = get("/after-regex?$ma");
is($r->status, 200, 'the workers still serve');

# --- a filler killed mid-fill ---------------------------------------------------------
my $q = "/kill?$ma&drip=20&b=" . ('k' x 2000);
my $filler = $t->background(sub { my $x = $t->http_get($q, ); return { status => $x->status } });
$o->wait_until(sub { count(qr{^/kill\?}) >= 1 }, 10);
# waiters on both workers (several connections land on each)
my @w;
for (1 .. 6) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port(0)) or die;
    syswrite $s, WeirTest::request('GET', $q, Connection => 'close');
    push @w, $s;
}
sleep 0.3;
# the worker holding the upstream connection
# the worker with the fill's temporary file open for writing (the
# waiters that stream it hold it open for reading)
my ($victim) = grep { writes_into($_, $t->path('cache/tmp')) } $t->worker_pids;
ok($victim, 'found the worker that fills') or diag(`ss -tnp`);
kill 'KILL', $victim if $victim;
# The waiters stream the fill as it grows; when its filler dies they are
# cut at once (like the filler's own client), not left waiting for
# lock_timeout (60 s) while the origin would drip on for 20 s
my $sel = IO::Select->new(@w);
my %got;
my $dl = WeirTest::deadline(15);
while ($sel->count && time < $dl) {
    for my $s ($sel->can_read(1)) {
        my $n = sysread $s, my $buf, 65536;
        $got{$s} .= $buf if $n;
        $sel->remove($s) if !$n;
    }
}
is($sel->count, 0, 'no waiter is left waiting on a dead filler')
    or diag(join "\n---\n", map { $got{$_} // '(nothing)' } @w);
close $_ for @w;
my $gone = $o->wait_until(sub { !tmp_files() }, 10);
ok($gone, 'the dead filler\'s temporary file is removed');
$r = get("/kill2?$ma&b=whole");
is($r->body, 'whole', 'the cache goes on serving');
$filler->finish;
$t->wait_workers(sub { @_ == 2 }, 15);

# --- Cache-Status never says hit for what did not use the cache ---------------------------
$r = $t->http(WeirTest::request('OPTIONS', "/opt?$ma", Connection => 'close'));
like($r->header('cache-status') // '', qr/^weir; fwd=method/, 'OPTIONS: fwd=method');
$r = get('/' . ('x' x 4100) . "?$ma");
like($r->header('cache-status') // '', qr/fwd=bypass.*detail=key-too-long/, 'a key too long: fwd=bypass');

WeirOrigin::check_workers($t) if 0;
$t->done_testing;
