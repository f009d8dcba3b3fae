#!/usr/bin/perl
# Client timeouts: a partial head gets 408 after client_header_timeout, a
# partial body 408 after client_body_timeout, and an idle keep-alive
# connection is closed after keepalive_timeout. None fires early.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use WeirTest;

my $t = WeirTest->new(config => <<'INI', files => { 'html/index.html' => "index\n" });
[http]
client_header_timeout = 1s
client_body_timeout = 1s
keepalive_timeout = 1s

[server s]
listen = 127.0.0.1:%%PORT0%%

[route post]
server = s
match = /post
return = 200 posted

[route site]
server = s
match = /
root = html
INI
$t->start;

# Send $raw, then time how long until a 408 and the close.
sub times_out {
    my ($raw, $what) = @_;
    my $c = $t->connect;
    my $t0 = time;
    $c->send($raw);
    my $r = $c->read_response(timeout => 5);
    my $el = time - $t0;
    is($r->status, 408, "$what: 408") or diag($r->summary);
    cmp_ok($el, '>=', 0.9, "$what: not before the timeout");
    cmp_ok($el, '<', 1 + 2 * WeirTest::_detect_scale(), "$what: soon after the timeout");
    ok($c->wait_close(3), "$what: the connection is closed");
    $c->close;
}

times_out("GET / HTTP/1.1\r\nHost: localhost\r\n", 'header timeout, head without its end');
times_out("GET / HT", 'header timeout, half a request line');
times_out("POST /post HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n"
    . ('x' x 10), 'body timeout, 10 of 100 bytes');
times_out("POST /post HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    . "a\r\n0123456789\r\n", 'body timeout, chunked body without its last chunk');

# The header timeout is for the whole head, not per read: trickling one byte
# every 300 ms does not keep the connection alive.
{
    my $c = $t->connect;
    my $t0 = time;
    my $raw = "GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: " . ('s' x 40);
    my $i = 0;
    my $r;
    while (time - $t0 < 6) {
        $c->send(substr($raw, $i++ % length($raw), 1)) or last;
        # readable within 300 ms: the server answered or closed
        my $rin = '';
        vec($rin, fileno($c->{sock}), 1) = 1;
        last if select($rin, undef, undef, 0.3) > 0;
    }
    $r = $c->read_response(timeout => 3);
    my $el = time - $t0;
    ok($r->status == 408 || $c->{eof} || $c->{reset},
        'a trickled head is cut off') or diag($r->summary);
    cmp_ok($el, '<', 1 + 3 * WeirTest::_detect_scale(),
        'a trickled head is cut off near client_header_timeout');
    $c->close;
}

# An idle keep-alive connection: closed after keepalive_timeout, with no
# response bytes (it is not an error to report).
{
    my $c = $t->connect;
    my $r = $c->get('/');
    is($r->status, 200, 'keep-alive request served');
    ok(!$r->closes, '... and the connection is kept');
    my $t0 = time;
    my $how = $c->wait_close(5);
    my $el = time - $t0;
    ok($how, 'idle keep-alive connection closed');
    is($c->extra // '', '', '... silently (no 408 on an idle connection)');
    cmp_ok($el, '>=', 0.9, '... not before keepalive_timeout');
    cmp_ok($el, '<', 1 + 2 * WeirTest::_detect_scale(), '... soon after it');
    $c->close;
}

# A slow but steady keep-alive client is not cut: each request restarts
# the idle timer.
{
    my $c = $t->connect;
    my $ok = 0;
    for (1 .. 4) {
        my $r = $c->get('/');
        $ok++ if $r->status == 200;
        select(undef, undef, undef, 0.5);
    }
    is($ok, 4, 'requests every 0.5 s keep a 1 s keep-alive connection open');
    $c->close;
}

# A body that arrives slowly but within the timeout between reads is fine.
{
    my $c = $t->connect;
    $c->send("POST /post HTTP/1.1\r\nHost: localhost\r\nContent-Length: 6\r\nConnection: close\r\n\r\n");
    for my $part ('ab', 'cd', 'ef') {
        select(undef, undef, undef, 0.4);
        $c->send($part);
    }
    my $r = $c->read_response(timeout => 5);
    is($r->status, 200, 'a body sent in pieces 0.4 s apart is read');
    $c->close;
}

$t->done_testing;
