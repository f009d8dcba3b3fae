#!/usr/bin/perl
# gzip round trips with zlib: `gzip = on` compresses proxied, static,
# cached and generated responses for clients whose Accept-Encoding takes
# gzip, and the bytes decompress (Compress::Raw::Zlib, strictly: the
# stream must end with its trailer) to exactly what the origin or the
# file holds.
# - framing: chunked to HTTP/1.1, close-delimited to HTTP/1.0, no
#   Content-Length or Accept-Ranges, Content-Encoding: gzip; HEAD has the
#   same head and no body; keep-alive goes on after a compressed answer;
# - Vary: Accept-Encoding on every eligible answer, compressed or not,
#   merged into the origin's Vary; a strong ETag is made weak, and a
#   revalidation with that weak tag gets a 304 (static and cached);
# - not compressed: a Range (206), q=0 refusals (gzip;q=0, *;q=0 with no
#   gzip named), no Accept-Encoding, an answer with Cache-Control:
#   no-transform or already a Content-Encoding (passed through byte for
#   byte), a body under gzip_min_length, a type outside gzip_types, a
#   route without gzip; `identity;q=0` alone gets identity (not a 406);
# - the cache stores the identity answer and compresses each hit;
# - a large body streams: the first compressed bytes reach the client
#   while the origin still holds back the second half of its body, and
#   the worker's memory does not grow by the body's size (proxied and a
#   large static file);
# - $gzip_ratio in the access log; config errors name file:line.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use Compress::Raw::Zlib;
use Digest::MD5;
use IO::Socket::INET;
use IO::Compress::Gzip qw(gzip $GzipError);
use WeirTest;
use WeirOrigin;

# A reader of a chunked gzip response on socket $s: each call reads and
# decodes until $done->() says enough, the last chunk came or the
# deadline passed, handing what it decodes to $sink; it returns whether
# the last chunk came. The tests below use it to watch a compressed
# stream as it arrives.
sub gz_reader {
    my ($s, $sink, $bufsize) = @_;
    my ($inf) = Compress::Raw::Zlib::Inflate->new(
        -WindowBits => WANT_GZIP, -ConsumeInput => 1, -LimitOutput => 0);
    my ($buf, $pending, $head_done, $ended) = ('', '', 0, 0);
    return sub {
        my ($done, $dl) = @_;
        while (!$ended && !$done->() && time < $dl) {
            if (!$head_done && (my $e = index($buf, "\r\n\r\n")) >= 0) {
                substr($buf, 0, $e + 4, '');
                $head_done = 1;
            }
            while ($head_done && $buf =~ /^([0-9a-f]+)\r\n/) {
                my $size = hex $1;
                my $hl = length($1) + 2;
                last if length $buf < $hl + $size + 2;
                $pending .= substr($buf, $hl, $size);
                substr($buf, 0, $hl + $size + 2, '');
                if ($size == 0) { $ended = 1; last }
            }
            if (length $pending) {
                my $out = '';
                $inf->inflate($pending, $out);
                $sink->($out);
                next;
            }
            my $rin = '';
            vec($rin, fileno($s), 1) = 1;
            next unless select($rin, undef, undef, 0.2) > 0;
            my $n = sysread $s, $buf, $bufsize // 65536, length $buf;
            last unless $n;
        }
        return $ended;
    };
}

# Under AddressSanitizer freed memory sits in a quarantine: keep it small
# and allow more growth (as proxy_bigbody.t does).
my $asan = 0;
if (open my $fh, '<:raw', WeirTest::binary()) {
    local $/ = \(1 << 20);
    while (my $chunk = <$fh>) { if (index($chunk, '__asan_init') >= 0) { $asan = 1; last } }
}
$ENV{ASAN_OPTIONS} = join ':', grep { length } $ENV{ASAN_OPTIONS} // '', 'quarantine_size_mb=4'
    if $asan;

