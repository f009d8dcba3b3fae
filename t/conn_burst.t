#!/usr/bin/perl
# Bursts of connections larger than every pool and free list weir keeps
# (1,024 connection objects, 64 head buffers of each size, 32 response
# buffers, the upstream keep-alive pool of 64 here): opened, left
# half-way, and closed all at once. A connection object freed while the events of the
# same epoll_wait() batch still named it crashed the worker (issue 8):
#
#   - 2,000 clients each send a partial request head, then all close at
#     once: every close is handled in the same few batches;
#   - proxied requests whose client resets while its upstream answers in
#     the same instant: the client's handler closes the upstream
#     connection (or the upstream's handler closes the client) while the
#     other's event sits later in the same batch;
#   - 2,000 keep-alive clients served, then gone at once;
#   - 400 proxied requests answered together (400 upstream connections
#     released into a pool of 64), then the origin closes every idle one.
#
# A worker that dies loses every connection it held; here the worker pid
# must stay the same and an ASan build must report nothing.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use POSIX qw(_exit);
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(time sleep);
use WeirTest;

use constant BURST => 2000;
use constant PAIRS => 400;

# 2,000 client sockets here and as many in weir: make sure the soft limit
# allows it (the hard limit may not be raised here: 20,000 on the CI box).
my $soft = `sh -c 'ulimit -n'` + 0;
if ($soft < 2 * BURST + 200 && !$ENV{WEIR_BURST_REEXEC}) {
    my $hard = `sh -c 'ulimit -Hn'`;
    chomp $hard;
    my $want = $hard eq 'unlimited' ? 8192 : $hard + 0;
    plan(skip_all => "needs 4,200 descriptors, hard limit is $hard")
        if $want < 2 * BURST + 200;
    $want = 8192 if $want > 8192;
    $ENV{WEIR_BURST_REEXEC} = 1;
    exec 'sh', '-c', 'ulimit -n "$0" && exec "$@"', $want, $^X,
        (map { "-I$_" } @INC), $0;
    die "exec: $!";
}

my $only = $ENV{WEIR_BURST_ONLY} // '';   # debugging: run one part

my $t = WeirTest->new(main => { workers => 1 }, config => <<'INI',
[http]
client_header_timeout = 60s
keepalive_timeout = 60s

[upstream hold]
server = 127.0.0.1:%%PORT1%%
keepalive = 64
read_timeout = 60s

[server s]
listen = 127.0.0.1:%%PORT0%%

[route hold]
server = s
match = /hold/
upstream = hold

[route site]
server = s
match = /
root = html
INI
    files => { 'html/index.html' => "index\n" });

# --- an origin that holds every request until told to answer ---------------
#
# One process, a select() loop: it accepts and reads requests, and answers
# all of them at once when a byte arrives on its control pipe, so that
# PAIRS responses reach weir in the same instant.
pipe(my $go_r, my $go_w) or die "pipe: $!";
pipe(my $held_r, my $held_w) or die "pipe: $!";   # a byte per held request
my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
    LocalPort => $t->port(1), Listen => 1024, ReuseAddr => 1)
    or die "origin listen: $!";
my $origin = fork // die "fork: $!";
if ($origin == 0) {
    close $go_w;
    close $held_r;
    $SIG{ALRM} = sub { _exit(0) };
    alarm(120 * ($ENV{WEIR_TEST_TIMEOUT_SCALE} || 3));
    my $sel = IO::Select->new($listen, $go_r);
    my (%buf, @held);
    while (1) {
        for my $fh ($sel->can_read(1)) {
            if ($fh == $listen) {
                my $c = $listen->accept or next;
                $c->blocking(0);
                $sel->add($c);
                $buf{$c} = '';
            } elsif ($fh == $go_r) {
                # 'g': answer every held request; 'c': close every
                # connection (idle ones sit in weir's keep-alive pool)
                my $n = sysread($go_r, my $b, 1);
                _exit(0) unless $n;
                my $resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nheld\n";
                if ($b eq 'g') {
                    syswrite($_, $resp) for @held;
                    @held = ();
                } else {
                    for my $c (grep { $_ != $listen && $_ != $go_r } $sel->handles) {
                        $sel->remove($c);
                        delete $buf{$c};
                        close $c;
                    }
                    @held = ();
                }
            } else {
                my $n = sysread($fh, my $b, 4096);
                if (!$n) {
                    $sel->remove($fh);
                    delete $buf{$fh};
                    @held = grep { $_ != $fh } @held;
                    close $fh;
                    next;
                }
                $buf{$fh} .= $b;
                while ($buf{$fh} =~ s/^.*?\r\n\r\n//s) {
                    push @held, $fh;
                    syswrite($held_w, 'h');
                }
            }
        }
    }
}
close $go_r;
close $held_w;
close $listen;

# Wait (bounded) until the origin holds $n more requests.
sub wait_held {
    my ($n) = @_;
    my $dl = WeirTest::deadline(30);
    my $sel = IO::Select->new($held_r);
    my $got = 0;
    while ($got < $n && time < $dl) {
        $sel->can_read(0.5) or next;
        my $k = sysread($held_r, my $b, $n - $got);
        last unless $k;
        $got += $k;
    }
    return $got == $n;
}

$t->start;
ok(scalar(() = $t->worker_pids) == 1, 'one worker');

# Wait (bounded) until weir has accepted and read everything queued before
# this point: one worker, one listening socket, so a full request on a new
# connection is answered only after the queue in front of it was taken.
sub settle {
    my $r = $t->http_get('/index.html');
    return ($r->status // 0) == 200;
}

sub open_clients {
    my ($n, $data) = @_;
    my @c;
    for (1 .. $n) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $t->port(0), Proto => 'tcp') or last;
        syswrite($s, $data) if defined $data;
        push @c, $s;
    }
    return @c;
}

