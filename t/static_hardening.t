#!/usr/bin/perl
# Static files, hardening: the directory redirect percent-encodes the path
# it writes into Location (no header injection through a directory name,
# no "?" or "#" that would send the client elsewhere) and keeps the query;
# If-Match and If-Unmodified-Since answer 412 in RFC 9110 13.2.2 order.

use strict;
use warnings;
use Test::More;
use WeirTest;

my $text = join '', map { chr(ord('a') + $_ % 26) } 0 .. 99;   # 100 bytes
my $t = WeirTest->new(config => <<'INI', files => {
[http]
access_log = logs/access.log

[server s]
listen = 127.0.0.1:%%PORT0%%

[route site]
server = s
match = /
root = html
index = index.html
INI
    'html/index.html'         => "root index\n",
    'html/a.txt'              => $text,
    'html/s/plain/index.html' => "plain index\n",
});

# Directory names a URL has to escape, each with an index naming it.
# Perl strings here are bytes: "caf\xc3\xa9" is UTF-8 on disk.
my %dirs = (
    crlf    => [ "s/x\r\nSet-Cookie: pwn=1", '/s/x%0D%0ASet-Cookie:%20pwn=1',
                 '/s/x%0D%0ASet-Cookie:%20pwn=1/' ],
    query   => [ 's/q?x',      '/s/q%3Fx',        '/s/q%3Fx/' ],
    space   => [ 'a b',        '/a%20b',          '/a%20b/' ],
    hash    => [ 's/h#x',      '/s/h%23x',        '/s/h%23x/' ],
    percent => [ 's/p%41',     '/s/p%2541',       '/s/p%2541/' ],
    quote   => [ 's/d"q<>',    '/s/d%22q%3C%3E',  '/s/d%22q%3C%3E/' ],
    utf8    => [ "s/caf\xc3\xa9", '/s/caf%C3%A9', '/s/caf%C3%A9/' ],
    tab     => [ "s/t\tb",     '/s/t%09b',        '/s/t%09b/' ],
    del     => [ "s/d\x7fl",   '/s/d%7Fl',        '/s/d%7Fl/' ],
);
for my $k (sort keys %dirs) {
    my $dir = $t->path("html/$dirs{$k}[0]");
    mkdir $dir or die "mkdir $k: $!";
    $t->write_file("html/$dirs{$k}[0]/index.html", "index of $k\n");
}

my $mtime = 1700000000;    # Tue, 14 Nov 2023 22:13:20 GMT
utime $mtime, $mtime, $t->path('html/a.txt') or die;
my $lm = 'Tue, 14 Nov 2023 22:13:20 GMT';

$t->start;

# --- the directory redirect --------------------------------------------------

