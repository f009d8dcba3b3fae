#!/usr/bin/perl
# The cache manager process and the master's side of [cache]:
# - the master makes <path> and <path>/tmp (0700, the workers' user's);
# - a "weir: cache manager process" runs beside the workers;
# - its loader removes what fills left in tmp/, files that do not decode
#   (garbage, truncated) or sit where their key does not put them, keeps
#   files that are not weir's, and indexes the others (one "loaded" line);
# - objects unused for `inactive` are evicted, then the least recently
#   used while the cache is over max_size (oldest first);
# - killed, it is restarted: the new one clears tmp/ of leftovers (but
#   not of a file written just now) without loading the objects again;
# - a reload replaces it and applies a new max_size; a new max_objects is
#   said to need a restart;
# - a cache directory that goes read-only or away is logged, not fatal.
# Files are made with t/helper/cache_obj (the file module's own encoder).

use strict;
use warnings;
use Test::More;
use File::Basename qw(dirname basename);
use File::Path qw(make_path remove_tree);
use File::Find;
use Time::HiRes qw(time);
use WeirTest;

my $helper = dirname(WeirTest::binary()) . '/t/helper/cache_obj';
plan(skip_all => "no $helper (make builds it)") unless -x $helper;

my ($nobody_uid, $nobody_gid) = (getpwnam('nobody'))[2, 3];
my $as_root = $> == 0 && defined $nobody_uid;

sub config {
    my ($max) = @_;
    return <<"INI";
[server s]
listen = 127.0.0.1:%%PORT0%%

[route r]
server = s
match = /
return = 200 hi

[cache c]
max_size = $max
inactive = 1h

[cache d]
INI
}

my $t = WeirTest->new(main => { ($as_root ? (user => 'nobody') : ()) },
    config => config('2m'));
chmod 0755, $t->prefix, $t->path('conf'), $t->path('html');
my $dir = $t->path('cache/c');

sub obj {
    my ($key, $len) = @_;
    my $p = `$helper $dir 1:2 $key $len`;
    chomp $p;
    die "cache_obj $key failed" unless $? == 0 && -f $p;
    return $p;
}
sub hex64 { return join '', map { sprintf '%02x', int rand 256 } 1 .. 32 }
sub disk_size { my @s = stat $_[0]; return $s[7] > $s[12] * 512 ? $s[7] : $s[12] * 512 }
sub mgr_pids {
    my $m = $t->master_pid;
    return map { $_->{pid} } grep { $_->{ppid} == $m && $_->{comm} eq 'weir-cache-mgr'
        && $_->{state} ne 'Z' } WeirTest::_procs();
}
sub wait_mgr {
    my ($not) = @_;
    my $dl = WeirTest::deadline(5);
    my @p;
    until ((@p = grep { !$not || $_ != $not } mgr_pids()) || time > $dl) {
        select(undef, undef, undef, 0.02);
    }
    return $p[0];
}

# --- what is on disk before the start -------------------------------------------

my $now = time;
make_path("$dir/tmp");
# eight objects of ~200 KB, k1 the least recently used
my %obj;
for my $i (1 .. 8) {
    $obj{"k$i"} = obj("k$i", 200_000);
    my $used = int($now) - 1000 + 10 * $i;
    utime $used, $used, $obj{"k$i"};
}
# one unused for two hours: inactive = 1h
my $old = obj('old', 1000);
utime int($now) - 7200, int($now) - 7200, $old;
# what fills left behind, written before this weir started
my $leftover = "$dir/tmp/" . hex64() . '.7';
my $junk = "$dir/tmp/junk";
$t->write_file($_, 'partial') for $leftover, $junk;
utime int($now) - 60, int($now) - 60, $leftover, $junk;
# named like objects, but garbage, truncated, or in the wrong place
my $garbage = "$dir/0/00/" . ('0' x 64);
$t->write_file($garbage, "not a cache file\n" x 20);
my $trunc = obj('trunc', 5000);
truncate $trunc, 3000;
my $real = obj('moved', 100);
my $moved = "$dir/" . ($real =~ m{/f/ff/} ? 'e/ee' : 'f/ff') . '/' . basename($real);
make_path(dirname($moved));
rename $real, $moved or die "rename: $!";
# not weir's: left alone
my $foreign = "$dir/README";
$t->write_file($foreign, "mine\n");
if ($as_root) {
    find(sub { chown $nobody_uid, $nobody_gid, $_ }, $t->path('cache'));
}

# --- start: directories, process, loader ---------------------------------------------

my $r = $t->weir_ctl('-t');
is($r->{rc}, 0, '-t passes') or diag($r->{err});
unlike($r->{err}, qr/\[cache c\]/, '... without a word about a usable cache directory');

$t->start;
my $mgr = wait_mgr();
ok($mgr, 'a cache manager process runs beside the workers');
like(WeirTest::_slurp("/proc/$mgr/cmdline") // '', qr/^weir: cache manager process/,
    '... titled "weir: cache manager process"');

ok($t->wait_for_log(qr/\[notice\].*\[cache c\]: loaded 9 objects, \d+ bytes, in \d+ ms; removed 2 unreadable and 1 misplaced files and 2 temp files left by fills/),
    'the loader indexes the 9 valid objects and says what it removed')
    or diag($t->error_log);
ok(!-e $leftover && !-e $junk, 'temp files from before the start are removed');
ok(!-e $garbage, 'a file that does not decode is removed');
ok(!-e $trunc, 'a truncated file is removed');
ok(!-e $moved, 'a file where its key does not put it is removed');
ok(-e $foreign, 'a file that is not weir\'s stays');
like($t->error_log, qr/\[warn\].*\[cache c\]: removed "\Q$garbage\E": not a cache file/,
    'a removed file is named with the reason');