# Read one response from each client (non-blocking, bounded); the number
# that got a 200 with $body.
sub read_all {
    my ($body, @c) = @_;
    my $ok = 0;
    my $dl = WeirTest::deadline(30);
    for my $s (@c) {
        my $got = '';
        $s->blocking(0);
        my $sel = IO::Select->new($s);
        while ($got !~ /\r\n\r\n\Q$body\E/ && time < $dl) {
            $sel->can_read(0.5) or next;
            my $n = sysread($s, my $b, 4096);
            last unless $n;
            $got .= $b;
        }
        $ok++ if $got =~ m{^HTTP/1\.1 200 .*\r\n\r\n\Q$body\E}s;
    }
    return $ok;
}

sub reset_all {
    for my $s (@_) {
        setsockopt($s, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
        close $s;
    }
}

# --- 1. the issue's reproduction: partial heads, then all close at once ---
for my $round ($only =~ /^(?:|1)$/ ? (1 .. 3) : ()) {
    my ($worker) = $t->worker_pids;
    # half of them with a 3 KiB header: those take the large head buffers
    my @c = (open_clients(BURST / 2, "GET / HTTP/1.1\r\nHost: x\r\n"),
        open_clients(BURST / 2, "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: "
            . ('p' x 3000) . "\r\n"));
    is(scalar @c, BURST, "round $round: " . BURST . ' connections with a partial head');
    ok(settle(), "round $round: weir took them all");
    # FIN on half, RST on the other half: both kinds of close event
    my @rst = splice(@c, 0, BURST / 2);
    close $_ for @c;
    reset_all(@rst);
    ok(settle(), "round $round: serving after the burst of closes");
    is(($t->worker_pids)[0], $worker, "round $round: the worker did not die");
}

# --- 2. a client and its upstream connection in one batch ---------------------
#
# PAIRS proxied requests wait at the origin. Then every client resets and
# the origin answers every request at once: for each pair, weir sees the
# client's reset and the upstream's response together; whichever handler
# runs first closes the other connection. The free list is already full
# from part 1, so a closed object really goes back to the heap.
for my $round ($only =~ /^(?:|2)$/ ? (1 .. 3) : ()) {
    my ($worker) = $t->worker_pids;
    my @c = open_clients(PAIRS);
    syswrite($c[$_], "GET /hold/$_ HTTP/1.1\r\nHost: x\r\n\r\n") for 0 .. $#c;
    ok(wait_held(PAIRS), "pairs round $round: " . PAIRS . ' requests held by the origin');
    if ($round == 2) {
        # upstream first this time: responses, then the resets
        syswrite($go_w, 'g');
        reset_all(@c);
    } else {
        reset_all(@c);
        syswrite($go_w, 'g');
    }
    ok(settle(), "pairs round $round: serving after the resets");
    is(($t->worker_pids)[0], $worker, "pairs round $round: the worker did not die");
}

# --- 3. a burst of keep-alive clients that finish and close together ---------
if ($only =~ /^(?:|3)$/) {
    my ($worker) = $t->worker_pids;
    my @c = open_clients(BURST, "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
    is(read_all("index\n", @c), BURST, BURST . ' keep-alive clients served');
    reset_all(@c);
    ok(settle(), 'serving after they all left at once');
    is(($t->worker_pids)[0], $worker, 'the worker did not die');
}

# --- 4. more upstream connections released at once than the pool keeps ------
if ($only =~ /^(?:|4)$/) {
    my ($worker) = $t->worker_pids;
    my @c = open_clients(PAIRS);
    syswrite($c[$_], "GET /hold/$_ HTTP/1.1\r\nHost: x\r\n\r\n") for 0 .. $#c;
    ok(wait_held(PAIRS), PAIRS . ' proxied requests held by the origin');
    syswrite($go_w, 'g');
    is(read_all("held\n", @c), PAIRS, 'all answered together');
    syswrite($go_w, 'c');
    reset_all(@c);
    ok(settle(), 'serving after the origin closed its idle connections');
    # and proxying still works: a request on a fresh upstream connection
    my ($late) = open_clients(1, "GET /hold/late HTTP/1.1\r\nHost: x\r\n\r\n");
    ok(wait_held(1), 'the late request reached the origin');
    syswrite($go_w, 'g');
    is(read_all("held\n", $late), 1, 'proxying after the pool was emptied');
    is(($t->worker_pids)[0], $worker, 'the worker did not die');
}

# --- 5. a reload while the free list is full -----------------------------------
#
# The old worker closes its listening sockets, whose objects are freed
# (the free list is full after a burst); the master and the new worker
# still hold those sockets, so without an EPOLL_CTL_DEL their epoll
# registration in the old worker survives and the next connection's
# event named freed memory (found by ASan under reloads with bursts).
if ($only =~ /^(?:|5)$/) {
    my @c = open_clients(BURST, "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
    is(read_all("index\n", @c), BURST, 'reload: a burst served and gone (free list full)');
    reset_all(@c);
    my ($held) = open_clients(1, "GET /hold/reload HTTP/1.1\r\nHost: x\r\n\r\n");
    ok(wait_held(1), 'reload: the old worker holds a request');
    my $mark = $t->log_mark;
    $t->signal('HUP');
    ok($t->wait_for_log(qr/reload: generation \d+ started/, from => $mark, timeout => 10),
        'reload: the new generation started');
    my @n = open_clients(200, "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
    is(read_all("index\n", @n), 200, 'reload: new connections served meanwhile');
    reset_all(@n);
    syswrite($go_w, 'g');
    is(read_all("held\n", $held), 1, 'reload: the old worker finished its request');
    close $held;
}

close $go_w;
waitpid($origin, 0);
$t->done_testing;
