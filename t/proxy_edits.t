#!/usr/bin/perl
# retry_on chooses which failures move to another server ("error": refused
# or reset connections, invalid heads; "timeout": connect and header
# timeouts); set_header and remove_header replace the headers weir adds
# itself instead of sending the upstream two of them.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use WeirTest;
use WeirOrigin;

my $dead = do {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
        Listen => 1) or die "socket: $!";
    my $p = $s->sockport;
    close $s;
    $p;
};

my $t = WeirTest->new(config => <<"INI");
[upstream only_timeout]
server = 127.0.0.1:$dead weight=10
server = 127.0.0.1:%%PORT1%%
retry_on = timeout

[upstream on_error]
server = 127.0.0.1:$dead weight=10
server = 127.0.0.1:%%PORT1%%
retry_on = error timeout

[upstream live]
server = 127.0.0.1:%%PORT1%%

[upstream busy_retry]
server = 127.0.0.1:%%PORT2%% weight=10
server = 127.0.0.1:%%PORT1%%
retry_on = error timeout http_503

[upstream busy_pass]
server = 127.0.0.1:%%PORT2%% weight=10
server = 127.0.0.1:%%PORT1%%

[server s]
listen = 127.0.0.1:%%PORT0%%

[route timeout_only]
server = s
match = /t/
upstream = only_timeout

[route error_too]
server = s
match = /e/
upstream = on_error

[route busy_retry]
server = s
match = /b/
upstream = busy_retry

[route busy_pass]
server = s
match = /p/
upstream = busy_pass

[route edits]
server = s
match = /h/
upstream = live
set_header = Host: backend.internal
set_header = X-Forwarded-For: 10.9.8.7
remove_header = Via
INI
my $origin = WeirOrigin->new(port => $t->port(1), handler => 'echo');
my $busy = WeirOrigin->new(port => $t->port(2), handler => 'fixed',
    status => 503, body => "busy\n");
$t->start;

my $r = $t->http_get('/t/x');
is($r->status, 502, 'retry_on = timeout: a refused connect is not retried');
is($origin->request_count, 0, '... the live server saw nothing');

$r = $t->http_get('/e/x');
is($r->status, 200, 'retry_on = error: the refused connect moves on');
is($origin->request_count, 1, '... to the live server');

# retry_on = http_503: an idempotent request moves on, others get the 503.
my $before = $origin->request_count;
$r = $t->http_get('/b/get');
is($r->status, 200, 'retry_on http_503: a GET answered 503 is retried elsewhere');
is($origin->request_count, $before + 1, '... and served by the other peer');
$r = $t->http("POST /b/post HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
    . "Connection: close\r\n\r\nhi");
is($r->status, 503, 'retry_on http_503: a POST gets the peer\'s 503 (not idempotent)');
is($r->body, "busy\n", '... with the peer\'s body');
$r = $t->http_get('/p/get');
is($r->status, 503, 'without http_503 in retry_on the 503 is passed through');
is($r->body, "busy\n", '... as the peer sent it');

$r = $t->http_get('/h/x', Host => 'public.example', Via => '1.0 client-proxy');
is($r->status, 200, 'edited route: 200');
my ($req) = grep { $_->{target} eq '/h/x' } $origin->requests;
$req //= { headers => [] };
my @host = map { $_->[1] } grep { lc $_->[0] eq 'host' } @{ $req->{headers} };
is_deeply(\@host, ['backend.internal'], 'set_header Host: exactly one Host, the set one');
my @xff = map { $_->[1] } grep { lc $_->[0] eq 'x-forwarded-for' } @{ $req->{headers} };
is_deeply(\@xff, ['10.9.8.7'], 'set_header X-Forwarded-For replaces the one weir adds');
my @via = grep { lc $_->[0] eq 'via' } @{ $req->{headers} };
is(scalar @via, 0, 'remove_header Via: neither the client\'s nor weir\'s');
my @xfh = map { $_->[1] } grep { lc $_->[0] eq 'x-forwarded-host' } @{ $req->{headers} };
is_deeply(\@xfh, ['public.example'], 'headers not edited are still added');

WeirOrigin::check_workers($t);
$t->done_testing;
