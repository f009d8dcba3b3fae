#!/usr/bin/perl
# Binary upgrade of a daemon (daemon = on): the new master does not detach
# again (it must stay the old master's child), takes over, and the pid
# files move as in the foreground.

use strict;
use warnings;
use Test::More;
use WeirTest;
use WeirUpgrade;

my $t = WeirTest->new(main => { daemon => 'on', workers => 2 },
    config => <<'INI');
[server s]
listen = 127.0.0.1:%%PORT0%%

[route hello]
server = s
match = = /hello
return = 200 daemon
INI
install_binary($t);
my $pidf = $t->pid_file;
my ($old, $new);
# Neither master is our child: stop what we started, by pid, if we die.
END { for my $p (grep { $_ } $new, $old) { kill 'TERM', $p if !proc_gone($p) } }

my $r = $t->weir_ctl();
is($r->{rc}, 0, 'the daemon starts') or diag($r->{err});
$old = read_pid($pidf);
ok($old, 'its pid file');

my $mark = $t->log_mark;
$r = $t->weir_ctl('-s', 'upgrade');
is($r->{rc}, 0, 'weir -s upgrade') or diag($r->{err});
ok($t->wait_for_log(qr/binary upgrade: serving on/, from => $mark, timeout => 15),
    'the new master serves');
$new = read_pid($pidf);
isnt($new, $old, 'weir.pid names the new master');
is(read_pid("$pidf.oldbin"), $old, 'weir.pid.oldbin the old one');
my $ppid = (split ' ', (WeirTest::_slurp("/proc/$new/stat") // '') =~ s/^.*\)\s//sr)[1];
is($ppid, $old, 'the new master did not detach from the old one');

kill 'WINCH', $old;
ok(wait_until(sub { workers_of($old) == 0 }, 15), 'WINCH: the old workers exit');
kill 'QUIT', $old;
ok(wait_until(sub { proc_gone($old) }, 15), 'QUIT: the old master exits');
ok(!-e "$pidf.oldbin", 'weir.pid.oldbin removed');
is($t->http_get('/hello')->body, 'daemon', 'the new master serves');

$r = $t->weir_ctl('-s', 'quit');
is($r->{rc}, 0, 'weir -s quit');
ok(wait_until(sub { proc_gone($new) }, 15), 'the new master exits');
ok(!-e $pidf, 'weir.pid removed');
$t->done_testing;
