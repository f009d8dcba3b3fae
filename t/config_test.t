#!/usr/bin/perl
# The command line: -t checks a file and names every error by file:line,
# -T prints an effective config that itself passes -t, -s without a running
# master fails clearly, -V and -h.

use strict;
use warnings;
use Test::More;
use WeirTest;

my $good = <<'INI';
[main]
daemon = off
workers = 1
error_log = logs/error.log
pid = logs/weir.pid
log_level = info

[http]
access_log = logs/access.log
keepalive_timeout = 5s
client_max_body_size = 1k

[server s]
listen = 127.0.0.1:%%PORT0%%

[route hello]
server = s
match = = /hello
return = 200 hello

[route site]
server = s
match = /
root = html
index = index.html
INI

my $t = WeirTest->new(config => $good,
    files => { 'html/index.html' => "<p>hi</p>\n" });
my $conf = $t->conf_file;

# --- -t on a good file -----------------------------------------------------

my $r = $t->weir_ctl('-t');
is($r->{rc}, 0, '-t good file: exit 0') or diag($r->{err});
like($r->{err}, qr/^weir: configuration file \Q$conf\E test is successful$/m,
    '-t good file: "test is successful" on stderr');
ok(!-e $t->pid_file, '-t does not write the pid file');

# --- -t on a file with many errors: every one is listed ---------------------

my @lines = (
    '[main]',                                   # 1
    'daemon = off',                             # 2
    'workers = many',                           # 3 bad integer
    'bogus_key = 1',                            # 4 unknown key
    'error_log = logs/error.log',               # 5
    'pid = logs/weir.pid',                      # 6
    '',                                         # 7
    '[http]',                                   # 8
    'keepalive_timeout = 5parsecs',             # 9 bad time
    'client_max_body_size = 12q',               # 10 bad size
    'keepalive_timeout = 5s',                   # 11 duplicate key
    'this line has no equals sign',             # 12 syntax
    '',                                         # 13
    '[server s]',                               # 14
    'listen = 127.0.0.1:99999',                 # 15 bad port
    '',                                         # 16
    '[route r]',                                # 17
    'server = s',                               # 18
    'match = /',                                # 19
    'root = html',                              # 20
    'frobnicate = yes',                         # 21 unknown key
    'x_long = ' . ('y' x 9000),                 # 22 over-long line
    '[route r2]',                               # 23
    'server = nope',                            # 24 undefined server
    'match = /x',                               # 25
    'return = 200 x',                           # 26
    '[upstream u]',                             # 27
    'server = 127.0.0.1:9',                     # 28
    'resolve = 1ms',                            # 29 below the 1s minimum
);
my $bad = $t->write_file('conf/bad.ini', join("\n", @lines) . "\n");
$r = $t->weir_cmd('-t', '-p', $t->prefix, '-c', $bad);
is($r->{rc}, 1, '-t bad file: exit 1');
like($r->{err}, qr/^weir: configuration file \Q$bad\E test failed$/m,
    '-t bad file: "test failed" on stderr');

