#!/usr/bin/perl
# [limit] rate, a request delayed (burst without nodelay) whose client
# leaves during the delay:
# - a client that closes (FIN) or resets while its request waits is
#   noticed at once: the request ends as 499 in the access log, the
#   error log says so, and the worker gives the connection back, instead
#   of holding it for the whole delay and then handling the request
#   (sending it on to the origin) with nobody to read the answer;
# - a client that sent its request and then shut down its writing side
#   (FIN with the request) still gets its answer after the delay, and so
#   does a request whose body waits in the socket during the delay.

use strict;
use warnings;
use Test::More;
use Socket qw(SOL_SOCKET SO_LINGER SHUT_WR IPPROTO_TCP);
use WeirTest;
use LimitTest;

my ($t) = LimitTest::start(workers => 1, config => <<'INI');
[http]
log_format = $request $status $limit_status

[limit minute]
key = $http_x_key
rate = 1r/m
burst = 5

[limit quick]
key = $http_x_key
rate = 4r/s
burst = 5

[server s]
listen = 127.0.0.1:%%PORT0%%

[route minute]
server = s
match = /minute
return = 200 minute
limit = minute

[route quick]
server = s
match = /quick
return = 200 quick
limit = quick
INI

# Wait (bounded) until the limit has delayed $n requests.
sub delayed_reaches {
    my ($limit, $n) = @_;
    return wait_metric($t,
        qq{weir_limit_requests_total{limit="$limit",result="delayed"}},
        sub { $_[0] >= $n }) >= $n;
}

# --- gone during a delay of a minute -------------------------------------------

is($t->http_get('/minute/first', 'X-Key' => 'a')->status, 200,
   'the first request of the key passes');

my $c = $t->connect;
$c->send(WeirTest::request('GET', '/minute/fin', 'X-Key' => 'a'));
ok(delayed_reaches('minute', 1), 'the second one is delayed (a minute)');
$c->close;
ok($t->wait_for_access_log(qr{^GET /minute/fin HTTP/1\.1 499 DELAYED$}m,
   timeout => 10), 'a client that closes while delayed: 499, at once');
ok($t->wait_for_log(qr/client closed connection while its request was delayed/),
   'the error log says so');

$c = $t->connect;
$c->send(WeirTest::request('GET', '/minute/rst', 'X-Key' => 'a'));
ok(delayed_reaches('minute', 2), 'another one delayed');
setsockopt($c->{sock}, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
$c->close;
ok($t->wait_for_access_log(qr{^GET /minute/rst HTTP/1\.1 499 DELAYED$}m,
   timeout => 10), 'a client that resets while delayed: 499, at once');

# The worker holds no connection for them (only the /status request).
my $dl = WeirTest::deadline(10);
my $held;
while (1) {
    my $sr = $t->http(WeirTest::request('GET', '/status',
        Connection => 'close'), port => $t->port(9));
    ($held) = $sr->body =~ /"workers":\[\{[^}]*"connections":(\d+)/;
    last if (defined $held && $held <= 1) || WeirTest::time() > $dl;
    select(undef, undef, undef, 0.05);
}
is($held, 1, 'their connections are given back');

# --- still served: FIN with the request, a body in the socket ------------------

is($t->http_get('/quick/first', 'X-Key' => 'b')->status, 200,
   'quick: the first request passes');
# TCP_CORK holds the bytes until shutdown() sends them with the FIN in
# one segment (see client_close.t): the FIN comes with the request.
use constant TCP_CORK => 3;     # Linux
$c = $t->connect;
setsockopt($c->{sock}, IPPROTO_TCP, TCP_CORK, 1) or die "TCP_CORK: $!";
$c->send(WeirTest::request('GET', '/quick/halfclosed', 'X-Key' => 'b',
    Connection => 'close'));
shutdown($c->{sock}, SHUT_WR);
my $r = $c->read_response(timeout => 10);
is($r->status, 200, 'a client that shut down its writing side is answered');
ok($t->wait_for_access_log(qr{^GET /quick/halfclosed HTTP/1\.1 200 DELAYED$}m),
   'after its delay');

# Two at once: the second is delayed with its body unread in the socket.
my @c = map { $t->connect } 1 .. 2;
$_->send(WeirTest::request('POST', '/quick/body', 'X-Key' => 'c',
    Connection => 'close', body => 'x' x 100)) for @c;
is($_->read_response(timeout => 10)->status, 200,
   'a request whose body waits in the socket is answered') for @c;
ok($t->wait_for_access_log(qr{^POST /quick/body HTTP/1\.1 200 DELAYED$}m),
   'one of them after its delay');

$t->done_testing;
