#!/usr/bin/perl
# `limit = NAME...` in [http] and [server] as well as [route], inherited
# [http] -> [server] -> [route] the way nginx's limit_req is: a level
# without its own `limit` takes the one above, a level with one replaces
# it, `limit = off` clears it.
# - a server's limit applies to every route of that server that has no
#   `limit` of its own, and to a request no route matches;
# - a route with its own `limit` has that alone;
# - [http]'s limit applies to every server without one of its own;
# - `limit = off` in a server or a route: nothing applies;
# - a request refused by an inherited limit is counted in /metrics, logged
#   in the error log and has $limit_status in the access log, as one
#   refused by a route's own limit.
# Every limit is 1r/m keyed by a header of its own, so a request without
# that header is not limited by it (an empty key) and one with it spends
# that key at once.

use strict;
use warnings;
use Test::More;
use LimitTest;

my ($t) = LimitTest::start(workers => 2, config => <<'INI');
[http]
log_format = $request $status $limit_status
limit = global

[limit global]
key = $http_x_g
rate = 1r/m

[limit srv]
key = $http_x_s
rate = 1r/m

[limit own]
key = $http_x_o
rate = 1r/m

[server a]
listen = 127.0.0.1:%%PORT0%%
limit = srv

[route a1]
server = a
match = /a1
return = 200 a1

[route a2]
server = a
match = /a2
return = 200 a2

[route own]
server = a
match = /own
return = 200 own
limit = own

[route off]
server = a
match = /off
return = 200 off
limit = off

[server b]
listen = 127.0.0.1:%%PORT2%%

[route b]
server = b
match = /
return = 200 b

[server c]
listen = 127.0.0.1:%%PORT3%%
limit = off

[route c]
server = c
match = /
return = 200 c
INI

my $lo = '127.0.0.1';
sub a_get { return (get_from($t, $lo, @_))[0] }
sub at { my $port = shift; return (get_at($t, $t->port($port), $lo, @_))[0] }

# --- a server's limit: every route of the server, and no route at all ---------

is(a_get('/a1', 'X-S' => 'k'), 200, 'server a: the first request of a key');
is(a_get('/a2', 'X-S' => 'k'), 429,
   'another route of the server shares the server\'s limit');
is(a_get('/a1', 'X-S' => 'k'), 429, 'and so does the first route again');
is(a_get('/nowhere', 'X-S' => 'k2'), 404,
   'a request no route matches is limited too (its first passes: 404)');
is(a_get('/nowhere', 'X-S' => 'k2'), 429, 'its second is refused');

# [http]'s limit is replaced by the server's: a spent X-G does nothing here.
is(a_get('/a1', 'X-S' => 'g1', 'X-G' => 'spent'), 200,
   'server a: [http]\'s limit does not apply (replaced)');
is(a_get('/a2', 'X-S' => 'g2', 'X-G' => 'spent'), 200,
   'not even a second time');

# --- a route with its own limit: that one alone -----------------------------------

is(a_get('/own', 'X-S' => 'k'), 200,
   'a route with its own limit: the server\'s spent key passes');
is(a_get('/own', 'X-O' => 'o'), 200, 'its own limit: the first passes');
is(a_get('/own', 'X-O' => 'o'), 429, 'the second is refused');

# --- limit = off in a route -------------------------------------------------------

my %st;
$st{ a_get('/off', 'X-S' => 'k', 'X-G' => 'g', 'X-O' => 'o') }++ for 1 .. 4;
is($st{200}, 4, 'a route with limit = off: nothing applies');

# --- [http]'s limit in a server without one ------------------------------------

is(at(2, '/', 'X-G' => 'g'), 200, 'server b inherits [http]\'s limit: first');
is(at(2, '/', 'X-G' => 'g'), 429, 'second refused');
is(at(2, '/', 'X-S' => 'k'), 200, 'server a\'s limit is not server b\'s');

# --- limit = off in a server ------------------------------------------------------

%st = ();
$st{ at(3, '/', 'X-G' => 'g', 'X-S' => 'k') }++ for 1 .. 4;
is($st{200}, 4, 'server c has limit = off: [http]\'s does not apply');

# --- counted and logged like any refusal ------------------------------------------

is(metric($t, 'weir_limit_requests_total{limit="srv",result="rejected"}'), 3,
   'metrics: the server limit\'s refusals');
is(metric($t, 'weir_limit_requests_total{limit="srv",result="passed"}'), 4,
   'metrics: what it passed');
is(metric($t, 'weir_limit_requests_total{limit="global",result="rejected"}'),
   1, 'metrics: [http]\'s limit\'s refusal');
ok($t->wait_for_access_log(qr{^GET /a2 HTTP/1\.1 429 REJECTED$}m),
   'access log: REJECTED by the server\'s limit');
ok($t->wait_for_access_log(qr{^GET /nowhere HTTP/1\.1 429 REJECTED$}m),
   'access log: REJECTED with no route');
ok($t->wait_for_access_log(qr{^GET /nowhere HTTP/1\.1 404 PASSED$}m),
   'access log: PASSED with no route');
ok($t->wait_for_access_log(qr{^GET /off HTTP/1\.1 200 -$}m),
   'access log: no limit, no status');
ok($t->wait_for_log(qr/limit "srv": rate exceeded by "k"/),
   'error log: the refusal, naming the limit');
ok($t->wait_for_log(qr/limit "global": rate exceeded by "g"/),
   'error log: [http]\'s limit too');

# --- weir -t catches a bad name at any level ---------------------------------------

$t->write_file('conf/bad.ini', "[http]\nlimit = nope\n[server s]\n"
    . "listen = 127.0.0.1:1\nlimit = off x\n[route r]\nserver = s\n"
    . "match = /\nreturn = 200 ok\n");
my $r = $t->weir_cmd('-t', '-c', $t->path('conf/bad.ini'));
isnt($r->{rc}, 0, 'weir -t refuses an unknown limit in [http]');
like($r->{err}, qr/bad\.ini:2: \[http\] limit: unknown limit "nope"/,
     'naming file, line, section and key');
like($r->{err}, qr/bad\.ini:5: \[server s\] limit: "off" stands alone/,
     'and "off" with names in a server');

$t->done_testing;
