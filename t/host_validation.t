#!/usr/bin/perl
# Host validation before the server is chosen by name: a Host with an
# empty label ("..wild.test", "a..wild.test", ".wild.test"), a port that
# is not 1-65535 digits, an empty Host, two Host fields are 400 and the
# connection closes; nothing reaches a wildcard server or an origin. What
# stays valid: one trailing dot and upper case (ignored for matching), an
# IPv6 literal with a port, and an absolute-form target, whose host wins
# over the Host field (RFC 9112 3.2.2) for the server and for the Host an
# origin is sent.

use strict;
use warnings;
use Test::More;
use WeirTest;
use WeirOrigin;

my $t = WeirTest->new(main => { workers => 1 }, config => <<'INI');
[upstream wild]
server = 127.0.0.1:%%PORT1%%

[server fallback]
listen = 127.0.0.1:%%PORT0%% default_server
server_name = fallback.test

[server wild]
listen = 127.0.0.1:%%PORT0%%
server_name = *.wild.test

[server exact]
listen = 127.0.0.1:%%PORT0%%
server_name = example.test [::1]

[route fallback]
server = fallback
match = /
return = 200 fallback

[route wild]
server = wild
match = /
upstream = wild

[route exact]
server = exact
match = /
return = 200 exact
INI

my $origin = WeirOrigin->new(port => $t->port(1), handler => 'echo');
$t->start;

sub raw {
    my ($head) = @_;
    return $t->http("GET / HTTP/1.1\r\n$head\r\n");
}

sub with_host {
    my ($host) = @_;
    return raw("Host: $host\r\n");
}

# --- refused: 400, closed, no origin asked ---------------------------------
my @bad = (
    [ '..wild.test',               'consecutive dots at the start' ],
    [ 'a..wild.test',              'consecutive dots inside' ],
    [ '.wild.test',                'a leading dot (nginx takes it; we do not)' ],
    [ 'x.wild.test..',             'two trailing dots' ],
    [ '.',                         'a lone dot' ],
    [ 'example.test:99999999999',  'a port past 65535 (overflow)' ],
    [ 'example.test:65536',        'port 65536' ],
    [ 'example.test:0',            'port 0' ],
    [ 'example.test:8o',           'a non-digit port' ],
    [ 'x.wild.test:http',          'a named port' ],
    [ '[::1]:99999',               'an IPv6 literal with a bad port' ],
    [ '[1::2::3]',                 'an invalid IPv6 literal' ],
);
my $before = $origin->request_count;
for my $case (@bad) {
    my ($host, $why) = @$case;
    my $res = with_host($host);
    is($res->status, 400, "Host: $host is 400 ($why)");
    ok($res->closes, "  and the connection closes");
}
my $empty = raw("Host: \r\n");
is($empty->status, 400, 'an empty Host on HTTP/1.1 is 400');
my $empty10 = $t->http("GET / HTTP/1.0\r\nHost:\r\n\r\n");
is($empty10->status, 400, 'an empty Host on HTTP/1.0 is 400 too');
my $none = $t->http("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
is($none->status, 400, 'no Host on HTTP/1.1 is 400');
my $two = raw("Host: x.wild.test\r\nHost: x.wild.test\r\n");
is($two->status, 400, 'two Host fields, even equal, are 400');
my $two2 = raw("Host: example.test\r\nHost: x.wild.test\r\n");
is($two2->status, 400, 'two differing Host fields are 400');
my $absbad = $t->http("GET http://a..wild.test/ HTTP/1.1\r\n"
    . "Host: x.wild.test\r\n\r\n");
is($absbad->status, 400, 'an absolute-form target with an empty label is 400');
is($origin->request_count, $before, 'none of them reached the origin');

# --- accepted ------------------------------------------------------------------
sub site {
    my ($host) = @_;
    my $res = $t->http(WeirTest::request('GET', '/', Host => $host,
        Connection => 'close'));
    return $res->status == 200 ? $res->body : $res->status;
}
is(site('example.test.'), 'exact', 'one trailing dot is the root: matched');
is(site('EXAMPLE.Test'), 'exact', 'upper case is matched lower-cased');
is(site('Example.TEST.:8080'), 'exact', 'both, with a port');
is(site('[::1]:8080'), 'exact', 'an IPv6 literal with a port');
is(site('[::1]'), 'exact', 'an IPv6 literal alone');
is(site('[::2]'), 'fallback', 'another IPv6 literal: the default');
is(site('example.test:'), 'exact', 'an empty port, as RFC 9110 allows');
is(site('nothing.test:65535'), 'fallback', 'port 65535: the default');

my $n = $origin->request_count;
my $w = $t->http(WeirTest::request('GET', '/w', Host => 'X.Wild.Test',
    Connection => 'close'));
is($w->status, 200, 'a valid wildcard name reaches its origin');
ok($origin->wait_until(sub { $_[0]->request_count > $n }),
    '  which saw the request');

# --- absolute-form: the URI's host wins ------------------------------------------
$n = $origin->request_count;
my $abs = $t->http("GET http://a.wild.test/abs HTTP/1.1\r\n"
    . "Host: example.test\r\nConnection: close\r\n\r\n");
is($abs->status, 200, 'absolute-form naming a wildcard host, Host another');
ok($origin->wait_until(sub { $_[0]->request_count > $n }),
    '  went to the URI\'s server, which proxies');
my @r = $origin->requests;
is(WeirOrigin::header($r[-1], 'Host'), 'a.wild.test',
    '  and the origin was sent the URI\'s host, not the field\'s');
my $abs2 = $t->http("GET http://example.test/ HTTP/1.1\r\n"
    . "Host: a.wild.test\r\nConnection: close\r\n\r\n");
is($abs2->body, 'exact', 'the other way round: the URI\'s server answers');

$t->check_log_clean;
$t->stop;
$origin->stop;
done_testing;
