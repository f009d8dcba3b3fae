#!/usr/bin/perl
# Upstream keep-alive: sequential requests from one or several clients
# reuse one pooled upstream connection; keepalive = 0, keepalive_requests,
# keepalive_timeout and an origin's "Connection: close" bound the reuse;
# a pooled connection the origin closed while idle is replaced without the
# client noticing (GET and POST).

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

[upstream pooled]
server = 127.0.0.1:%%PORT1%%
keepalive = 32

[upstream nopool]
server = 127.0.0.1:%%PORT2%%
keepalive = 0

[upstream maxreq]
server = 127.0.0.1:%%PORT3%%
keepalive = 32
keepalive_requests = 5

[upstream shortidle]
server = 127.0.0.1:%%PORT4%%
keepalive = 32
keepalive_timeout = 1s

[upstream closing]
server = 127.0.0.1:%%PORT5%%
keepalive = 32

[upstream idleclose]
server = 127.0.0.1:%%PORT6%%
keepalive = 32
keepalive_timeout = 60s

[server s]
listen = 127.0.0.1:%%PORT0%%

[route nopool]
server = s
match = /nopool/
upstream = nopool

[route maxreq]
server = s
match = /maxreq/
upstream = maxreq

[route shortidle]
server = s
match = /shortidle/
upstream = shortidle

[route closing]
server = s
match = /closing/
upstream = closing

[route idleclose]
server = s
match = /idleclose/
upstream = idleclose

[route pooled]
server = s
match = /
upstream = pooled
INI

my $pooled    = WeirOrigin->new(port => $t->port(1), handler => 'echo');
my $nopool    = WeirOrigin->new(port => $t->port(2), handler => 'echo');
my $maxreq    = WeirOrigin->new(port => $t->port(3), handler => 'echo');
my $shortidle = WeirOrigin->new(port => $t->port(4), handler => 'echo');
my $closing   = WeirOrigin->new(port => $t->port(5), handler => 'fixed',
    body => "bye\n", close => 1);
my $idleclose = WeirOrigin->new(port => $t->port(6), handler => 'close_after_first',
    mode => 'idle', idle => 0.2);

$t->start;

sub run_requests {
    my ($client, $n, $prefix, %o) = @_;
    my $ok = 0;
    for my $i (1 .. $n) {
        my $r = $o{post}
            ? $client->request(WeirTest::request('POST', "$prefix$i", body => "body $i"))
            : $client->get("$prefix$i");
        if ($r->status == 200) { $ok++ } else { diag("$prefix$i: " . $r->summary) }
        sleep $o{pause} if $o{pause};
    }
    return $ok;
}

# --- one pooled connection --------------------------------------------------------

my $cl = WeirTest::Client->new(port => $t->port(0));
is(run_requests($cl, 20, '/one/'), 20, '20 sequential requests on one client connection: all 200');
$cl->close;
ok($pooled->wait_until(sub { $_[0]->request_count >= 20 }), 'the origin got the 20 requests');
is($pooled->connections, 1, '... over a single upstream connection');

my $ok = 0;
for my $k (1 .. 5) {
    my $c = WeirTest::Client->new(port => $t->port(0));
    $ok += run_requests($c, 4, "/client$k/");
    $c->close;
}
is($ok, 20, '5 clients one after another, 4 requests each: all 200');
is($pooled->connections, 1, '... still the same single upstream connection');
is($pooled->request_count, 40, 'the origin got 40 requests in all');

my @seq = map { $_->{seq} } $pooled->requests;
is_deeply(\@seq, [1 .. 40], 'the upstream connection carried them in order, one at a time');

# --- keepalive = 0: no pooling ---------------------------------------------------------

$cl = WeirTest::Client->new(port => $t->port(0));
is(run_requests($cl, 3, '/nopool/'), 3, 'keepalive = 0: 3 requests, all 200');
is({ $cl->counters }->{conns}, 1, 'keepalive = 0: the client connection is kept');
$cl->close;
ok($nopool->wait_until(sub { $_[0]->connections == 3 }), 'keepalive = 0: one upstream connection per request')
    or diag($nopool->connections . ' connections');

# --- keepalive_requests -------------------------------------------------------------------

$cl = WeirTest::Client->new(port => $t->port(0));
is(run_requests($cl, 12, '/maxreq/'), 12, 'keepalive_requests = 5: 12 requests, all 200');
$cl->close;
is($maxreq->connections, 3, 'keepalive_requests = 5: 12 requests over 3 upstream connections');
my %per;
$per{ $_->{conn} }++ for $maxreq->requests;
ok(!grep({ $_ > 5 } values %per), 'keepalive_requests = 5: no connection carried more than 5')
    or diag(explain \%per);

# --- keepalive_timeout ----------------------------------------------------------------------

$cl = WeirTest::Client->new(port => $t->port(0));
is($cl->get('/shortidle/1')->status, 200, 'keepalive_timeout = 1s: first request');
my $t0 = time;
ok($shortidle->wait_until(sub { scalar grep { $_->{ev} eq 'eof' } $_[0]->events }, 4),
    'keepalive_timeout = 1s: weir closes the idle upstream connection');
my $idle = time - $t0;
cmp_ok($idle, '>=', 0.7, sprintf('... not before about 1 s (%.2f s)', $idle));
is($cl->get('/shortidle/2')->status, 200, 'keepalive_timeout: the next request is answered');
is($shortidle->connections, 2, '... on a new upstream connection');
$cl->close;

# --- origin answers Connection: close ------------------------------------------------------

$cl = WeirTest::Client->new(port => $t->port(0));
my @st = map { $cl->get("/closing/$_")->status } 1 .. 3;
is_deeply(\@st, [200, 200, 200], 'origin "Connection: close": 3 requests, all 200');
is({ $cl->counters }->{conns}, 1, '... and the client connection stays open');
is($closing->connections, 3, '... each on a new upstream connection');
$cl->close;

# --- pooled connection closed by the origin while idle -----------------------------------

$cl = WeirTest::Client->new(port => $t->port(0));
# The origin closes 0.2 s after each answer; a pause of 1 s leaves it
# time to even on a loaded machine (with 0.6 s a POST once met the close).
is(run_requests($cl, 4, '/idleclose/get', pause => 1), 4,
    'origin closes idle pooled connections: 4 GETs 1 s apart, all 200');
is(run_requests($cl, 3, '/idleclose/post', pause => 1, post => 1), 3,
    'origin closes idle pooled connections: 3 POSTs 1 s apart, all 200');
my %c = $cl->counters;
is($c{conns}, 1, '... on one client connection, with no error seen by the client');
$cl->close;
is($idleclose->connections, 7, '... each on a fresh upstream connection');
my @dropped = grep { $_->{ev} eq 'idle_close' && $_->{pending} } $idleclose->events;
is(scalar @dropped, 0, '... and weir never wrote a request on a connection being closed')
    or diag(explain \@dropped);

WeirOrigin::check_workers($t);
$t->done_testing;
