#!/usr/bin/perl
# Binary upgrade (USR2, weir -s upgrade) under load, as an operator does
# it: USR2 starts the new binary, which inherits the listening sockets and
# writes weir.pid while the old master's pid moves to weir.pid.oldbin;
# WINCH drains the old workers, QUIT ends the old master. Two clients (new
# connections, keep-alive) send throughout, and not one request fails.

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
install_binary($t);
$t->start(workers => 2);
my $old = $t->master_pid;
my $pidf = $t->pid_file;
my $oldbin = "$pidf.oldbin";
is($t->http_get('/hello')->body, 'v1', 'the old binary serves');

my %ok = (v1 => 1, v2 => 1);
my $nc = $t->background(new_conn_client($t, '/hello', \%ok), max => 120);
my $ka = $t->background(keepalive_client($t, '/hello', \%ok), max => 120);

# The new binary reads the file as it is now: its answers say v2.
$t->write_config(conf_with('v2'));
my $mark = $t->log_mark;
my $r = $t->weir_ctl('-s', 'upgrade');
is($r->{rc}, 0, 'weir -s upgrade: exit 0') or diag($r->{err});
my (undef, $new) = $t->wait_for_log(
    qr/binary upgrade: new master process (\d+) started/, from => $mark);
ok($new, 'the old master started a new master') or BAIL_OUT('no new master');
ok($t->wait_for_log(qr/binary upgrade: serving on \d+ listening sockets of the old master process $old\b/,
    from => $mark, timeout => 15), 'the new master serves on the inherited sockets');

# The pid file dance.
is(read_pid($pidf), $new, 'weir.pid names the new master');
is(read_pid($oldbin), $old, 'weir.pid.oldbin names the old master');
my $ppid = (split ' ', (WeirTest::_slurp("/proc/$new/stat") =~ s/^.*\)\s//sr))[1];
is($ppid, $old, 'the new master is the old master\'s child');
ok(wait_until(sub { workers_of($new) == 2 }), 'the new master has its two workers');
is(scalar(workers_of($old)), 2, 'the old master keeps its two workers');

# Both binaries accept on the same sockets until the old workers drain.
my $v2 = wait_until(sub { $t->http_get('/hello')->body eq 'v2' });
ok($v2, 'the new binary answers on the same port');

# An upgrade of the new master while the old one runs is refused; a
# second one from the old master too.
$mark = $t->log_mark;
kill 'USR2', $new;
ok($t->wait_for_log(qr/binary upgrade refused: the old master process $old still runs/,
    from => $mark), 'USR2 to the new master while the old one runs: refused');
kill 'USR2', $old;
ok($t->wait_for_log(qr/binary upgrade refused: new master process $new is running already/,
    from => $mark), 'a second USR2 to the old master: refused');
is(read_pid($pidf), $new, '... weir.pid unchanged');
is(read_pid($oldbin), $old, '... weir.pid.oldbin unchanged');

# WINCH: the old workers drain; only the new binary answers.
$mark = $t->log_mark;
kill 'WINCH', $old;
ok(wait_until(sub { workers_of($old) == 0 }, 15), 'WINCH: the old workers exit');
ok($t->alive, 'WINCH: the old master stays');
my @bodies = map { $t->http_get('/hello')->body } 1 .. 20;
is_deeply(\@bodies, [ ('v2') x 20 ], 'after WINCH only the new binary answers');

# QUIT: the old master ends; the new one is the master now.
kill 'QUIT', $old;
ok(defined $t->wait_exit(15), 'QUIT: the old master exits');
is($t->exit_code, 0, '... with code 0');
ok(!-e $oldbin, 'weir.pid.oldbin is removed');
is(read_pid($pidf), $new, 'weir.pid names the new master');
ok(!proc_gone($new), 'the new master runs on');

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
diag("new-conn: $ra->{seen}") if $ENV{TEST_VERBOSE};

is($t->http_get('/hello')->body, 'v2', 'serving after the upgrade');
# weir -s finds the new master through the pid file.
$r = $t->weir_ctl('-s', 'quit');
is($r->{rc}, 0, 'weir -s quit reaches the new master');
ok(wait_until(sub { proc_gone($new) }, 15), 'the new master exits');
ok(!-e $pidf, 'and removes weir.pid');

$t->done_testing;
