#!/usr/bin/perl
# A worker killed with SIGKILL is replaced at once; its listening queue
# waits for the replacement, so a client doing sequential requests on new
# connections loses at most the one request the dead worker was serving.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use WeirTest;

my $t = WeirTest->new(config => <<'INI', files => { 'html/index.html' => "index\n" });
[server s]
listen = 127.0.0.1:%%PORT0%%

[route hello]
server = s
match = = /hello
return = 200 hello

[route site]
server = s
match = /
root = html
INI
$t->start;

my $master = $t->master_pid;
is(WeirTest::comm_of($master), 'weir-master', 'the master is named weir-master');
my @workers = $t->worker_pids;
is(scalar @workers, 2, 'two weir-worker children of the master');

# Sequential requests, a new connection each, until told to stop.
sub client {
    my ($ctl) = @_;
    my ($ok, $fail, @why) = (0, 0);
    my $t0 = time;
    until ($ctl->stop) {
        my $r = $t->http_get(($ok + $fail) % 2 ? '/hello' : '/');
        if ($r->status == 200 && !$r->error
            && $r->body eq (($ok + $fail) % 2 ? 'hello' : "index\n")) {
            $ok++;
            $ctl->event('started') if $ok == 20;
        } else {
            $fail++;
            push @why, sprintf('%.3f %s', time - $t0, $r->summary);
        }
    }
    return { ok => $ok, fail => $fail, why => join('; ', @why) };
}

for my $round (1 .. 2) {
    my @before = $t->worker_pids;
    # an original worker each time: a just-born one could count as a
    # crash loop and be replaced with a back-off
    my %orig = map { $_ => 1 } @workers;
    my ($victim) = grep { $orig{$_} } @before;
    $victim //= $before[0];
    my $bg = $t->background(\&client, max => 60);
    is($bg->wait_event(10), 'started', "round $round: the client runs");

    my $mark = $t->log_mark;
    my $t0 = time;
    kill 'KILL', $victim;
    my %old = map { $_ => 1 } @before;
    my @now = $t->wait_workers(sub { @_ == 2 && grep { !$old{$_} } @_ }, 1);
    my $el = time - $t0;
    ok(@now, "round $round: a new worker replaces the killed one")
        or diag('workers: ' . join(' ', $t->worker_pids));
    cmp_ok($el, '<=', 1, "round $round: within 1 s");
    ok(!grep({ $_ == $victim } @now), "round $round: the killed pid is gone");

    # The new worker serves: 20 new connections all answered (with two
    # workers, some of them land on the new one's queue).
    my $served = 0;
    my $t1 = time;
    for (1 .. 20) { $served++ if $t->http_get('/hello')->body eq 'hello' }
    is($served, 20, "round $round: 20 requests on new connections all served");
    cmp_ok(time - $t1, '<', 1 * WeirTest::_detect_scale() + 1,
        "round $round: ... promptly");

    my $res = $bg->finish;
    cmp_ok($res->{ok} // 0, '>', 20, "round $round: the client kept going");
    cmp_ok($res->{fail} // 99, '<=', 1,
        "round $round: at most the one in-flight request failed")
        or diag($res->{why} // $res->{died});

    ok($t->wait_for_log(qr/worker process $victim exited on signal 9/, from => $mark),
        "round $round: the master logs the worker's death");
    ok(!$t->wait_for_log(qr/\[(?:alert|emerg)\].*$victim/, from => $mark, timeout => 0),
        "round $round: ... not as an alert");
    is($t->master_pid, $master, "round $round: same master");
    ok($t->alive, "round $round: the master is alive");
}

is(scalar $t->worker_pids, 2, 'still two workers after two crashes');
is($t->stop, 0, 'graceful stop after the crashes: exit 0');
ok(!-e $t->pid_file, 'pid file removed');

$t->done_testing;
