#!/usr/bin/perl
# A worker that keeps dying young is restarted with a growing delay
# (100 ms, doubling, at most 5 s) instead of in a tight fork loop; the
# first death is replaced at once; the master survives all of it and the
# slot serves again afterwards.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use WeirTest;

my $t = WeirTest->new(main => { workers => 1 }, config => <<'INI');
[server s]
listen = 127.0.0.1:%%PORT0%%

[route hello]
server = s
match = /
return = 200 hello
INI
$t->start;
my $master = $t->master_pid;
is($t->http_get('/')->body, 'hello', 'serving');

# Kill each new worker as soon as it appears: every death is "young".
my (@gaps, $prev);
for my $i (1 .. 5) {
    my ($victim) = $t->worker_pids;
    ok($victim, "kill $i: a worker to kill") or last;
    kill 'KILL', $victim;
    my $t0 = time;
    my @w = $t->wait_workers(sub { @_ == 1 && $_[0] != $victim }, 15);
    ok(@w, "kill $i: replaced") or last;
    push @gaps, time - $t0;
}
diag(sprintf 'replacement delays: %s s', join ' ', map { sprintf '%.3f', $_ } @gaps);
cmp_ok($gaps[0], '<', 0.5 * WeirTest::_detect_scale(), 'the first death is replaced at once');
ok($t->wait_for_log(qr/crash-looping \(\d+ quick exits\): restart #\d+ in \d+ ms/, timeout => 1),
    'the master says the slot is crash-looping');
my @delays = map { /in (\d+) ms/ ? $1 : () }
    grep { /crash-looping/ } split /\n/, ($t->error_log // '');
cmp_ok(scalar @delays, '>=', 3, 'each young death after the first is backed off');
is_deeply([ @delays[0 .. 2] ], [ 100, 200, 400 ], 'the delay doubles: 100, 200, 400 ms')
    or diag("@delays");
cmp_ok($gaps[-1], '>=', 0.35, 'the later restarts really wait');
is($t->master_pid, $master, 'the master survived');
ok($t->alive, 'the master is alive');
is($t->http_get('/')->body, 'hello', 'the slot serves again');

$t->done_testing;
