#!/usr/bin/perl
# Balancing across two workers with the in-flight counts they share:
# - least_conn and random (two choices) steer away from a slow peer, where
#   round robin gives it its share;
# - hash: one key, one peer, in both workers;
# - backup peers serve only when no primary is usable;
# - max_conns holds across workers: a request finding the peer full waits
#   in the queue and gets 503 UPSTREAM_QUEUE_TIMEOUT after queue_timeout
#   (not at once), or the peer once a slot frees;
# - the retry budget caps a retry storm against a failing upstream.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use WeirTest;
use WeirOrigin;

my $t = WeirTest->new(main => { workers => 2 }, config => <<'INI');
[http]
access_log = logs/access.log
log_format = $status $request_uri $upstream_addr $error_code

[upstream lc]
balance = least_conn
server = 127.0.0.1:%%PORT1%%
server = 127.0.0.1:%%PORT2%%
keepalive = 0

[upstream rnd]
balance = random
server = 127.0.0.1:%%PORT1%%
server = 127.0.0.1:%%PORT2%%
keepalive = 0

[upstream rr]
server = 127.0.0.1:%%PORT1%%
server = 127.0.0.1:%%PORT2%%
keepalive = 0

[upstream hs]
balance = hash
hash_key = $http_x_user
server = 127.0.0.1:%%PORT3%%
server = 127.0.0.1:%%PORT4%%
server = 127.0.0.1:%%PORT5%%

[upstream bk]
server = 127.0.0.1:%%PORT6%%
server = 127.0.0.1:%%PORT7%% backup
max_fails = 1
fail_timeout = 30s
keepalive = 0

[upstream mc]
server = 127.0.0.1:%%PORT8%% max_conns=1
queue_timeout = 300ms
keepalive = 0

[upstream mq]
server = 127.0.0.1:%%PORT8%% max_conns=1
queue_timeout = 10s
keepalive = 0

[upstream qd]
server = 127.0.0.1:%%PORT14%% max_conns=1
queue_timeout = 10s
proxy_timeout = 300ms
keepalive = 0

[upstream bo]
server = 127.0.0.1:%%PORT15%% weight=100
server = 127.0.0.1:%%PORT16%%
retries = 1
retry_backoff = 10s
proxy_timeout = 400ms
max_fails = 0
keepalive = 0

[upstream storm]
server = 127.0.0.1:%%PORT9%%
server = 127.0.0.1:%%PORT10%%
server = 127.0.0.1:%%PORT11%%
server = 127.0.0.1:%%PORT12%%
server = 127.0.0.1:%%PORT13%%
retry_on = http_503
retries = 4
retry_budget = 10
retry_budget_min = 2
max_fails = 0
keepalive = 0

[upstream nobudget]
server = 127.0.0.1:%%PORT9%%
server = 127.0.0.1:%%PORT10%%
server = 127.0.0.1:%%PORT11%%
server = 127.0.0.1:%%PORT12%%
server = 127.0.0.1:%%PORT13%%
retry_on = http_503
retries = 4
retry_budget = 100
retry_budget_min = 100
max_fails = 0
keepalive = 0

[server s]
listen = 127.0.0.1:%%PORT0%%

[route lc]
server = s
match = /lc/
upstream = lc
[route rnd]
server = s
match = /rnd/
upstream = rnd
[route rr]
server = s
match = /rr/
upstream = rr
[route hs]
server = s
match = /hs/
upstream = hs
[route bk]
server = s
match = /bk/
upstream = bk
[route mc]
server = s
match = /mc/
upstream = mc
[route mq]
server = s
match = /mq/
upstream = mq
[route qd]
server = s
match = /qd/
upstream = qd
[route bo]
server = s
match = /bo/
upstream = bo
[route storm]
server = s
match = /storm/
upstream = storm
[route nobudget]
server = s
match = /nobudget/
upstream = nobudget
INI

my $slow = WeirOrigin->new(port => $t->port(1), handler => 'fixed',
    delay => 3, body => 'slow');
my $fast = WeirOrigin->new(port => $t->port(2), handler => 'echo');
my @hs = map { WeirOrigin->new(port => $t->port($_), handler => 'echo') } 3 .. 5;
my $prim = WeirOrigin->new(port => $t->port(6), handler => 'echo');
my $back = WeirOrigin->new(port => $t->port(7), handler => 'echo');
my $one = WeirOrigin->new(port => $t->port(8), handler => 'fixed',
    delay => 1, body => 'one');
my $bo_live = WeirOrigin->new(port => $t->port(16), handler => 'echo');
my $ws = WeirOrigin->new(port => $t->port(14), handler => 'upgrade');
my @storm = map { WeirOrigin->new(port => $t->port($_), handler => 'fixed',
    status => 503, delay => 0.3, body => 'busy') } 9 .. 13;
