#!/usr/bin/perl
# [limit] rate across workers (nginx's limit_req, with 429 by default):
# - with 2 workers, burst 0 and one request a minute per key, of N
#   requests sent back to back on separate connections exactly one
#   passes, the others get 429 with an honest Retry-After (whole seconds,
#   rounded up, at most a minute);
# - burst with nodelay passes burst + 1 at once, the rest is refused;
# - without nodelay a request within the burst is answered, later
#   (delayed by a timer), while one beyond it is refused at once; with
#   delay = N the first N beyond the rate pass at once;
# - an exempt address and an empty key are not limited;
# - a different key has its own bucket; status = 503 changes the answer;
# - with two limits, a request the second refuses is given back to the
#   first;
# - /metrics counts passed, delayed, rejected and exempt per limit, and
#   the access log has $limit_status;
# - a reload keeps the state and the counters.

use strict;
use warnings;
use Test::More;
use WeirTest;
use LimitTest;

my ($t) = LimitTest::start(workers => 2, config => <<'INI');
[http]
log_format = $request $status $limit_status

[limit perip]
key = $remote_addr
rate = 1r/m

[limit burst]
key = $http_x_key
rate = 1r/m
burst = 3
nodelay = on

[limit paced]
key = $http_x_key
rate = 12r/m
burst = 1

[limit teapot]
key = $remote_addr
rate = 1r/m
status = 503
exempt = 127.0.0.3 10.0.0.0/8

[limit twostage]
key = $http_x_key
rate = 12r/m
burst = 2
delay = 1

[route twostage]
server = s
match = /twostage
return = 200 ok
limit = twostage

[limit peraddr]
key = $remote_addr
rate = 1r/m

[limit perkey]
key = $http_x_key
rate = 1r/m

[server s]
listen = 127.0.0.1:%%PORT0%%

[route both]
server = s
match = /both
return = 200 ok
limit = peraddr perkey

[route perip]
server = s
match = /perip
return = 200 ok
limit = perip

[route burst]
server = s
match = /burst
return = 200 ok
limit = burst

[route paced]
server = s
match = /paced
return = 200 ok
limit = paced

[route teapot]
server = s
match = /teapot
return = 200 ok
limit = teapot
INI
is(scalar $t->wait_workers(sub { @_ == 2 }), 2, 'two workers');

# --- one a minute, no burst, across both workers ---------------------------

my (%st, @ra);
for (1 .. 12) {
    my ($s, $ra) = get_from($t, '127.0.0.1', '/perip');
    $st{$s}++;
    push @ra, $ra if $s == 429;
}
is($st{200}, 1, 'one request of twelve passes');
is($st{429}, 11, 'the others get 429');
is(scalar(grep { defined && $_ >= 1 && $_ <= 60 } @ra), 11,
   'each with Retry-After between 1 and 60 seconds');
my ($s2) = get_from($t, '127.0.0.2', '/perip');
is($s2, 200, 'another address has its own bucket');

# --- burst with nodelay ------------------------------------------------------

%st = ();
$st{ (get_from($t, '127.0.0.1', '/burst', 'X-Key' => 'k1'))[0] }++ for 1 .. 8;
is($st{200}, 4, 'burst = 3 nodelay: four pass at once');
is($st{429}, 4, 'the rest is refused');
my ($se) = get_from($t, '127.0.0.1', '/burst');
is($se, 200, 'an empty key is not limited');
($se) = get_from($t, '127.0.0.1', '/burst') for 1 .. 5;
is($se, 200, 'however many requests');

# --- delayed within the burst -------------------------------------------------

# One request per 5 s with a burst of 1: the second request, sent right
# after the first, is delayed rather than refused; the third is beyond
# the burst. The second is answered when its turn comes.
my $first = $t->connect;
my $r1 = $first->request(WeirTest::request('GET', '/paced', 'X-Key' => 'p',
    Connection => 'close'));
is($r1->status, 200, 'paced: the first passes');
my $second = $t->connect;
$second->send(WeirTest::request('GET', '/paced', 'X-Key' => 'p',
    Connection => 'close'));
my $d = wait_metric($t,
    'weir_limit_requests_total{limit="paced",result="delayed"}',
    sub { $_[0] >= 1 });
is($d, 1, 'the second is delayed');
my ($s3, $ra3) = get_from($t, '127.0.0.1', '/paced', 'X-Key' => 'p');
is($s3, 429, 'a third, beyond the burst, is refused at once');
ok(defined $ra3 && $ra3 >= 1 && $ra3 <= 10, "with Retry-After ($ra3)");
my $r2 = $second->read_response(timeout => 30);
is($r2->status, 200, 'the delayed request is answered');

