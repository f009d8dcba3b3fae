#!/usr/bin/perl
# A binary upgrade that goes wrong leaves the old binary serving, under
# load and without one failed request: a new binary that exits at once, a
# file that cannot be executed, a configuration that no longer parses.
# Each time the old master takes weir.pid back from weir.pid.oldbin and
# says so. Then a roll-back from a good new binary: WINCH the old master,
# HUP brings its workers back (without re-reading the file), QUIT the new
# master, and the old one serves on alone.

use strict;
use warnings;
use Test::More;
use WeirTest;
use WeirUpgrade;

my $conf = <<'INI';
[server s]
listen = 127.0.0.1:%%PORT0%%

[route hello]
server = s
match = = /hello
return = 200 %%BODY%%
INI
sub conf_with { my $b = shift; (my $c = $conf) =~ s/%%BODY%%/$b/; return $c }

my $t = WeirTest->new(config => conf_with('v1'));
my $bin = install_binary($t);
$t->start(workers => 2);
my $old = $t->master_pid;
my $pidf = $t->pid_file;
my $oldbin = "$pidf.oldbin";

my %ok = (v1 => 1, v2 => 1);
my $nc = $t->background(new_conn_client($t, '/hello', \%ok), max => 120);
my $ka = $t->background(keepalive_client($t, '/hello', \%ok), max => 120);

# The old master has taken its pid file back, and serves alone.
sub old_serves_alone {
    my ($what) = @_;
    is(read_pid($pidf), $old, "$what: weir.pid names the old master again");
    ok(!-e $oldbin, "$what: no weir.pid.oldbin left");
    is(scalar(workers_of($old)), 2, "$what: the old workers serve on");
    is($t->http_get('/hello')->body, 'v1', "$what: the old binary answers");
}

# 1. A new binary that exits at once.
replace_binary($t, "#!/bin/sh\nexit 3\n");
my $mark = $t->log_mark;
kill 'USR2', $old;
my (undef, $new) = $t->wait_for_log(
    qr/binary upgrade: new master process (\d+) started/, from => $mark);
ok($new, 'exits at once: the old master ran it');
ok($t->wait_for_log(qr/binary upgrade: new master process $new exited with code 3; this master serves on/,
    from => $mark), 'exits at once: the old master noticed and says so');
ok($t->wait_for_log(qr/pid file "\Q$pidf\E" restored/, from => $mark),
    'exits at once: weir.pid restored, logged');
old_serves_alone('exits at once');

# 2. A file that cannot be executed: known before anything runs.
replace_binary($t, "#!/bin/sh\nexit 0\n", 0644);
$mark = $t->log_mark;
kill 'USR2', $old;
ok($t->wait_for_log(qr/\[error\].*binary upgrade failed: cannot execute "\Q$bin\E".*Permission denied/,
    from => $mark), 'not executable: the upgrade fails, with why');
ok($t->wait_for_log(qr/pid file "\Q$pidf\E" restored/, from => $mark),
    'not executable: weir.pid restored');
old_serves_alone('not executable');

# 3. The real binary, but a file that no longer parses.
replace_binary($t, undef);
$t->write_config(conf_with('v2') . "[route broken]\nno_such_key = 1\n");
$mark = $t->log_mark;
kill 'USR2', $old;
(undef, $new) = $t->wait_for_log(
    qr/binary upgrade: new master process (\d+) started/, from => $mark);
ok($t->wait_for_log(qr/binary upgrade: new master process $new exited with code 1; this master serves on/,
    from => $mark), 'bad file: the new master exits, the old one says so');
like(WeirTest::_slurp($t->path('logs/stderr.log')) // '',
    qr/no_such_key: unknown key/, 'bad file: the new binary said why');
ok($t->wait_for_log(qr/pid file "\Q$pidf\E" restored/, from => $mark),
    'bad file: weir.pid restored');
old_serves_alone('bad file');

# 4. Roll back from a new binary that runs: WINCH, HUP, QUIT the new one.
$t->write_config(conf_with('v2'));
$mark = $t->log_mark;
kill 'USR2', $old;
(undef, $new) = $t->wait_for_log(
    qr/binary upgrade: new master process (\d+) started/, from => $mark);
ok($t->wait_for_log(qr/binary upgrade: serving on/, from => $mark, timeout => 15),
    'roll-back: the new binary serves');
is(read_pid($pidf), $new, 'roll-back: weir.pid names the new master');
kill 'WINCH', $old;
ok(wait_until(sub { workers_of($old) == 0 }, 15), 'WINCH: the old workers exit');
my @bodies = map { $t->http_get('/hello')->body } 1 .. 10;
is_deeply(\@bodies, [ ('v2') x 10 ], 'only the new binary answers');

$mark = $t->log_mark;
kill 'HUP', $old;
ok($t->wait_for_log(qr/HUP during a binary upgrade: starting the workers again/,
    from => $mark), 'HUP to the old master: its workers start again');
ok(wait_until(sub { workers_of($old) == 2 }), '... two of them');
ok(!$t->wait_for_log(qr/reload|reloading/, from => $mark, timeout => 0),
    '... without a reload of the file');

kill 'QUIT', $new;
ok($t->wait_for_log(qr/binary upgrade: new master process $new exited with code 0; this master serves on/,
    from => $mark, timeout => 15), 'QUIT to the new master: the old one notices');
ok(wait_until(sub { proc_gone($new) }), 'the new master is gone');
ok($t->wait_for_log(qr/pid file "\Q$pidf\E" restored/, from => $mark),
    'roll-back: weir.pid restored');
old_serves_alone('roll-back');
@bodies = map { $t->http_get('/hello')->body } 1 .. 10;
is_deeply(\@bodies, [ ('v1') x 10 ], 'roll-back: only the old binary answers');

my $ra = $nc->finish;
my $rb = $ka->finish;
cmp_ok($ra->{requests} // 0, '>', 20, 'new-connection client ran throughout')
    or diag($ra->{died});
is($ra->{fail}, 0, 'new-connection client: zero failed requests')
    or diag($ra->{why} // $ra->{died});
cmp_ok($rb->{requests} // 0, '>', 20, 'keep-alive client ran throughout')
    or diag($rb->{died});
is($rb->{fail}, 0, 'keep-alive client: zero failed requests')
    or diag($rb->{why} // $rb->{died});

is($t->stop, 0, 'the old master stops normally');
ok(!-e $pidf, 'and removes weir.pid');
$t->done_testing;
