#!/usr/bin/perl
# count.pl PORT PATH REQUESTS [CONNS] - a fixed number of keep-alive GETs.
#
# Opens CONNS (default 4) keep-alive connections to 127.0.0.1:PORT and
# sends REQUESTS GETs of PATH over them in total, one at a time per
# connection (the next request once the response's Content-Length body
# is in), all connections driven by one select() loop.  Every response
# must be a 200 with a Content-Length; a connection the server closes
# between responses is reopened.  Prints "ok REQUESTS SECONDS reconnects N"
# or "fail REASON" and exits 0 or 1.
#
# A "%n" in PATH is replaced by a new value for every request (this
# process's pid and a counter), e.g. /1k?u=%n: a URL never asked before,
# a cache miss on every request.
#
# For measurements by count rather than by time: instructions per request
# under callgrind, syscalls per request under strace -c (see README).
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);

my ($port, $path, $total, $nconn) = @ARGV;
die "usage: count.pl PORT PATH REQUESTS [CONNS]\n"
    unless defined $total && $port =~ /^\d+$/ && $total =~ /^\d+$/;
$nconn //= 4;
$nconn = $total if $nconn > $total;

my $host = "Host: 127.0.0.1:$port\r\nUser-Agent: count.pl\r\n\r\n";
my $unique = $path =~ /%n/;
my $req = "GET $path HTTP/1.1\r\n$host";
my $sel = IO::Select->new;
my (%buf, %left);
my ($sent, $done) = (0, 0);
my $t0 = time;

sub fail { print "fail @_\n"; exit 1 }

sub send_one {
    my $s = shift;
    return 0 if $sent >= $total;
    $sent++;
    if ($unique) {
        (my $p = $path) =~ s/%n/$$-$sent/g;
        $req = "GET $p HTTP/1.1\r\n$host";
    }
    my $off = 0;
    while ($off < length $req) {
        my $n = syswrite($s, $req, length($req) - $off, $off);
        fail("write: $!") unless defined $n;
        $off += $n;
    }
    return 1;
}

my $reconnects = 0;
sub open_one {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
        Proto => 'tcp') or fail("connect: $!");
    $s->setsockopt(6, 1, 1);            # TCP_NODELAY
    $buf{$s} = '';
    $sel->add($s);
    send_one($s);
}
open_one() for 1 .. $nconn;

while ($done < $total) {
    my @r = $sel->can_read(10) or fail("timeout after $done responses");
    for my $s (@r) {
        my $n = sysread($s, $buf{$s}, 65536, length $buf{$s});
        fail("read: $!") unless defined $n;
        if ($n == 0) {
            # Closed by the server (its keepalive_requests) between two
            # responses: the request just sent is sent again on a new one.
            fail("connection closed mid-response after $done responses")
                if length $buf{$s};
            $sel->remove($s);
            delete $buf{$s};
            close $s;
            $reconnects++;
            $sent--;
            open_one();
            next;
        }
        # Complete responses in the buffer.
        while (1) {
            my $h = index($buf{$s}, "\r\n\r\n");
            last if $h < 0;
            my $head = substr($buf{$s}, 0, $h);
            $head =~ m{^HTTP/1\.[01] (\d{3})} or fail("bad status line");
            $1 eq '200' or fail("status $1");
            $head =~ /\r\ncontent-length:\s*(\d+)/i
                or fail("no Content-Length");
            my $len = $h + 4 + $1;
            last if length $buf{$s} < $len;
            substr($buf{$s}, 0, $len, '');
            $done++;
            send_one($s);
        }
    }
}
printf "ok %d %.3f reconnects %d\n", $done, time - $t0, $reconnects;
