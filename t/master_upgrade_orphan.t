#!/usr/bin/perl
# A binary upgrade whose old master quits before the new one has started:
# the new master's parent is then init, yet it must name the old master
# by its own pid (it used to log getppid(), "old master process 1").
# The new binary is a script that waits for a file before it execs weir,
# so the old master is certainly gone by then.

use strict;
use warnings;
use Test::More;
use WeirTest;
use WeirUpgrade;

my $t = WeirTest->new(config => <<'INI');
[server s]
listen = 127.0.0.1:%%PORT0%%

[route hello]
server = s
match = = /hello
return = 200 up
INI
my $bin = install_binary($t);
$t->start(workers => 1);
my $old = $t->master_pid;
my $pidf = $t->pid_file;

my $real = $t->path('sbin/weir.real');
rename $bin, $real or die "rename: $!";
my $waiting = $t->path('upgrade.waiting');
my $go = $t->path('upgrade.go');
# Bounded: a script whose test died gives up after about a minute.
replace_binary($t, <<"SH");
#!/bin/sh
: > '$waiting'
n=0
while [ ! -e '$go' ] && [ \$n -lt 1200 ]; do sleep 0.05; n=\$((n + 1)); done
exec '$real' "\$@"
SH

my $mark = $t->log_mark;
ok($t->signal('USR2'), 'USR2 to the old master');
ok(wait_until(sub { -e $waiting }, 20), 'the new binary is starting');
my (undef, $new) = $t->wait_for_log(
    qr/binary upgrade: new master process (\d+) started/, from => $mark);
ok($new, 'the old master started a new master') or BAIL_OUT('no new master');

kill 'QUIT', $old;
ok(defined $t->wait_exit(15), 'the old master quits first');
open my $go_fh, '>', $go or die "$go: $!";
close $go_fh;

ok($t->wait_for_log(qr/binary upgrade: serving on \d+ listening sockets of the old master process $old\b/,
    from => $mark, timeout => 15),
   "the new master names the old master ($old), not its parent now")
    or diag(`grep 'listening sockets of' '${\ $t->error_log_file}'`);
ok(wait_until(sub { read_pid($pidf) == $new }, 15), 'weir.pid names it');
ok(wait_until(sub { eval { $t->http_get('/hello')->body eq 'up' } }),
   'and it serves');

kill 'QUIT', $new;
ok(wait_until(sub { proc_gone($new) }, 15), 'the new master exits');

$t->done_testing;
