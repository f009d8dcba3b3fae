#!/usr/bin/perl
# The circuit breaker of a peer, shared by two workers (DESIGN §4):
# - it opens after max_fails failures within fail_timeout, for a first
#   cooldown of fail_timeout (+-10% jitter);
# - when the cooldown is over exactly one trial request goes to the peer,
#   whichever worker takes it; the trial fails: open again with the
#   cooldown doubled;
# - a reload (HUP) keeps the state: the open breaker stays open in the new
#   workers, while a peer the reload added gets traffic at once;
# - the peer comes back: the next trial succeeds and closes the breaker,
#   and the peer gets traffic again.
# Every transition is logged once, naming upstream, peer, both states and
# the reason.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use Time::Local qw(timegm);
use WeirTest;
use WeirOrigin;

my $conf = <<'INI';
[upstream app]
server = 127.0.0.1:%%PORT1%%
server = 127.0.0.1:%%PORT2%%
%%EXTRA%%
max_fails = 2
fail_timeout = 2s
max_cooldown = 30s
retries = 1
panic_threshold = 0
keepalive = 0

[server s]
listen = 127.0.0.1:%%PORT0%%

[route app]
server = s
match = /
upstream = app
INI
(my $first = $conf) =~ s/%%EXTRA%%\n//;
my $t = WeirTest->new(main => { workers => 2 }, config => $first);
my $healthy = WeirOrigin->new(port => $t->port(2), handler => 'echo');
my $p = '127.0.0.1:' . $t->port(1);     # nothing listens there yet
$t->start;

# Epoch seconds of an error-log line ("2026-12-07T12:09:27.765Z ...").
sub log_time {
    my ($line) = @_;
    my ($y, $mo, $d, $h, $mi, $s, $ms) =
        $line =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z/ or return;
    return timegm($s, $mi, $h, $d, $mo - 1, $y) + $ms / 1000;
}

sub cooldown_of {
    my ($line) = @_;
    return ($line // '') =~ /next trial in (\d+) ms/ ? $1 : -1;
}

# --- opens after max_fails ------------------------------------------------

my $mark = $t->log_mark;
my ($n, @st) = (0);
while ($n < 40 && !$t->wait_for_log(qr/peer \Q$p\E: breaker closed -> open/,
        from => $mark, timeout => 0)) {
    push @st, $t->http_get('/a' . $n++)->status;
}
is_deeply([grep { $_ != 200 } @st], [], 'every request got 200 (retried)');
my $open1 = $t->wait_for_log(qr/peer \Q$p\E: breaker closed -> open/,
    from => $mark);
like($open1, qr/\[warn\] .*upstream "app" peer \Q$p\E: breaker closed -> open \(2 failures within 2000 ms, last: connect_refused\), next trial in \d+ ms/,
    'the opening is logged with upstream, peer, states and reason');
my $c1 = cooldown_of($open1);
ok($c1 >= 1800 && $c1 <= 2200, "first cooldown is fail_timeout +-10% ($c1 ms)");

# --- one trial, fails, cooldown doubles -----------------------------------

# Traffic on new connections (both workers) until told to stop. (By a
# file: origins forked later inherit the control pipe, so its EOF would
# come only when they end.)
my $stop = $t->path('logs/stop-load');
sub load {
    my ($tag) = @_;
    return $t->background(sub {
        my ($ctl) = @_;
        my ($i, $bad) = (0, 0);
        until ($ctl->stop || -e $stop) {
            my $r = $t->http_get("/$tag" . $i++);
            $bad++ if $r->status != 200;
        }
        return { n => $i, bad => $bad };
    });
}
my $bg = load('b');
my $half = $t->wait_for_log(qr/peer \Q$p\E: breaker open -> half_open/,
    from => $mark, timeout => 10);
ok($half, 'after the cooldown the breaker is half-open') or diag($t->error_log);
like($half, qr/\[notice\].*\(cooldown over, sending one trial request\)/,
    'logged at notice with the reason');
cmp_ok(log_time($half) - log_time($open1), '>=', $c1 / 1000 - 0.01,
    'not before the cooldown was over');
my $open2 = $t->wait_for_log(qr/peer \Q$p\E: breaker half_open -> open/,
    from => $mark, timeout => 10);
like($open2, qr/\(trial request failed: connect_refused\)/,
    'the trial failed: open again');
my $c2 = cooldown_of($open2);
ok($c2 >= 3600 && $c2 <= 4400, "the cooldown doubled ($c1 -> $c2 ms)");
{
    my $log = $t->error_log;
    my $from = index($log, $half);
    my $to = index($log, $open2);
    my @tries = grep { /connect failed.*upstream: \Q$p\E/ }
        split /\n/, substr($log, $from, $to - $from);
    is(scalar @tries, 1, 'exactly one trial request reached for the peer, '
        . 'from either worker');
}

# --- a reload keeps the state; a new peer starts healthy --------------------

(my $second = $conf) =~ s/%%EXTRA%%/server = 127.0.0.1:%%PORT3%%/;
my $added = WeirOrigin->new(port => $t->port(3), handler => 'echo');
$t->write_config($second);
my $rmark = $t->log_mark;
$t->signal('HUP');
ok($t->wait_for_log(qr/reload: generation 2 started/, from => $rmark),
    'reloaded');
# The peer comes back now, during the doubled cooldown.
my $back = WeirOrigin->new(port => $t->port(1), handler => 'echo');
my $back_at = time;
ok($added->wait_until(sub { $_[0]->request_count >= 3 }, 10),
    'the peer added by the reload gets traffic at once');

my $closed = $t->wait_for_log(qr/peer \Q$p\E: breaker half_open -> closed/,
    from => $rmark, timeout => 15);
like($closed, qr/\[notice\].*\(trial request succeeded\)/,
    'the next trial succeeded and closed the breaker');
my $half2 = $t->wait_for_log(qr/peer \Q$p\E: breaker open -> half_open/,
    from => $rmark);
ok($half2, 'half-open again after the doubled cooldown');
cmp_ok(log_time($half2) - log_time($open2), '>=', $c2 / 1000 - 0.01,
    'the reload did not reset the breaker: the doubled cooldown ran out first');
my @reqs = $back->requests;
ok(@reqs, 'the peer is back in use');
cmp_ok($reqs[0]{t}, '>=', log_time($half2) - 0.002,
    'it got nothing before the half-open trial');
is(scalar(grep { $_->{t} < log_time($closed) } @reqs), 1,
    'and only the trial until the breaker closed');
ok($back->wait_until(sub { $_[0]->request_count >= 5 }, 10),
    'closed: the peer takes its share again');

$t->write_file('logs/stop-load', '');
my $r = $bg->finish;
cmp_ok($r->{n}, '>', 20, 'the load ran throughout');
is($r->{bad}, 0, 'and not one of its requests failed');
is(scalar(() = $t->error_log =~ /peer \Q$p\E: breaker closed -> open/g), 1,
    'opened once in all: the workers share one breaker');

$t->done_testing;
