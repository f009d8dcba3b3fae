#!/usr/bin/perl
# Warnings about a file that loads: a route that an earlier route of the
# same server covers can never match; `weir -t` says so on stderr and a
# reload in the error log, naming both routes by file:line, and keeps
# quiet for a good order and for regexes it cannot judge. A missing
# mime.types is reported once by the loader (not by every worker), and
# only when some route has `root`. The README's configuration snippets,
# pasted in the order shown, do not fall into the shadowing trap.

use strict;
use warnings;
use Test::More;
use WeirTest;

my $head = <<'INI';
[server s]
listen = 127.0.0.1:%%PORT0%%
INI

# --- shadowed routes -------------------------------------------------------------

my @lines = (
    '[server s]',                       # 1
    'listen = 127.0.0.1:%%PORT0%%',     # 2
    '[route site]',                     # 3
    'match = /',                        # 4
    'root = html',                      # 5
    '[route api]',                      # 6
    'match = /api/',                    # 7
    'return = 200 api',                 # 8
    '[route ping]',                     # 9
    'match = = /ping',                  # 10
    'return = 200 pong',                # 11
    '[route v]',                        # 12
    'match = ~ ^/v[0-9]+/',             # 13
    'return = 200 v',                   # 14
    '[route odd]',                      # 15
    'match = ~ /x|^/y',                 # 16 not judged
    'return = 200 odd',                 # 17
);
my $t = WeirTest->new(files => { 'html/index.html' => "site\n" },
    config => join("\n", @lines) . "\n");
my $conf = $t->conf_file;

# The line of the written file (WeirTest puts [main] first) holding $text.
sub line_of {
    my ($w, $text) = @_;
    my @l = split /\n/, $w->read_file('conf/weir.ini');
    for my $i (0 .. $#l) { return $i + 1 if $l[$i] eq $text }
    die "no line \"$text\"";
}
my %ln = map { $_ => line_of($t, $_) }
    ('match = /', 'match = /api/', 'match = = /ping', 'match = ~ ^/v[0-9]+/');
my $r = $t->weir_ctl('-t');
is($r->{rc}, 0, '-t: a shadowed route is legal (exit 0)') or diag($r->{err});
like($r->{err}, qr/test is successful/, '-t: test is successful');
like($r->{err},
    qr{\[warn\] .*\Q$conf\E:$ln{'match = /api/'}: \[route api\] match = /api/ never matches: \[route site\] \(\Q$conf\E:$ln{'match = /'}, match = /\)},
    '-t: warns that [route api] is covered by [route site], both by file:line')
    or diag($r->{err});
like($r->{err}, qr{\Q$conf\E:$ln{'match = = /ping'}: \[route ping\] .*\[route site\] \(\Q$conf\E:$ln{'match = /'},},
    '-t: an exact match under the catch-all too');
like($r->{err}, qr{\Q$conf\E:$ln{'match = ~ ^/v[0-9]+/'}: \[route v\] match = ~ \^/v\[0-9\]\+/ never matches},
    '-t: and an anchored regex');
unlike($r->{err}, qr{\[route odd\]}, '-t: no warning for a regex it cannot judge');
my @w = $r->{err} =~ /never matches/g;
is(scalar @w, 3, '-t: one warning per shadowed route');

# The same routes in the right order: no warning.
my @good = (@lines[0, 1], @lines[5 .. 13], @lines[2 .. 4], @lines[14 .. 16]);
$t->write_config(join("\n", @good) . "\n");
$r = $t->weir_ctl('-t');
is($r->{rc}, 0, '-t, good order: exit 0');
unlike($r->{err}, qr/\[warn\]/, '-t, good order: no warning') or diag($r->{err});

# A duplicate exact route, and a reload: the warning is in the error log.
$t->start;
is($t->http_get('/ping')->body, 'pong', 'the good order serves /ping');
my $mark = $t->log_mark;
$t->write_config(join("\n", @good, '[route ping2]', 'match = = /ping',
    'return = 200 pong2') . "\n");
$t->signal('HUP');
my $l1 = line_of($t, 'match = = /ping');
my $l2 = $l1 + 12;   # the appended [route ping2]
ok($t->wait_for_log(qr{\[warn\] .*:$l2: \[route ping2\] match = = /ping never matches: \[route ping\] \(\S+:$l1, match = = /ping\)},
        from => $mark),
    'reload: the duplicate exact route is warned about in the error log');
ok($t->wait_for_log(qr/generation \d+ started/, from => $mark),
    'reload: the file still loads');
is($t->http_get('/ping')->body, 'pong', 'the first of the duplicates answers');
$t->stop;

# --- the README's snippets, pasted in the order shown -----------------------------

my $readme = WeirTest::srcdir() . '/README';
open my $fh, '<', $readme or die "$readme: $!";
my $text = do { local $/; <$fh> };
close $fh;
my ($section) = $text =~ /^Configuration\n-+\n(.*?)^\S[^\n]*\n-+\n/ms
    or die 'no Configuration section in README';
my $ini = join '', map { s/^    //r } grep { /^    / || /^$/ } split /^/, $section;
ok($ini =~ /\[route api\]/ && $ini =~ /\[route site\]/,
    'README: the Configuration snippets hold [route api] and [route site]');
is($ini =~ s/^listen = 0\.0\.0\.0:8080$/listen = 127.0.0.1:%%PORT0%%/mg, 1,
    'README: one listen line to move to loopback');
my $rd = WeirTest->new(config => $ini);
$r = $rd->weir_ctl('-t');
is($r->{rc}, 0, 'README snippets, pasted in order: weir -t exit 0')
    or diag($r->{err});
unlike($r->{err}, qr/never matches/,
    'README snippets, pasted in order: no route is shadowed') or diag($r->{err});

# --- mime.types: once, and only with a root route -------------------------------

my $m = WeirTest->new(main => { workers => 2 },
    files => { 'html/a.txt' => "a\n" }, config => $head . <<'INI');
[route site]
match = /
root = html
INI
unlink $m->path('conf/mime.types') or die "no mime.types to remove: $!";
$r = $m->weir_ctl('-t');
is($r->{rc}, 0, 'missing mime.types: -t still succeeds');
my @mw = $r->{err} =~ /mime\.types.*application\/octet-stream/g;
is(scalar @mw, 1, 'missing mime.types, a root route: -t warns once')
    or diag($r->{err});
$m->start(workers => 2);
my $res = $m->http_get('/a.txt');
is($res->status, 200, 'missing mime.types: files are served');
is($res->header('Content-Type'), 'application/octet-stream',
    '... as application/octet-stream');
$m->stop;     # every worker has finished its start-up once it has exited
my $logs = ($m->error_log // '') . ($m->read_file('logs/stderr.log') // '');
@mw = $logs =~ /mime\.types[^\n]*application\/octet-stream/g;
is(scalar @mw, 1, 'missing mime.types: one warning at start, not one per worker')
    or diag($logs);

my $n = WeirTest->new(main => { workers => 2 }, config => $head . <<'INI');
[route hello]
match = /
return = 200 hello
INI
unlink $n->path('conf/mime.types') or die "no mime.types to remove: $!";
$r = $n->weir_ctl('-t');
unlike($r->{err}, qr/mime/, 'no root route: -t does not mention mime.types')
    or diag($r->{err});
$n->start(workers => 2);
is($n->http_get('/')->body, 'hello', 'no root route: serves');
$n->stop;
$logs = ($n->error_log // '') . ($n->read_file('logs/stderr.log') // '');
unlike($logs, qr/mime/, 'no root route: no mime.types warning at all')
    or diag($logs);

$t->done_testing;
