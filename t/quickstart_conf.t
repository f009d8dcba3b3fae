#!/usr/bin/perl
# The shipped conf/weir.ini (the quick start): it passes `weir -t` as it
# stands in the source tree, and a copy of it (ports moved to free ones,
# daemon = off) really is a reverse proxy in front of the demo origin:
# the index page comes through the proxy, /ping answers pong, the origin's
# 404 page passes through, the access log names the peer, and when the
# origin is unreachable the client gets the shipped 50x page with a 502.

use strict;
use warnings;
use Test::More;
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

# --- weir -t on the file as shipped, from the source tree -------------------

my $r = $t->weir_cmd('-t', '-p', $src, '-c', $shipped);
is($r->{rc}, 0, 'weir -t -p SRCDIR -c SRCDIR/conf/weir.ini: exit 0')
    or diag($r->{err});
like($r->{err}, qr/test is successful/, '... "test is successful"');

$r = $t->weir_ctl('-t');
is($r->{rc}, 0, 'the rewritten copy passes weir -t too') or diag($r->{err});

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

my $dl = WeirTest::deadline(5);
do { $r = $t->http_get('/') } until $r->status == 502 || time > $dl;
is($r->status, 502, 'GET / with the origin unreachable: 502');
is($r->body, $html{'html/50x.html'},
    '... the shipped 50x.html, through the [route error-pages] route');
ok($t->wait_for_log(
        qr/upstream connect failed \(connect_refused\).*127\.0\.0\.1:\Q$dead\E/,
        from => $mark),
    'error log: the connect failure names the peer');

$r = $t->http_get('/ping');
is($r->body, 'pong', '/ping still answers with the origin down');

$t->done_testing;
