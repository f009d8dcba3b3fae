#!/usr/bin/perl
# Interim responses from the origin: 103 Early Hints (and 102, any 1xx
# but 100 and 101) reach an HTTP/1.1 client before the final response,
# hop-by-hop fields removed; an HTTP/1.0 client gets the final response
# only; the origin's own 100 Continue is not forwarded (weir answers
# Expect itself); an origin that floods 1xx gets a bounded number
# through; a failure after a 103 still ends in a well-formed 502.

use strict;
use warnings;
use Test::More;
use WeirTest;
use WeirOrigin;

my $t = WeirTest->new(main => { workers => 1 }, config => <<'INI');
[upstream hints]
server = 127.0.0.1:%%PORT1%%

[upstream many]
server = 127.0.0.1:%%PORT2%%

[upstream broken]
server = 127.0.0.1:%%PORT3%%
retries = 0
max_fails = 0

[upstream gone]
server = 127.0.0.1:%%PORT4%%
retries = 0
max_fails = 0

[server s]
listen = 127.0.0.1:%%PORT0%%

[route many]
server = s
match = /many/
upstream = many

[route broken]
server = s
match = /broken/
upstream = broken

[route gone]
server = s
match = /gone/
upstream = gone

[route hints]
server = s
match = /
upstream = hints
INI

my $hint1 = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n"
    . "Connection: X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\n\r\n";
my $hint2 = "HTTP/1.1 103 Early Hints\r\nLink: </app.js>; rel=preload; as=script\r\n\r\n";
WeirOrigin->new(port => $t->port(1), handler => 'fixed', body => 'final',
    interim => [ "HTTP/1.1 100 Continue\r\n\r\n",
                 "HTTP/1.1 102 Processing\r\n\r\n", $hint1, $hint2 ]);
WeirOrigin->new(port => $t->port(2), handler => 'fixed', body => 'many',
    interim => [ ("HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n") x 40 ]);
WeirOrigin->new(port => $t->port(3), handler => 'fixed', close => 1,
    raw => $hint2 . "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
WeirOrigin->new(port => $t->port(4), handler => 'fixed', close => 1,
    raw => $hint2);
$t->start;

# HTTP/1.1: 102, 103, 103 in order, then the 200.
my $r = $t->http_get('/page');
is($r->status, 200, 'HTTP/1.1: the final 200') or diag($r->summary);
is($r->body, 'final', '... with its body');
my @im = @{ $r->{interim} || [] };
is_deeply([ map { $_->status } @im ], [ 102, 103, 103 ],
    '102 and both 103s forwarded in order, not the 100');
is($im[1] && $im[1]->header('link'), '</style.css>; rel=preload; as=style',
    'the first 103 keeps its Link');
is($im[2] && $im[2]->header('link'), '</app.js>; rel=preload; as=script',
    'the second 103 keeps its own');
is($im[1] && $im[1]->header('x-hop'), undef, 'a field named by Connection is dropped');
is($im[1] && $im[1]->header('keep-alive'), undef, 'Keep-Alive is dropped');
is($im[1] && $im[1]->header('connection'), undef, 'Connection is dropped');

# Keep-alive goes on after a response with interim heads.
my $c = $t->connect;
$r = $c->request(WeirTest::request('GET', '/one'));
is($r->status, 200, 'keep-alive: first response');
is(scalar @{ $r->{interim} || [] }, 3, '... after its three interim heads');
$r = $c->request(WeirTest::request('GET', '/two', Connection => 'close'));
is($r->status, 200, '... and the second on the same connection');
is($r->body, 'final', '... whole');
$c->close;

# HTTP/1.0: no interim response at all.
$r = $t->http("GET /old HTTP/1.0\r\nHost: localhost\r\n\r\n");
is($r->status, 200, 'HTTP/1.0: 200');
is(scalar @{ $r->{interim} || [] }, 0, 'HTTP/1.0: no interim response');
is($r->body, 'final', 'HTTP/1.0: the body');

# A flood of 1xx: a bounded number reaches the client, then the 200.
$r = $t->http_get('/many/x');
is($r->status, 200, 'forty 103s: the final 200');
my $n = scalar @{ $r->{interim} || [] };
ok($n >= 1 && $n <= 16, "forty 103s: $n forwarded (at most 16)");
is($r->body, 'many', '... and the body');

# A 103, then the origin closes: the 103, then a complete 502 page.
$r = $t->http_get('/gone/x');
is(scalar @{ $r->{interim} || [] }, 1, 'a 103 before the origin vanished is forwarded');
is($r->status, 502, '... then a 502') or diag($r->summary);
ok(!$r->{truncated} && $r->body =~ /502|BAD_GATEWAY|UPSTREAM/,
    '... whole, with its error page') or diag($r->summary);

# A 103, then a 200 that promises 10 bytes and sends 3: the response is
# cut, never padded.
$r = $t->http_get('/broken/x');
is(scalar @{ $r->{interim} || [] }, 1, 'a 103 before a broken response is forwarded');
is($r->status, 200, '... the final head follows');
ok($r->{truncated}, '... and the cut body shows as cut');

$t->done_testing;
