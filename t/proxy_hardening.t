#!/usr/bin/perl
# What a client or an origin could slip past the proxy with syntax two
# parsers read differently:
# - absolute-form request targets: the URI's authority replaces Host (RFC
#   9112 3.2.2) and the origin sees the origin-form, never the absolute
#   URI; a malformed absolute-form gets 400 and the origin nothing;
# - Content-Length values past 2^63 - 1: 400 from a client, 502 from an
#   origin (they used to pass as "no length" and hide truncation);
# - response Transfer-Encoding: chunked that is not the last coding (or
#   has parameters) is 502, identity is dropped, other codings are kept
#   with chunked last;
# - request header names with '_' are not forwarded (CGI-style backends
#   read X_Forwarded_For as X-Forwarded-For), the request still succeeds.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use WeirTest;
use WeirOrigin;

my $t = WeirTest->new(main => { workers => 1 }, config => <<'INI');
[http]
access_log = logs/access.log
log_format = host=$host uri=$request_uri status=$status

[upstream app]
server = 127.0.0.1:%%PORT1%%
keepalive = 8

[upstream raw]
server = 127.0.0.1:%%PORT2%%
retries = 0
max_fails = 0

[server s]
listen = 127.0.0.1:%%PORT0%%

[route raw]
server = s
match = /raw/
upstream = raw

[route app]
server = s
match = /
upstream = app
INI

my $origin = WeirOrigin->new(port => $t->port(1), handler => 'echo',
    log_rx => 1);