my $fresh = $t->path('cache/d');
is((stat $fresh)[2] & 07777, 0700, 'a cache directory the master makes is 0700');
is((stat "$fresh/tmp")[2] & 07777, 0700, '... and so is its tmp/');
SKIP: {
    skip 'not root', 3 unless $as_root;
    is((stat $fresh)[4], $nobody_uid, '... owned by the workers\' user');
    is((stat "$fresh/tmp")[4], $nobody_uid, '... tmp/ too');
    is((stat "$dir/tmp")[4], $nobody_uid, 'an existing one is given to that user');
}

# --- inactive --------------------------------------------------------------------------

ok($t->wait_for_log(qr/\[info\].*\[cache c\]: evicted 1 objects \(1 inactive, 0 least recently used over max_size\)/),
    'an object unused for inactive is evicted');
ok(!-e $old, '... its file removed');
is(scalar(grep { -e $obj{$_} } keys %obj), 8, 'the others fit max_size: all kept');

# --- the manager killed: restarted --------------------------------------------------------

my $mark = $t->log_mark;
my $left2 = "$dir/tmp/" . hex64() . '.8';
my $young = "$dir/tmp/" . hex64() . '.9';
$t->write_file($_, 'partial') for $left2, $young;
utime int($now) - 60, int($now) - 60, $left2;
chown $nobody_uid, $nobody_gid, $left2, $young if $as_root;
kill 'KILL', $mgr;
ok($t->wait_for_log(qr/\[error\].*cache manager process $mgr exited on signal 9; restarting it/,
    from => $mark), 'the master sees the manager killed');
my $mgr2 = wait_mgr($mgr);
ok($mgr2 && $mgr2 != $mgr, '... and starts a new one');
ok($t->wait_for_log(qr/\[cache c\]: removed 1 temp files left by fills/, from => $mark),
    'the new manager clears tmp/ of a leftover');
ok(!-e $left2, '... written before the start');
ok(-e $young, '... not of a file written just now (a fill may own it)');
unlike(substr($t->error_log, $mark), qr/loaded \d+ objects/,
    'the index is loaded already: no second walk');

# --- reload: a new max_size --------------------------------------------------------------

my @lru = sort { (stat $obj{$a})[8] <=> (stat $obj{$b})[8] } keys %obj;
my $total = 0;
$total += disk_size($obj{$_}) for @lru;
my @gone;
while ($total > 1024 * 1024) {
    my $k = shift @lru;
    push @gone, $k;
    $total -= disk_size($obj{$k});
}
my $n = @gone;
$mark = $t->log_mark;
$t->write_config(config('1m'));
$t->signal('HUP');
ok($t->wait_for_log(qr/reload: generation 2 started/, from => $mark), 'reload');
ok($t->wait_for_log(qr/\[cache c\]: evicted $n objects \(0 inactive, $n least recently used over max_size\)/,
    from => $mark), "max_size = 1m: the $n least recently used objects go");
is_deeply([ sort grep { !-e $obj{$_} } keys %obj ], [ sort @gone ],
    '... the oldest ones: ' . join(' ', @gone));
my $mgr3 = wait_mgr($mgr2);
ok($mgr3 && $mgr3 != $mgr2, 'a new manager for the new configuration');
my $dl = WeirTest::deadline(5);
select(undef, undef, undef, 0.05) while (grep { $_ == $mgr2 } mgr_pids()) && time < $dl;
is_deeply([ mgr_pids() ], [ $mgr3 ], '... the old one stops');

$mark = $t->log_mark;
$t->write_config(config('64m'));
$t->signal('HUP');
ok($t->wait_for_log(qr/\[warn\].*\[cache c\]: .*takes effect on restart only/, from => $mark),
    'a reload that changes the index capacity says it needs a restart');
ok($t->wait_for_log(qr/reload: generation 3 started/, from => $mark), '... and goes on');
$dl = WeirTest::deadline(5);
my @only;
until ((@only = mgr_pids()) == 1 && $only[0] != $mgr3 || time > $dl) {
    select(undef, undef, undef, 0.02);
}
ok(@only == 1 && $only[0] != $mgr3, '... with one new manager');

# --- the directory turns read-only, then goes away ------------------------------------------

SKIP: {
    skip 'root ignores modes (and no user nobody)', 3 if $> == 0 && !$as_root;
    my $pid = wait_mgr();
    $mark = $t->log_mark;
    chmod 0500, $dir;
    ok($t->wait_for_log(qr/\[error\].*\[cache c\]: nothing is stored or evicted while directory "\Q$dir\E" \(or its tmp\) cannot be written: Permission denied/,
        from => $mark), 'a read-only cache directory is logged');
    chmod 0700, $dir;
    ok($t->wait_for_log(qr/\[notice\].*\[cache c\]: directory "\Q$dir\E" is usable again/,
        from => $mark), '... and its return');
    is(wait_mgr(), $pid, '... by the same manager');
}

my $pid = wait_mgr();
$mark = $t->log_mark;
remove_tree($dir);
ok($t->wait_for_log(qr/\[cache c\]: (?:directory "\Q$dir\E" was gone: made again|nothing is stored or evicted while directory "\Q$dir\E")/,
    from => $mark), 'a cache directory that goes away is logged');
is(wait_mgr(), $pid, '... and the manager goes on');
is($t->http_get('/')->status, 200, 'weir serves');

$t->done_testing;
