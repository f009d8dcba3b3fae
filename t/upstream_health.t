#!/usr/bin/perl
# Active health checks: a checker process forked by the master probes
# every peer (health_check, health_interval, health_timeout, health_fall,
# health_rise, health_expect with a status list and a body regex,
# health_host) and the workers follow its verdicts:
# - a peer whose checks fail is out within health_fall x health_interval,
#   with no client traffic at all;
# - a peer whose body does not match health_expect's regex is out too;
# - the workers send it nothing; it comes back after health_rise passes;
# - the checker killed: the master restarts it and the verdicts stand;
# - a reload re-reads the checks (a new path is probed).

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use WeirTest;
use WeirOrigin;

my $conf = <<'INI';
[http]
access_log = logs/access.log

[upstream app]
server = 127.0.0.1:%%PORT1%%
server = 127.0.0.1:%%PORT2%%
server = 127.0.0.1:%%PORT3%%
health_check = %%PATH%%
health_interval = 300ms
health_timeout = 1s
health_fall = 2
health_rise = 2
health_expect = 200-299 ~ ^ok
health_host = health.example
max_fails = 0
keepalive = 0
; two of three peers go down here: no panic mode, it would spread the
; traffic over all three again
panic_threshold = 0

[server s]
listen = 127.0.0.1:%%PORT0%%

[route app]
server = s
match = /
upstream = app
INI
(my $first = $conf) =~ s/%%PATH%%/\/health/;
my $t = WeirTest->new(main => { workers => 2 }, config => $first);

# An origin whose health answer the test switches by a file: present ->
# 503 "sick".
my $sick = $t->path('logs/b-sick');
sub origin {
    my ($port, $health_body) = @_;
    return WeirOrigin->new(port => $port, handler => sub {
        my ($c) = @_;
        while (my $req = $c->read_request) {
            if ($req->{target} =~ m{^/health}) {
                my $bad = $health_body eq 'switch' && -e $sick;
                $c->write(WeirOrigin::response(status => $bad ? 503 : 200,
                    body => $bad ? "sick\n" : $health_body eq 'switch'
                        ? "ok\n" : $health_body, close => 1));
                return;
            }
            WeirOrigin::echo_response($c, $req) or return;
        }
    });
}
my $a = origin($t->port(1), "ok\n");
my $b = origin($t->port(2), 'switch');
my $c = origin($t->port(3), "not ok\n");     # 200, but the body fails
my ($pa, $pb, $pc) = map { '127.0.0.1:' . $t->port($_) } 1 .. 3;
$t->start;

sub app_requests {
    my ($o) = @_;
    return scalar grep { $_->{target} !~ m{^/health} } $o->requests;
}
sub checker_pids {
    my $m = $t->master_pid;
    return map { $_->{pid} } grep { $_->{ppid} == $m && $_->{comm} eq 'weir-checker'
        && $_->{state} ne 'Z' } WeirTest::_procs();
}

# The checker starts once the workers accept: wait for it.
my @ck;
my $cdl = WeirTest::deadline(5);
until ((@ck = checker_pids()) || time > $cdl) { Time::HiRes::sleep(0.02) }
is(scalar @ck, 1, 'one health checker process');

# --- checks run without traffic -------------------------------------------------

ok($a->wait_until(sub { grep { $_->{target} eq '/health' } $_[0]->requests }, 5),
    'the checker probes the peers');
my ($probe) = grep { $_->{target} eq '/health' } $a->requests;
is(WeirOrigin::header($probe, 'host'), 'health.example', 'with health_host as Host');
like(WeirOrigin::header($probe, 'user-agent') // '', qr/^weir-health-check\//,
    'and its own User-Agent');
ok($t->wait_for_log(qr/peer \Q$pc\E: health up -> down \(2 checks failed, last: status 200, body does not match health_expect\)/,
    timeout => 5), 'a body that does not match health_expect takes the peer out');

my $mark = $t->log_mark;
$t->write_file('logs/b-sick', '');
my $t0 = time;
my $down = $t->wait_for_log(qr/\[warn\].*upstream "app" peer \Q$pb\E: health up -> down \(2 checks failed, last: status 503\)/,
    from => $mark, timeout => 5);
