#!/usr/bin/perl
# gzip_static: a static route serves a precompressed FILE.gz lying next
# to FILE, byte for byte, in place of FILE.
# - on: to a client whose Accept-Encoding takes gzip (q-values read as
#   the gzip filter reads them, q=0 refuses), with Content-Encoding:
#   gzip, Vary: Accept-Encoding, the .gz's length, and the .gz's
#   Last-Modified and strong ETag; a client without gzip gets FILE, also
#   with Vary; the index file has its .gz looked for too;
# - always: the .gz to every client, no Vary;
# - HEAD, a Range (a range of the .gz's bytes), a revalidation (304 with
#   the .gz's ETag, kept strong even on a route with gzip = on);
# - beside gzip = on: a file with a .gz is not compressed again, one
#   without is compressed on the fly as before;
# - falls back to FILE when the .gz is missing, a directory, a dangling
#   link, a link out of root, or unreadable (workers run as nobody when
#   the test runs as root); a link to a .gz inside root is followed;
# - config errors name file:line.
use strict;
use warnings;
use Test::More;
use IO::Compress::Gzip qw(gzip $GzipError);
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use WeirTest;

# Text that compresses without being trivial.
sub text {
    my ($n, $seed) = @_;
    my @w = qw(alpha beta gamma delta weir proxy cache gzip static file);
    my $x = $seed;
    my $s = '';
    while (length $s < $n) {
        $x = ($x * 1103515245 + 12345) % 2147483648;
        $s .= $w[($x >> 8) % @w] . ($x % 977) . (($x >> 4) % 9 ? ' ' : "\n");
    }
    return substr($s, 0, $n);
}

sub gz {
    my ($data, $level) = @_;
    my $out;
    gzip(\$data => \$out, -Level => $level, Minimal => 1) or die $GzipError;
    return $out;
}

sub gunzip_str {
    my ($data) = @_;
    my $out;
    gunzip(\$data => \$out) or return undef;
    return $out;
}

my $JS = text(40_000, 1);
my $JS_GZ = gz($JS, 9);
my $IDX = "<html>\n" . text(5_000, 2) . "</html>\n";
my $IDX_GZ = gz($IDX, 9);
my $PLAIN = text(30_000, 3);
my $DIR = text(3_000, 4);
my $OUT_GZ = gz("outside root\n", 1);

my ($nobody_uid) = (getpwnam('nobody'))[2];
my $as_root = $> == 0 && defined $nobody_uid;

my $t = WeirTest->new(main => { workers => 1,
                                ($as_root ? (user => 'nobody') : ()) },
    config => <<'INI',
[server s]
listen = 127.0.0.1:%%PORT0%%

[route on]
server = s
match = /s/
root = html
gzip_static = on

[route always]
server = s
match = /a/
root = html
gzip_static = always

[route both]
server = s
match = /b/
root = html
gzip = on
gzip_static = on

[route off]
server = s
match = /o/
root = html
INI
    files => {
        map { my $d = $_; (
            "html/$d/app.js" => $JS,
            "html/$d/app.js.gz" => $JS_GZ,
            "html/$d/idx/index.html" => $IDX,
            "html/$d/idx/index.html.gz" => $IDX_GZ,
            "html/$d/plain.txt" => $PLAIN,
            "html/$d/dir.txt" => $DIR,
            "html/$d/dir.txt.gz/x" => 'x',
            "html/$d/link.js" => $JS,
            "html/$d/out.txt" => $PLAIN,
            "html/$d/dangling.txt" => $PLAIN,
            "html/$d/secret.txt" => $PLAIN,
            "html/$d/secret.txt.gz" => gz($PLAIN, 1),
            "html/$d/only.js.gz" => $JS_GZ,
        ) } qw(s a b o)
    });
