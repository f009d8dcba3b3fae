#!/usr/bin/perl
# idle.pl PORT COUNT PATH [HOLD]
#
# Opens COUNT keep-alive connections to 127.0.0.1:PORT, in batches of non-
# blocking connects; on each it sends one "GET PATH" and reads the whole
# response, so that afterwards the connection is established and idle on
# the server side.  Then it prints
#     ready OK FAIL [REASON=N ...]
# and holds the connections open until killed or for HOLD seconds (default
# 300), whichever comes first.  The caller raises the fd limit (ulimit -n)
# beforehand; connections beyond it fail with EMFILE and are counted.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Socket qw(SOL_SOCKET SO_ERROR);
use Time::HiRes qw(time sleep);

my ($port, $count, $path, $hold) = @ARGV;
die "usage: idle.pl PORT COUNT PATH [HOLD]\n" unless defined $path;
$hold //= 300;
$| = 1;

my $BATCH = 500;
my $BATCH_TIMEOUT = 15;
my $req = "GET $path HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
my (@keep, %why);
my $fail = 0;

# True once $buf holds a complete response (Content-Length or chunked).
sub complete {
    my ($buf) = @_;
    my $end = index($buf, "\r\n\r\n");
    return 0 if $end < 0;
    my $head = substr($buf, 0, $end);
    my $body = length($buf) - $end - 4;
    return $body >= $1 if $head =~ /^Content-Length:\s*(\d+)/mi;
    return $buf =~ /\r\n0\r\n\r\n\z/ if $head =~ /^Transfer-Encoding:\s*chunked/mi;
    return 1;   # no body framing: a 1xx/204/304-like answer
}

while (@keep + $fail < $count) {
    my $n = $count - @keep - $fail;
    $n = $BATCH if $n > $BATCH;
    my (%c, $wsel, $rsel);
    $wsel = IO::Select->new;
    $rsel = IO::Select->new;
    for (1 .. $n) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Proto => 'tcp', Blocking => 0);
        if (!$s) {
            $fail++;
            $why{"socket: $!"}++;
            next;
        }
        $c{ fileno $s } = { s => $s, buf => '' };
        $wsel->add($s);
    }
    my $deadline = time + $BATCH_TIMEOUT;
    while (($wsel->count || $rsel->count) && time < $deadline) {
        my ($rd, $wr) = IO::Select->select($rsel, $wsel, undef, 0.5);
        for my $s (@{ $wr || [] }) {
            $wsel->remove($s);
            my $err = unpack('i', getsockopt($s, SOL_SOCKET, SO_ERROR));
            my $w = $err ? undef : syswrite($s, $req);
            if (!defined $w || $w != length $req) {
                $! = $err if $err;
                $why{"connect/send: $!"}++;
                $fail++;
                delete $c{ fileno $s };
                close $s;
                next;
            }
            $rsel->add($s);
        }
        for my $s (@{ $rd || [] }) {
            my $e = $c{ fileno $s };
            my $got = sysread($s, $e->{buf}, 65536, length $e->{buf});
            next if !defined $got && $!{EAGAIN};
            next if $got && !complete($e->{buf});
            $rsel->remove($s);
            delete $c{ fileno $s };
            if ($got && $e->{buf} =~ m{^HTTP/1\.1 200 }) {
                push @keep, $s;     # answered in full: now idle
                next;
            }
            if ($got) {
                my ($st) = $e->{buf} =~ m{^HTTP/\S+ (\d+)};
                $why{ 'status ' . ($st // '?') }++;
            } else {
                $why{ defined $got ? 'closed by server' : "read: $!" }++;
            }
            $fail++;
            close $s;
        }
    }
    for my $e (values %c) {     # still connecting or reading at the deadline
        $fail++;
        $why{timeout}++;
        close $e->{s};
    }
}

print join(' ', 'ready', scalar @keep, $fail,
           map { my $k = $_; (my $t = $k) =~ s/\s+/_/g; "$t=$why{$k}" } sort keys %why), "\n";
close STDOUT;
my $until = time + $hold;
sleep 1 while time < $until;
