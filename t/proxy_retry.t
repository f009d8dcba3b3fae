#!/usr/bin/perl
# Retries (DESIGN §4): a refused connect is retried on the other server
# ($retries = 1 in the access log); an idempotent request (GET, PUT with
# its body replayed) whose server reset after reading it is retried on the
# other server, a POST is not (502, the other origin received nothing);
# retries = 0 means no retry; all servers failing gives one 502 and one log
# line per server; a request that fails on a reused pooled connection
# before any response byte is retried on a fresh connection.
#
# The failing server always has weight=10 against 1, so it is picked first.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use WeirTest;
use WeirOrigin;

my $t = WeirTest->new(main => { workers => 1 }, config => <<'INI');
[http]
access_log = logs/access.log
log_format = $status $upstream_addr $upstream_status $retries $request_id $upstream_connect_time $upstream_response_time

[upstream refused_first]
server = 127.0.0.1:%%PORT1%% weight=10
server = 127.0.0.1:%%PORT2%%
retries = 1
max_fails = 0

[upstream post_reset]
server = 127.0.0.1:%%PORT3%% weight=10
server = 127.0.0.1:%%PORT4%%
retries = 1
max_fails = 0

[upstream get_reset]
server = 127.0.0.1:%%PORT5%% weight=10
server = 127.0.0.1:%%PORT6%%
retries = 1
max_fails = 0

[upstream noretry]
server = 127.0.0.1:%%PORT7%% weight=10
server = 127.0.0.1:%%PORT8%%
retries = 0
max_fails = 0

[upstream allrefused]
server = 127.0.0.1:%%PORT9%%
server = 127.0.0.1:%%PORT10%%
retries = 1
max_fails = 0

[upstream race_close]
server = 127.0.0.1:%%PORT11%%
keepalive = 32

[upstream race_reset]
server = 127.0.0.1:%%PORT12%%
keepalive = 32

[server s]
listen = 127.0.0.1:%%PORT0%%

[route refused_first]
server = s
match = /refused_first/
upstream = refused_first

[route post_reset]
server = s
match = /post_reset/
upstream = post_reset

[route get_reset]
server = s
match = /get_reset/
upstream = get_reset

[route noretry]
server = s
match = /noretry/
upstream = noretry

[route allrefused]
server = s
match = /allrefused/
upstream = allrefused

[route race_close]
server = s
match = /race_close/
upstream = race_close

[route race_reset]
server = s
match = /race_reset/
upstream = race_reset
INI

# PORT1, PORT7, PORT9, PORT10: nothing listens (refused).
my $b_refused = WeirOrigin->new(port => $t->port(2), handler => 'echo');
my $a_post    = WeirOrigin->new(port => $t->port(3), handler => 'reset');
my $b_post    = WeirOrigin->new(port => $t->port(4), handler => 'echo', log_rx => 1);
my $a_get     = WeirOrigin->new(port => $t->port(5), handler => 'reset');
my $b_get     = WeirOrigin->new(port => $t->port(6), handler => 'echo');
my $b_noretry = WeirOrigin->new(port => $t->port(8), handler => 'echo', log_rx => 1);
my $race_close = WeirOrigin->new(port => $t->port(11), handler => 'close_after_first',
    mode => 'on_next', how => 'close');
my $race_reset = WeirOrigin->new(port => $t->port(12), handler => 'close_after_first',
    mode => 'on_next', how => 'reset');

$t->start;

my $J = WeirOrigin::json();
my ($p1, $p2) = ($t->port(1), $t->port(2));
my $n = 0;
sub rid { return sprintf '%032x', 0xabc000 + ++$n }

# --- connect refused, retried on the other server --------------------------------