# Text that compresses (about 2.5:1 at level 1) without being trivial.
sub text {
    my ($n, $seed) = @_;
    my @w = qw(alpha beta gamma delta weir proxy cache gzip deflate stream
               chunk window origin client request response header body);
    my $x = $seed // 7;
    my $s = '';
    while (length $s < $n) {
        $x = ($x * 1103515245 + 12345) % 2147483648;
        $s .= $w[($x >> 8) % @w] . ($x % 977) . (($x >> 4) % 9 ? ' ' : "\n");
    }
    return substr($s, 0, $n);
}

# Strict gunzip: (bytes, '') or (undef, why). The stream must end with
# its trailer and nothing may follow it.
sub gunzip_strict {
    my ($data) = @_;
    my ($i, $st) = Compress::Raw::Zlib::Inflate->new(
        -WindowBits => WANT_GZIP, -ConsumeInput => 1, -LimitOutput => 0);
    return (undef, "inflateInit: $st") unless $i;
    my $in = $data;
    my $out = '';
    $st = $i->inflate($in, $out);
    return (undef, "inflate: $st") unless $st == Z_STREAM_END;
    return (undef, length($in) . " bytes after the gzip trailer") if length $in;
    return ($out, '');
}

my $BIG = text(200_000, 1);
my $SMALL = text(100, 2);
my $HTML = "<html><body>\n" . text(50_000, 3) . "</body></html>\n";
my $FILE_BIG = text(6 << 20, 4);
my $STREAM = text(16 << 20, 5);
my $HALF = 8 << 20;
my $flag;
my $RET = text(2000, 9) =~ tr/\n/ /r;    # one config line

my $pregz;
gzip(\$BIG => \$pregz) or die $GzipError;


