#!/usr/bin/perl
# Request smuggling defences in front of the proxy: ambiguous or invalid
# framing from the client (TE + CL, two Content-Lengths, an unknown or
# non-final transfer coding, obs-fold, bare CR, NUL, space before the
# colon, an invalid chunk size) gets 400, the connection closed, and the
# origin receives nothing (no request bytes; for the chunk size, which
# comes after a valid head, no complete request). Ambiguous framing from
# the origin (TE + CL, two Content-Lengths) gets 502.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use WeirTest;
use WeirOrigin;

my $t = WeirTest->new(main => { workers => 1 }, config => <<'INI');
[http]
access_log = logs/access.log

[upstream app]
server = 127.0.0.1:%%PORT1%%
keepalive = 32

[upstream bad]
server = 127.0.0.1:%%PORT2%%
retries = 0
max_fails = 0

[server s]
listen = 127.0.0.1:%%PORT0%%

[route bad]
server = s
match = /bad/
upstream = bad

[route app]
server = s
match = /
upstream = app
INI

my $origin = WeirOrigin->new(port => $t->port(1), handler => 'echo', log_rx => 1);

# Responses with ambiguous framing, chosen by path.
my %bad_response = (
    '/bad/te-cl' => "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        . "5\r\nhello\r\n0\r\n\r\n",
    '/bad/cl-cl' => "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
);
my $bad = WeirOrigin->new(port => $t->port(2), handler => sub {
    my ($c) = @_;
    while (my $req = $c->read_request) {
        $c->write($bad_response{ $req->{target} }
            // WeirOrigin::response(status => 404, body => "no\n")) or return;
        return;
    }
});

$t->start;

my $H = "Host: localhost\r\n";
my @attacks = (
    [ 'Transfer-Encoding and Content-Length',
      "POST /te-cl HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
      . "0\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n" ],
    [ 'two different Content-Lengths',
      "POST /cl-cl HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!" ],
    [ 'Transfer-Encoding: gzip',
      "POST /te-gzip HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n" ],
    [ 'Transfer-Encoding: chunked, identity',
      "POST /te-ci HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n" ],
    [ 'obs-fold',
      "GET /fold HTTP/1.1\r\n${H}X-Folded: a\r\n b\r\n\r\n" ],
    [ 'bare CR in a header',
      "GET /cr HTTP/1.1\r\n${H}X-Cr: a\rb\r\n\r\n" ],
    [ 'space before the colon',
      "POST /space HTTP/1.1\r\n${H}Content-Length : 5\r\n\r\nhello" ],
    [ 'NUL in a header',
      "GET /nul HTTP/1.1\r\n${H}X-Nul: a\0b\r\n\r\n" ],
    [ 'invalid chunk size 0x10',
      "POST /chunk-size HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0x10\r\n0123456789abcdef\r\n0\r\n\r\n",
      'after_head' ],
);

for my $a (@attacks) {
    my ($name, $raw, $after_head) = @$a;
    my $rx0 = $origin->rx_bytes;
    my $req0 = $origin->request_count;
    my $c = $t->connect;
    my $r = $c->request($raw, timeout => 5);
    is($r->status, 400, "$name: 400") or diag($r->summary);
    my $closed = $c->wait_close(3);
    ok($closed && ($closed eq 'eof' || $closed eq 'reset'), "$name: the connection is closed")
        or diag('still open');
    $c->close;
    sleep 0.3;     # anything forwarded would have arrived by now
    is($origin->request_count, $req0, "$name: the origin received no request");
    if (!$after_head) {
        is($origin->rx_bytes, $rx0, "$name: the origin received no byte");
    }
}
ok(!grep({ ($_->{target} // '') =~ /smuggled/ || ($_->{data} // '') =~ /smuggled/ } $origin->events),
    'the smuggled request never reached the origin');

# the same origin through the same route works
my $r = $t->http_get('/fine');
is($r->status, 200, 'a valid request afterwards: 200');
is($origin->request_count, 1, '... and it is the only request the origin got');

for my $path (sort keys %bad_response) {
    $r = $t->http_get($path);
    is($r->status, 502, "origin sends ambiguous framing ($path): 502") or diag($r->summary);
}

WeirOrigin::check_workers($t);
$t->done_testing;
