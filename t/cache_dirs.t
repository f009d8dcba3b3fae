#!/usr/bin/perl
# The master's side of [cache] when things go wrong:
# - a cache directory that cannot be created: `weir -t` warns (and still
#   passes), weir starts, says why once, serves, and its cache manager
#   runs on;
# - an index that does not fit in shared memory fails the start, and a
#   reload that adds one, naming the cache; the running weir keeps
#   serving.

use strict;
use warnings;
use Test::More;
use WeirTest;

my $site = <<'INI';
[server s]
listen = 127.0.0.1:%%PORT0%%

[route r]
server = s
match = /
return = 200 hi
INI

sub mgr_pids {
    my ($t) = @_;
    my $m = $t->master_pid;
    return map { $_->{pid} } grep { $_->{ppid} == $m && $_->{comm} eq 'weir-cache-mgr'
        && $_->{state} ne 'Z' } WeirTest::_procs();
}

# --- a directory that cannot be created ------------------------------------------------

my $t = WeirTest->new(config => $site . <<'INI');
[cache bad]
path = blocker/c
INI
$t->write_file('blocker', "a file, not a directory\n");
my $bad = $t->path('blocker/c');
my $conf = $t->conf_file;

my $r = $t->weir_ctl('-t');
is($r->{rc}, 0, '-t: a cache directory that cannot be made is no error');
like($r->{err}, qr/\[warn\] .*\Q$conf\E:\d+: \[cache bad\] path: the cache would not be used \(its routes go uncached\): cannot create "\Q$bad\E": "\Q${\ $t->path('blocker')}\E" is not a directory/,
    '-t: but a warning naming the cache, the directory and why') or diag($r->{err});
like($r->{err}, qr/test is successful/, '-t: test is successful');

$t->start;
is($t->http_get('/')->status, 200, 'weir starts and serves without it');
ok($t->wait_for_log(qr/\[error\].*\[cache bad\]: the cache is not used \(its routes go uncached\): cannot create directory "\Q$bad\E": Not a directory/),
    'the master says why, with the cause');
my $dl = WeirTest::deadline(5);
my @m;
until ((@m = mgr_pids($t)) || time > $dl) { select(undef, undef, undef, 0.02) }
is(scalar @m, 1, 'the cache manager runs');
ok($t->wait_for_log(qr/\[error\].*\[cache bad\]: nothing is stored or evicted while directory "\Q$bad\E" \(or its tmp\) cannot be written: Not a directory/),
    'and says it cannot work there');
my $mark = $t->log_mark;
$t->signal('HUP');
ok($t->wait_for_log(qr/reload: generation 2 started/, from => $mark),
    'a reload with the same directory goes through');
my @cannot = substr($t->error_log, 0) =~ /cannot create directory/g;
is(scalar @cannot, 2, 'the master says it once per start or reload');
$dl = WeirTest::deadline(5);
my @m2;
until (((@m2 = mgr_pids($t)) == 1 && $m2[0] != $m[0]) || time > $dl) {
    select(undef, undef, undef, 0.02);
}
ok(@m2 == 1 && $m2[0] != $m[0], 'one new manager after the reload');
$t->stop;

# --- no room in shared memory for an index -------------------------------------------------

# 100g derives the largest index (1,048,576 slots): more than 32m of shm.
my $big = <<'INI';
[cache big]
max_size = 100g
INI
my $t2 = WeirTest->new(config => $site . $big);
$r = $t2->weir_ctl();
isnt($r->{rc}, 0, 'an index that does not fit in shm_size: the start fails');
like($t2->error_log . $r->{err}, qr/\[emerg\].*\[cache big\]: cannot attach its index: /,
    '... naming the cache');

my $t3 = WeirTest->new(config => $site);
$t3->start;
$mark = $t3->log_mark;
$t3->write_config($site . $big);
$t3->signal('HUP');
ok($t3->wait_for_log(qr/\[error\].*reload failed: \[cache big\]: cannot attach its index: /,
    from => $mark), 'a reload that adds such an index fails, naming the cache');
is($t3->http_get('/')->status, 200, '... and weir goes on serving');
is(scalar(() = mgr_pids($t3)), 0, '... with no cache manager (it had no cache)');

$t->done_testing(allow => qr/\[cache big\]: cannot attach its index/);