my @expect = (
    [ 3,  qr/\[main\] workers:/,                 'bad integer' ],
    [ 4,  qr/\[main\] bogus_key:/,               'unknown key in [main]' ],
    [ 9,  qr/\[http\] keepalive_timeout:/,       'bad time' ],
    [ 10, qr/\[http\] client_max_body_size:/,    'bad size' ],
    [ 11, qr/\[http\] keepalive_timeout:.*dup/i, 'duplicate key' ],
    [ 12, qr//,                                  'line without "="' ],
    [ 15, qr/\[server s\] listen:/,              'bad port' ],
    [ 21, qr/\[route r\] frobnicate:/,           'unknown key in a route' ],
    [ 22, qr/line too long/,                      'over-long line' ],
    [ 29, qr/\[upstream u\] resolve: 1ms is too often: 0 \(at load only\) or at least 1s/,
      'resolve below its minimum' ],
);
for my $e (@expect) {
    my ($line, $re, $what) = @$e;
    my @hits = grep { /$re/ } $r->{err} =~ /^weir: \Q$bad\E:$line: (.*)$/mg;
    ok(@hits, "-t reports $what at $bad:$line") or diag($r->{err});
}
like($r->{err}, qr/^weir: \Q$bad\E:(?:23|24): .*nope/m,
    '-t reports the undefined server name at the route');

# an error line names the section and the key before the reason
like($r->{err}, qr/^weir: \Q$bad\E:4: \[main\] bogus_key: \S/m,
    'error line format: file:line: [section] key: reason');

# --- a missing file ----------------------------------------------------------

my $missing = $t->prefix . '/conf/nope.ini';
$r = $t->weir_cmd('-t', '-p', $t->prefix, '-c', $missing);
is($r->{rc}, 1, '-t missing file: exit 1');
like($r->{err}, qr/\Q$missing\E/, '-t missing file: the path is named');
like($r->{err}, qr/test failed/, '-t missing file: test failed');

# --- -T: the effective config passes -t ------------------------------------

$r = $t->weir_ctl('-T');
is($r->{rc}, 0, '-T: exit 0') or diag($r->{err});
my $dump = $r->{out};
like($dump, qr/^\[main\]/m, '-T prints [main]');
like($dump, qr/^\[server s\]/m, '-T prints the server');
like($dump, qr/^listen\s*=\s*127\.0\.0\.1:\d+/m, '-T prints the listen address');
like($dump, qr/^client_header_timeout\s*=/m, '-T prints defaults too');
like($dump, qr/^\[route hello\]/m, '-T prints routes');
my $dumped = $t->write_file('conf/dumped.ini', $dump);
$r = $t->weir_cmd('-t', '-p', $t->prefix, '-c', $dumped);
is($r->{rc}, 0, '-T output passes -t') or diag($r->{err}, "\n", $dump);

# --- -s without a running master -------------------------------------------

$r = $t->weir_ctl('-s', 'reload');
is($r->{rc}, 1, '-s reload, no pid file: exit 1');
like($r->{err}, qr/\S/, '-s reload, no pid file: says why');
unlike($r->{err}, qr/Segmentation|Aborted/, '-s reload, no pid file: no crash');

# a stale pid file: a pid that no longer runs (a child we reaped)
my $dead = fork // die;
POSIX::_exit(0) if $dead == 0;
waitpid($dead, 0);
$t->write_file($t->{main}{pid}, "$dead\n");
$r = $t->weir_ctl('-s', 'reload');
is($r->{rc}, 1, '-s reload, stale pid: exit 1');
like($r->{err}, qr/\S/, '-s reload, stale pid: says why');
unlink $t->pid_file;

$r = $t->weir_ctl('-s', 'sideways');
isnt($r->{rc}, 0, '-s with an unknown signal name fails');

# --- -V, -h, bad options ----------------------------------------------------

$r = $t->weir_cmd('-V');
is($r->{rc}, 0, '-V: exit 0');
like($r->{out} . $r->{err}, qr/weir.*\d+\.\d+/, '-V prints the version');

$r = $t->weir_cmd('-h');
is($r->{rc}, 0, '-h: exit 0');
like($r->{out} . $r->{err}, qr/-c\b/, '-h lists -c');
like($r->{out} . $r->{err}, qr/-s\b/, '-h lists -s');

$r = $t->weir_cmd('-Z');
isnt($r->{rc}, 0, 'unknown option: non-zero exit');
is($r->{signal}, 0, 'unknown option: no crash');

# --- the good file really starts ---------------------------------------------

$t->start;
is($t->http_get('/hello')->body, 'hello', 'the tested file serves');
$r = $t->weir_ctl('-t');
is($r->{rc}, 0, '-t while a master runs: exit 0');

$t->done_testing;
