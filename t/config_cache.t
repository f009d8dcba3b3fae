#!/usr/bin/perl
# The configuration of the cache as `weir -t` and `weir -T` show it: every
# [cache NAME] key is accepted with its range and dumped with its default;
# each bad value fails -t (exit 1) naming file:line, the section and the
# key; a cache key without $host is a warning, not an error. The route
# keys cache_bypass and no_cache need cache and known variables. The
# README's example passes -t.

use strict;
use warnings;
use Test::More;
use WeirTest;

my $head = <<'INI';
[upstream app]
server = 127.0.0.1:%%PORT1%%

[server s]
listen = 127.0.0.1:%%PORT0%%

[route r]
server = s
match = /
upstream = app
cache = main
INI

# --- every key, good values ---------------------------------------------------

my $t = WeirTest->new(config => $head . <<'INI');
[cache main]
path = cache/main
levels = 1:2
max_size = 64m
inactive = 1h
key = $scheme$host$server_port$request_uri$cookie_lang
stale_if_error = 1d
stale_while_revalidate = 30s
lock_timeout = 2s
max_object_size = 8m
min_uses = 2
max_objects = 4096
fill_after_abort = 256k
open_files = 64
open_files_inactive = 30s
valid = 200 301 302 10m
valid = 404 1m
valid = any 30s

[cache plain]
INI
my $r = $t->weir_ctl('-t');
is($r->{rc}, 0, '-t: every [cache] key: exit 0') or diag($r->{err});
unlike($r->{err}, qr/\[warn\]/, '-t: no warning for a key with $host')
    or diag($r->{err});

$r = $t->weir_ctl('-T');
is($r->{rc}, 0, '-T: exit 0') or diag($r->{err});
my $dump = $r->{out};
my ($main) = $dump =~ /^\[cache main\]\n(.*?)\n\n/ms;
my ($plain) = $dump =~ /^\[cache plain\]\n(.*?)\n\n/ms;
ok(defined $main && defined $plain, '-T: both [cache] sections') or diag($dump);
$main //= '';
$plain //= '';
for my $line ('min_uses = 2', 'max_objects = 4096', 'fill_after_abort = 256k',
    'open_files = 64', 'open_files_inactive = 30s',
    'valid = any 30s', 'valid = 200 301 302 10m', 'valid = 404 1m',
    'key = $scheme$host$server_port$request_uri$cookie_lang')
{
    like($main, qr/^\Q$line\E$/m, "-T: $line");
}
# the defaults, with the index size worked out from max_size (1g / 32k)
for my $line ('min_uses = 1', 'max_objects = 32768', 'fill_after_abort = 1m',
    'open_files = 256', 'open_files_inactive = 10s',
    '; valid is not set',
    'key = $scheme://$host:$server_port$normalized_request_uri')
{
    like($plain, qr/^\Q$line\E$/m, "-T, defaults: $line");
}
my $dumped = $t->write_file('conf/dumped.ini', $dump);
$r = $t->weir_cmd('-t', '-p', $t->prefix, '-c', $dumped);
is($r->{rc}, 0, '-T output passes -t') or diag($r->{err});

# --- one error per line: each named by file:line, section and key ---------------

my @lines = (
    '[main]',                                   # 1
    'daemon = off',                             # 2
    '[cache c]',                                # 3
    'min_uses = 0',                             # 4
    'max_objects = 10',                         # 5
    'fill_after_abort = lots',                  # 6
    'valid = 200 302',                          # 7 legal: 302 seconds
    'valid = 200 10m',                          # 8 200 again
    'valid = 999 1m',                           # 9
    'valid = 404 5 minutes',                    # 10
    'valid = 500 1500ms',                       # 11
    'valid = 1m',                               # 12
    'key = $host$request_path',                 # 13
    '[cache d]',                                # 14
    'max_objects = 99999999',                   # 15
    'valid = any anything 1m',                  # 16
    'open_files = 70000',                       # 17
    'open_files_inactive = 500ms',              # 18
);
my $bad = $t->write_file('conf/bad.ini', join("\n", @lines) . "\n");
$r = $t->weir_cmd('-t', '-p', $t->prefix, '-c', $bad);
is($r->{rc}, 1, '-t with bad [cache] values: exit 1');
like($r->{err}, qr/^weir: configuration file \Q$bad\E test failed$/m,
    '... "test failed"');
my @expect = (
    [ 4,  'cache c', 'min_uses',         qr/"0" is out of range \(1\.\.1000000\)/ ],
    [ 5,  'cache c', 'max_objects',      qr/"10" is out of range \(64\.\.16777216\)/ ],
    [ 6,  'cache c', 'fill_after_abort', qr/invalid size "lots"/ ],
    [ 8,  'cache c', 'valid',            qr/status 200 already has a time/ ],
    [ 9,  'cache c', 'valid',            qr/invalid status "999" \(expected 100\.\.599 or any\)/ ],
    [ 10, 'cache c', 'valid',            qr/invalid time "minutes"/ ],
    [ 11, 'cache c', 'valid',            qr/invalid time "1500ms": .*whole seconds/ ],
    [ 12, 'cache c', 'valid',            qr/expected "STATUS\.\.\. TIME"/ ],
    [ 13, 'cache c', 'key',              qr/unknown variable "\$request_path"/ ],
    [ 15, 'cache d', 'max_objects',      qr/"99999999" is out of range/ ],
    [ 16, 'cache d', 'valid',            qr/invalid status "anything"/ ],
    [ 17, 'cache d', 'open_files',       qr/"70000" is out of range \(0\.\.65536\)/ ],
    [ 18, 'cache d', 'open_files_inactive', qr/"500ms" is out of range \(min 1s\)/ ],
);
for my $e (@expect) {
    my ($line, $sec, $key, $re) = @$e;
    like($r->{err}, qr/^weir: \Q$bad\E:$line: \[\Q$sec\E\] \Q$key\E: .*$re/m,
        "-t: $bad:$line: [$sec] $key") or diag($r->{err});
}
# The last word is the time, and a bare number is seconds.
unlike($r->{err}, qr/:7: /, '-t: "valid = 200 302" is 200 for 302 seconds');