my $t = WeirTest->new(main => { workers => 1 }, config => <<"INI",
[http]
access_log = logs/access.log
log_format = \$request_uri \$status \$gzip_ratio \$body_bytes_sent

[upstream o]
server = 127.0.0.1:%%PORT1%%
read_timeout = 60s

[cache main]
path = cache
max_size = 100m
fill_after_abort = 32m

[server s]
listen = 127.0.0.1:%%PORT0%%

[route cached]
server = s
match = /c/
upstream = o
cache = main
gzip = on

[route proxied]
server = s
match = /p/
upstream = o
gzip = on

[route plain]
server = s
match = /plain/
upstream = o

[upstream source]
server = 127.0.0.1:%%PORT2%%
read_timeout = 60s

[route source]
server = s
match = /source
upstream = source
gzip = on
gzip_types = *

[route ret]
server = s
match = /ret
return = 200 $RET
gzip = on
gzip_types = text/*

[route static]
server = s
match = /
root = html
gzip = on
gzip_level = 6
INI
    files => {
        'html/page.html' => $HTML,
        'html/small.txt' => $SMALL,
        'html/big.txt' => $FILE_BIG,
        'html/pic.png' => $BIG,
    });
$flag = $t->path('go');
my $origin = WeirOrigin->new(port => $t->port(1), handler => sub {
    my ($c) = @_;
    while (my $req = $c->read_request) {
        my $tg = $req->{target} =~ s{^/plain/}{/p/}r;
        my $head = $req->{method} eq 'HEAD';
        my @h = ('Content-Type: text/plain; charset=utf-8');
        my %o = (head_only => $head);
        if ($tg eq '/p/big') {
            $c->write(WeirOrigin::response(%o, body => $BIG,
                headers => [@h, 'ETag: "big1"', 'Accept-Ranges: bytes']));
        } elsif ($tg eq '/p/chunked') {
            $c->write(WeirOrigin::response(%o, body => $HTML, chunked => 4096,
                headers => ['Content-Type: text/html']));
        } elsif ($tg eq '/p/close') {
            $c->write(WeirOrigin::response(body => $BIG, no_length => 1,
                headers => [@h, 'Connection: close']));
            $c->close;
            return;
        } elsif ($tg eq '/p/vary') {
            $c->write(WeirOrigin::response(%o, body => $BIG,
                headers => [@h, 'Vary: Cookie']));
        } elsif ($tg eq '/p/notransform') {
            $c->write(WeirOrigin::response(%o, body => $BIG,
                headers => [@h, 'Cache-Control: max-age=0, no-transform']));
        } elsif ($tg eq '/p/encoded') {
            $c->write(WeirOrigin::response(%o, body => $pregz,
                headers => [@h, 'Content-Encoding: gzip']));
        } elsif ($tg eq '/p/small') {
            $c->write(WeirOrigin::response(%o, body => $SMALL, headers => \@h));
        } elsif ($tg eq '/p/image') {
            $c->write(WeirOrigin::response(%o, body => $BIG,
                headers => ['Content-Type: image/png']));
        } elsif ($tg eq '/p/range') {
            $c->write(WeirOrigin::response(status => 206,
                body => substr($BIG, 0, 1000), headers => [@h,
                'Content-Range: bytes 0-999/' . length $BIG]));
        } elsif ($tg eq '/p/304') {
            $c->write(WeirOrigin::response(status => 304,
                headers => ['ETag: "big1"']));
        } elsif ($tg eq '/c/huge') {
            $c->write(WeirOrigin::response(%o, body => $STREAM, headers => [@h,
                'Cache-Control: max-age=600'])) or return;
        } elsif ($tg =~ m{^/c/}) {
            $c->write(WeirOrigin::response(%o, body => $BIG, headers => [@h,
                'ETag: "c1"', 'Cache-Control: max-age=600']));
        } elsif ($tg eq '/p/trickle') {
            # A page in two parts with a pause between: the first must
            # reach the client, decodable, during the pause.
            $c->write("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                      . "Transfer-Encoding: chunked\r\n\r\n"
                      . sprintf("%x\r\n%s\r\n", length $HTML, $HTML)) or return;
            my $dl = time + 60;
            sleep 0.02 while !-e "$flag.trickle" && time < $dl;
            $c->write(sprintf("%x\r\n%s\r\n0\r\n\r\n", length $BIG, $BIG)) or return;
        } elsif ($tg eq '/p/stream') {
            # Half the body, then nothing until the test has seen
            # compressed bytes arrive (the flag file), then the rest.
            $c->write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                      . "Content-Length: " . length($STREAM) . "\r\n\r\n");
            $c->write(substr($STREAM, 0, $HALF)) or return;
            my $dl = time + 60;
            sleep 0.02 while !-e $flag && time < $dl;
            $c->write(substr($STREAM, $HALF)) or return;
        } else {
            $c->write(WeirOrigin::response(status => 404, body => 'no'));
        }
    }
}, timeout => 60);
my $SRC = 64 << 20;
my $source = WeirOrigin->new(port => $t->port(2), handler => 'source', size => $SRC,
                             timeout => 60);
$t->start;

my @GZ = ('Accept-Encoding' => 'gzip, deflate, br');

# A compressed answer: (decoded body or undef, response).
sub check_gz {
    my ($r, $want, $what, %o) = @_;
    is($r->status, $o{status} // 200, "$what: status");
    is($r->header('content-encoding'), 'gzip', "$what: Content-Encoding: gzip");
    ok(!defined $r->header('content-length'), "$what: no Content-Length");
    ok(!defined $r->header('accept-ranges'), "$what: no Accept-Ranges");
    like($r->header('vary') // '', qr/\bAccept-Encoding\b/i, "$what: Vary");
    if ($o{http10}) {
        ok(!$r->{chunked}, "$what: close-delimited to HTTP/1.0");
    } else {
        ok($r->{chunked}, "$what: chunked");
    }
    my ($body, $why) = gunzip_strict($r->body // '');
    ok(defined $body && $body eq $want, "$what: gunzips to the original")
        or diag("$why; got " . length($body // '') . " of " . length($want));
    ok(length($r->body // '') < length($want), "$what: smaller");
    return $body;
}

sub check_identity {
    my ($r, $want, $what, %o) = @_;
    is($r->status, $o{status} // 200, "$what: status");
    ok(!defined $r->header('content-encoding'), "$what: no Content-Encoding");
    ok($r->body eq $want, "$what: identity body")
        or diag("got " . length($r->body // '') . " bytes");
}

# ---- proxied ------------------------------------------------------------

{
    my $c = $t->connect;
    my $r = $c->get('/p/big', @GZ);
    check_gz($r, $BIG, 'proxied, Content-Length');
    is($r->header('etag'), 'W/"big1"', 'strong ETag made weak');
    my $r2 = $c->get('/p/chunked', @GZ, 'Connection' => 'close');
    check_gz($r2, $HTML, 'proxied, chunked, same connection');
}

check_gz($t->http_get('/p/close', @GZ), $BIG, 'proxied, close-delimited');
check_gz($t->http("GET /p/big HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n"),
         $BIG, 'proxied to HTTP/1.0', http10 => 1);

{
    my $r = $t->http_get('/p/vary', @GZ);
    check_gz($r, $BIG, 'origin Vary');
    is($r->header_count('vary'), 1, 'one Vary field');
    is($r->header('vary'), 'Cookie, Accept-Encoding', 'Accept-Encoding merged');
}

{
    my $r = $t->http_head('/p/big', @GZ);
    is($r->status, 200, 'HEAD proxied: 200');
    is($r->header('content-encoding'), 'gzip', 'HEAD: Content-Encoding as GET');
    ok(!defined $r->header('content-length'), 'HEAD: no Content-Length');
    is($r->header('etag'), 'W/"big1"', 'HEAD: weak ETag');
    is($r->body // '', '', 'HEAD: no body');
}

{
    my $r = $t->http_get('/p/304', @GZ, 'If-None-Match' => 'W/"big1"');
    is($r->status, 304, 'proxied 304');
    is($r->header('etag'), 'W/"big1"', 'proxied 304: weak ETag, as the 200');
    like($r->header('vary') // '', qr/Accept-Encoding/, 'proxied 304: Vary');
    ok(!defined $r->header('content-encoding'), 'proxied 304: no Content-Encoding');
}

check_identity($t->http_get('/p/range', @GZ, Range => 'bytes=0-999'),
               substr($BIG, 0, 1000), 'proxied 206', status => 206);

for my $ae ('gzip;q=0', 'gzip;q=0.000, deflate', '*;q=0', 'deflate, br',
            '*, gzip;q=0', 'identity') {
    my $r = $t->http_get('/p/big', 'Accept-Encoding' => $ae);
    check_identity($r, $BIG, "Accept-Encoding: $ae");
    like($r->header('vary') // '', qr/Accept-Encoding/, "$ae: still Vary");
    is($r->header('etag'), '"big1"', "$ae: ETag stays strong");
    is($r->header('content-length'), length $BIG, "$ae: Content-Length kept");
}
for my $ae ('GZIP', 'x-gzip', '*', 'gzip;q=0.001', 'identity;q=0, gzip',
            'br;q=1, gzip ; q=0.5') {
    check_gz($t->http_get('/p/big', 'Accept-Encoding' => $ae), $BIG,
             "Accept-Encoding: $ae");
}
{
    my $r = $t->http_get('/p/big');
    check_identity($r, $BIG, 'no Accept-Encoding');
    like($r->header('vary') // '', qr/Accept-Encoding/, 'no Accept-Encoding: Vary');
    # Nothing the client takes but identity is refused too: identity is
    # sent all the same (better than a 406 from a proxy).
    check_identity($t->http_get('/p/big', 'Accept-Encoding' => 'identity;q=0'),
                   $BIG, 'identity;q=0 alone');
}

{
    my $r = $t->http_get('/p/notransform', @GZ);
    check_identity($r, $BIG, 'no-transform');
    ok(!defined $r->header('vary'), 'no-transform: no Vary added');
    $r = $t->http_get('/p/encoded', @GZ);
    is($r->header('content-encoding'), 'gzip', 'origin gzip passed through');
    ok($r->body eq $pregz, 'origin gzip: the same bytes, not compressed twice');
    is($r->header('content-length'), length $pregz, 'origin gzip: length kept');
    $r = $t->http_get('/p/small', @GZ);
    check_identity($r, $SMALL, 'under gzip_min_length');
    ok(!defined $r->header('vary'), 'under gzip_min_length: not eligible, no Vary');
    check_identity($t->http_get('/p/image', @GZ), $BIG, 'image/png not in gzip_types');
    check_identity($t->http_get('/plain/big', @GZ), $BIG, 'route without gzip');
}

# ---- static -------------------------------------------------------------

{
    my $c = $t->connect;
    my $r = $c->get('/page.html', @GZ);
    check_gz($r, $HTML, 'static');
    my $etag = $r->header('etag') // '';
    like($etag, qr{^W/"}, 'static: weak ETag');
    my $r2 = $c->get('/page.html', @GZ, 'If-None-Match' => $etag);
    is($r2->status, 304, 'static: If-None-Match with the weak tag: 304');
    is($r2->header('etag'), $etag, 'static 304: the same weak ETag');
    like($r2->header('vary') // '', qr/Accept-Encoding/, 'static 304: Vary');
    my $r3 = $c->get('/page.html', @GZ, Range => 'bytes=0-99',
                     Connection => 'close');
    check_identity($r3, substr($HTML, 0, 100), 'static Range', status => 206);
    unlike($r3->header('etag') // '', qr{^W/}, 'static 206: strong ETag');
}
{
    my $r = $t->http_head('/page.html', @GZ);
    is($r->header('content-encoding'), 'gzip', 'static HEAD: Content-Encoding');
    ok(!defined $r->header('content-length'), 'static HEAD: no Content-Length');
    check_identity($t->http_get('/small.txt', @GZ), $SMALL, 'static small file');
    check_identity($t->http_get('/pic.png', @GZ), $BIG, 'static image');
    check_gz($t->http("GET /page.html HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n"),
             $HTML, 'static to HTTP/1.0', http10 => 1);
    check_gz($t->http_get('/ret', @GZ), $RET, 'return body, gzip_types = text/*');
}

my ($wpid) = $t->worker_pids;
# The peak (VmHWM): a body held whole would raise it by its size.
my (undef, $rss0) = WeirOrigin::proc_mem($wpid);
check_gz($t->http_get('/big.txt', @GZ), $FILE_BIG, 'static 6 MiB file');
my (undef, $rss1) = WeirOrigin::proc_mem($wpid);
my $limit_kb = ($asan ? 4 : 2) * 1024;
diag("static: peak $rss0 -> $rss1 KiB") if $ENV{GZIP_DIAG};
cmp_ok($rss1 - $rss0, '<', $limit_kb,
       'static 6 MiB compressed: the worker grew by less than '
       . ($limit_kb >> 10) . ' MiB');

# ---- cached -------------------------------------------------------------

{
    my $r = $t->http_get('/c/one', @GZ);
    check_gz($r, $BIG, 'cache MISS, compressed');
    like($r->header('cache-status') // '', qr/fwd=/, 'first is a miss');
    $r = $t->http_get('/c/one', @GZ);
    check_gz($r, $BIG, 'cache HIT, compressed from the file');
    like($r->header('cache-status') // '', qr/; hit/, 'second is a hit');
    is($r->header('etag'), 'W/"c1"', 'cache HIT: weak ETag');
    $r = $t->http_get('/c/one');
    check_identity($r, $BIG, 'cache HIT without gzip: the stored identity');
    like($r->header('vary') // '', qr/Accept-Encoding/, 'cache HIT identity: Vary');
    is($r->header('etag'), '"c1"', 'cache HIT identity: strong ETag');
    $r = $t->http_get('/c/one', @GZ, 'If-None-Match' => 'W/"c1"');
    is($r->status, 304, 'cache HIT: If-None-Match with the weak tag: 304');
    is($r->header('etag'), 'W/"c1"', 'cache 304: weak ETag');
    $r = $t->http_head('/c/one', @GZ);
    is($r->header('content-encoding'), 'gzip', 'cache HEAD: Content-Encoding');
    check_identity($t->http_get('/c/one', @GZ, Range => 'bytes=10-19'),
                   substr($BIG, 10, 10), 'cache Range', status => 206);
    is(scalar(grep { $_->{target} eq '/c/one' } $origin->requests), 1,
       'the origin saw one request for the cached object');
}

# A gzip client that leaves during a cache fill: the fill goes on with
# the identity bytes (the compressor is dropped, not fed), and the next
# client gets the whole object from the cache.
{
    my $c = $t->connect;
    $c->send(WeirTest::request('GET', '/c/huge', @GZ));
    my $buf = '';
    my $dl = WeirTest::deadline(10);
    while (index($buf, "\r\n\r\n") < 0 && time < $dl) {
        my $rin = '';
        vec($rin, fileno($c->{sock}), 1) = 1;
        next unless select($rin, undef, undef, 0.2) > 0;
        sysread($c->{sock}, $buf, 65536, length $buf) or last;
    }
    like($buf, qr{^HTTP/1.1 200 .*\r\nContent-Encoding: gzip\r\n}s,
         'fill with gzip: the head came compressed');
    $c->close;
    my $r = $t->http_get('/c/huge');
    is($r->status, 200, 'after the gzip client left: 200');
    ok(($r->body // '') eq $STREAM, 'after the gzip client left: the whole identity object')
        or diag('got ' . length($r->body // '') . ' bytes; ' . ($r->error // ''));
    $r = $t->http_get('/c/huge');
    like($r->header('cache-status') // '', qr/; hit/, 'and it is stored');
    ok(($r->body // '') eq $STREAM, 'the stored object is whole')
        or diag('got ' . length($r->body // '') . ' bytes; ' . ($r->error // '') . $r->head);
    is(scalar(grep { $_->{target} eq '/c/huge' } $origin->requests), 1,
       'one origin request for it');
}

# ---- a large body streams -----------------------------------------------

{
    (undef, $rss0) = WeirOrigin::proc_mem($wpid);
    my $c = $t->connect;
    $c->send(WeirTest::request('GET', '/p/stream', @GZ, Connection => 'close'));
    my $dl = WeirTest::deadline(30);
    my ($decoded, $ended) = ('', 0);
    my $read = gz_reader($c->{sock}, sub { $decoded .= $_[0] });
    # Decode until $want bytes of the body came or the deadline passes.
    my $pump = sub {
        my ($want) = @_;
        $ended = $read->(sub { length $decoded >= $want }, $dl);
    };
    $pump->(256 << 10);
    my $early = length $decoded;
    ok($early >= 256 << 10 && substr($STREAM, 0, $early) eq $decoded,
       "compressed bytes arrive while the origin holds back its second half")
        or diag("decoded $early bytes");
    my (undef, $rss_mid) = WeirOrigin::proc_mem($wpid);
    open my $fh, '>', $flag or die; close $fh;
    $pump->(length($STREAM) + 1);     # to the last chunk
    ok($ended, 'stream: the last chunk came');
    ok($decoded eq $STREAM, 'stream: 16 MiB decoded intact')
        or diag('decoded ' . length($decoded));
    my (undef, $rss2) = WeirOrigin::proc_mem($wpid);
    diag("stream: peak $rss0 -> $rss_mid -> $rss2 KiB") if $ENV{GZIP_DIAG};
    cmp_ok(weir_max($rss2, $rss_mid) - $rss0, '<', $limit_kb,
           'stream: the worker grew by less than ' . ($limit_kb >> 10)
           . ' MiB for a 16 MiB body');
}
sub weir_max { $_[0] > $_[1] ? $_[0] : $_[1] }

# ---- an origin that pauses: what came so far is flushed to the client ----

{
    my $c = $t->connect;
    $c->send(WeirTest::request('GET', '/p/trickle', @GZ, Connection => 'close'));
    my ($decoded, $ended) = ('', 0);
    my $read = gz_reader($c->{sock}, sub { $decoded .= $_[0] });
    my $read_some = sub {
        my ($want, $dl) = @_;
        $ended = $read->(sub { length $decoded >= $want }, $dl);
    };
    $read_some->(length $HTML, WeirTest::deadline(10));
    ok($decoded eq $HTML, 'origin pauses: the part that came is decodable at once')
        or diag('decoded ' . length($decoded) . ' of ' . length($HTML));
    open my $fh, '>', "$flag.trickle" or die; close $fh;
    $read_some->(length($HTML) + length($BIG) + 1,     # to the last chunk
                 WeirTest::deadline(30));
    ok($ended && $decoded eq $HTML . $BIG, 'origin pauses: then the rest, intact');
}

# ---- back-pressure: a client that does not read holds the origin back ----
#
# The source's bytes do not compress (random, repeating every 64 KiB,
# beyond deflate's 32 KiB window): each 64 KiB read from the origin
# fills the compressor's 32 KiB output buffer before it is taken, so the
# rest waits for the client. The origin must stall far short of 64 MiB
# while the client reads nothing, then everything arrives intact.
{
    use Socket qw(SOL_SOCKET SO_RCVBUF);
    my $s = IO::Socket::INET->new(Proto => 'tcp');
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 65536);
    $s->connect(Socket::pack_sockaddr_in($t->port(0), Socket::inet_aton('127.0.0.1')))
        or die "connect: $!";
    print $s WeirTest::request('GET', '/source', @GZ, Connection => 'close');
    # The observation window: the origin writes as long as weir reads.
    my $dl = WeirTest::deadline(3);
    while (time < $dl && $source->written < $SRC) {
        sleep 0.1;
    }
    my $held = $source->written;
    cmp_ok($held, '<', $SRC * 3 / 4, 'no reader: the origin was held back at '
           . int($held / 1048576) . ' MiB of 64');
    my $n_out = 0;
    my $md5 = Digest::MD5->new;
    my $ended = gz_reader($s, sub { $n_out += length $_[0]; $md5->add($_[0]) },
                          262144)->(sub { 0 }, WeirTest::deadline(60));
    ok($ended, 'no reader, then reading: the last chunk came');
    is($n_out, $SRC, 'all 64 MiB decoded');
    is($md5->hexdigest, WeirOrigin::pattern_md5($SRC), 'and intact');
    close $s;
}

# ---- access log -----------------------------------------------------------

{
    ok($t->wait_for_access_log(qr{^/p/stream 200 }m, timeout => 5),
       'access log flushed');
    my @lines = $t->access_log_lines;
    my ($gz) = grep { m{^/p/big 200 } && !m{ - } } @lines;
    like($gz // '', qr{^/p/big 200 \d+\.\d\d \d+$}, '$gzip_ratio of a compressed answer');
    my ($ratio) = ($gz // '') =~ / (\d+\.\d\d) /;
    ok(($ratio // 0) > 1.5, "ratio $ratio > 1.5");
    ok((grep { m{^/p/small 200 - } } @lines), '$gzip_ratio "-" when not compressed');
}

# ---- configuration errors ---------------------------------------------------

{
    my $bad = WeirTest->new(config => <<'INI');
[server s]
listen = 127.0.0.1:%%PORT0%%

[route r]
server = s
match = /
return = 200 x
gzip_types = text/html
gzip_level = 10

[route q]
server = s
match = /q
return = 200 x
gzip = on
gzip_types = text/html nonsense
INI
    my @cl = split /\n/, $bad->config_text;
    my %line;
    for my $i (0 .. $#cl) { $line{$cl[$i]} //= $i + 1 }
    my $res = $bad->weir_ctl('-t');
    my $out = $res->{out} . $res->{err};
    isnt($res->{rc}, 0, 'weir -t refuses bad gzip keys');
    my ($l1, $l2, $l3) = @line{'gzip_types = text/html', 'gzip_level = 10',
                               'gzip_types = text/html nonsense'};
    like($out, qr{weir\.ini:$l1: \[route r\] gzip_types: requires gzip = on},
         'gzip_types without gzip: file:line');
    like($out, qr{weir\.ini:$l2: \[route r\] gzip_level: "10" is out of range},
         'gzip_level 10: file:line');
    like($out, qr{weir\.ini:$l3: \[route q\] gzip_types: "nonsense" is not a media type},
         'bad media type: file:line');
}

WeirOrigin::check_workers($t);
$t->done_testing;
