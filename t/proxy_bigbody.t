#!/usr/bin/perl
# Streaming, not buffering (DESIGN §3): 100 MB request bodies (Content-Length
# and chunked) and a 100 MB response body pass intact (length and MD5)
# while no worker's resident memory grows by 32 MB; a slow-reading client
# of a 100 MB response holds the origin back (back-pressure) and the
# worker's memory stays bounded.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_RCVBUF);
use Digest::MD5;
use WeirTest;
use WeirOrigin;

my $SIZE = 100 << 20;
my $MB = 1 << 20;

# Under AddressSanitizer freed memory sits in a quarantine; keep it small
# so RSS still says something, and allow twice the growth.
my $asan = 0;
if (open my $fh, '<:raw', WeirTest::binary()) {
    local $/ = \(1 << 20);
    while (my $chunk = <$fh>) { if (index($chunk, '__asan_init') >= 0) { $asan = 1; last } }
}
$ENV{ASAN_OPTIONS} = join ':', grep { length } $ENV{ASAN_OPTIONS} // '', 'quarantine_size_mb=4'
    if $asan;
my $LIMIT_KB = ($asan ? 64 : 32) * 1024;

my $t = WeirTest->new(main => { workers => 1 }, config => <<'INI');
[http]
client_max_body_size = 200m

[upstream sink]
server = 127.0.0.1:%%PORT1%%
keepalive = 32
read_timeout = 60s

[upstream source]
server = 127.0.0.1:%%PORT2%%
keepalive = 32
read_timeout = 60s

[upstream slow]
server = 127.0.0.1:%%PORT3%%
read_timeout = 60s

[server s]
listen = 127.0.0.1:%%PORT0%%

[route source]
server = s
match = /source
upstream = source

[route slow]
server = s
match = /slow
upstream = slow

[route sink]
server = s
match = /
upstream = sink
INI

my $sink   = WeirOrigin->new(port => $t->port(1), handler => 'sink');
my $source = WeirOrigin->new(port => $t->port(2), handler => 'source', size => $SIZE);
my $slow   = WeirOrigin->new(port => $t->port(3), handler => 'source', size => $SIZE);

$t->start;

my $expect_md5 = WeirOrigin::pattern_md5($SIZE);

# --- memory watch: baseline RSS per worker, then the peak growth seen -------------

sub mem_watch {
    my %base;
    for my $pid ($t->worker_pids) {
        my ($rss) = WeirOrigin::proc_mem($pid);
        $base{$pid} = $rss if defined $rss;
    }
    ok(scalar keys %base, 'memory watch: the worker\'s VmRSS is readable')
        or diag('workers: ' . join(' ', $t->worker_pids));
    return { base => \%base, max => 0 };
}
sub mem_sample {
    my ($w) = @_;
    for my $pid (keys %{ $w->{base} }) {
        my ($rss, $hwm) = WeirOrigin::proc_mem($pid);
        next unless defined $rss;
        my $g = $rss - $w->{base}{$pid};
        $w->{max} = $g if $g > $w->{max};
    }
}
# The growth bound, using the peak (VmHWM) so a spike between samples counts.
sub mem_growth {
    my ($w) = @_;
    mem_sample($w);
    my $g = $w->{max};
    my @gone = grep { !defined((WeirOrigin::proc_mem($_))[0]) } keys %{ $w->{base} };
    ok(!@gone, 'the worker that did the transfer is still running') or diag("gone: @gone");
    note(join " ", map { "worker $_: base " . $w->{base}{$_} . " kB, now " . join("/", WeirOrigin::proc_mem($_)) . " kB (RSS/HWM)" } sort keys %{ $w->{base} });
    for my $pid (keys %{ $w->{base} }) {
        my (undef, $hwm) = WeirOrigin::proc_mem($pid);
        next unless defined $hwm;
        my $h = $hwm - $w->{base}{$pid};
        $g = $h if $h > $g;
    }
    return $g;
}

# --- client I/O with deadlines --------------------------------------------------