# Responses chosen by path. The close-delimited ones end with the
# connection.
my %raw = (
    '/raw/cl-u64max' => "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nhello",
    '/raw/cl-2p63' => "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\nhello",
    '/raw/cl-big-ok' => "HTTP/1.1 204 No Content\r\nContent-Length: 9223372036854775807\r\n\r\n",
    '/raw/te-chunked-gzip' => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
        . "5\r\nhello\r\n0\r\n\r\n",
    '/raw/te-chunked-then-gzip-field' => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
        . "Transfer-Encoding: gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    '/raw/te-chunked-param' => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;x=1\r\n\r\n"
        . "5\r\nhello\r\n0\r\n\r\n",
    '/raw/te-identity' => "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nhello",
    '/raw/te-identity-chunked' => "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity, chunked\r\n\r\n"
        . "5\r\nhello\r\n0\r\n\r\n",
    '/raw/te-gzip-chunked' => "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        . "5\r\nhello\r\n0\r\n\r\n",
    '/raw/te-gzip-identity' => "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, identity\r\n\r\nhello",
    # 2000 codings joined by a bare ",": re-joined with ", " they grow by
    # a third (a heap overflow once, when the buffer was sized for the
    # input).
    '/raw/te-many' => "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
        . join(',', ('a') x 2000) . "\r\n\r\nhello",
);
my $rawo = WeirOrigin->new(port => $t->port(2), handler => sub {
    my ($c) = @_;
    my $req = $c->read_request or return;
    $c->write($raw{ $req->{target} }
        // WeirOrigin::response(status => 404, body => "no\n", close => 1));
});

$t->start;

# The request the echo origin saw, from its JSON answer.
sub echoed {
    my ($r) = @_;
    return eval { WeirOrigin::json()->decode($r->body) } // {};
}

# ---- 1. absolute-form request targets ------------------------------------

my @absolute = (
    [ 'http://evil.com/x', 'good.com', '/x', 'evil.com' ],
    [ 'HTTP://Evil.COM:8080/a/b?q=1&r=/s', 'good.com', '/a/b?q=1&r=/s',
      'Evil.COM:8080' ],
    [ 'http://evil.com', 'good.com', '/', 'evil.com' ],
    [ 'https://evil.com/', 'good.com', '/', 'evil.com' ],
    [ 'http://[::1]:65535/v6', 'good.com', '/v6', '[::1]:65535' ],
    [ 'http://10.0.0.1:1/v4', 'good.com', '/v4', '10.0.0.1:1' ],
    [ 'http://a-b.example%41:80/pct', 'good.com', '/pct', 'a-b.example%41:80' ],
);
for my $a (@absolute) {
    my ($uri, $host, $want_target, $want_host) = @$a;
    my $r = $t->http("GET $uri HTTP/1.1\r\nHost: $host\r\nConnection: close\r\n\r\n");
    is($r->status, 200, "GET $uri: 200") or diag($r->summary);
    my $e = echoed($r);
    is($e->{target}, $want_target, "GET $uri: the origin sees $want_target");
    is(WeirOrigin::header($e, 'Host'), $want_host, "GET $uri: Host is $want_host");
    is(WeirOrigin::header($e, 'X-Forwarded-Host'), $want_host,
        "GET $uri: X-Forwarded-Host is $want_host");
    is(scalar(() = WeirOrigin::header_all($e, 'Host')), 1, "GET $uri: one Host");
    unlike($e->{head} // '', qr/good\.com|\w+:\/\//, "GET $uri: neither the URI nor the client's Host went upstream");
}

# HTTP/1.0 may omit Host: the origin-form still goes upstream, with the
# target's authority as Host (the name the server was chosen by).
{
    my $r = $t->http("GET http://evil.com/ten HTTP/1.0\r\n\r\n");
    is($r->status, 200, 'HTTP/1.0 absolute-form without Host: 200') or diag($r->summary);
    my $e = echoed($r);
    is($e->{target}, '/ten', '... the origin sees /ten');
    unlike($e->{head} // '', qr/:\/\//, '... never the absolute URI');
    like($e->{head} // '', qr/^Host: evil\.com\r?$/mi, '... Host: the authority');
}

# A body moves the request to a larger buffer: the Host slices move too.
{
    my $r = $t->http("POST http://evil.com/post HTTP/1.1\r\nHost: good.com\r\n"
        . "Content-Length: 5\r\nConnection: close\r\n\r\nhello");
    is($r->status, 200, 'absolute-form POST: 200') or diag($r->summary);
    my $e = echoed($r);
    is($e->{target}, '/post', '... the origin sees /post');
    is(WeirOrigin::header($e, 'Host'), 'evil.com', '... Host is the authority');
    is(WeirOrigin::header($e, 'X-Forwarded-Host'), 'evil.com', '... and X-Forwarded-Host');
    is($e->{body}, 'hello', '... with its body');
}

# The authority is $host in the log and $request_uri the origin-form.
ok($t->wait_for_access_log(qr{^host=evil\.com uri=/x status=200$}),
    'access log: $host is the authority, $request_uri the origin-form');

# Malformed absolute-form: 400, nothing forwarded.
my @bad_targets = (
    'http:///x',                   # empty host
    'http://',                     # nothing at all
    'http://[::1/x',               # unclosed IP literal
    'http://[::1]x/',              # junk after the literal
    'http://[zz]/x',               # not an IPv6 address
    'http://[1:2:3:4:5:6:7:8:9]/', # too many groups
    'http://user@evil.com/x',      # userinfo
    'http://user:pw@evil.com/x',
    'ftp://evil.com/x',            # other scheme
    'httpx://evil.com/x',
    'http:/evil.com/x',            # not "://"
    'http:evil.com/x',
    'http://evil.com:0/x',         # port out of range
    'http://evil.com:65536/x',
    'http://evil.com:/x',          # empty port
    'http://evil.com:8a/x',
    'http://evil.com:80:80/x',
    'http://evil%zz.com/x',        # bad escape
    'http://evil.com?q=1',         # empty path with a query
    'evil.com:80',                 # authority-form outside CONNECT
);
my $rx0 = $origin->rx_bytes;
my $req0 = $origin->request_count;
for my $uri (@bad_targets) {
    my $r = $t->http("GET $uri HTTP/1.1\r\nHost: good.com\r\nConnection: close\r\n\r\n");
    is($r->status, 400, "GET $uri: 400") or diag($r->summary);
}
sleep 0.3;      # anything forwarded would have arrived by now
is($origin->request_count, $req0, 'malformed absolute-form: the origin received no request');
is($origin->rx_bytes, $rx0, '... and no byte');

# ---- 2. Content-Length past 2^63 - 1 ---------------------------------------

for my $cl ('9223372036854775808', '18446744073709551615', '18446744073709551616') {
    my $c = $t->connect;
    my $r = $c->request("POST /big HTTP/1.1\r\nHost: localhost\r\n"
        . "Content-Length: $cl\r\n\r\nhello", timeout => 5);
    ok($r->status == 400 || $r->status == 413, "request Content-Length $cl: 400 or 413")
        or diag($r->summary);
    $c->close;
}
sleep 0.3;
is($origin->request_count, $req0, 'huge request Content-Length: the origin received no request');
is($origin->rx_bytes, $rx0, '... and no byte');

for my $path ('/raw/cl-u64max', '/raw/cl-2p63') {
    my $r = $t->http_get($path);
    is($r->status, 502, "response Content-Length past 2^63 - 1 ($path): 502")
        or diag($r->summary);
}
{
    my $r = $t->http_get('/raw/cl-big-ok');
    is($r->status, 204, 'response Content-Length 2^63 - 1 on a 204 is still valid')
        or diag($r->summary);
}

# ---- 3. response Transfer-Encoding -------------------------------------------

for my $path ('/raw/te-chunked-gzip', '/raw/te-chunked-then-gzip-field',
    '/raw/te-chunked-param')
{
    my $r = $t->http_get($path);
    is($r->status, 502, "$path: chunked not last: 502") or diag($r->summary);
    is($r->error, undef, "$path: the 502 parses cleanly");
}

my @te = (
    # path, client TE, body
    [ '/raw/te-identity', 'chunked', 'hello' ],
    [ '/raw/te-identity-chunked', 'chunked', 'hello' ],
    [ '/raw/te-gzip-chunked', 'gzip, chunked', 'hello' ],
    [ '/raw/te-gzip-identity', 'gzip, chunked', 'hello' ],
    [ '/raw/te-many', join(', ', ('a') x 2000, 'chunked'), 'hello' ],
);
for my $x (@te) {
    my ($path, $want, $body) = @$x;
    my $r = $t->http_get($path);
    is($r->status, 200, "$path: 200") or diag($r->summary);
    my $label = length $want > 40 ? substr($want, 0, 20) . '...' : $want;
    is($r->header('transfer-encoding'), $want, "$path: Transfer-Encoding: $label");
    is($r->header_count('transfer-encoding'), 1, "$path: one Transfer-Encoding field");
    is($r->error, undef, "$path: the response parses cleanly");
    ok($r->{chunked}, "$path: the body is chunked");
    is($r->body, $body, "$path: the body arrives whole");
}

# curl reads the re-framed identity response the same way.
SKIP: {
    skip 'no curl', 3 unless -x '/usr/bin/curl';
    my $url = 'http://127.0.0.1:' . $t->port(0) . '/raw/te-identity';
    my $out = qx{/usr/bin/curl -sS --max-time 10 -D - $url 2>&1};
    is($? >> 8, 0, 'curl: the identity response parses') or diag($out);
    like($out, qr/^Transfer-Encoding: chunked\r$/mi,
        'curl: Transfer-Encoding: chunked') or diag($out);
    like($out, qr/\r\n\r\nhello\z/, 'curl: the body, nothing else')
        or diag($out);
}

# An HTTP/1.0 client gets an identity body until the close, no TE.
{
    my $r = $t->http("GET /raw/te-identity HTTP/1.0\r\nHost: localhost\r\n\r\n");
    is($r->status, 200, 'HTTP/1.0 client, identity: 200') or diag($r->summary);
    is($r->header('transfer-encoding'), undef, '... without Transfer-Encoding');
    is($r->body, 'hello', '... the body up to the close');
}

# ---- 4. request header names with '_' ------------------------------------------

{
    my $mark = $t->log_mark;
    my $r = $t->http("POST /under HTTP/1.1\r\nHost: localhost\r\n"
        . "Transfer_Encoding: chunked\r\nContent_Length: 100\r\n"
        . "X_Forwarded_For: 6.6.6.6\r\nX-Fine: yes\r\nContent-Length: 5\r\n"
        . "Connection: close\r\n\r\nhello");
    is($r->status, 200, 'underscore headers: the request succeeds') or diag($r->summary);
    my $e = echoed($r);
    my @names = map { $_->[0] } @{ $e->{headers} || [] };
    ok(!grep({ /_/ } @names), 'the origin received no header name with _')
        or diag("@names");
    is(WeirOrigin::header($e, 'X-Forwarded-For'), '127.0.0.1',
        "weir's own X-Forwarded-For: the real client address");
    is(WeirOrigin::header($e, 'X-Fine'), 'yes', 'other headers still forwarded');
    is($e->{body}, 'hello', 'the body framed by Content-Length');
    unlike($e->{head} // '', qr/6\.6\.6\.6/, 'the spoofed address went nowhere');
    ok($t->wait_for_log(qr/\[info\].*underscore.*Transfer_Encoding/, from => $mark),
        'dropping them is logged at info');
    my @lines = grep { /underscore/ } split /\n/, substr($t->error_log, $mark);
    is(scalar @lines, 1, '... once for the request');
}

WeirOrigin::check_workers($t);
$t->done_testing;
