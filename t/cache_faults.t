#!/usr/bin/perl
# A broken cache never fails a request the origin could serve:
# - a cache file truncated or corrupted: a miss, the file removed, the
#   answer from the origin, weir_cache_errors_total{op="corrupt"};
# - the origin dying mid-fill: the client sees a cut response, nothing
#   is stored, the next request gets the whole body;
# - the client leaving mid-fill: a small object is filled to the end and
#   stored (fill_after_abort); a large one is dropped and its temporary
#   file removed;
# - the cache directory on a tmpfs that fills up: every request answered
#   in full, the temporary file removed, op="write" counted;
# - the directory made read-only mid-run (remount): answered, op="open";
# - tmp/ replaced by a file: answered, counted.
# The files are damaged here behind weir's back, in place: [cache main]
# has open_files = 0, since a file kept open by the open-file cache is
# read again only once it changes through weir (t/cache_openfiles.t).
use strict;
use warnings;
use Test::More;
use File::Find;
use IO::Socket::INET;
use Time::HiRes qw(sleep);
use WeirTest;
use WeirOrigin;
use WeirCacheOrigin;

my $t = WeirTest->new(main => { workers => 2 }, config => <<'INI');
[http]
access_log = logs/access.log
log_format = $request $status $body_bytes_sent $cache_status $request_time

[upstream app]
server = 127.0.0.1:%%PORT1%%
max_fails = 0
retries = 0

[cache main]
path = cache
fill_after_abort = 1m
open_files = 0

[cache small]
path = small
max_size = 1m

[server s]
listen = 127.0.0.1:%%PORT0%%

[route small]
server = s
match = /small/
upstream = app
cache = small

[route app]
server = s
match = /
upstream = app
cache = main

[admin]
listen = 127.0.0.1:%%PORT2%%
INI
my $o = WeirCacheOrigin->new(port => $t->port(1));
mkdir $t->path('small');
my $mounted = system("mount -t tmpfs -o size=512k,mode=0700 tmpfs " . $t->path('small') . " 2>/dev/null") == 0;
$t->start;
END { system('umount', '-l', $t->path('small')) if $mounted && $t }

my $ma = 'h=Cache-Control:max-age%3D60';
sub get { my ($path, @h) = @_; return $t->http_get($path, @h) }
sub count { WeirCacheOrigin::count_of($o, $_[0]) }
sub metric {
    my ($re) = @_;
    my $r = $t->http(WeirTest::request('GET', '/metrics', Connection => 'close'), port => $t->port(2));
    return $r->body =~ /^$re (\d+)$/m ? $1 : undef;
}
# The object files under $dir whose stored key contains $part.
sub objects {
    my ($dir, $part) = @_;
    my @f;
    find(sub {
        return unless -f $_ && $File::Find::dir !~ m{/tmp\z};
        open(my $h, '<', $_) or return;
        binmode $h;
        read $h, my $head, 4096;
        push @f, $File::Find::name if index($head, $part) >= 0;
    }, $t->path($dir));
    return @f;
}
sub tmp_files {
    my ($dir) = @_;
    opendir(my $d, $t->path("$dir/tmp")) or return ();
    return grep { !/^\./ } readdir $d;
}

# --- truncated and corrupted files --------------------------------------------
get("/tr?$ma&b=" . ('t' x 3000)) for 1 .. 2;
my ($f) = objects('cache', '/tr?');
ok($f, 'the object is on disk');
truncate $f, (-s $f) - 100;
my $r = get("/tr?$ma&b=" . ('t' x 3000));
is($r->status, 200, 'a truncated file: answered');
is(length $r->body, 3000, 'with the whole body from the origin');
like($r->header('cache-status'), qr/fwd=uri-miss/, 'as a miss');
cmp_ok(metric('weir_cache_errors_total\{cache="main",op="corrupt"\}'), '>=', 1, 'op="corrupt" counted');
$r = get("/tr?$ma&b=" . ('t' x 3000));
like($r->header('cache-status'), qr/hit/, 'stored again, then a hit');