$t->write_file('outside.gz', $OUT_GZ);
for my $d (qw(s a b o)) {
    my $h = $t->path("html/$d");
    symlink('app.js.gz', "$h/link.js.gz") or die "symlink: $!";
    symlink('../../../outside.gz', "$h/out.txt.gz") or die "symlink: $!";
    symlink('nothing-here.gz', "$h/dangling.txt.gz") or die "symlink: $!";
    chmod 0600, "$h/secret.txt.gz";
}
# The .gz gets its own modification time, so that the validators show
# which file they came from.
for my $d (qw(s a b o)) {
    utime 1_600_000_000, 1_600_000_000, $t->path("html/$d/app.js");
    utime 1_700_000_000, 1_700_000_000, $t->path("html/$d/app.js.gz");
}
if ($as_root) {
    chmod 0755, $t->prefix, $t->path('html');
    my @dirs = ($t->path('html'));
    while (my $d = shift @dirs) {
        opendir my $dh, $d or die "$d: $!";
        for my $e (grep { !/^\.\.?$/ } readdir $dh) {
            my $p = "$d/$e";
            next if -l $p || $e eq 'secret.txt.gz';
            chmod((-d $p ? 0755 : 0644), $p);
            push @dirs, $p if -d $p;
        }
    }
}
$t->start;

my @GZ = ('Accept-Encoding' => 'gzip, deflate, br');
my $JS_GZ_LEN = length $JS_GZ;
my $GZ_ETAG = sprintf('"%x-%x"', 1_700_000_000, $JS_GZ_LEN);
my $JS_ETAG = sprintf('"%x-%x"', 1_600_000_000, length $JS);
my $GZ_LM = 'Tue, 14 Nov 2023 22:13:20 GMT';     # 1_700_000_000
my $JS_LM = 'Sun, 13 Sep 2020 12:26:40 GMT';     # 1_600_000_000

