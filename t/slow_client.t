#!/usr/bin/perl
# Minimum data rates. A request body that trickles in (a few bytes at a
# time) is cut with 408 once min_rate_window of waiting for it shows less
# than client_body_min_rate, on a proxied route and on one that discards
# the body; a client that reads the response too slowly to ever finish is
# cut (send_min_rate). Both are logged at warn and counted in
# weir_http_slow_clients_total. Clients at a fair rate are not cut, and
# neither is the time weir spends not waiting for the client. The
# trickles are paced by the test (that is the behaviour under test); no
# assertion depends on how fast anything runs: the slow ones are 50 to
# 500 times below the limit, the fair ones as far above it.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_RCVBUF);
use Time::HiRes qw(time sleep);
use WeirTest;
use WeirOrigin;

my $t = WeirTest->new(main => { workers => 1 }, files => {
    'html/files/big.bin' => 'f' x (16 << 20) }, config => <<'INI');
[http]
client_body_min_rate = 16k
send_min_rate = 16k
min_rate_window = 5s
client_body_timeout = 60s
send_timeout = 60s
client_max_body_size = 64m

[upstream sink]
server = 127.0.0.1:%%PORT1%%

[upstream big]
server = 127.0.0.1:%%PORT2%%
read_timeout = 120s

[server s]
listen = 127.0.0.1:%%PORT0%%

[route big]
server = s
match = /big/
upstream = big

[route files]
server = s
match = /files/
root = html

[route discard]
server = s
match = /discard/
return = 200 ok

[route sink]
server = s
match = /
upstream = sink

[admin]
listen = 127.0.0.1:%%PORT3%%
INI

my $sink = WeirOrigin->new(port => $t->port(1), handler => 'sink');
my $big = WeirOrigin->new(port => $t->port(2), handler => 'source',
    size => 16 << 20);
$t->start;

# Send a head, then the body in pieces of $piece bytes every $pause
# seconds, until it is all sent or weir answers; returns the response.
sub paced_post {
    my ($path, $len, $piece, $pause) = @_;
    my $c = $t->connect;
    $c->send("POST $path HTTP/1.1\r\nHost: localhost\r\nContent-Length: $len\r\n"
        . "Connection: close\r\n\r\n") or return undef;
    my $sent = 0;
    my $dl = WeirTest::deadline(60);
    while ($sent < $len && time < $dl) {
        my $n = $piece < $len - $sent ? $piece : $len - $sent;
        last unless $c->send('b' x $n);
        $sent += $n;
        # an answer already there ends the trickle
        my $rin = '';
        vec($rin, fileno($c->{sock}), 1) = 1;
        last if select($rin, undef, undef, $pause) > 0;
    }
    my $r = $c->read_response(timeout => 30);
    $c->close;
    return ($r, $sent);
}

sub metric {
    my ($dir) = @_;
    my $m = $t->http(WeirTest::request('GET', '/metrics', Connection => 'close'),
        port => $t->port(3))->body // '';
    return $m =~ /^weir_http_slow_clients_total\{server="s",direction="$dir"\} (\d+)$/m
        ? $1 : undef;
}

is(metric('request_body'), 0, 'metrics: no slow body yet');

# --- request bodies --------------------------------------------------------

# 10 bytes every 50 ms: about 200 B/s, far below 16k: cut once 5 s of
# waiting for it have passed.
my ($r, $sent) = paced_post('/up', 1 << 20, 10, 0.05);
is($r->status, 408, 'a trickled body to a proxied route: 408') or diag($r->summary);
ok($sent < 1 << 20, "... cut before its end ($sent bytes sent)");
ok($t->wait_for_log(qr/\[warn\] .*client sends the request body too slowly: \d+ bytes\/s while weir waited, below client_body_min_rate 16384/),
    '... logged at warn with the rate and the limit');

($r, $sent) = paced_post('/discard/x', 1 << 20, 10, 0.05);
is($r->status, 408, 'a trickled body to a route that discards it: 408')
    or diag($r->summary);

ok($t->wait_for_access_log(qr/"POST \/up HTTP\/1\.1" 408 /), 'access log: the 408');
is(metric('request_body'), 2, 'metrics: two slow bodies counted');

# A fair client: 64 KiB pieces every 50 ms (over 1 MB/s): the whole body.
my $n = $sink->request_count;
($r, $sent) = paced_post('/fair', 4 << 20, 64 << 10, 0.05);
is($r->status, 200, 'a fair paced body: 200') or diag($r->summary);
like($r->body // '', qr/"length"\s*:\s*4194304/, '... and the origin got all of it');

# --- responses -----------------------------------------------------------------

# A reader that takes 100 bytes every 100 ms (1 KB/s, far below 16k) of a
# 16 MiB response through a small receive buffer: once the socket is full
# and 5 s pass with the client taking that little, it is cut.
# Read slowly until weir says it cuts the client (bounded), then read on
# at full speed: what comes is what the kernel already held, and then
# the reset. Returns (closed, bytes read).
sub slow_read {
    my ($path) = @_;
    my $mark = $t->log_mark;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port(0), Proto => 'tcp') or die "connect: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 4096);
    syswrite $s, "GET $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    my ($got, $closed, $cut) = (0, 0, 0);
    my $dl = WeirTest::deadline(60);
    while (time < $dl) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        if (select($rin, undef, undef, 0.1) > 0) {
            my $k = sysread $s, my $buf, 100;
            if (!$k) { $closed = 1; last }      # EOF or reset
            $got += $k;
        }
        $cut = $t->wait_for_log(qr/client reads the response too slowly/,
                                from => $mark, timeout => 0.1) and last;
    }
    while (!$closed && time < $dl) {
        my $k = sysread $s, my $buf, 65536;
        if (!$k) { $closed = 1; last }
        $got += $k;
    }
    close $s;
    return ($closed, $got);
}

my ($closed, $got) = slow_read('/big/x');
ok($closed, 'a slow reader: weir closed the connection');
ok($got < 8 << 20, "... long before the end ($got of 16 MiB read)");
ok($t->wait_for_log(qr/\[warn\] .*client reads the response too slowly: \d+ bytes\/s over \d+ ms, below send_min_rate 16384; closing/),
    '... logged at warn');
is(metric('response'), 1, 'metrics: one slow reader counted');

# A reader at full speed gets the whole of it.
my $c = $t->connect(timeout => 60);
$r = $c->request(WeirTest::request('GET', '/big/y', Connection => 'close'),
    timeout => 60);
is($r->status, 200, 'a fast reader: 200');
is(length($r->body // ''), 16 << 20, '... the whole body');
$c->close;
is(metric('response'), 1, 'metrics: the fast reader was not counted');

# The same for a static file (sendfile) and a fixed answer's writer.
($closed, $got) = slow_read('/files/big.bin');
ok($closed, 'a slow reader of a static file: closed');
ok($got < 8 << 20, "... long before the end ($got of 16 MiB read)");
is(metric('response'), 2, 'metrics: two slow readers counted');
$r = $t->http_get('/files/big.bin');
is(length($r->body // ''), 16 << 20, 'a fast reader of the file: all of it');

$t->done_testing;
