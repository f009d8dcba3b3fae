#!/usr/bin/perl
# Pipelining through the proxy: requests written in one go are answered in
# order, also when an earlier one is slower, when a body sits between them,
# and when they go to different upstreams; a final Connection: close ends
# the connection after the last answer.

use strict;
use warnings;
use Test::More;
use WeirTest;
use WeirOrigin;

my $t = WeirTest->new(config => <<'INI');
[upstream a]
server = 127.0.0.1:%%PORT1%%
keepalive = 32

[upstream b]
server = 127.0.0.1:%%PORT2%%
keepalive = 32

[server s]
listen = 127.0.0.1:%%PORT0%%

[route b]
server = s
match = /b/
upstream = b

[route a]
server = s
match = /
upstream = a
INI

my $oa = WeirOrigin->new(port => $t->port(1), handler => 'echo', headers => ['X-Origin: a']);
my $ob = WeirOrigin->new(port => $t->port(2), handler => 'echo', headers => ['X-Origin: b']);

$t->start;

my $J = WeirOrigin::json();
sub target { my $d = eval { $J->decode($_[0]->body) } || {}; return $d->{target} // '' }

sub pipelined {
    my ($name, $raw, @expect) = @_;
    my $c = $t->connect;
    ok($c->send($raw), "$name: sent in one write");
    my $i = 0;
    for my $e (@expect) {
        $i++;
        my $r = $c->read_response(timeout => 10);
        is($r->status, 200, "$name: response $i is 200") or diag($r->summary);
        is(target($r), $e->[0], "$name: response $i answers $e->[0]");
        is($r->header('x-origin'), $e->[1], "$name: response $i from origin $e->[1]") if $e->[1];
    }
    return $c;
}

my $H = "Host: localhost\r\n";
my $c = pipelined('three GETs',
    "GET /p1 HTTP/1.1\r\n$H\r\nGET /p2 HTTP/1.1\r\n$H\r\nGET /p3 HTTP/1.1\r\n$H\r\n",
    ['/p1'], ['/p2'], ['/p3']);
$c->close;

$c = pipelined('slow first',
    "GET /s1?sleep=0.5 HTTP/1.1\r\n$H\r\nGET /s2 HTTP/1.1\r\n$H\r\nGET /s3?sleep=0.2 HTTP/1.1\r\n$H\r\n",
    ['/s1?sleep=0.5'], ['/s2'], ['/s3?sleep=0.2']);
$c->close;

$c = pipelined('GET, POST with a body, GET',
    "GET /m1 HTTP/1.1\r\n$H\r\nPOST /m2 HTTP/1.1\r\n${H}Content-Length: 11\r\n\r\nhello world"
    . "GET /m3 HTTP/1.1\r\n$H\r\n",
    ['/m1'], ['/m2'], ['/m3']);
my ($post) = grep { $_->{target} eq '/m2' } $oa->requests;
is($post && $post->{body}, 'hello world', 'the pipelined POST body reached the origin intact');
$c->close;

$c = pipelined('two upstreams',
    "GET /x1?sleep=0.4 HTTP/1.1\r\n$H\r\nGET /b/x2 HTTP/1.1\r\n$H\r\nGET /x3 HTTP/1.1\r\n$H\r\n",
    ['/x1?sleep=0.4', 'a'], ['/b/x2', 'b'], ['/x3', 'a']);
$c->close;

$c = pipelined('last one closes',
    "GET /c1 HTTP/1.1\r\n$H\r\nGET /c2 HTTP/1.1\r\n$H\r\nGET /c3 HTTP/1.1\r\n${H}Connection: close\r\n\r\n",
    ['/c1'], ['/c2'], ['/c3']);
is($c->wait_close(3), 'eof', 'last one closes: the connection is closed after the third answer');
is($c->extra, '', 'last one closes: nothing after the third answer');
$c->close;

WeirOrigin::check_workers($t);
$t->done_testing;