# --- delay = 1 of burst = 2: one beyond the rate at once, then paced ---------

my %ts;
$ts{ (get_from($t, '127.0.0.1', '/twostage', 'X-Key' => 't'))[0] }++
    for 1 .. 2;
is($ts{200}, 2, 'two-stage: the first two pass');
is(metric($t, 'weir_limit_requests_total{limit="twostage",result="delayed"}'),
   0, 'neither was delayed');
my $third = $t->connect;
$third->send(WeirTest::request('GET', '/twostage', 'X-Key' => 't',
    Connection => 'close'));
$d = wait_metric($t,
    'weir_limit_requests_total{limit="twostage",result="delayed"}',
    sub { $_[0] >= 1 });
is($d, 1, 'the third is paced');
is((get_from($t, '127.0.0.1', '/twostage', 'X-Key' => 't'))[0], 429,
   'the fourth is beyond the burst');
is($third->read_response(timeout => 30)->status, 200,
   'the paced one is answered');

# --- two limits: a refusal by the second gives the first its request back --

my ($b1) = get_from($t, '127.0.0.1', '/both', 'X-Key' => 'k1');
is($b1, 200, 'two limits: passes both');
my ($b2) = get_from($t, '127.0.0.2', '/both', 'X-Key' => 'k1');
is($b2, 429, 'a new address with a spent key is refused by the second');
my ($b3) = get_from($t, '127.0.0.2', '/both', 'X-Key' => 'k2');
is($b3, 200, 'and its address was not charged for it');
my ($b4) = get_from($t, '127.0.0.2', '/both', 'X-Key' => 'k3');
is($b4, 429, 'now it is');

# --- status, exemptions -------------------------------------------------------

%st = ();
$st{ (get_from($t, '127.0.0.1', '/teapot'))[0] }++ for 1 .. 3;
is($st{503}, 2, 'status = 503 is the refusal status');
%st = ();
$st{ (get_from($t, '127.0.0.3', '/teapot'))[0] }++ for 1 .. 5;
is($st{200}, 5, 'an exempt address is not limited');

# --- metrics and the access log ----------------------------------------------

is(metric($t, 'weir_limit_requests_total{limit="perip",result="passed"}'), 2,
   'metrics: passed');
is(metric($t, 'weir_limit_requests_total{limit="perip",result="rejected"}'),
   11, 'metrics: rejected');
is(metric($t, 'weir_limit_requests_total{limit="burst",result="exempt"}'), 6,
   'metrics: an empty key counts as exempt');
is(metric($t, 'weir_limit_requests_total{limit="teapot",result="exempt"}'), 5,
   'metrics: exempt addresses');
ok(metric($t, 'weir_limit_keys{limit="perip"}') >= 2, 'metrics: keys held');
SKIP: {
    my $promtool = -x '/usr/bin/promtool' ? '/usr/bin/promtool' : undef;
    skip 'promtool not installed (Debian package prometheus)', 1 unless $promtool;
    my $r = $t->http(WeirTest::request('GET', '/metrics',
        Connection => 'close'), port => $t->port(9));
    $t->write_file('logs/metrics.txt', $r->body);
    my $f = $t->path('logs/metrics.txt');
    my $out = `$promtool check metrics < $f 2>&1`;
    is($?, 0, 'promtool check metrics accepts the page') or diag($out);
}

ok($t->wait_for_access_log(qr{^GET /paced \S+ 200 DELAYED$}m),
   'access log: $limit_status DELAYED');
my @lines = $t->access_log_lines;
ok((grep { m{^GET /perip \S+ 429 REJECTED$} } @lines), 'access log: REJECTED');
ok((grep { m{^GET /perip \S+ 200 PASSED$} } @lines), 'access log: PASSED');

# --- a reload keeps the buckets -------------------------------------------------

my $mark = $t->log_mark;
$t->signal('HUP');
ok($t->wait_for_log(qr/reload: generation 2 started/, from => $mark),
   'reloaded');
my ($sr, $rar) = get_from($t, '127.0.0.1', '/perip');
is($sr, 429, 'after a reload the key is still over its rate');
ok(defined $rar && $rar >= 1 && $rar <= 60, 'with Retry-After');
is(metric($t, 'weir_limit_requests_total{limit="perip",result="rejected"}'),
   12, 'the counters went on');

$t->done_testing;
