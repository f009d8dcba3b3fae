#!/usr/bin/perl
# [limit] dry_run = on (nginx's limit_req_dry_run / limit_conn_dry_run):
# the limit decides and counts as usual, but delays and refuses nothing.
# - over the rate: every request gets 200, /metrics counts the would-be
#   refusals as result="dry_run_rejected" (not "rejected"), the access log
#   has $limit_status REJECTED_DRY_RUN and the error log a "dry run" line;
#   the same limit without dry_run refuses them (429);
# - within a burst: answered at once (no delay of a minute), counted as
#   dry_run_delayed, $limit_status DELAYED_DRY_RUN;
# - over conn: passes, weir_limit_conn_dry_run_rejected_total counts it;
# - beside a real limit on the same route, the real one still refuses;
# - /status shows the limit as a dry run with its counters.

use strict;
use warnings;
use Test::More;
use JSON::PP;
use LimitTest;

my ($t, $origin) = LimitTest::start(workers => 2, origin => 'echo',
    config => <<'INI');
[http]
log_format = $request $status $limit_status

[limit dry]
key = $http_x_key
rate = 1r/m
dry_run = on

[limit real]
key = $http_x_key
rate = 1r/m

[limit drypaced]
key = $http_x_key
rate = 1r/m
burst = 5
dry_run = on

[limit dryconn]
key = $http_x_key
conn = 1
dry_run = on

[server s]
listen = 127.0.0.1:%%PORT0%%

[route dry]
server = s
match = /dry
return = 200 dry
limit = dry

[route real]
server = s
match = /real
return = 200 real
limit = real

[route drypaced]
server = s
match = /paced
return = 200 paced
limit = drypaced

[route dryconn]
server = s
match = /conn
upstream = app
limit = dryconn

[route both]
server = s
match = /both
return = 200 both
limit = dry real
INI

my $lo = '127.0.0.1';
my $m = sub { qq{weir_limit_requests_total{limit="$_[0]",result="$_[1]"}} };

# --- over the rate ----------------------------------------------------------------

my %st;
$st{ (get_from($t, $lo, '/dry', 'X-Key' => 'k'))[0] }++ for 1 .. 5;
is($st{200}, 5, 'dry run: all five requests get 200');
is(metric($t, $m->('dry', 'passed')), 1, 'metrics: one within the rate');
is(metric($t, $m->('dry', 'dry_run_rejected')), 4,
   'metrics: four would have been refused');
is(metric($t, $m->('dry', 'rejected')), 0, 'none was');

%st = ();
$st{ (get_from($t, $lo, '/real', 'X-Key' => 'k'))[0] }++ for 1 .. 5;
is($st{200}, 1, 'without dry_run: one passes');
is($st{429}, 4, 'four are refused');
is(metric($t, $m->('real', 'rejected')), 4, 'metrics: refused');
is(metric($t, $m->('real', 'dry_run_rejected')), 0,
   'metrics: no dry-run refusal for a real limit');

# Each worker flushes its own access-log buffer: wait for all five lines.
my @lines;
my $dl = WeirTest::deadline(10);
do {
    select(undef, undef, undef, 0.05);
    @lines = grep { m{^GET /dry } } $t->access_log_lines;
} while (@lines < 5 && WeirTest::time() < $dl);
is(scalar(grep { m{^GET /dry HTTP/1\.1 200 REJECTED_DRY_RUN$} } @lines), 4,
   'access log: REJECTED_DRY_RUN on each of the four');
is(scalar(grep { m{^GET /dry HTTP/1\.1 200 PASSED$} } @lines), 1,
   'PASSED on the first');
ok($t->wait_for_log(qr/limit "dry": rate exceeded by "k", dry run/),
   'error log: the would-be refusal');

# --- within a burst: not delayed -------------------------------------------------------

is((get_from($t, $lo, '/paced', 'X-Key' => 'p'))[0], 200,
   'burst: the first passes');
# Without dry_run the second would wait a minute; the read below would
# time out long before.
my $c = $t->connect;
my $r = $c->request(WeirTest::request('GET', '/paced', 'X-Key' => 'p',
    Connection => 'close'), timeout => 20);
is($r->status, 200, 'burst: the second is answered, not held for a minute');
is(metric($t, $m->('drypaced', 'dry_run_delayed')), 1,
   'metrics: counted as dry_run_delayed');
is(metric($t, $m->('drypaced', 'delayed')), 0, 'not as delayed');
ok($t->wait_for_access_log(qr{^GET /paced HTTP/1\.1 200 DELAYED_DRY_RUN$}m),
   'access log: DELAYED_DRY_RUN');

# --- over conn ----------------------------------------------------------------------------

my $held = $t->connect;
$held->send(WeirTest::request('GET', '/conn/held?sleep=30', 'X-Key' => 'c',
    Connection => 'close'));
ok($origin->wait_until(sub { grep { $_->{target} =~ m{^/conn/held} }
    $_[0]->requests }, 10), 'conn: one request of the key in progress');
is(wait_metric($t, 'weir_limit_requests_in_progress{limit="dryconn"}', 1), 1,
   'metrics: counted in progress');
is((get_from($t, $lo, '/conn/second?sleep=0', 'X-Key' => 'c'))[0], 200,
   'conn: a second one passes');
is(metric($t, 'weir_limit_conn_dry_run_rejected_total{limit="dryconn"}'), 1,
   'metrics: counted as a dry-run conn refusal');
is(metric($t, 'weir_limit_conn_rejected_total{limit="dryconn"}'), 0,
   'not as a refusal');
ok($t->wait_for_access_log(
   qr{^GET /conn/second\?sleep=0 HTTP/1\.1 200 REJECTED_DRY_RUN$}m),
   'access log: REJECTED_DRY_RUN');
ok($t->wait_for_log(qr/limit "dryconn": conn reached by "c", dry run/),
   'error log: the would-be refusal');
$held->close;
is(wait_metric($t, 'weir_limit_requests_in_progress{limit="dryconn"}', 0), 0,
   'the held request is given back');

# --- beside a real limit --------------------------------------------------------------------

is((get_from($t, $lo, '/both', 'X-Key' => 'b'))[0], 200, 'both: first passes');
is((get_from($t, $lo, '/both', 'X-Key' => 'b'))[0], 429,
   'both: the real limit refuses the second');
ok($t->wait_for_access_log(qr{^GET /both HTTP/1\.1 429 REJECTED$}m),
   'access log: REJECTED (the real refusal wins)');

# --- /status --------------------------------------------------------------------------------

my $sr = $t->http(WeirTest::request('GET', '/status', Connection => 'close'),
    port => $t->port(9));
my $doc = eval { decode_json($sr->body) };
ok($doc, '/status is JSON') or diag($@);
my ($dl) = grep { $_->{name} eq 'dry' } @{ $doc->{limits} || [] };
ok($dl && $dl->{dry_run}, '/status: dry run');
is($dl->{dry_run_rejected}, 5, '/status: its would-be refusals') if $dl;
my ($rl) = grep { $_->{name} eq 'real' } @{ $doc->{limits} || [] };
ok($rl && !$rl->{dry_run}, '/status: a real limit is not');

$t->done_testing;
