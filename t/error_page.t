#!/usr/bin/perl
# error_page = CODE... /path: a page of the site replaces weir's generated
# error page, with the original status; a route's own error_page wins over
# [http]'s; without one, weir generates HTML or JSON.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use WeirTest;

# A port with nothing listening: connect() is refused.
my $dead = do {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
        Listen => 1) or die "socket: $!";
    my $p = $s->sockport;
    close $s;
    $p;
};

my $t = WeirTest->new(config => <<"INI",
[http]
access_log = logs/access.log
error_page = 404 /errors/404.html
error_page = 502 503 504 /errors/50x.html

[upstream gone]
server = 127.0.0.1:$dead
connect_timeout = 1s

[server s]
listen = 127.0.0.1:%%PORT0%%

[route errors]
server = s
match = /errors/
root = html

[route api]
server = s
match = /api/
upstream = gone
error_page = 502 /errors/api.html

[route app]
server = s
match = /app/
upstream = gone

[route site]
server = s
match = /
root = html
INI
    files => {
        'html/index.html'       => "index\n",
        'html/errors/404.html'  => "custom not found\n",
        'html/errors/50x.html'  => "custom upstream trouble\n",
        'html/errors/api.html'  => "{\"api\":\"down\"}\n",
    });
$t->start;

my $r = $t->http_get('/missing.html');
is($r->status, 404, 'missing file: still 404');
is($r->body, "custom not found\n", 'missing file: the configured page');
like($r->header('content-type') // '', qr{^text/html}, '... as text/html');

$r = $t->http_get('/app/x');
is($r->status, 502, 'dead upstream: still 502');
is($r->body, "custom upstream trouble\n", 'dead upstream: [http] error_page');

$r = $t->http_get('/api/x');
is($r->status, 502, 'route error_page: 502');
is($r->body, "{\"api\":\"down\"}\n", "route error_page: the route's own page wins");

$r = $t->http_get('/errors/404.html');
is($r->status, 200, 'the error pages themselves are plain files');

# A status without a configured page: generated, JSON when asked for.
$r = $t->http("POST /index.html HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n"
    . "Content-Length: 0\r\nConnection: close\r\n\r\n");
is($r->status, 405, 'POST to a file: 405 (no error_page for it)');
like($r->body, qr/"error":"METHOD_NOT_ALLOWED"/, '... generated JSON body');
like($r->body, qr/"request_id":"[0-9a-f]{32}"/, '... with the request id');

$t->done_testing;
