#!/usr/bin/perl
# The shipped conf/weir.ini (the quick start): it passes `weir -t` as it
# stands, under a prefix laid out as the README's build-tree run, and a copy of it (ports moved to free ones,
# daemon = off) really is a reverse proxy in front of the demo origin:
# the index page comes through the proxy, /ping answers pong, the origin's
# 404 page passes through, the access log names the peer, and when the
# origin is unreachable the client gets the shipped 50x page with a 502.
# `contrib/quickstart setup` (what `run` does to its prefix) copies the
# file once and never overwrites an edited copy, saying so when the
# tree's file changed since.

use strict;
use warnings;
use Test::More;
use File::Temp ();
use IO::Uncompress::Gunzip ();
use Time::HiRes qw(time);
use WeirTest;

my $src = WeirTest::srcdir();
my $shipped = "$src/conf/weir.ini";
plan(skip_all => "no $shipped") unless -f $shipped;

sub slurp {
    my ($p) = @_;
    open my $fh, '<:raw', $p or die "$p: $!";
    local $/;
    return scalar <$fh>;
}

my $orig = slurp($shipped);

# The html/ files, copied into the test prefix (the quick start links the
# tree's html/ the same way).
my %html;
for my $f (glob "$src/html/*") {
    next unless -f $f;
    (my $rel = $f) =~ s{^\Q$src\E/}{};
    $html{$rel} = slurp($f);
}
ok(exists $html{'html/index.html'}, 'html/index.html exists in the tree');
ok(exists $html{'html/50x.html'}, 'html/50x.html exists in the tree');

# The copy: same file, with the ports and the daemon flag changed. Each
# substitution must match, so that a change to the shipped file that this
# test no longer understands fails here rather than silently testing less.
my $conf = $orig;
my %subs = (
    'daemon = off'   => qr/^daemon\s*=\s*on\b/m,
    'workers = 2'    => qr/^workers\s*=\s*auto\b/m,
);
for my $new (sort keys %subs) {
    ok($conf =~ s/$subs{$new}/$new/, "shipped file has the line for \"$new\"");
}
my $n_public = ($conf =~ s/^listen\s*=\s*0\.0\.0\.0:8080\b/listen = 127.0.0.1:%%PORT0%%/mg);
is($n_public, 1, 'shipped file: the public server listens on 0.0.0.0:8080');
my $n_origin = ($conf =~ s/\b127\.0\.0\.1:8081\b/127.0.0.1:%%PORT1%%/g);
cmp_ok($n_origin, '>=', 2,
    'shipped file: 127.0.0.1:8081 is both the origin listen and the upstream peer');
