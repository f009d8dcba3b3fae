#!/usr/bin/perl
# Static files: content, type and length; index; 404; 301 for a directory
# without its slash; 405; HEAD; validators (ETag, Last-Modified) and 304
# both ways; byte ranges (206, 416, multi-range served whole).

use strict;
use warnings;
use Test::More;
use WeirTest;

my $index = "<html><body>index page</body></html>\n";
my $text  = join '', map { chr(ord('a') + $_ % 26) } 0 .. 99;   # 100 bytes
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
    'html/index.html'     => $index,
    'html/a.txt'          => $text,
    'html/style.css'      => "body { color: red }\n",
    'html/dir/index.html' => "dir index\n",
    'html/empty/.keep'    => '',
    'html/with space.txt' => "spaced\n",
});

# A fixed mtime so Last-Modified is known exactly.
my $mtime = 1700000000;    # Tue, 14 Nov 2023 22:13:20 GMT
utime $mtime, $mtime, $t->path('html/a.txt') or die;
my $lm = 'Tue, 14 Nov 2023 22:13:20 GMT';

$t->start;

# --- 200 -------------------------------------------------------------------

my $r = $t->http_get('/a.txt');
is($r->status, 200, 'GET file: 200') or diag($r->summary);
is($r->body, $text, 'GET file: the content');
is($r->header('content-length'), 100, 'GET file: Content-Length');
like($r->header('content-type') // '', qr{^text/plain\b}, 'GET .txt: text/plain');
is($r->header('last-modified'), $lm, 'Last-Modified is the file mtime');
like($r->header('etag') // '', qr/^"[^"]+"$/, 'a strong ETag');
like($r->header('date') // '', qr/^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/,
    'a Date header');
like($r->header('accept-ranges') // 'bytes', qr/bytes/, 'Accept-Ranges, when sent, is bytes');

$r = $t->http_get('/style.css');
like($r->header('content-type') // '', qr{^text/css\b}, 'GET .css: text/css');

$r = $t->http_get('/with%20space.txt');
is($r->status, 200, 'percent-encoded space is decoded');
is($r->body, "spaced\n", '... and serves the right file');

# --- index, 404, 301, 405 ------------------------------------------------------

$r = $t->http_get('/');
is($r->status, 200, 'GET /: 200');
is($r->body, $index, 'GET /: index.html');
like($r->header('content-type') // '', qr{^text/html\b}, 'index: text/html');

$r = $t->http_get('/dir/');
is($r->body, "dir index\n", 'GET /dir/: its index.html');

$r = $t->http_get('/dir');
is($r->status, 301, 'GET /dir: 301');
like($r->header('location') // '', qr{/dir/$}, 'GET /dir: Location ends in /dir/');

$r = $t->http_get('/dir?x=1');
is($r->status, 301, 'GET /dir?x=1: 301');

$r = $t->http_get('/empty/');
ok($r->status == 403 || $r->status == 404,
    'a directory without index: 403 or 404') or diag($r->summary);

$r = $t->http_get('/missing.txt');
is($r->status, 404, 'missing file: 404');
unlike($r->body, qr/\Q$text\E/, '404 body is not some file');

$r = $t->http_get('/a.txt/');
ok($r->status == 404 || $r->status == 403, 'a file with a trailing slash: 404')
    or diag($r->summary);

$r = $t->http(WeirTest::request('POST', '/a.txt', Connection => 'close', body => 'x=1'));
is($r->status, 405, 'POST on a static file: 405');
unlike($r->body, qr/\Q$text\E/, '405 does not send the file');

$r = $t->http(WeirTest::request('DELETE', '/a.txt', Connection => 'close'));
is($r->status, 405, 'DELETE on a static file: 405');

# --- HEAD --------------------------------------------------------------------

my $c = $t->connect;
$r = $c->request(WeirTest::request('HEAD', '/a.txt'));
is($r->status, 200, 'HEAD: 200');
is($r->header('content-length'), 100, 'HEAD: the GET Content-Length');
is($r->header('etag'), $t->http_get('/a.txt')->header('etag'), 'HEAD: same ETag as GET');
# If HEAD had sent a body, it would be read as the next response here.
$r = $c->request(WeirTest::request('GET', '/style.css'));
is($r->status, 200, 'HEAD sends no body: next response on the connection parses');
is($r->body, "body { color: red }\n", '... with its own body');
$c->close;

# --- validators --------------------------------------------------------------

my $etag = $t->http_get('/a.txt')->header('etag') // '"none"';

$r = $t->http_get('/a.txt', 'If-None-Match' => $etag);
is($r->status, 304, 'If-None-Match with the ETag: 304');
is($r->body, '', '304 has no body');
is($r->header('etag'), $etag, '304 repeats the ETag');

$r = $t->http_get('/a.txt', 'If-None-Match' => "\"other\", $etag");
is($r->status, 304, 'If-None-Match list containing the ETag: 304');

$r = $t->http_get('/a.txt', 'If-None-Match' => '*');
is($r->status, 304, 'If-None-Match: * on an existing file: 304');

$r = $t->http_get('/a.txt', 'If-None-Match' => '"other"');
is($r->status, 200, 'If-None-Match with another ETag: 200');
is($r->body, $text, '... with the body');

$r = $t->http_get('/a.txt', 'If-Modified-Since' => $lm);
is($r->status, 304, 'If-Modified-Since = Last-Modified: 304');

$r = $t->http_get('/a.txt', 'If-Modified-Since' => 'Wed, 15 Nov 2023 00:00:00 GMT');
is($r->status, 304, 'If-Modified-Since later than mtime: 304');

$r = $t->http_get('/a.txt', 'If-Modified-Since' => 'Mon, 13 Nov 2023 00:00:00 GMT');
is($r->status, 200, 'If-Modified-Since before mtime: 200');
is($r->body, $text, '... with the body');

$r = $t->http_get('/a.txt', 'If-Modified-Since' => 'not a date');
is($r->status, 200, 'an invalid If-Modified-Since is ignored');

$r = $t->http_get('/a.txt', 'If-None-Match' => '"other"', 'If-Modified-Since' => $lm);
is($r->status, 200, 'If-None-Match takes precedence over If-Modified-Since');

# The ETag follows the content.
$t->write_file('html/a.txt', $text . 'more');
utime $mtime + 60, $mtime + 60, $t->path('html/a.txt');
$r = $t->http_get('/a.txt', 'If-None-Match' => $etag);
is($r->status, 200, 'after the file changed, the old ETag no longer matches');
is($r->body, $text . 'more', '... and the new content is served');
$t->write_file('html/a.txt', $text);
utime $mtime, $mtime, $t->path('html/a.txt');

# --- ranges ------------------------------------------------------------------

$r = $t->http_get('/a.txt', Range => 'bytes=0-9');
is($r->status, 206, 'Range 0-9: 206');
is($r->body, substr($text, 0, 10), 'Range 0-9: the first 10 bytes');
is($r->header('content-range'), 'bytes 0-9/100', 'Range 0-9: Content-Range');
is($r->header('content-length'), 10, 'Range 0-9: Content-Length 10');

$r = $t->http_get('/a.txt', Range => 'bytes=90-');
is($r->status, 206, 'Range 90-: 206');
is($r->body, substr($text, 90), 'Range 90-: the tail');
is($r->header('content-range'), 'bytes 90-99/100', 'Range 90-: Content-Range');

$r = $t->http_get('/a.txt', Range => 'bytes=-5');
is($r->status, 206, 'suffix Range -5: 206');
is($r->body, substr($text, 95), 'suffix Range -5: the last 5 bytes');

$r = $t->http_get('/a.txt', Range => 'bytes=95-200');
is($r->status, 206, 'Range past the end is clipped: 206');
is($r->header('content-range'), 'bytes 95-99/100', '... Content-Range clipped');

$r = $t->http_get('/a.txt', Range => 'bytes=100-');
is($r->status, 416, 'Range starting at the size: 416');
is($r->header('content-range'), 'bytes */100', '416: Content-Range bytes */SIZE');
unlike($r->body, qr/\Q$text\E/, '416 does not send the file');

$r = $t->http_get('/a.txt', Range => 'bytes=0-1,5-6');
is($r->status, 200, 'multi-range: the whole file (200)');
is($r->body, $text, 'multi-range: full body');

$r = $t->http_get('/a.txt', Range => 'lines=1-2');
is($r->status, 200, 'an unknown range unit is ignored: 200');

$r = $t->http_get('/a.txt', Range => 'bytes=0-9', 'If-Range' => $etag);
is($r->status, 206, 'If-Range with the current ETag: 206');
$r = $t->http_get('/a.txt', Range => 'bytes=0-9', 'If-Range' => '"stale"');
is($r->status, 200, 'If-Range with another ETag: the whole file');

# --- every request was logged --------------------------------------------------

ok($t->wait_for_access_log(qr{"GET /a\.txt HTTP/1\.1" 206 10 }),
    'a 206 is logged with its 10 body bytes');

$t->done_testing;
