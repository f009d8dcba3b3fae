#!/usr/bin/perl
# [limit] conn: requests in progress per key, across workers (nginx's
# limit_conn; like nginx we count requests being processed, not idle
# keep-alive connections):
# - with 2 workers and conn = 1, while one request of a key is in
#   progress every other request of that key, on any worker and on any
#   route sharing the limit, gets 429 with Retry-After; another key
#   passes;
# - the count is given back when the request ends: answered, or its
#   client gone (499), or its worker killed (the master releases a dead
#   worker's counts);
# - an idle keep-alive connection holds nothing;
# - a table whose every entry has a request in progress answers a new key
#   503 (it cannot account it) and recovers when they end;
# - /metrics and /status show the requests in progress and the refusals.

use strict;
use warnings;
use Test::More;
use JSON::PP;
use WeirTest;
use LimitTest;

my ($t, $origin) = LimitTest::start(workers => 2, origin => 'echo',
    config => <<'INI');
[limit perip]
key = $remote_addr
conn = 1

[limit tiny]
key = $http_x_key
conn = 1
size = 16

[server s]
listen = 127.0.0.1:%%PORT0%%

[route tiny]
server = s
match = /tiny
upstream = app
limit = tiny

[route slow]
server = s
match = /slow
upstream = app
limit = perip

[route fast]
server = s
match = /fast
return = 200 fast
limit = perip
INI
ok($t->wait_workers(sub { @_ == 2 }), 'two workers');

my $inprog = 'weir_limit_requests_in_progress{limit="perip"}';

# Hold one request of 127.0.0.1 at the origin.
sub hold {
    my ($tag, $secs) = @_;
    my $c = $t->connect;
    $c->send(WeirTest::request('GET', "/slow/$tag?sleep=$secs",
        Connection => 'close'));
    ok($origin->wait_until(sub { grep { $_->{target} =~ m{^/slow/$tag} }
        $_[0]->requests }, 10), "$tag: a request in progress");
    return $c;
}

# --- one in progress: the others wait their turn ------------------------------

my $held = hold('a', 3);
is(metric($t, $inprog), 1, 'metrics: one request in progress');
my (%st, @ra);
for (1 .. 6) {
    my ($s, $ra) = get_from($t, '127.0.0.1', '/fast');
    $st{$s}++;
    push @ra, $ra if defined $ra;
}
is($st{429}, 6, 'every other request of the key is refused, on both workers');
is(scalar @ra, 6, 'with Retry-After');
my ($o) = get_from($t, '127.0.0.2', '/fast');
is($o, 200, 'another address passes');
is($held->read_response(timeout => 30)->status, 200,
   'the request in progress completes');
is(wait_metric($t, $inprog, 0), 0, 'its count is given back');
($o) = get_from($t, '127.0.0.1', '/fast');
is($o, 200, 'and the key passes again');

# --- idle keep-alive holds nothing --------------------------------------------

my $ka = $t->connect;
is($ka->request(WeirTest::request('GET', '/fast'))->status, 200,
   'a keep-alive request');
($o) = get_from($t, '127.0.0.1', '/fast');
is($o, 200, 'its idle connection does not count');
$ka->close;

# --- a client that leaves -----------------------------------------------------

$held = hold('b', 30);
($o) = get_from($t, '127.0.0.1', '/fast');
is($o, 429, 'held again');
$held->close;
is(wait_metric($t, $inprog, 0), 0, 'a client gone gives its count back');
($o) = get_from($t, '127.0.0.1', '/fast');
is($o, 200, 'the key passes');

# --- a worker killed ------------------------------------------------------------

$held = hold('c', 30);
($o) = get_from($t, '127.0.0.1', '/fast');
is($o, 429, 'held once more');
my @w = $t->worker_pids;
kill 'KILL', @w;
ok($t->wait_workers(sub { @_ == 2 && !grep { my $x = $_; grep { $_ == $x } @w } @_ }),
   'both workers replaced');
$held->close;
is(metric($t, $inprog), 0, 'the master gave the dead worker\'s count back');
($o) = get_from($t, '127.0.0.1', '/fast');
is($o, 200, 'the key passes after the kill');
is(metric($t, 'weir_limit_conn_rejected_total{limit="perip"}'), 8,
   'metrics: refusals counted');

# --- a table full of requests in progress ------------------------------------

# 16 keys, each with a request in progress: a 17th key has no entry it may
# take (keys with requests in progress are never evicted), so its request
# gets 503 rather than go unaccounted.
my @tiny;
for my $k (1 .. 16) {
    my $c = $t->connect;
    $c->send(WeirTest::request('GET', "/tiny/$k?sleep=30", 'X-Key' => "k$k",
        Connection => 'close'));
    push @tiny, $c;
}
ok($origin->wait_until(sub { (grep { $_->{target} =~ m{^/tiny/} }
    $_[0]->requests) == 16 }, 20), 'sixteen keys with a request in progress');
my $full = $t->http_get('/tiny/new?sleep=0', 'X-Key' => 'k17');
is($full->status, 503, 'a new key finds the table full: 503');
is($full->header('retry-after'), '1', 'with Retry-After: 1');
is(metric($t, 'weir_limit_full_total{limit="tiny"}'), 1, 'metrics: counted');
ok($t->wait_for_log(qr/limit "tiny": no entry free for a new key/),
   'the error log says so');
$_->close for @tiny;
is(wait_metric($t, 'weir_limit_requests_in_progress{limit="tiny"}', 0), 0,
   'the sixteen are given back');
is($t->http_get('/tiny/new?sleep=0', 'X-Key' => 'k17')->status, 200,
   'and the new key passes');

# --- /status ---------------------------------------------------------------------

my $sr = $t->http(WeirTest::request('GET', '/status', Connection => 'close'),
    port => $t->port(9));
my $doc = eval { decode_json($sr->body) };
ok($doc, '/status is JSON') or diag($@);
my ($pl) = grep { $_->{name} eq 'perip' } @{ $doc->{limits} || [] };
ok($pl, '/status lists the limit');
is($pl->{conn_rejected}, 8, '/status: its refusals') if $pl;
is($pl->{requests_in_progress}, 0, '/status: nothing in progress') if $pl;

my @crash = grep { /exited on signal/ && !/on signal 9 / } split /\n/, $t->error_log;
is_deeply(\@crash, [], 'no worker crashed (besides those killed)');
$t->done_testing;