unlike($conf, qr/^[^;#\n]*\b808[01]\b/m, 'no active line still names 8080/8081');

my $t = WeirTest->new(config => $conf, files => \%html);

# --- weir -t on the file as shipped ----------------------------------------

# -t checks that the logs and the pid file can be written, so the prefix
# needs logs/ (the source tree has none): the test prefix has it, with
# conf/ and html/, as the README's "mkdir -p run/logs && cp -R conf html
# run/". -t also binds 8080 and 8081; another program holding them here
# is this host's business, not the file's.
my $r = $t->weir_cmd('-t', '-p', $t->prefix, '-c', $shipped);
my @errs = grep { !/test failed$/ } grep { /^weir: / } split /\n/, $r->{err};
SKIP: {
    skip "ports of the shipped file are held on this host: @errs", 2
        if $r->{rc} == 1 && @errs && !grep { !/listen: cannot bind/ } @errs;
    is($r->{rc}, 0, 'weir -t -p PREFIX -c SRCDIR/conf/weir.ini: exit 0')
        or diag($r->{err});
    like($r->{err}, qr/test is successful/, '... "test is successful"');
}

$r = $t->weir_ctl('-t');
is($r->{rc}, 0, 'the rewritten copy passes weir -t too') or diag($r->{err});

# The demo route opts in to the shipped [cache main].
$r = $t->weir_ctl('-T');
my ($app) = $r->{out} =~ /^\[route app\]\n(.*?)(?:\n\n|\z)/ms;
like($app // '', qr/^cache = main$/m, '-T: [route app] uses cache = main')
    or diag($r->{out});
like($r->{out}, qr/^\[cache main\]$/m, '-T: the shipped [cache main]');

# --- the running copy ------------------------------------------------------

$t->start;
my $proxy = $t->port(0);
my $origin = $t->port(1);

$r = $t->http_get('/');
is($r->status, 200, 'GET / through the proxy: 200') or diag($r->head);
is($r->body, $html{'html/index.html'}, '... the demo index page');
is($r->header('X-Content-Type-Options'), 'nosniff',
    '... with the route\'s add_header');
ok(!defined $r->header('Via'), '... Via is sent upstream only');
like($r->header('Cache-Status') // '', qr/^weir; fwd=uri-miss/,
    '... through the cache (Cache-Status, a miss the first time)');
$r = $t->http_get('/');
like($r->header('Cache-Status') // '', qr/^weir; hit/,
    'the second GET / is a hit (Cache-Status)');
is($r->body, $html{'html/index.html'}, '... with the same page');

# The demo route compresses for clients that ask (gzip = on).
$r = $t->http_get('/', 'Accept-Encoding' => 'gzip');
is($r->header('Content-Encoding'), 'gzip',
    'GET / with Accept-Encoding: gzip: compressed');
my $plain;
IO::Uncompress::Gunzip::gunzip(\($r->body) => \$plain);
is($plain, $html{'html/index.html'}, '... and it gunzips to the page');

$r = $t->http(WeirTest::request('GET', '/', Connection => 'close'),
    port => $origin);
is($r->status, 200, 'GET / on the origin port directly: 200');
is($r->body, $html{'html/index.html'}, '... the same page');
ok(!defined $r->header('X-Content-Type-Options'),
    '... without the proxy route\'s add_header');

$r = $t->http_get('/ping');
is($r->status, 200, 'GET /ping: 200');
is($r->body, 'pong', '... pong, answered by weir itself');

$r = $t->http_get('/no-such-page');
is($r->status, 404, 'GET /no-such-page through the proxy: the origin\'s 404');
is($r->body, $html{'html/404.html'}, '... with its 404 page');

# The shipped log format names the peer and its status on the proxy's line.
ok($t->wait_for_access_log(
        qr{"GET / HTTP/1\.1" 200 \d+ \S+ 127\.0\.0\.1:\Q$origin\E 200 }),
    'access log: the proxied request names 127.0.0.1:ORIGIN and its 200');
ok($t->wait_for_access_log(qr{"GET /ping HTTP/1\.1" 200 4 \S+ - - - 0 }),
    'access log: /ping has no upstream fields');

# A client's X-Request-Id is kept and logged as $request_id.
$t->http_get('/', 'X-Request-Id' => 'quickstart-abc');
my $line = $t->wait_for_access_log(qr/quickstart-abc/);
ok($line, 'access log: the client\'s X-Request-Id is logged');
like($line // '', qr/ quickstart-abc$/,
    '... exactly, at the end of the line (a short id is not padded)');

# --- the origin unreachable: 502 with the shipped error page ---------------

my $mark = $t->log_mark;
my $dead = $t->port(2);     # free, and nothing listens there
(my $broken = $conf) =~ s/^server\s*=\s*127\.0\.0\.1:%%PORT1%%/server = 127.0.0.1:%%PORT2%%/m
    or die 'no upstream server line to redirect';
$t->write_config($broken);
$t->signal('HUP');
ok($t->wait_for_log(qr/generation \d+ started/, from => $mark),
    'reload with the upstream pointed at a closed port');

# A new path each time: [route app] caches (cache = main), so a path the
# old workers fetched once, or '/' from above, may be answered from the
# cache, and stale_if_error serves a stale copy with the origin down.
my $dl = WeirTest::deadline(5);
my $n = 0;
do { $r = $t->http_get('/?after-reload=' . $n++) }
    until $r->status == 502 || time > $dl;
is($r->status, 502, 'GET / with the origin unreachable: 502');
is($r->body, $html{'html/50x.html'},
    '... the shipped 50x.html, through the [route error-pages] route');
ok($t->wait_for_log(
        qr/upstream connect failed \(connect_refused\).*127\.0\.0\.1:\Q$dead\E/,
        from => $mark),
    'error log: the connect failure names the peer');

$r = $t->http_get('/ping');
is($r->body, 'pong', '/ping still answers with the origin down');

# --- contrib/quickstart setup: an edited runtime copy is kept ---------------

# `contrib/quickstart run` prepares its prefix with the same function as
# `setup`, which neither builds nor starts anything.
my $qs = "$src/contrib/quickstart";
my $run = File::Temp::tempdir('weir-qs-XXXXXX', TMPDIR => 1, CLEANUP => 1)
    . '/run';
sub quickstart_setup {
    local $ENV{WEIR_RUN_DIR} = $run;
    open my $ph, '-|', $qs, 'setup' or die "$qs: $!";
    my $out = do { local $/; <$ph> } // '';
    close $ph;
    return ($? >> 8, $out);
}

my ($rc, $out) = quickstart_setup();
is($rc, 0, 'quickstart setup: exit 0');
is(slurp("$run/conf/weir.ini"), $orig,
    'quickstart setup: conf/weir.ini copied into the prefix');
ok(-l "$run/html" && -f "$run/html/index.html",
    '... html/ linked to the tree\'s');
ok(-d "$run/logs", '... logs/ made');
unlike($out, qr/keeping/, '... with nothing to keep');

my $edited = $orig . "; my edit\n";
sub write_run_conf {
    open my $fh, '>:raw', "$run/conf/weir.ini" or die $!;
    print $fh $edited;
    close $fh or die $!;
}
write_run_conf();
($rc, $out) = quickstart_setup();
is(slurp("$run/conf/weir.ini"), $edited,
    'quickstart setup again: the edited copy is kept');
unlike($out, qr/keeping/, '... silently, when the tree\'s file is older');

# The tree's file changed after the copy was made (as after a git pull):
# the copy is still kept, and stdout says so and how to take the new one.
utime(946684800, 946684800, "$run/conf/weir.ini") or die $!;
($rc, $out) = quickstart_setup();
is($rc, 0, 'quickstart setup, tree newer: exit 0');
is(slurp("$run/conf/weir.ini"), $edited,
    'quickstart setup, tree newer: the edited copy is not overwritten');
like($out, qr{keeping \S*conf/weir\.ini: conf/weir\.ini changed in the tree.*diff -u .*rm \S*conf/weir\.ini}s,
    '... and stdout says it kept it, how to compare and how to start over')
    or diag($out);

unlink "$run/conf/weir.ini" or die $!;
quickstart_setup();
is(slurp("$run/conf/weir.ini"), $orig,
    'quickstart setup after rm: a fresh copy of the shipped file');

$t->done_testing;