for my $k (sort keys %dirs) {
    my (undef, $ask, $want) = @{ $dirs{$k} };
    my $r = $t->http_get($ask);
    is($r->status, 301, "$k: a directory without its slash is a 301")
        or diag($r->summary);
    is($r->header_count('location'), 1, "$k: exactly one Location");
    is($r->header_count('set-cookie'), 0, "$k: no header injected");
    is($r->header('location'), $want, "$k: Location percent-encoded");
    unlike($r->head, qr/[^\x20-\x7e\r\n]/, "$k: the head is printable ASCII");

    $r = $t->http_get($r->header('location') // '/none');
    is($r->status, 200, "$k: following the Location: 200") or diag($r->summary);
    is($r->body, "index of $k\n", "$k: ... the directory's index");
}

# "/\evil.com/" is "//evil.com/" to some browsers: an open redirect. A
# backslash, raw or escaped, is refused before any file is looked up
# (weir.ini(5), REQUEST PATHS), so no Location is ever written for one.
mkdir $t->path("html/\\evil.com") or die "mkdir bslash: $!";
for my $ask ('/%5Cevil.com', '/%5cevil.com', '/\\evil.com') {
    my $r = $t->http_get($ask);
    is($r->status, 400, "backslash ($ask): 400") or diag($r->summary);
    is($r->header_count('location'), 0, "backslash ($ask): no Location");
}

my $r = $t->http_get('/s/plain');
is($r->header('location'), '/s/plain/', 'a plain name is written as is');
is($r->header_count('location'), 1, '... once');

$r = $t->http_get("/s/plain?a=1&b=%20x");
is($r->status, 301, 'a redirect with a query: 301');
is($r->header('location'), '/s/plain/?a=1&b=%20x', '... the query is kept as sent');
$r = $t->http_get($r->header('location') // '/none');
is($r->body, "plain index\n", '... and following it gives the index');

$r = $t->http_get('/s/q%3Fx?k=v');
is($r->header('location'), '/s/q%3Fx/?k=v',
    'an escaped path and a query: both survive');
$r = $t->http_get($r->header('location') // '/none');
is($r->body, "index of query\n", '... following it gives the index');

$r = $t->http_get('/s/plain?');
is($r->header('location'), '/s/plain/', 'an empty query adds no "?"');

$r = $t->http(WeirTest::request('HEAD', '/a%20b', Connection => 'close'));
is($r->status, 301, 'HEAD: 301 as well');
is($r->header('location'), '/a%20b/', 'HEAD: the same Location');

# --- If-Match ------------------------------------------------------------------

my $etag = $t->http_get('/a.txt')->header('etag') // '"none"';
like($etag, qr/^"[^"]+"$/, 'a strong ETag to compare with');

$r = $t->http_get('/a.txt', 'If-Match' => $etag);
is($r->status, 200, 'If-Match with the ETag: 200') or diag($r->summary);
is($r->body, $text, '... with the body');

$r = $t->http_get('/a.txt', 'If-Match' => '"other"');
is($r->status, 412, 'If-Match with another ETag: 412') or diag($r->summary);
unlike($r->body, qr/\Q$text\E/, '412 does not send the file');
like($r->body, qr/412|PRECONDITION_FAILED/, '412: the generated error page');

$r = $t->http_get('/a.txt', 'If-Match' => '"other"', Accept => 'application/json');
like($r->body, qr/"error"\s*:\s*"PRECONDITION_FAILED"/, '412 as JSON: its code')
    or diag($r->body);

$r = $t->http_get('/a.txt', 'If-Match' => "\"other\", $etag");
is($r->status, 200, 'If-Match list containing the ETag: 200');

$r = $t->http_get('/a.txt', 'If-Match' => "W/\"other\", $etag");
is($r->status, 200, 'a weak member does not end the list');

$r = $t->http_get('/a.txt', 'If-Match' => '*');
is($r->status, 200, 'If-Match: * on an existing file: 200');
is($r->body, $text, '... with the body');

$r = $t->http_get('/a.txt', 'If-Match' => "W/$etag");
is($r->status, 412, 'If-Match compares strongly: a weak tag fails');

$r = $t->http_get('/a.txt', 'If-Match' => 'garbage');
is($r->status, 412, 'a malformed If-Match fails');

$r = $t->http(WeirTest::request('GET', '/a.txt', 'If-Match' => '"other"',
    'If-Match' => $etag, Connection => 'close'));
is($r->status, 200, 'If-Match over two field lines: the second one counts');
$r = $t->http(WeirTest::request('GET', '/a.txt', 'If-Match' => $etag,
    'If-Match' => '"other"', Connection => 'close'));
is($r->status, 200, 'If-Match over two field lines: the first one counts too');
$r = $t->http(WeirTest::request('GET', '/a.txt', 'If-None-Match' => $etag,
    'If-None-Match' => '"other"', Connection => 'close'));
is($r->status, 304, 'If-None-Match over two field lines: joined, 304');

$r = $t->http_get('/missing.txt', 'If-Match' => '*');
is($r->status, 404, 'If-Match on a missing file: still 404');

$r = $t->http(WeirTest::request('POST', '/a.txt', 'If-Match' => '"other"',
    Connection => 'close', body => 'x'));
is($r->status, 405, 'If-Match on POST: still 405');

$r = $t->http_get('/a.txt', 'If-Match' => $etag, Range => 'bytes=0-9');
is($r->status, 206, 'If-Match passes, then Range: 206');
is($r->body, substr($text, 0, 10), '... the range');

$r = $t->http_get('/a.txt', 'If-Match' => '"other"', Range => 'bytes=0-9');
is($r->status, 412, 'If-Match fails before Range is looked at: 412');

# --- If-Unmodified-Since --------------------------------------------------------

$r = $t->http_get('/a.txt', 'If-Unmodified-Since' => 'Mon, 13 Nov 2023 00:00:00 GMT');
is($r->status, 412, 'If-Unmodified-Since before mtime: 412') or diag($r->summary);
unlike($r->body, qr/\Q$text\E/, '... without the file');

$r = $t->http_get('/a.txt', 'If-Unmodified-Since' => $lm);
is($r->status, 200, 'If-Unmodified-Since = Last-Modified: 200');

$r = $t->http_get('/a.txt', 'If-Unmodified-Since' => 'Wed, 15 Nov 2023 00:00:00 GMT');
is($r->status, 200, 'If-Unmodified-Since after mtime: 200');
is($r->body, $text, '... with the body');

$r = $t->http_get('/a.txt', 'If-Unmodified-Since' => 'not a date');
is($r->status, 200, 'an invalid If-Unmodified-Since is ignored');

$r = $t->http(WeirTest::request('GET', '/a.txt',
    'If-Unmodified-Since' => 'Mon, 13 Nov 2023 00:00:00 GMT',
    'If-Unmodified-Since' => 'Mon, 13 Nov 2023 00:00:00 GMT',
    Connection => 'close'));
is($r->status, 200, 'If-Unmodified-Since given twice is a list: ignored');

# --- precedence (RFC 9110 13.2.2) ----------------------------------------------

$r = $t->http_get('/a.txt', 'If-Match' => $etag,
    'If-Unmodified-Since' => 'Mon, 13 Nov 2023 00:00:00 GMT');
is($r->status, 200, 'If-Match takes precedence over If-Unmodified-Since');

$r = $t->http_get('/a.txt', 'If-Match' => '"other"',
    'If-Unmodified-Since' => 'Wed, 15 Nov 2023 00:00:00 GMT');
is($r->status, 412, '... also when it fails');

$r = $t->http_get('/a.txt', 'If-Match' => $etag, 'If-None-Match' => $etag);
is($r->status, 304, 'If-Match passes, then If-None-Match: 304');

$r = $t->http_get('/a.txt', 'If-Unmodified-Since' => 'Mon, 13 Nov 2023 00:00:00 GMT',
    'If-None-Match' => $etag);
is($r->status, 412, 'If-Unmodified-Since is checked before If-None-Match');

$r = $t->http_get('/a.txt', 'If-Unmodified-Since' => 'Wed, 15 Nov 2023 00:00:00 GMT',
    'If-Modified-Since' => $lm);
is($r->status, 304, 'If-Unmodified-Since passes, then If-Modified-Since: 304');

# --- HEAD and keep-alive -----------------------------------------------------------

my $c = $t->connect;
$r = $c->request(WeirTest::request('HEAD', '/a.txt', 'If-Match' => '"other"'));
is($r->status, 412, 'HEAD with a failing If-Match: 412');
$r = $c->request(WeirTest::request('GET', '/a.txt', 'If-Match' => $etag));
is($r->status, 200, 'the connection stays usable after a 412');
is($r->body, $text, '... the next response has its own body');
$c->close;

ok($t->wait_for_access_log(qr{"GET /a\.txt HTTP/1\.1" 412 }), 'a 412 is logged');

$t->done_testing;
