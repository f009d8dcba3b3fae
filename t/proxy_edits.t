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

[route edits]
server = s
match = /h/
upstream = live
set_header = Host: backend.internal
set_header = X-Forwarded-For: 10.9.8.7
remove_header = Via
INI
my $origin = WeirOrigin->new(port => $t->port(1), handler => 'echo');
$t->start;

my $r = $t->http_get('/t/x');
is($r->status, 502, 'retry_on = timeout: a refused connect is not retried');
is($origin->request_count, 0, '... the live server saw nothing');

$r = $t->http_get('/e/x');
is($r->status, 200, 'retry_on = error: the refused connect moves on');
is($origin->request_count, 1, '... to the live server');

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