my @ids;
for my $i (1 .. 3) {
    my $id = rid();
    push @ids, $id;
    my $mark = $t->log_mark;
    my $r = $t->http_get("/refused_first/$i", 'X-Request-Id' => $id);
    is($r->status, 200, "refused first, GET $i: 200 from the other server") or diag($r->summary);
    is((eval { $J->decode($r->body) } || {})->{target}, "/refused_first/$i",
        "refused first, GET $i: the other server's answer");
    ok($t->wait_for_log(qr/Connection refused.*upstream: 127\.0\.0\.1:$p1\b/, from => $mark),
        "refused first, GET $i: the refused connect is logged");
}
for my $id (@ids) {
    my $l = $t->wait_for_access_log(qr/ \Q$id\E /);
    like($l // '', qr/^200 .*127\.0\.0\.1:$p2\b.* 1 \Q$id\E /,
        'access log: 200 from the second server, $retries = 1') or diag($l // 'no line');
}
is($b_refused->request_count, 3, 'the second server got each request once');

# --- reset after reading the request --------------------------------------------------

my $id = rid();
my $r = $t->http(WeirTest::request('POST', '/post_reset/x', Connection => 'close',
    Accept => 'application/json', 'X-Request-Id' => $id, body => 'order=1'));
is($r->status, 502, 'POST, server resets after reading it: 502, not retried') or diag($r->summary);
like((eval { $J->decode($r->body) } || {})->{error} // '', qr/^UPSTREAM_[A-Z_]+$/,
    'POST reset: an UPSTREAM_ error code');
ok($a_post->wait_until(sub { $_[0]->request_count == 1 }), 'POST reset: the first server got the POST once');
sleep 0.3;
is($b_post->connections, 0, 'POST reset: the second server got no connection');
is($b_post->rx_bytes, 0, 'POST reset: the second server received nothing');
my $l = $t->wait_for_access_log(qr/ \Q$id\E /);
like($l // '', qr/^502 127\.0\.0\.1:${\ $a_post->port }\b.* 0 \Q$id\E /,
    'access log: POST reset, 502 from the first server, $retries = 0') or diag($l // 'no line');

$id = rid();
$r = $t->http_get('/get_reset/x', 'X-Request-Id' => $id);
is($r->status, 200, 'GET, server resets after reading it: retried, 200') or diag($r->summary);
$l = $t->wait_for_access_log(qr/ \Q$id\E /);
like($l // '', qr/^200 .*127\.0\.0\.1:${\ $b_get->port }\b.* 1 \Q$id\E /,
    'access log: GET reset, 200 from the second server, $retries = 1') or diag($l // 'no line');

my $body = WeirOrigin::pattern_chunk(0, 5000);
$r = $t->http(WeirTest::request('PUT', '/get_reset/put', Connection => 'close', body => $body));
is($r->status, 200, 'PUT (idempotent) of 5000 bytes, server resets after reading it: retried, 200')
    or diag($r->summary);
my ($put) = grep { $_->{target} eq '/get_reset/put' } $b_get->requests;
ok($put && $put->{body_len} == length $body
    && $put->{md5} eq WeirOrigin::pattern_md5(length $body),
    'PUT retry: the second server got the whole body again');

# A body too large to keep for a replay may not be retried; if it is, the
# other server must get all of it, never a part.
my $big = join '', map { WeirOrigin::pattern_chunk($_) } 0 .. 15;    # 1 MiB
$r = $t->http(WeirTest::request('PUT', '/get_reset/bigput', Connection => 'close', body => $big));
my @bigput = grep { $_->{target} eq '/get_reset/bigput' } $b_get->requests;
ok(($r->status == 502 && !@bigput)
    || ($r->status == 200 && @bigput == 1 && $bigput[0]{md5} eq WeirOrigin::pattern_md5(length $big)),
    'PUT of 1 MiB reset: a 502, or a retry with the whole body') or diag($r->summary);
my @partial = grep { $_->{ev} =~ /incomplete|bad_request/ } $b_get->events;
ok(!@partial, 'the second server never got a partial request') or diag(explain \@partial);
is($a_get->request_count, 3, 'the resetting server got each request once (retries went elsewhere)');

# --- retries = 0 ------------------------------------------------------------------------

$r = $t->http_get('/noretry/x', Accept => 'application/json');
is($r->status, 502, 'retries = 0: a refused connect is a 502');
is((eval { $J->decode($r->body) } || {})->{error}, 'UPSTREAM_CONNECT_FAILED',
    'retries = 0: UPSTREAM_CONNECT_FAILED');
sleep 0.2;
is($b_noretry->connections, 0, 'retries = 0: the other server got nothing');

# --- every server refuses -------------------------------------------------------------------

my $mark = $t->log_mark;
$r = $t->http_get('/allrefused/x', Accept => 'application/json');
is($r->status, 502, 'all servers refuse: 502');
is((eval { $J->decode($r->body) } || {})->{error}, 'UPSTREAM_CONNECT_FAILED',
    'all servers refuse: UPSTREAM_CONNECT_FAILED');
for my $p ($t->port(9), $t->port(10)) {
    ok($t->wait_for_log(qr/Connection refused.*upstream: 127\.0\.0\.1:$p\b.*request: "GET \/allrefused\/x HTTP\/1\.1"/,
        from => $mark), "all servers refuse: the attempt on port $p is logged");
}

# --- keep-alive race: the pooled connection is closed as it is reused -------------------------

for my $case ([ 'race_close', $race_close, 'FIN' ], [ 'race_reset', $race_reset, 'RST' ]) {
    my ($route, $o, $how) = @$case;
    my $c = WeirTest::Client->new(port => $t->port(0));
    is($c->get("/$route/1")->status, 200, "$route: first request");
    # the origin answered and keeps the connection; weir pools it and
    # reuses it for the next request, which the origin reads and drops
    $r = $c->get("/$route/2");
    is($r->status, 200, "$route: the request dropped on the reused connection ($how) is answered")
        or diag($r->summary);
    is((eval { $J->decode($r->body) } || {})->{target}, "/$route/2", "$route: with its own answer");
    my @dropped = grep { $_->{ev} eq 'dropped' } $o->events;
    my @got = grep { $_->{target} eq "/$route/2" } $o->requests;
    ok(@dropped == 1 && @got == 2 && $got[0]{conn} != $got[1]{conn},
        "$route: the origin saw it on the pooled connection, then on a fresh one")
        or diag(explain [ \@dropped, \@got ]);
    my %cn = $c->counters;
    is($cn{conns}, 1, "$route: the client saw no error or reconnect");
    $c->close;
}

WeirOrigin::check_workers($t);
$t->done_testing;