$t->start;

# --- least_conn / random / round robin against a slow peer -------------------

# Send n requests one after another on new connections, each while the
# earlier slow ones are still in flight: wait until it is answered (the
# fast peer answers in milliseconds) or the slow peer has it, at most half
# a second (not scaled: the slow peer holds each request 3 s, which must
# stay longer than this wait even on a slow build). Then collect every
# answer.
sub paced {
    my ($prefix, $n) = @_;
    my @conns;
    for my $i (1 .. $n) {
        my $before = slow_count($prefix);
        my $c = $t->connect;
        $c->send(WeirTest::request('GET', "$prefix$i", Connection => 'close'));
        push @conns, $c;
        my $dl = time + 0.5;
        while (time < $dl && slow_count($prefix) == $before) {
            my $rin = '';
            vec($rin, fileno($c->{sock}), 1) = 1;
            last if select($rin, undef, undef, 0.02) > 0;
        }
    }
    return map { $_->read_response->status } @conns;
}

sub slow_count {
    my ($prefix) = @_;
    return scalar grep { index($_->{target}, $prefix) == 0 } $slow->requests;
}

my @st = paced('/lc/', 16);
is_deeply([grep { $_ != 200 } @st], [], 'least_conn: all answered');
my $lc = slow_count('/lc/');
cmp_ok($lc, '<=', 3, "least_conn: the slow peer got $lc of 16 (its "
    . 'requests stay in flight, so the fast one wins)');

@st = paced('/rnd/', 16);
is_deeply([grep { $_ != 200 } @st], [], 'random: all answered');
my $rnd = slow_count('/rnd/');
cmp_ok($rnd, '<=', 4, "random with two choices: the slow peer got $rnd of 16");

@st = paced('/rr/', 8);
my $rr = slow_count('/rr/');
cmp_ok($rr, '>=', 3, "round robin, for contrast: the slow peer got $rr of 8");

# --- hash --------------------------------------------------------------------

my %peer_of;
for my $u (1 .. 12) {
    for my $k (1 .. 3) {
        my $r = $t->http_get("/hs/$u/$k", 'X-User' => "user$u");
        is($r->status, 200, "hash: user$u request $k") if $k == 1;
    }
}
for my $i (0 .. 2) {
    for my $req ($hs[$i]->requests) {
        my $u = WeirOrigin::header($req, 'x-user');
        $peer_of{$u}{$i}++;
    }
}
is(scalar(grep { keys %{ $peer_of{$_} } != 1 } keys %peer_of), 0,
    'hash: every user\'s requests went to one peer, from both workers');
my %used = map { (keys %{ $peer_of{$_} })[0] => 1 } keys %peer_of;
cmp_ok(scalar keys %used, '>=', 2, 'hash: the users are spread over peers');

# --- backup --------------------------------------------------------------------

for my $i (1 .. 6) {
    is($t->http_get("/bk/a$i")->status, 200, "backup: request $i") if $i == 1;
    $t->http_get("/bk/a$i") if $i > 1;
}
is($back->request_count, 0, 'backup: unused while the primary is usable');
$prim->stop;
my @bst = map { $t->http_get("/bk/b$_")->status } 1 .. 6;
is_deeply(\@bst, [(200) x 6], 'backup: the primary died, every request served');
cmp_ok($back->request_count, '>=', 6, 'backup: by the backup');

# --- max_conns and the queue --------------------------------------------------------

{
    my $c1 = $t->connect;
    $c1->send(WeirTest::request('GET', '/mc/first', Connection => 'close'));
    ok($one->wait_until(sub { $_[0]->request_count >= 1 }, 5),
        'max_conns: the first request holds the only slot');
    my $t0 = time;
    my $r2 = $t->http_get('/mc/second', Accept => 'application/json');
    my $waited = time - $t0;
    is($r2->status, 503, 'max_conns: a second request (either worker) gets 503');
    like($r2->body, qr/UPSTREAM_QUEUE_TIMEOUT/, 'with UPSTREAM_QUEUE_TIMEOUT');
    cmp_ok($waited, '>=', 0.28, sprintf('after queue_timeout (%.2f s), not at once', $waited));
    cmp_ok($waited, '<', 0.95, 'and before the slot freed');
    is($c1->read_response->status, 200, 'max_conns: the first is served');
    is($one->request_count, 1, 'the peer never had two at once');
}
{
    my $c1 = $t->connect;
    $c1->send(WeirTest::request('GET', '/mq/first', Connection => 'close'));
    ok($one->wait_until(sub { $_[0]->request_count >= 2 }, 5), 'slot taken');
    my $t0 = time;
    my $r2 = $t->http_get('/mq/second');
    my $waited = time - $t0;
    is($r2->status, 200, 'queue: the waiting request is served once the slot frees');
    cmp_ok($waited, '>=', 0.5, sprintf('after waiting for it (%.2f s)', $waited));
    is($c1->read_response->status, 200, 'and the first one too');
    my @t = map { $_->{t} } grep { $_->{target} =~ m{^/mq/} } $one->requests;
    cmp_ok($t[1] - $t[0], '>=', 0.9, 'the second reached the peer after the first ended');
}

