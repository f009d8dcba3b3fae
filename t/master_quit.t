#!/usr/bin/perl
# Graceful stop (SIGQUIT): a slow 50 MB download in flight completes in
# full, idle keep-alive connections are closed, then the master exits 0
# and removes its pid file. Fast stop (weir -s stop, SIGTERM) exits
# promptly without waiting for the download.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use Socket qw(SOL_SOCKET SO_RCVBUF inet_aton pack_sockaddr_in);
use IO::Socket::INET;
use Digest::MD5;
use WeirTest;

my $MB = 1 << 20;
my $SIZE = 50 * $MB;

my $conf = <<'INI';
[server s]
listen = 127.0.0.1:%%PORT0%%

[route site]
server = s
match = /
root = html
INI

# A 50 MB file whose every megabyte differs, so a reordered or repeated
# block changes the digest.
sub make_big {
    my ($t) = @_;
    my $p = $t->path('html/big.bin');
    open my $fh, '>:raw', $p or die "$p: $!";
    my $md5 = Digest::MD5->new;
    for my $i (0 .. 49) {
        my $block = sprintf('%-16s', "block $i") x ($MB / 16);
        print $fh $block;
        $md5->add($block);
    }
    close $fh or die;
    return $md5->hexdigest;
}

# Download /big.bin reading at most ~16 MB/s through a small receive
# buffer; report 'started' after the first megabyte.
sub slow_download {
    my ($t) = @_;
    return sub {
        my ($ctl) = @_;
        my $s = IO::Socket::INET->new(Proto => 'tcp') or return { error => "socket: $!" };
        setsockopt($s, SOL_SOCKET, SO_RCVBUF, 64 * 1024);
        connect($s, pack_sockaddr_in($t->port(0), inet_aton('127.0.0.1')))
            or return { error => "connect: $!" };
        binmode $s;
        syswrite $s, "GET /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        my ($buf, $head, $status, $cl) = ('', undef);
        my $md5 = Digest::MD5->new;
        my ($body, $started, $eof, $err) = (0, 0, 0, '');
        my $t0 = time;
        while (time - $t0 < 60) {
            my $rin = '';
            vec($rin, fileno($s), 1) = 1;
            next unless select($rin, undef, undef, 1) > 0;
            my $n = sysread $s, my $chunk, 64 * 1024;
            if (!defined $n) { $err = "read: $!"; last }
            if ($n == 0) { $eof = 1; last }
            if (!defined $head) {
                $buf .= $chunk;
                my $i = index($buf, "\r\n\r\n");
                next if $i < 0;
                $head = substr($buf, 0, $i + 4, '');
                ($status) = $head =~ m{^HTTP/1\.\d (\d+)};
                ($cl) = $head =~ /^Content-Length:\s*(\d+)/mi;
                $chunk = $buf;
            }
            $body += length $chunk;
            $md5->add($chunk);
            if (!$started && $body >= $MB) { $started = 1; $ctl->event('started') }
            sleep 0.004;
        }
        return { status => $status // 0, length => $cl // -1, bytes => $body,
            md5 => $md5->hexdigest, eof => $eof, error => $err,
            took => sprintf('%.2f', time - $t0), done_at => time };
    };
}

# --- graceful stop -----------------------------------------------------------------

my $t = WeirTest->new(config => $conf, files => { 'html/index.html' => "index\n" });
my $digest = make_big($t);
$t->start;
my $pidfile = $t->pid_file;
ok(-f $pidfile, 'pid file written');
is($t->read_file($pidfile) =~ /^(\d+)\s*$/ ? $1 : -1, $t->master_pid,
    'pid file holds the master pid');

# an idle keep-alive connection must not hold the stop up
my $idle = $t->connect;
is($idle->get('/')->status, 200, 'an idle keep-alive connection is open');

my $dl = $t->background(slow_download($t), max => 90);
is($dl->wait_event(10), 'started', 'a slow download is under way');

my $mark = $t->log_mark;
my $q0 = time;
$t->signal('QUIT');
ok($idle->wait_close(5), 'QUIT: the idle keep-alive connection is closed');

my $st = $t->wait_exit(40);
ok(defined $st, 'QUIT: the master exits');
is($t->exit_code, 0, 'QUIT: exit code 0');
ok(!-e $pidfile, 'QUIT: pid file removed');

my $res = $dl->finish;
is($res->{status}, 200, 'the download got 200');
is($res->{length}, $SIZE, '... announcing 50 MB');
is($res->{bytes}, $SIZE, '... and received all 50 MB') or diag("error: $res->{error}");
is($res->{md5}, $digest, '... intact');
ok($res->{eof}, '... then a clean close');
cmp_ok($res->{done_at} // 0, '>', $q0, '... finishing after QUIT was sent (it was in flight)');

my $new = $t->connect;
ok(!$new->ok, 'after the stop nothing listens') or $new->close;

# --- fast stop -----------------------------------------------------------------------

my $f = WeirTest->new(config => $conf, files => { 'html/index.html' => "index\n" });
make_big($f);
$f->start;
$dl = $f->background(slow_download($f), max => 90);
is($dl->wait_event(10), 'started', 'fast stop: a slow download is under way');
my $t0 = time;
my $r = $f->weir_ctl('-s', 'stop');
is($r->{rc}, 0, 'weir -s stop: exit 0') or diag($r->{err});
$st = $f->wait_exit(10);
my $el = time - $t0;
ok(defined $st, 'fast stop: the master exits');
cmp_ok($el, '<', 3 * WeirTest::_detect_scale(), 'fast stop: promptly');
is($f->exit_code, 0, 'fast stop: exit code 0');
ok(!-e $f->pid_file, 'fast stop: pid file removed');
$res = $dl->finish;
cmp_ok($res->{bytes}, '<', $SIZE, 'fast stop: the download was cut, not waited for');

$t->done_testing;
