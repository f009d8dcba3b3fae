#!/usr/bin/perl
# Virtual hosts: several [server] sections on one listen address, chosen
# by the request's host (exact, leading wildcard, trailing wildcard,
# regex, then the address's default), each with its own routes, its own
# $server_name and statistics; weir -t refuses a name claimed twice on
# one address; a reload changes the names.

use strict;
use warnings;
use Test::More;
use WeirTest;

sub conf {
    my (%o) = @_;
    my $a_names = $o{a_names} // 'a.test www.a.test';
    my $b_names = $o{b_names} // 'b.test';
    return <<"INI";
[http]
access_log = logs/access.log
log_format = \$server_name \$host \$request_uri \$status

[server first]
listen = 127.0.0.1:%%PORT0%%
server_name = first.test

[server a]
listen = 127.0.0.1:%%PORT0%%
server_name = $a_names

[server b]
listen = 127.0.0.1:%%PORT0%%
listen = 127.0.0.1:%%PORT1%%
server_name = $b_names

[server wild]
listen = 127.0.0.1:%%PORT0%%
server_name = *.wild.test .dot.test

[server deep]
listen = 127.0.0.1:%%PORT0%%
server_name = *.deep.wild.test

[server tail]
listen = 127.0.0.1:%%PORT0%%
server_name = www.tail.*

[server re]
listen = 127.0.0.1:%%PORT0%%
server_name = ~^api[0-9]+\\.[a-z]+\\.test\$ ~^www\\.

[server fallback]
listen = 127.0.0.1:%%PORT0%% default_server
server_name = fallback.test

[route first]
server = first
match = /
return = 200 first

[route a_only]
server = a
match = = /only-a
return = 200 a-only

[route a]
server = a
match = /
return = 200 a

[route b]
server = b
match = /
return = 200 b

[route wild]
server = wild
match = /
return = 200 wild

[route deep]
server = deep
match = /
return = 200 deep

[route tail]
server = tail
match = /
return = 200 tail

[route re]
server = re
match = /
return = 200 re

[route fallback]
server = fallback
match = = /
return = 200 fallback

[admin]
listen = 127.0.0.1:%%PORT9%%
INI
}

my $t = WeirTest->new(config => conf());
my $r = $t->weir_ctl('-t');
is($r->{rc}, 0, 'weir -t accepts several servers on one address')
    or diag($r->{err});
$t->start;

