#!/usr/bin/perl
# gzip and a cache fill in progress: a client that takes gzip, arriving
# while another client's request fills the cache, streams from the
# growing fill compressed, as an identity client streams it plain,
# instead of waiting for the whole object.
# - the origin sends the head and a first part of a large cacheable body,
#   then holds the last part back until the test releases it (a flag
#   file): the gzip client must have decodable compressed bytes, a prefix
#   of the body, before the release, and all that the origin has sent
#   once the stream has caught up (the compressor is sync-flushed) -
#   ordering, no timing;
# - then both clients get the whole body: the gzip client's stream ends
#   with its trailer and gunzips to exactly the origin's body
#   (Content-Encoding: gzip, chunked, a weak ETag, Vary), the filler's is
#   the identity body; one origin request; a later hit is compressed too;
# - a fill that fails (the origin cuts the body) cuts the gzip client's
#   stream too: no chunked terminator, no gzip trailer;
# - a type the filter leaves alone (image/png) streams to a gzip client
#   as it is, mid-fill too;
# - all of it with one worker and with two (a waiter in the other worker
#   than the filler follows the fill through inotify just the same).
use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Compress::Raw::Zlib;
use WeirTest;
use WeirOrigin;

sub text {
    my ($n, $seed) = @_;
    my @w = qw(alpha beta gamma delta weir proxy cache gzip fill stream);
    my $x = $seed;
    my $s = '';
    while (length $s < $n) {
        $x = ($x * 1103515245 + 12345) % 2147483648;
        $s .= $w[($x >> 8) % @w] . ($x % 977) . (($x >> 4) % 9 ? ' ' : "\n");
    }
    return substr($s, 0, $n);
}

my $BODY = text(3 << 20, 1);
my $FIRST = 1 << 20;            # sent at once; the rest waits for the flag

our ($t, $flag, $origin);
my @instances;

sub run {
my ($workers) = @_;
local $t = WeirTest->new(main => { workers => $workers }, config => <<'INI');
[upstream o]
server = 127.0.0.1:%%PORT1%%
read_timeout = 60s

[cache main]
path = cache
lock_timeout = 60s

[server s]
listen = 127.0.0.1:%%PORT0%%

[route cached]
server = s
match = /
upstream = o
cache = main
gzip = on
INI
local $flag = $t->path('release');
local $origin = WeirOrigin->new(port => $t->port(1), handler => sub {
    my ($c) = @_;
    while (my $req = $c->read_request) {
        my ($name) = $req->{target} =~ m{^/(\w+)};
        my $cut = $name =~ /^cut/;
        my $type = $name =~ /^img/ ? 'image/png' : 'text/plain';
        $c->write("HTTP/1.1 200 OK\r\nContent-Type: $type\r\n"
                  . "Cache-Control: max-age=600\r\nETag: \"d1\"\r\n"
                  . "Content-Length: " . length($BODY) . "\r\n\r\n"
                  . substr($BODY, 0, $FIRST)) or return;
        my $dl = time + 60 * WeirTest::_detect_scale();
        sleep 0.02 while !-e "$flag.$name" && time < $dl;
        if ($cut) {
            $c->write(substr($BODY, $FIRST, 1000)) or return;
            $c->close;
            return;
        }
        $c->write(substr($BODY, $FIRST)) or return;
    }
}, timeout => 60);
$t->start;
push @instances, $t;
scenarios();
$t->stop;           # done_testing() still checks its logs
$origin->stop;
}

# A client on a raw socket that reads as bytes come, decoding the chunked
# framing and, for gzip, inflating as it goes.
sub client {
    my ($path, @h) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port(0))
        or die "connect: $!";
    syswrite $s, WeirTest::request('GET', $path, Connection => 'close', @h);
    my ($inf) = Compress::Raw::Zlib::Inflate->new(
        -WindowBits => WANT_GZIP, -ConsumeInput => 1, -LimitOutput => 0);
    return { s => $s, raw => '', head => undef, body => '', coded => '',
             plain => '', inf => $inf, last => 0, eof => 0, zend => 0 };
}

# Read what is there (up to a second); returns 0 at EOF.
sub pump {
    my ($c) = @_;
    return 0 if $c->{eof};
    my $sel = IO::Select->new($c->{s});
    return 1 unless $sel->can_read(1);
    my $n = sysread $c->{s}, my $buf, 1 << 16;
    if (!$n) { $c->{eof} = 1; return 0 }
    $c->{raw} .= $buf;
    if (!defined $c->{head} && $c->{raw} =~ s/\A(.*?\r\n)\r\n//s) {
        $c->{head} = $1;
    }
    return 1 unless defined $c->{head};
    my $chunked = $c->{head} =~ /^Transfer-Encoding: chunked\r?$/mi;
    if (!$chunked) {
        $c->{body} .= $c->{raw};
        $c->{raw} = '';
    }
    while ($chunked && !$c->{last} && $c->{raw} =~ /\A([0-9a-fA-F]+)\r\n/) {
        my $len = hex $1;
        my $hl = length($1) + 2;
        last if length($c->{raw}) < $hl + $len + 2;
        substr($c->{raw}, 0, $hl, '');
        if ($len == 0) { $c->{last} = 1; last }
        $c->{body} .= substr($c->{raw}, 0, $len, '');
        substr($c->{raw}, 0, 2, '');
    }
    if ($c->{head} =~ /^Content-Encoding: gzip\r?$/mi && length $c->{body}) {
        $c->{coded} .= $c->{body};
        my $in = $c->{body};
        $c->{body} = '';
        my $out = '';
        my $st = $c->{inf}->inflate($in, $out);
        $c->{plain} .= $out;
        $c->{zend} = 1 if $st == Z_STREAM_END;
    } elsif ($c->{head} !~ /^Content-Encoding:/mi) {
        $c->{plain} .= $c->{body};
        $c->{body} = '';
    }
    return 1;
}

