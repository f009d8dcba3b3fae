#!/usr/bin/perl
# [limit] conn with a small table: requests in progress are bounded by
# `conn` per key, not by `size`. (It used to keep one record per request
# in progress and only `size` of them, so with size = 16 and conn = 100
# one key with 16 requests in progress made its 17th request, and every
# other key's, get 503 "no entry free for a new key".) Two workers, so
# the key's requests in progress are counted in both.

use strict;
use warnings;
use Test::More;
use WeirTest;
use LimitTest;

my ($t, $origin) = LimitTest::start(workers => 2, origin => 'echo',
    config => <<'INI');
[limit one]
key = $http_x_key
conn = 100
size = 16

[server s]
listen = 127.0.0.1:%%PORT0%%

[route r]
server = s
match = /
upstream = app
limit = one
INI

my @held;
for my $i (1 .. 16) {
    my $c = $t->connect;
    $c->send(WeirTest::request('GET', "/held/$i?sleep=30", 'X-Key' => 'k',
        Connection => 'close'));
    push @held, $c;
}
ok($origin->wait_until(sub { (grep { $_->{target} =~ m{^/held/} }
    $_[0]->requests) == 16 }, 20), 'one key, sixteen requests in progress');

is($t->http_get('/now?sleep=0', 'X-Key' => 'k')->status, 200,
   'its 17th request is within conn = 100: passes');
is($t->http_get('/other?sleep=0', 'X-Key' => 'other')->status, 200,
   'another key, with entries free, passes');
$_->close for @held;
$t->done_testing;