get("/co?$ma&b=corrupt") for 1 .. 2;
($f) = objects('cache', '/co?');
open(my $fh, '+<', $f) or die;
binmode $fh;
# flip a byte of the key, which the checksum covers
seek $fh, 200, 0;
sysread $fh, my $byte, 1;
seek $fh, 200, 0;
syswrite $fh, chr(ord($byte) ^ 0x55);
close $fh;
$r = get("/co?$ma&b=corrupt");
is($r->body, 'corrupt', 'a corrupted file: the origin answers');
like($r->header('cache-status'), qr/fwd=uri-miss/, 'as a miss');

# --- the origin dies mid-fill ------------------------------------------------------
$r = get("/od?$ma&n=100000&cut=5000");
ok($r->status == 0 || length($r->body // '') < 100000, 'the client saw the cut');
is(scalar(tmp_files('cache')), 0, 'no temporary file left');
$r = get("/od?$ma&n=100000");
is(length $r->body, 100000, 'the next request: the whole body');
like($r->header('cache-status'), qr/fwd=uri-miss/, 'nothing partial was stored');

# --- the client leaves mid-fill --------------------------------------------------------
sub leave_early {
    my ($path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port(0)) or die;
    setsockopt($s, Socket::SOL_SOCKET(), Socket::SO_RCVBUF(), 4096);
    syswrite $s, WeirTest::request('GET', $path, Connection => 'close');
    sysread $s, my $buf, 1000;      # the head and a little body
    close $s;
}
leave_early("/cl/small?$ma&n=600000");
my $hit;
for (1 .. 100) {
    $r = get("/cl/small?$ma&n=600000");
    last if ($hit = ($r->header('cache-status') // '') =~ /hit/);
    sleep 0.05;
}
ok($hit, 'a client leaving a small fill: it is completed and stored');
is(count(qr{^/cl/small\?}), 1, '... from the one origin request');
leave_early("/cl/big?$ma&n=4000000");
$o->wait_until(sub { !tmp_files('cache') }, 10);
is(scalar(tmp_files('cache')), 0, 'a client leaving a large fill: dropped, temporary file removed');
$r = get("/cl/big?$ma&n=4000000");
is(length $r->body, 4000000, 'the next client gets it whole');

# --- a full disk ---------------------------------------------------------------------------
SKIP: {
    skip 'cannot mount a tmpfs here', 6 unless $mounted;
    for my $i (1 .. 3) {
        $r = get("/small/f$i?$ma&n=300000");
        is(length $r->body, 300000, "full disk: request $i answered in full");
    }
    cmp_ok(metric('weir_cache_errors_total\{cache="small",op="write"\}'), '>=', 1, 'op="write" counted');
    is(scalar(tmp_files('small')), 0, 'no temporary file left on the full disk');

    # read-only mid-run
    system('mount', '-o', 'remount,ro', $t->path('small')) == 0 or die;
    $r = get("/small/ro?$ma&b=readonly");
    is($r->body, 'readonly', 'read-only cache directory: answered');
    system('mount', '-o', 'remount,rw', $t->path('small'));
}

# --- tmp/ is not a directory ---------------------------------------------------------
rename $t->path('cache/tmp'), $t->path('cache/tmp.away');
open(my $tf, '>', $t->path('cache/tmp')); close $tf;
$r = get("/nt?$ma&b=notmp");
is($r->body, 'notmp', 'tmp/ unusable: answered');
cmp_ok(metric('weir_cache_errors_total\{cache="main",op="open"\}'), '>=', 1, 'op="open" counted');
unlink $t->path('cache/tmp');
rename $t->path('cache/tmp.away'), $t->path('cache/tmp');

WeirOrigin::check_workers($t);
$t->done_testing;
