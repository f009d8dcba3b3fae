#!/usr/bin/perl
# Generated error pages escape what they embed: the request id comes from
# the client's X-Request-Id when it sent one, so the HTML page escapes
# & < > " ' and the JSON body escapes " \ and control bytes (and bytes
# that are not UTF-8), and neither is truncated mid-escape. The upstream
# refuses connections, so every request here is a 502.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use JSON::PP;
use Encode ();
use WeirTest;

# A port with nothing listening: connect() is refused.
my $dead = do {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
        Listen => 1) or die "socket: $!";
    my $p = $s->sockport;
    close $s;
    $p;
};

my $t = WeirTest->new(main => { workers => 1 }, config => <<"INI");
[http]
access_log = logs/access.log
log_format = \$status \$request_id

[upstream gone]
server = 127.0.0.1:$dead
retries = 0
max_fails = 0

[server s]
listen = 127.0.0.1:%%PORT0%%

[route app]
server = s
match = /
upstream = gone
INI
$t->start;

my $J = JSON::PP->new->utf8;
my $requests = 0;

# GET /app with X-Request-Id: $id; JSON when $json. Checks what every
# answer must be: a 502 whose head has at most one X-Request-Id line.
sub get_502 {
    my ($name, $id, $json) = @_;
    my $r = $t->http_get('/app', 'X-Request-Id' => $id,
        $json ? (Accept => 'application/json') : ());
    $requests++;
    is($r->status, 502, "$name: 502") or diag($r->summary);
    cmp_ok($r->header_count('x-request-id'), '<=', 1,
        "$name: at most one X-Request-Id header line");
    is($r->header('content-length'), length $r->body,
        "$name: Content-Length matches the body");
    return $r;
}

# Decode a JSON error body: valid UTF-8, an object with exactly the four
# keys, status 502. Returns the object (or {}).
sub json_body {
    my ($name, $r) = @_;
    my $body = $r->body;
    like($r->header('content-type') // '', qr{^application/json},
        "$name: application/json");
    ok(eval { Encode::decode('UTF-8', my $copy = $body, Encode::FB_CROAK); 1 },
        "$name: the body is valid UTF-8") or diag($body);
    my $j = eval { $J->decode($body) };
    ok(ref $j eq 'HASH', "$name: the body parses as a JSON object")
        or diag("$@: $body");
    $j = {} unless ref $j eq 'HASH';
    is(join(',', sort keys %$j), 'error,message,request_id,status',
        "$name: exactly the four keys");
    is($j->{status}, 502, "$name: status is 502");
    is($j->{error}, 'UPSTREAM_CONNECT_FAILED', "$name: error code");
    return $j;
}

# --- the page format itself, with a harmless id -----------------------------

my $r = get_502('plain JSON', 'abc-123', 1);
is($r->body, qq({"status":502,"error":"UPSTREAM_CONNECT_FAILED",)
    . qq("message":"Bad Gateway","request_id":"abc-123"}\n),
    'plain JSON: the exact body');

$r = get_502('plain HTML', 'abc-123', 0);
like($r->header('content-type') // '', qr{^text/html; charset=utf-8},
    'plain HTML: text/html');
is($r->body, "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title>"
    . "</head>\n<body>\n<h1>502 Bad Gateway</h1>\n"
    . "<p>UPSTREAM_CONNECT_FAILED</p>\n<p>request id: abc-123</p>\n"
    . "<hr><p>weir</p>\n</body></html>\n", 'plain HTML: the exact body');

# --- HTML --------------------------------------------------------------------

my $img = '<img src=x onerror=alert(1)>';
$r = get_502('HTML markup id', $img, 0);
like($r->body, qr/request id: &lt;img src=x onerror=alert\(1\)&gt;</,
    'HTML markup id: escaped in the page');
unlike($r->body, qr/<img/, 'HTML markup id: no <img tag in the page');

$r = get_502('HTML quotes id', q{a&b"c'd}, 0);
like($r->body, qr/request id: a&amp;b&quot;c&#39;d</,
    'HTML quotes id: & " \' escaped');

# Longer than the 32 bytes weir keeps, every byte expanding 6 times.
$r = get_502('HTML worst case', '"' x 40, 0);
like($r->body, qr/request id: (?:&quot;){32}<\/p>\n<hr><p>weir<\/p>\n<\/body><\/html>\n\z/,
    'HTML worst case: 32 escaped quotes, the page complete');

# --- JSON --------------------------------------------------------------------

my $inject = 'x","status":200,"y":"';
$r = get_502('JSON key injection', $inject, 1);
my $j = json_body('JSON key injection', $r);
is($j->{request_id}, $inject, 'JSON key injection: request_id round-trips');
unlike($r->body, qr/"status":200/, 'JSON key injection: no second status key');

my $ctl = "a\\b\tc";
$r = get_502('JSON backslash and tab', $ctl, 1);
$j = json_body('JSON backslash and tab', $r);
is($j->{request_id}, $ctl, 'JSON backslash and tab: request_id round-trips');
unlike($r->body, qr/\t/, 'JSON backslash and tab: no raw tab in the body');

$r = get_502('JSON worst case', '\\' x 40, 1);
$j = json_body('JSON worst case', $r);
is($j->{request_id}, '\\' x 32, 'JSON worst case: the first 32 bytes, escaped');

# obs-text: well-formed UTF-8 passes, other bytes become \u00XX (Latin-1).
$r = get_502('JSON UTF-8', "caf\xc3\xa9", 1);
$j = json_body('JSON UTF-8', $r);
is($j->{request_id}, "caf\x{e9}", 'JSON UTF-8: the character round-trips');

$r = get_502('JSON not UTF-8', "a\xff\xc0\xafb", 1);
$j = json_body('JSON not UTF-8', $r);
is($j->{request_id}, "a\x{ff}\x{c0}\x{af}b",
    'JSON not UTF-8: each byte as \\u00XX');

# Cut at 32 bytes in the middle of a two-byte character.
$r = get_502('JSON cut character', ('a' x 31) . "\xc3\xa9", 1);
$j = json_body('JSON cut character', $r);
is($j->{request_id}, ('a' x 31) . "\x{c3}",
    'JSON cut character: the dangling lead byte escaped');

# --- the access log still records each request --------------------------------

ok($t->wait_for_access_log(qr/^502 x\\"/), 'access log: the injection request')
    or diag(join "\n", $t->access_log_lines);
my $got = 0;
for (1 .. 30) {
    $got = grep { /^502 / } $t->access_log_lines;
    last if $got >= $requests;
    select undef, undef, undef, 0.1;
}
is($got, $requests, "access log: one 502 line per request ($requests)");

$t->done_testing;