# An answer from the .gz: (response) checked, named $what.
sub check_from_gz {
    my ($r, $gzbytes, $plain, $what, %o) = @_;
    is($r->status, 200, "$what: 200");
    is($r->header('content-encoding'), 'gzip', "$what: Content-Encoding: gzip");
    is($r->header('content-length'), length $gzbytes, "$what: the .gz's length");
    ok(!$r->{chunked}, "$what: not chunked");
    ok(($r->body // '') eq $gzbytes, "$what: the .gz's bytes")
        or diag('got ' . length($r->body // '') . ' bytes');
    is(gunzip_str($r->body // ''), $plain, "$what: gunzips to the file");
    if ($o{vary}) {
        is($r->header('vary'), 'Accept-Encoding', "$what: Vary: Accept-Encoding");
    } else {
        ok(!defined $r->header('vary'), "$what: no Vary");
    }
}

sub check_plain {
    my ($r, $plain, $what, %o) = @_;
    is($r->status, 200, "$what: 200");
    ok(!defined $r->header('content-encoding'), "$what: no Content-Encoding");
    is($r->header('content-length'), length $plain, "$what: the file's length");
    ok(($r->body // '') eq $plain, "$what: the file's bytes")
        or diag('got ' . length($r->body // '') . ' bytes');
    if ($o{vary}) {
        is($r->header('vary'), 'Accept-Encoding', "$what: Vary: Accept-Encoding");
    } elsif (exists $o{vary}) {
        ok(!defined $r->header('vary'), "$what: no Vary");
    }
}

# ---- on ------------------------------------------------------------------

{
    my $r = $t->http_get('/s/app.js', @GZ);
    check_from_gz($r, $JS_GZ, $JS, 'on, gzip client', vary => 1);
    is($r->header('etag'), $GZ_ETAG, 'on: the .gz\'s ETag, strong');
    is($r->header('last-modified'), $GZ_LM, 'on: the .gz\'s Last-Modified');
    like($r->header('content-type') // '', qr{javascript}, 'on: the file\'s type');
    is($r->header('accept-ranges'), 'bytes', 'on: Accept-Ranges');
}

for my $ae ('gzip', 'GZIP', 'x-gzip', '*', 'gzip;q=0.001', 'br;q=1, gzip ; q=0.5') {
    check_from_gz($t->http_get('/s/app.js', 'Accept-Encoding' => $ae),
                  $JS_GZ, $JS, "on, Accept-Encoding: $ae", vary => 1);
}

for my $ae (undef, 'gzip;q=0', '*;q=0', '*, gzip;q=0', 'deflate, br', 'identity') {
    my $what = 'on, Accept-Encoding: ' . ($ae // '(none)');
    my $r = $t->http_get('/s/app.js', defined $ae ? ('Accept-Encoding' => $ae) : ());
    check_plain($r, $JS, $what, vary => 1);
    is($r->header('etag'), $JS_ETAG, "$what: the file's ETag");
    is($r->header('last-modified'), $JS_LM, "$what: the file's Last-Modified");
}

check_from_gz($t->http_get('/s/idx/', @GZ), $IDX_GZ, $IDX, 'on, index file',
              vary => 1);
check_plain($t->http_get('/s/idx/'), $IDX, 'on, index file, no gzip', vary => 1);

{
    my $r = $t->http_head('/s/app.js', @GZ);
    is($r->status, 200, 'HEAD: 200');
    is($r->header('content-encoding'), 'gzip', 'HEAD: Content-Encoding: gzip');
    is($r->header('content-length'), $JS_GZ_LEN, 'HEAD: the .gz\'s length');
    is($r->header('etag'), $GZ_ETAG, 'HEAD: the .gz\'s ETag');
    is($r->header('vary'), 'Accept-Encoding', 'HEAD: Vary');
    is($r->body // '', '', 'HEAD: no body');
}

{
    my $r = $t->http_get('/s/app.js', @GZ, Range => 'bytes=10-1009');
    is($r->status, 206, 'range of the .gz: 206');
    is($r->header('content-encoding'), 'gzip', 'range: Content-Encoding: gzip');
    is($r->header('content-range'), "bytes 10-1009/$JS_GZ_LEN",
       'range: Content-Range in the .gz\'s bytes');
    ok(($r->body // '') eq substr($JS_GZ, 10, 1000), 'range: the .gz\'s bytes 10-1009');
    $r = $t->http_get('/s/app.js', @GZ, Range => "bytes=-20");
    ok(($r->body // '') eq substr($JS_GZ, -20), 'suffix range: the .gz\'s last bytes');
    $r = $t->http_get('/s/app.js', @GZ, Range => "bytes=$JS_GZ_LEN-");
    is($r->status, 416, 'range past the .gz\'s end: 416');
    is($r->header('content-range'), "bytes */$JS_GZ_LEN", '416: the .gz\'s length');
    $r = $t->http_get('/s/app.js', Range => 'bytes=0-99');
    ok($r->status == 206 && ($r->body // '') eq substr($JS, 0, 100),
       'range without gzip: the file\'s bytes');
}

for my $route ('s', 'b') {
    my $r = $t->http_get("/$route/app.js", @GZ, 'If-None-Match' => $GZ_ETAG);
    is($r->status, 304, "/$route/: revalidation with the .gz's ETag: 304");
    is($r->header('etag'), $GZ_ETAG, "/$route/: 304 keeps the strong ETag");
    like($r->header('vary') // '', qr/^Accept-Encoding$/, "/$route/: 304 has one Vary");
    ok(!defined $r->header('content-encoding'), "/$route/: 304 without Content-Encoding");
    $r = $t->http_get("/$route/app.js", @GZ, 'If-None-Match' => $JS_ETAG);
    is($r->status, 200, "/$route/: the file's ETag does not match the .gz");
}

# ---- fallbacks -------------------------------------------------------------

check_plain($t->http_get('/s/plain.txt', @GZ), $PLAIN, 'no .gz', vary => undef);
ok(!defined $t->http_get('/s/plain.txt', @GZ)->header('vary'),
   'no .gz, route without gzip: no Vary');
check_plain($t->http_get('/s/dir.txt', @GZ), $DIR, '.gz is a directory', vary => undef);
check_plain($t->http_get('/s/dangling.txt', @GZ), $PLAIN, '.gz is a dangling link',
            vary => undef);
check_plain($t->http_get('/s/out.txt', @GZ), $PLAIN, '.gz links out of root',
            vary => undef);
check_from_gz($t->http_get('/s/link.js', @GZ), $JS_GZ, $JS,
              '.gz links to a .gz inside root', vary => 1);
is($t->http_get('/s/app.js.gz')->status, 200, 'the .gz itself is still a file');
is($t->http_get('/s/only.js', @GZ)->status, 404, 'no FILE: 404 though FILE.gz exists');

SKIP: {
    skip 'root ignores modes (and no user nobody)', 4 if $> == 0 && !$as_root;
    my $mark = $t->log_mark;
    check_plain($t->http_get('/s/secret.txt', @GZ), $PLAIN, 'unreadable .gz',
                vary => undef);
    ok($t->wait_for_log(qr/cannot open .*secret\.txt\.gz.*serving the file itself/,
                        from => $mark), 'unreadable .gz: logged');
}

# ---- always ------------------------------------------------------------------

for my $ae (undef, 'gzip', 'gzip;q=0', 'identity') {
    my $what = 'always, Accept-Encoding: ' . ($ae // '(none)');
    my $r = $t->http_get('/a/app.js', defined $ae ? ('Accept-Encoding' => $ae) : ());
    check_from_gz($r, $JS_GZ, $JS, $what, vary => 0);
    is($r->header('etag'), $GZ_ETAG, "$what: the .gz's ETag");
}
check_plain($t->http_get('/a/plain.txt'), $PLAIN, 'always, no .gz', vary => undef);

# ---- beside gzip = on ------------------------------------------------------------

{
    my $r = $t->http_get('/b/app.js', @GZ);
    check_from_gz($r, $JS_GZ, $JS, 'gzip = on too: the .gz, not compressed again',
                  vary => 1);
    is($r->header('etag'), $GZ_ETAG, 'gzip = on too: the ETag stays strong');
    $r = $t->http_get('/b/plain.txt', @GZ);
    is($r->header('content-encoding'), 'gzip', 'gzip = on, no .gz: compressed on the fly');
    ok($r->{chunked}, 'on the fly: chunked');
    is(gunzip_str($r->body // ''), $PLAIN, 'on the fly: gunzips to the file');
    check_plain($t->http_get('/b/app.js'), $JS, 'gzip = on too, no gzip client',
                vary => 1);
    is($t->http_get('/b/app.js')->header_count('vary'), 1, 'one Vary field');
}

# ---- off ----------------------------------------------------------------------

check_plain($t->http_get('/o/app.js', @GZ), $JS, 'gzip_static off: the file',
            vary => 0);

# ---- configuration errors ------------------------------------------------------------

{
    my $bad = WeirTest->new(config => <<'INI');
[server s]
listen = 127.0.0.1:%%PORT0%%

[route r]
server = s
match = /
return = 200 x
gzip_static = on

[route q]
server = s
match = /q
root = html
gzip_static = maybe
INI
    my @cl = split /\n/, $bad->config_text;
    my %line;
    for my $i (0 .. $#cl) { $line{$cl[$i]} //= $i + 1 }
    my $res = $bad->weir_ctl('-t');
    my $out = $res->{out} . $res->{err};
    isnt($res->{rc}, 0, 'weir -t refuses bad gzip_static');
    my ($l1, $l2) = @line{'gzip_static = on', 'gzip_static = maybe'};
    like($out, qr{weir\.ini:$l1: \[route r\] gzip_static: requires root},
         'gzip_static without root: file:line');
    like($out, qr{weir\.ini:$l2: .*gzip_static.*maybe}, 'gzip_static = maybe: file:line')
        or diag($out);
}

$t->done_testing;