# --- a key without the host: a warning --------------------------------------------

my $w = WeirTest->new(config => $head . <<'INI');
[cache main]
key = $scheme$request_uri
INI
my @l = split /\n/, $w->read_file('conf/weir.ini');
my ($kl) = grep { $l[$_ - 1] eq 'key = $scheme$request_uri' } 1 .. @l;
my $conf = $w->conf_file;
$r = $w->weir_ctl('-t');
is($r->{rc}, 0, 'a key without $host: -t still succeeds') or diag($r->{err});
like($r->{err},
    qr/\[warn\] .*\Q$conf\E:$kl: \[cache main\] key = \$scheme\$request_uri has no \$host: .*cache poisoning/,
    '... and warns, naming file:line, the cache and the key')
    or diag($r->{err});

$w->write_config($head . "[cache main]\nkey = \$http_host\$request_uri\n");
$r = $w->weir_ctl('-t');
is($r->{rc}, 0, 'a key with $http_host: exit 0');
unlike($r->{err}, qr/\[warn\]/, '... and no warning: it is the Host header')
    or diag($r->{err});

$w->write_config($head . "[cache main]\nkey = \$scheme\$hostname\n");
$r = $w->weir_ctl('-t');
like($r->{err}, qr/key: unknown variable "\$hostname"/,
    'key = $hostname is an unknown variable, not $host');

# --- the route keys cache_bypass and no_cache ------------------------------------

my @rl = (
    '[main]',                                   # 1
    'daemon = off',                             # 2
    '[upstream app]',                           # 3
    'server = 127.0.0.1:%%PORT1%%',             # 4
    '[server s]',                               # 5
    'listen = 127.0.0.1:%%PORT0%%',             # 6
    '[cache main]',                             # 7
    '[route a]',                                # 8
    'match = /a/',                              # 9
    'upstream = app',                           # 10
    'cache_bypass = $arg_nocache',              # 11 no cache =
    'no_cache = $cookie_session',               # 12 no cache =
    '[route b]',                                # 13
    'match = /b/',                              # 14
    'upstream = app',                           # 15
    'cache = main',                             # 16
    'cache_bypass = $http_x_purge$nocache',     # 17 unknown variable
    'no_cache = $cookie_session$arg_',          # 18 unknown variable
);
$bad = $t->write_file('conf/route.ini', $t->subst(join("\n", @rl) . "\n"));
$r = $t->weir_cmd('-t', '-p', $t->prefix, '-c', $bad);
is($r->{rc}, 1, '-t with bad route cache keys: exit 1');
@expect = (
    [ 11, 'route a', 'cache_bypass', qr/requires cache/ ],
    [ 12, 'route a', 'no_cache',     qr/requires cache/ ],
    [ 17, 'route b', 'cache_bypass', qr/unknown variable "\$nocache"/ ],
    [ 18, 'route b', 'no_cache',     qr/unknown variable "\$arg_"/ ],
);
for my $e (@expect) {
    my ($line, $sec, $key, $re) = @$e;
    like($r->{err}, qr/^weir: \Q$bad\E:$line: \[\Q$sec\E\] \Q$key\E: .*$re/m,
        "-t: $bad:$line: [$sec] $key") or diag($r->{err});
}

my $g = WeirTest->new(config => $head . <<'INI');
cache_bypass = $http_x_refresh$arg_nocache
no_cache = $cookie_session
[cache main]
INI
$r = $g->weir_ctl('-t');
is($r->{rc}, 0, 'cache_bypass and no_cache with cache: exit 0')
    or diag($r->{err});
$r = $g->weir_ctl('-T');
like($r->{out}, qr/^cache = main\ncache_bypass = \$http_x_refresh\$arg_nocache\nno_cache = \$cookie_session$/m,
    '-T prints them after cache') or diag($r->{out});

# --- the README's Caching snippet, after its Configuration ones -------------------

my $readme = WeirTest::srcdir() . '/README';
open my $fh, '<', $readme or die "$readme: $!";
my $text = do { local $/; <$fh> };
close $fh;
# The indented blocks of a README section, unindented (curl lines left out).
sub snippets {
    my ($title) = @_;
    my ($sec) = $text =~ /^\Q$title\E\n-+\n(.*?)^\S[^\n]*\n-+\n/ms
        or die "no $title section in README";
    return map { s/^    //mgr } grep { !/^    curl /m }
        $sec =~ /((?:^    \S.*\n)+)/mg;
}
my $ini = join "\n", snippets('Configuration');
my ($cache, $route) = snippets('Caching');
like($cache // '', qr/^\[cache main\]$/m, 'README: a [cache main] snippet');
like($route // '', qr/^cache = main$/m, 'README: then the keys for [route api]');
$ini =~ s/^(\[route api\]\n)/$1$route/m or die 'no [route api] in README';
$ini .= "\n$cache";
is($ini =~ s/^listen = 0\.0\.0\.0:8080$/listen = 127.0.0.1:%%PORT0%%/mg, 1,
    'README: one listen line to move to loopback');
my $rd = WeirTest->new(config => $ini);
$r = $rd->weir_ctl('-t');
is($r->{rc}, 0, 'README Configuration + Caching snippets: weir -t exit 0')
    or diag($r->{err});
unlike($r->{err}, qr/\[warn\]/, '... without a warning') or diag($r->{err});

$t->done_testing;