sub pump_until {
    my ($c, $cond, $secs) = @_;
    my $dl = WeirTest::deadline($secs);
    while (!$cond->() && time < $dl) {
        pump($c) or last;
    }
    return $cond->();
}

sub header { my ($c, $k) = @_; return ($c->{head} // '') =~ /^\Q$k\E: ([^\r\n]*)/mi ? $1 : undef }

sub scenarios {

# ---- a gzip client streams from the fill ------------------------------------

{
    my $filler = client('/drip');
    ok(pump_until($filler, sub { length $filler->{plain} > 0 }, 20),
       'the filler (identity) has its first bytes');
    my $gz = client('/drip', 'Accept-Encoding' => 'gzip');
    ok(pump_until($gz, sub { length $gz->{plain} > 0 }, 20),
       'the gzip client has decodable bytes from the growing fill');
    ok(!-e "$flag.drip", '... while the origin still holds the last part back');
    is(header($gz, 'Content-Encoding'), 'gzip', 'Content-Encoding: gzip');
    is(header($gz, 'Transfer-Encoding'), 'chunked', 'chunked');
    ok(!defined header($gz, 'Content-Length'), 'no Content-Length');
    like(header($gz, 'Cache-Status') // '', qr/streamed-from-fill/,
         'Cache-Status: streamed from the fill');
    is(header($gz, 'ETag'), 'W/"d1"', 'the ETag made weak');
    like(header($gz, 'Vary') // '', qr/Accept-Encoding/, 'Vary: Accept-Encoding');
    ok(substr($BODY, 0, length $gz->{plain}) eq $gz->{plain}, 'a prefix of the body');
    # All that the origin has sent decodes while it pauses: the
    # compressor is flushed when the stream catches up with the fill.
    ok(pump_until($gz, sub { length $gz->{plain} >= $FIRST }, 20),
       'all the origin has sent so far decodes (the compressor was flushed)')
        or diag(length($gz->{plain}) . " of $FIRST");
    ok(!-e "$flag.drip", '... still before the release');
    is(length $gz->{plain}, $FIRST, 'no more than the origin has sent');
    ok(!$gz->{zend}, 'the gzip stream is not over');

    open my $f, '>', "$flag.drip" or die;
    close $f;
    pump_until($gz, sub { $gz->{eof} }, 60);
    pump_until($filler, sub { $filler->{eof} }, 60);
    ok($gz->{last}, 'the gzip client: the last chunk');
    ok($gz->{zend}, 'the gzip client: the gzip trailer');
    ok($gz->{plain} eq $BODY, 'the gzip client: gunzips to the whole body')
        or diag(length($gz->{plain}) . ' of ' . length($BODY));
    ok(length($gz->{coded}) < length($BODY), 'the gzip client: compressed');
    ok($filler->{plain} eq $BODY, 'the filler: the whole identity body');
    ok(!defined header($filler, 'Content-Encoding'), 'the filler: not compressed');
    is(scalar(grep { $_->{target} eq '/drip' } $origin->requests), 1,
       'one origin request');

    my $hit = client('/drip', 'Accept-Encoding' => 'gzip');
    pump_until($hit, sub { $hit->{eof} }, 30);
    like(header($hit, 'Cache-Status') // '', qr/hit/, 'then a hit');
    ok($hit->{zend} && $hit->{plain} eq $BODY, 'the hit: compressed, the whole body');
}

# ---- the fill fails: the gzip client's stream is cut -------------------------

{
    my $filler = client('/cut');
    ok(pump_until($filler, sub { length $filler->{plain} > 0 }, 20),
       'cut: the filler has its first bytes');
    my $gz = client('/cut', 'Accept-Encoding' => 'gzip');
    ok(pump_until($gz, sub { length $gz->{plain} > 0 }, 20),
       'cut: the gzip client streams');
    open my $f, '>', "$flag.cut" or die;
    close $f;
    pump_until($gz, sub { $gz->{eof} }, 60);
    pump_until($filler, sub { $filler->{eof} }, 60);
    ok($gz->{eof}, 'cut: the gzip client\'s connection closed');
    ok(!$gz->{last}, 'cut: no last chunk');
    ok(!$gz->{zend}, 'cut: no gzip trailer');
    ok(length($filler->{plain}) < length($BODY), 'cut: the filler\'s body is short too');
}

# ---- a type the filter leaves alone streams as it is -------------------------

{
    my $filler = client('/img');
    ok(pump_until($filler, sub { length $filler->{plain} > 0 }, 20),
       'image: the filler has its first bytes');
    my $gz = client('/img', 'Accept-Encoding' => 'gzip');
    ok(pump_until($gz, sub { length $gz->{plain} >= $FIRST }, 20),
       'image: the gzip client streams the fill');
    ok(!-e "$flag.img", '... before the release');
    ok(!defined header($gz, 'Content-Encoding'), 'image: not compressed');
    like(header($gz, 'Cache-Status') // '', qr/streamed-from-fill/,
         'image: streamed from the fill');
    open my $f, '>', "$flag.img" or die;
    close $f;
    pump_until($gz, sub { $gz->{eof} }, 60);
    pump_until($filler, sub { $filler->{eof} }, 60);
    ok($gz->{last} && $gz->{plain} eq $BODY, 'image: the whole body');
}
}

for my $workers (1, 2) {
    note("---- $workers worker(s)");
    run($workers);
}

$instances[-1]->done_testing;