ok($down, 'a failing peer is marked down');
my $took = time - $t0;
cmp_ok($took, '<', 3 * 0.3 + 0.5, sprintf('within health_fall x health_interval '
    . '(+ one interval and a probe): %.2f s', $took));
is(scalar($t->access_log_lines), 0, 'with no client traffic at all');

# --- the workers follow the verdicts ---------------------------------------------

my @st = map { $t->http_get("/r$_")->status } 1 .. 12;
is_deeply(\@st, [(200) x 12], 'requests are served');
is(app_requests($b), 0, 'none went to the peer that is down');
is(app_requests($c), 0, 'nor to the one whose body fails');
is(app_requests($a), 12, 'all to the healthy one');

# --- the checker dies: restarted, verdicts kept ---------------------------------

$mark = $t->log_mark;
kill 'KILL', @ck;
ok($t->wait_for_log(qr/health checker process $ck[0] exited on signal 9; restarting it/,
    from => $mark), 'the master saw the checker die');
my $dl = WeirTest::deadline(5);
my @ck2;
do { @ck2 = checker_pids() } until (@ck2 && $ck2[0] != $ck[0]) || time > $dl;
ok(@ck2 && $ck2[0] != $ck[0], 'and started a new one');
my $probes_before = grep { $_->{target} eq '/health' } $b->requests;
ok($b->wait_until(sub { (grep { $_->{target} eq '/health' } $_[0]->requests)
    >= $probes_before + 3 }, 5), 'the new checker probes');
unlike(substr($t->error_log, $mark), qr/peer \Q$pb\E: health (?:up|down) ->/,
    'the down peer stays down without a new transition (the state is in shm)');
@st = map { $t->http_get("/k$_")->status } 1 .. 6;
is(app_requests($b), 0, 'and gets no traffic');

# --- back after health_rise passes --------------------------------------------------

$mark = $t->log_mark;
unlink $sick;
ok($t->wait_for_log(qr/\[notice\].*peer \Q$pb\E: health down -> up \(2 checks passed\)/,
    from => $mark, timeout => 5), 'the peer passes health_rise checks: up');
my $dl2 = WeirTest::deadline(5);
my $i = 0;
$t->http_get('/u' . $i++) until app_requests($b) > 0 || time > $dl2;
cmp_ok(app_requests($b), '>', 0, 'and takes traffic again');

# --- a reload re-reads the checks -----------------------------------------------------

(my $second = $conf) =~ s/%%PATH%%/\/health2/;
$t->write_config($second);
$mark = $t->log_mark;
$t->signal('HUP');
ok($t->wait_for_log(qr/reload: generation 2 started/, from => $mark), 'reloaded');
ok($a->wait_until(sub { grep { $_->{target} eq '/health2' } $_[0]->requests }, 5),
    'the new checker probes the new path');
my @ck3 = checker_pids();
is(scalar @ck3, 1, 'one checker after the reload');
isnt($ck3[0], $ck2[0], 'a new one');

# --- checks turned off by a reload: the last verdict goes -----------------

$mark = $t->log_mark;
$t->write_file('logs/b-sick', '');
ok($t->wait_for_log(qr/peer \Q$pb\E: health up -> down/, from => $mark, timeout => 5),
    'the peer is down again');
(my $third = $conf) =~ s/^health_\w+ = .*\n//mg;
$t->write_config($third);
$mark = $t->log_mark;
$t->signal('HUP');
ok($t->wait_for_log(qr/reload: generation 3 started/, from => $mark), 'reloaded without checks');
my $seen = app_requests($b);
my $dl3 = WeirTest::deadline(5);
$t->http_get('/z' . $i++) until app_requests($b) > $seen || time > $dl3;
cmp_ok(app_requests($b), '>', $seen,
    'without checks, a peer they had marked down is used again');
ok($t->wait_workers(sub { @_ == 2 }), 'workers');
is(scalar(checker_pids()), 0, 'and no checker runs');

$t->done_testing;
