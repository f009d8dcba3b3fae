#!/usr/bin/perl
# first200.pl PORT PATH TIMEOUT READYFILE [https]
#
# Polls http://127.0.0.1:PORT/PATH every millisecond until a response with
# status 200 arrives, for at most TIMEOUT seconds.  It is started before
# the server, creates READYFILE once it is polling (so the caller can take
# its start time and exec the server), and prints
#     ok EPOCH          the wall-clock time (s, float) the 200 was read
#     fail REASON       no 200 within TIMEOUT (REASON: last status or error)
# Exit status 0 on ok, 1 on fail.  With "https" it speaks TLS (not
# verified: the --tls certificate is self-signed), through IO::Socket::SSL.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);

my ($port, $path, $timeout, $ready, $scheme) = @ARGV;
die "usage: first200.pl PORT PATH TIMEOUT READYFILE [https]\n" unless defined $ready;
my $tls = defined $scheme && $scheme eq 'https';
require IO::Socket::SSL if $tls;

$| = 1;
my $req = "GET $path HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
my $deadline = time + $timeout;
my $last = 'connection refused';
open(my $r, '>', $ready) or die "first200.pl: $ready: $!\n";
close $r;

while (time < $deadline) {
    my $s = $tls
        ? IO::Socket::SSL->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                               SSL_verify_mode => 0, Timeout => 2)
        : IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                Proto => 'tcp');
    if (!$s) {
        $last = "connect: $!";
        sleep 0.001;
        next;
    }
    my $status;
    if (syswrite($s, $req) == length $req) {
        # Only the status line matters; bound the wait for it.
        my $sel = IO::Select->new($s);
        my $buf = '';
        while ($buf !~ /\r?\n/ && $sel->can_read(2)) {
            my $n = sysread($s, $buf, 4096, length $buf);
            last unless $n;
        }
        $status = $1 if $buf =~ m{^HTTP/1\.[01] (\d{3})};
    }
    close $s;
    if (defined $status && $status eq '200') {
        printf "ok %.6f\n", time;
        exit 0;
    }
    $last = defined $status ? "status $status" : 'no status line';
    sleep 0.001;
}
print "fail $last\n";
exit 1;