{
    # proxy_timeout also bounds the wait in the queue: the request ends
    # with 504 then, is never sent, and nothing is charged to the peer.
    # The slot is held by a WebSocket tunnel (proxy_timeout bounds a try
    # up to its response head only, so the tunnel keeps it).
    my $c1 = $t->connect;
    $c1->send("GET /qd/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        . "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        . "Sec-WebSocket-Version: 13\r\n\r\n");
    is($c1->read_response(head => 1)->status, 101, 'a tunnel holds the only slot');
    my $mark = $t->log_mark;
    my $t0 = time;
    my $r2 = $t->http_get('/qd/second', Accept => 'application/json');
    my $waited = time - $t0;
    is($r2->status, 504, 'proxy_timeout over in the queue: 504');
    like($r2->body, qr/UPSTREAM_TIMEOUT/, 'UPSTREAM_TIMEOUT');
    cmp_ok($waited, '>=', 0.28, sprintf('at the deadline (%.2f s)', $waited));
    cmp_ok($waited, '<', 2, 'not at queue_timeout (10 s)');
    ok($t->wait_for_log(qr/ran out of proxy_timeout before a try \(proxy_timeout\)/, from => $mark),
        'logged as proxy_timeout');
    is(scalar(grep { $_->{target} eq '/qd/second' } $ws->requests), 0,
        'the request never reached the peer');
    unlike(substr($t->error_log, $mark), qr/breaker/, 'and the peer was not blamed');
    $c1->close;
}

{
    # A retry backoff that reaches proxy_timeout ends at it: no try starts
    # with a millisecond left (it could only time out, against the peer).
    # The refused peer is picked first (weight 100), the backoff (up to
    # 10 s) is longer than the deadline.
    my $mark = $t->log_mark;
    my @st;
    for my $i (1 .. 4) {
        my $t0 = time;
        my $r = $t->http_get("/bo/$i");
        push @st, [$r->status, time - $t0];
    }
    # The backoff is full jitter over [0, 10 s]: about one time in 25 it
    # is shorter than what is left of the 400 ms, and that retry rightly
    # reaches the other peer (200). Every other one ends at the deadline.
    my @late = grep { $_->[0] != 200 } @st;
    is_deeply([map { $_->[0] } @late], [(504) x @late], 'backoff past proxy_timeout: 504 (the rest: 200 from the other peer)');
    cmp_ok(scalar @late, '>=', 1, '... at least one backoff went past the deadline');
    cmp_ok((sort { $b <=> $a } map { $_->[1] } @st)[0], '<', 1.5, 'at the deadline');
    is($bo_live->request_count, 4 - @late, 'only a retry before the deadline reached the other peer');
    my $log = substr($t->error_log, $mark);
    unlike($log, qr/header_timeout/, 'no try timed out at the deadline');
    like($log, qr/ran out of proxy_timeout before a try \(proxy_timeout\).*upstream: -/,
        'logged as proxy_timeout, with no peer named');
}

# --- the retry budget ---------------------------------------------------------------

sub burst {
    my ($prefix, $n) = @_;
    my @c = map { $t->connect } 1 .. $n;
    $c[$_]->send(WeirTest::request('GET', "$prefix$_", Connection => 'close'))
        for 0 .. $n - 1;
    return map { $_->read_response->status } @c;
}
sub storm_requests {
    my ($prefix) = @_;
    my $n = 0;
    for my $o (@storm) {
        $n += grep { index($_->{target}, $prefix) == 0 } $o->requests;
    }
    return $n;
}
my $mark = $t->log_mark;
my @ss = burst('/storm/', 20);
is_deeply([grep { $_ != 503 } @ss], [], 'storm: every client got the 503');
my $with = storm_requests('/storm/');
cmp_ok($with, '<=', 20 + 2 * 4 + 8,
    "budget: the origins saw $with requests for 20 (not 100)");
ok($t->wait_for_log(qr/upstream "storm": retry budget exhausted/, from => $mark),
    'budget: its exhaustion is logged');
@ss = burst('/nobudget/', 20);
my $without = storm_requests('/nobudget/');
cmp_ok($without, '>=', 90,
    "without a budget, for contrast: $without requests for 20");

WeirOrigin::check_workers($t);
$t->done_testing;