sub client {
    my (%o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port(0),
        Proto => 'tcp') or die "connect: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, $o{rcvbuf}) if $o{rcvbuf};
    binmode $s;
    $s->blocking(0);
    return { s => $s, buf => '', dl => WeirTest::deadline($o{secs} // 40) };
}

sub put {
    my ($c, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        return 0 if time > $c->{dl};
        my $win = '';
        vec($win, fileno($c->{s}), 1) = 1;
        select(undef, $win, undef, 0.1) > 0 or next;
        my $n = syswrite $c->{s}, $data, length($data) - $off, $off;
        if (!defined $n) { next if $!{EAGAIN} || $!{EINTR}; return 0 }
        $off += $n;
    }
    return 1;
}

# Read more: bytes read, 0 at EOF, undef on error or past the deadline.
sub more {
    my ($c, $max) = @_;
    while (time < $c->{dl}) {
        my $rin = '';
        vec($rin, fileno($c->{s}), 1) = 1;
        select($rin, undef, undef, 0.1) > 0 or next;
        my $n = sysread $c->{s}, $c->{buf}, $max // 262144, length $c->{buf};
        if (!defined $n) { next if $!{EAGAIN} || $!{EINTR}; return undef }
        return $n;
    }
    return undef;
}

sub head {
    my ($c) = @_;
    while ((my $i = index($c->{buf}, "\r\n\r\n")) < 0) {
        return undef unless more($c);
    }
    my $i = index($c->{buf}, "\r\n\r\n");
    return WeirTest::Response->parse_head(substr($c->{buf}, 0, $i + 4, ''));
}

# Stream a response body into an MD5: (length, md5hex, error).
sub body_digest {
    my ($c, $h, $w) = @_;
    my $d = Digest::MD5->new;
    my $len = 0;
    my $next = 8 * $MB;
    my $eat = sub {
        my ($n) = @_;
        while ($n > 0) {
            if (!length $c->{buf}) { return 0 unless more($c) }
            my $k = length $c->{buf} < $n ? length $c->{buf} : $n;
            $d->add(substr($c->{buf}, 0, $k, ''));
            $len += $k;
            $n -= $k;
            if ($w && $len >= $next) { mem_sample($w); $next += 8 * $MB }
        }
        return 1;
    };
    my $line = sub {
        while ((my $i = index($c->{buf}, "\r\n")) < 0) { return undef unless more($c) }
        my $i = index($c->{buf}, "\r\n");
        my $l = substr($c->{buf}, 0, $i + 2, '');
        return substr($l, 0, $i);
    };
    if (($h->header('transfer-encoding') // '') =~ /chunked/i) {
        while (1) {
            my $l = $line->() // return ($len, $d->hexdigest, 'eof in chunk size');
            my ($hex) = $l =~ /^([0-9a-fA-F]+)/ or return ($len, $d->hexdigest, 'bad chunk size');
            my $n = hex $hex;
            if (!$n) { 1 while length($line->() // '') ; last }
            $eat->($n) or return ($len, $d->hexdigest, 'eof in chunk');
            $line->() // return ($len, $d->hexdigest, 'eof after chunk');
        }
    } elsif (defined(my $cl = $h->header('content-length'))) {
        $eat->($cl) or return ($len, $d->hexdigest, "eof after $len of $cl");
    } else {
        while (1) {
            $eat->(length $c->{buf}) if length $c->{buf};
            my $n = more($c);
            return ($len, $d->hexdigest, 'error before eof') unless defined $n;
            last if !$n;
        }
    }
    return ($len, $d->hexdigest, undef);
}

# --- 100 MB request bodies -------------------------------------------------------

for my $mode ('content-length', 'chunked') {
    my $w = mem_watch();
    my $c = client();
    my $t0 = time;
    my $hd = "PUT /upload HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        . ($mode eq 'chunked' ? "Transfer-Encoding: chunked\r\n" : "Content-Length: $SIZE\r\n")
        . "\r\n";
    my $ok = put($c, $hd);
    my ($i, $left) = (0, $SIZE);
    while ($ok && $left > 0) {
        my $n = $left < 65536 ? $left : 65536;
        my $d = WeirOrigin::pattern_chunk($i++, $n);
        $d = sprintf("%x\r\n", $n) . $d . "\r\n" if $mode eq 'chunked';
        $ok = put($c, $d);
        $left -= $n;
        mem_sample($w) if $i % 128 == 0;
    }
    $ok &&= put($c, "0\r\n\r\n") if $mode eq 'chunked';
    ok($ok, "upload 100 MB ($mode): the whole body was accepted");
    my $h = head($c);
    is($h && $h->status, 200, "upload 100 MB ($mode): 200");
    my $j = {};
    if ($h) {
        my $cl = $h->header('content-length') // 0;
        more($c) while length $c->{buf} < $cl && time < $c->{dl};
        $j = eval { WeirOrigin::json()->decode(substr($c->{buf}, 0, $cl)) } || {};
    }
    is($j->{length}, $SIZE, "upload 100 MB ($mode): the origin got every byte");
    is($j->{md5}, $expect_md5, "upload 100 MB ($mode): the same bytes (MD5)");
    my $g = mem_growth($w);
    cmp_ok($g, '<', $LIMIT_KB, "upload 100 MB ($mode): worker memory grew by "
        . int($g / 1024) . " MB");
    note(sprintf "upload %s: %.2f s", $mode, time - $t0);
    close $c->{s};
}

# --- 100 MB response body ------------------------------------------------------------

{
    my $w = mem_watch();
    my $c = client();
    my $t0 = time;
    put($c, "GET /source HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    my $h = head($c);
    is($h && $h->status, 200, 'download 100 MB: 200');
    my ($len, $md5, $err) = $h ? body_digest($c, $h, $w) : (0, '', 'no head');
    ok(!$err, 'download 100 MB: complete') or diag($err);
    is($len, $SIZE, 'download 100 MB: every byte');
    is($md5, $expect_md5, 'download 100 MB: the same bytes (MD5)');
    my $g = mem_growth($w);
    cmp_ok($g, '<', $LIMIT_KB, 'download 100 MB: worker memory grew by ' . int($g / 1024) . ' MB');
    note(sprintf 'download: %.2f s', time - $t0);
    close $c->{s};
}

# --- a slow reader: back-pressure to the origin ------------------------------------------

{
    my $w = mem_watch();
    my $c = client(rcvbuf => 65536, secs => 20);
    put($c, "GET /slow HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    my $got = 0;
    my $start = time;
    my ($at2, $at3);
    # read at most 64 KiB every 200 ms for 3 s: about 1 MB in all
    while (time - $start < 3) {
        my $n = more($c, 65536);
        last unless $n;
        $got += $n;
        $c->{buf} = '';
        mem_sample($w);
        sleep 0.2;
        $at2 //= $slow->written if time - $start >= 2;
    }
    $at3 = $slow->written;
    $at2 //= $at3;
    ok($got > 0 && $got < 4 * $MB, "slow reader: read " . int($got / 1024) . " KiB in 3 s");
    cmp_ok($at3, '<', 60 * $MB, 'slow reader: the origin could write only '
        . int($at3 / $MB) . ' MB of 100 (back-pressure)');
    cmp_ok($at3 - $at2, '<', 8 * $MB, 'slow reader: in the last second the origin was held back ('
        . int(($at3 - $at2) / 1024) . ' KiB)');
    my $g = mem_growth($w);
    cmp_ok($g, '<', $LIMIT_KB, 'slow reader: worker memory grew by ' . int($g / 1024) . ' MB');
    close $c->{s};
}

# weir is fine afterwards
my $c = client(secs => 10);
put($c, "PUT /after HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
my $h = head($c);
is($h && $h->status, 200, 'a small request afterwards: 200');
close $c->{s};

WeirOrigin::check_workers($t);
$t->done_testing;
