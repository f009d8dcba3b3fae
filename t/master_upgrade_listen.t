#!/usr/bin/perl
# A binary upgrade whose file changes the listeners: the new master reuses
# the inherited sockets its file still wants, opens the address it adds
# and one more worker slot, and leaves the address it drops to the old
# master, which serves it until it ends.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use WeirTest;
use WeirUpgrade;

sub conf_with {
    my ($body, $workers, @ports) = @_;
    my $c = "[main]\ndaemon = off\nworkers = $workers\nerror_log = logs/error.log\n"
        . "pid = logs/weir.pid\nlog_level = info\n\n[server s]\n";
    $c .= "listen = 127.0.0.1:%%PORT$_%%\n" for @ports;
    return $c . "\n[route hello]\nserver = s\nmatch = = /hello\nreturn = 200 $body\n";
}

my $t = WeirTest->new(config => conf_with('v1', 2, 0, 1));
install_binary($t);
$t->start(workers => 2);
my $old = $t->master_pid;

sub body_on {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
        Timeout => 5) or return "refused";
    print $s "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    local $/;
    my $r = <$s> // '';
    return $r =~ /\r\n\r\n(.*)\z/s ? $1 : "bad: $r";
}

is(body_on($t->port(0)), 'v1', 'old binary on port 0');
is(body_on($t->port(1)), 'v1', 'old binary on port 1');
is(body_on($t->port(2)), 'refused', 'nothing on port 2 yet');

$t->write_config(conf_with('v2', 3, 0, 2));
my $mark = $t->log_mark;
kill 'USR2', $old;
my (undef, $new) = $t->wait_for_log(
    qr/binary upgrade: new master process (\d+) started/, from => $mark);
ok($t->wait_for_log(qr/\Q$new\E#-1: binary upgrade: serving on 4 listening sockets/,
    from => $mark, timeout => 15), 'the new master took the 4 inherited sockets');
ok(wait_until(sub { workers_of($new) == 3 }), 'the new master runs 3 workers');
is(body_on($t->port(2)), 'v2', 'the added address is the new binary\'s');
ok(wait_until(sub { body_on($t->port(0)) eq 'v2' }),
    'the kept address is shared by both binaries');

# The old master retires: the dropped address goes with it.
kill 'WINCH', $old;
ok(wait_until(sub { workers_of($old) == 0 }, 15), 'WINCH: the old workers exit');
is(body_on($t->port(0)), 'v2', 'after WINCH: port 0 is the new binary\'s');
kill 'QUIT', $old;
ok(defined $t->wait_exit(15), 'QUIT: the old master exits');
is(body_on($t->port(1)), 'refused', 'the dropped address is closed');
my @b = map { body_on($t->port($_ % 2 ? 2 : 0)) } 1 .. 10;
is_deeply(\@b, [ ('v2') x 10 ], 'the new binary serves both of its addresses');

kill 'QUIT', $new;
ok(wait_until(sub { proc_gone($new) }, 15), 'the new master exits');
$t->done_testing;