sub site {
    my ($host, %o) = @_;
    my $res = $t->http(WeirTest::request('GET', $o{path} // '/',
        Connection => 'close', defined $host ? (Host => $host) : ()),
        port => $o{port} // $t->port(0));
    return $res->status == 200 ? $res->body : $res->status;
}

# --- two sites on one port ---------------------------------------------------
is(site('a.test'), 'a', 'Host a.test: server a');
is(site('www.a.test'), 'a', 'its second name');
is(site('b.test'), 'b', 'Host b.test on the same port: server b');
is(site('first.test'), 'first', 'the first server answers for its name');

# --- wildcards and regexes, nginx's order ----------------------------------------
is(site('x.wild.test'), 'wild', 'leading wildcard');
is(site('x.y.wild.test'), 'wild', 'leading wildcard at any depth');
is(site('wild.test'), 'fallback', '*.wild.test does not match wild.test');
is(site('x.deep.wild.test'), 'deep', 'the longest leading wildcard wins');
is(site('dot.test'), 'wild', '.dot.test matches dot.test');
is(site('x.dot.test'), 'wild', 'and its subdomains');
is(site('www.tail.org'), 'tail', 'trailing wildcard');
is(site('www.tail.co.uk'), 'tail', 'trailing wildcard over several labels');
is(site('www.other.org'), 're', 'a regex when no wildcard matches');
is(site('www.x.wild.test'), 'wild', 'a leading wildcard beats a regex');
is(site('api7.zone.test'), 're', 'the regex with a class');
is(site('API7.ZONE.TEST'), 're', 'regexes ignore case');

# --- the default ------------------------------------------------------------
is(site('nothing.test'), 'fallback', 'no name matches: the default_server');
is(site('127.0.0.1:' . $t->port(0)), 'fallback', 'an address as Host: the default');
my $h10 = $t->http("GET / HTTP/1.0\r\n\r\n");
is($h10->body, 'fallback', 'HTTP/1.0 without Host: the default');
is(site('b.test', port => $t->port(1)), 'b', 'the other port: its only server');
is(site('a.test', port => $t->port(1)), 'b',
    'names of one address do not apply to another');

# --- normalisation ----------------------------------------------------------------
is(site('A.TEST'), 'a', 'Host case is ignored');
is(site('a.test.'), 'a', 'a trailing dot is ignored');
is(site('a.test:' . $t->port(0)), 'a', 'the port is ignored');
is(site('B.Test.:8080'), 'b', 'all three at once');

# --- absolute-form target -------------------------------------------------------
my $abs = $t->http("GET http://b.test/x HTTP/1.1\r\nHost: a.test\r\n"
    . "Connection: close\r\n\r\n");
is($abs->body, 'b', 'the absolute-form target wins over Host (RFC 9112 3.2.2)');
$abs = $t->http("GET http://A.test:1234/ HTTP/1.0\r\n\r\n");
is($abs->body, 'a', 'absolute-form without Host (HTTP/1.0)');

# --- routes belong to their server ---------------------------------------------------
is(site('a.test', path => '/only-a'), 'a-only', 'server a has /only-a');
is(site('b.test', path => '/only-a'), 'b', 'server b does not see a\'s routes');
is(site('nothing.test', path => '/x'), 404,
    'the default has no route for /x: 404, no fall-through to another server');

# --- keep-alive: each request chooses ---------------------------------------------------
my $c = $t->connect;
my $k1 = $c->request(WeirTest::request('GET', '/', Host => 'a.test'));
my $k2 = $c->request(WeirTest::request('GET', '/', Host => 'b.test'));
my $k3 = $c->request(WeirTest::request('GET', '/', Host => 'zzz'));
$c->close;
is(join(' ', map { $_->body } $k1, $k2, $k3), 'a b fallback',
    'one keep-alive connection, three hosts, three servers');

# --- $server_name and the statistics are the chosen server's ---------------------------
$t->http_get('/stat', Host => 'b.test');
my $line = $t->wait_for_access_log(qr{ /stat 200$}) // '';
like($line, qr{^b b\.test /stat 200$}, '$server_name in the access log: b');
$t->http_get('/zz', Host => 'nothing.test');
$line = $t->wait_for_access_log(qr{ /zz 404$}) // '';
like($line, qr{^fallback nothing\.test /zz 404$}, 'the default by name in the log');

sub metrics {
    my $m = $t->http("GET /metrics HTTP/1.1\r\nHost: admin\r\n"
        . "Connection: close\r\n\r\n", port => $t->port(9))->body;
    my %v;
    for (split /\n/, $m) {
        my ($k, $val) = /^(weir_http_requests_total\S+) (\S+)$/ or next;
        $v{$k} = $val;
    }
    return \%v;
}
my $before = metrics();
$t->http_get('/', Host => 'b.test') for 1 .. 3;
$t->http_get('/', Host => 'a.test') for 1 .. 2;
my $after = metrics();
my $key_b = 'weir_http_requests_total{server="b",code="2xx"}';
my $key_a = 'weir_http_requests_total{server="a",code="2xx"}';
my $key_f = 'weir_http_requests_total{server="first",code="2xx"}';
is(($after->{$key_b} // 0) - ($before->{$key_b} // 0), 3,
    'per-server statistics: b counted its 3 requests');
is(($after->{$key_a} // 0) - ($before->{$key_a} // 0), 2, 'a its 2');
is(($after->{$key_f} // 0) - ($before->{$key_f} // 0), 0,
    'and not the address\'s first server');

# --- reload: new names take effect ---------------------------------------------------
$t->write_config(conf(a_names => 'b.test', b_names => 'a.test www.a.test'));
my $mark = $t->log_mark;
$t->signal('HUP');
ok($t->wait_for_log(qr/reload: generation \d+ started/, from => $mark,
    timeout => 10), 'reload with swapped names');
my $dl = WeirTest::deadline(10);
my $got = '';
while (time < $dl) {
    $got = site('a.test') . ' ' . site('b.test');
    last if $got eq 'b a';
    select(undef, undef, undef, 0.05);
}
is($got, 'b a', 'after HUP, a.test goes to server b and b.test to server a');

# --- weir -t: a name claimed twice on one address --------------------------------------
my $dup = $t->write_config(<<'INI', 'conf/dup.ini');
[server one]
listen = 127.0.0.1:%%PORT0%%
server_name = same.test

[server two]
listen = 127.0.0.1:%%PORT0%%
server_name = other.test
server_name = SAME.test

[route r]
server = one
match = /
return = 204
INI
$r = $t->weir_cmd('-t', '-p', $t->prefix, '-c', $dup);
isnt($r->{rc}, 0, 'weir -t: a duplicate name on one address fails');
# the [main] prepended takes 7 lines: [server one] is on line 8
like($r->{err}, qr/\Q$dup\E:15: \[server two\] server_name: "SAME\.test" is also claimed by \[server one\] at line 10 on 127\.0\.0\.1:\d+/,
    'weir -t names the file:line of both claims') or diag($r->{err});

my $dd = $t->write_config(<<'INI', 'conf/dd.ini');
[server one]
listen = 127.0.0.1:%%PORT0%% default_server
[server two]
listen = 127.0.0.1:%%PORT0%% default_server
[route r]
server = one
match = /
return = 204
INI
$r = $t->weir_cmd('-t', '-p', $t->prefix, '-c', $dd);
isnt($r->{rc}, 0, 'weir -t: two default_server on one address fails');
like($r->{err}, qr/\Q$dd\E:11: \[server two\] listen: 127\.0\.0\.1:\d+: \[server one\] at line 9 is already the default server/,
    'and names both lines') or diag($r->{err});

$t->done_testing;
