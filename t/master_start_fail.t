#!/usr/bin/perl
# Workers that cannot set up are not restarted in a loop, and the failure
# is said where the operator looks:
# - the first start fails: `weir` (daemon = on) exits 1 with the worker's
#   reason on stderr, leaves no pid file and no process; in the
#   foreground the same; either way each slot was tried once;
# - a reload whose new workers cannot start keeps the running generation
#   (same workers, old answers) and logs why; a later good reload works;
# - a master that fails before the fork (a port another program holds)
#   exits 1 with the reason too.
# The worker failure is real, not simulated in weir: an LD_PRELOAD shim
# makes epoll_create1() (called by workers only) fail with EMFILE while a
# trigger file exists.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use POSIX ();
use WeirTest;

my $site = <<'INI';
[server s]
listen = 127.0.0.1:%%PORT0%%

[route r]
server = s
match = /
return = 200 BODY
INI
sub site { (my $s = $site) =~ s/BODY/$_[0]/; return $s }

my $t = WeirTest->new(main => { daemon => 'on', workers => 2 },
    config => site('one'));
my $shim = build_shim($t) or plan skip_all => 'no C compiler for the shim';
my $trigger = $t->path('fail-epoll');
local $ENV{WEIR_TEST_FAIL_EPOLL} = $trigger;
local $ENV{LD_PRELOAD} = $shim;
# An ASan build wants its runtime first; the shim does not interfere.
local $ENV{ASAN_OPTIONS} = join ':', grep { length }
    ($ENV{ASAN_OPTIONS} // ''), 'verify_asan_link_order=0';

# A daemon is not our child: whatever this test leaves is killed by pid.
END { kill 'KILL', $_ for grep { kill 0, $_ } leftovers() }

# 1. First start, as a daemon.
$t->write_file('fail-epoll', '');
my $r = $t->weir_ctl();
is($r->{rc}, 1, 'daemon start with failing workers: exit 1');
like($r->{err}, qr/^weir: \[emerg\] worker processes could not start: worker process \d+: epoll_create1\(\) failed: Too many open files$/m,
    '... the worker\'s reason on stderr') or diag($r->{err});
ok(!-e $t->pid_file, '... no pid file left');
is_deeply([ leftovers() ], [], '... no weir process left');
my @starts = $t->error_log =~ /started worker process/g;
is(scalar @starts, 2, '... each of the 2 slots tried once, not restarted');
unlike($t->error_log, qr/restarting worker/, '... no restart loop');

# 2. The same in the foreground.
$t->{main}{daemon} = 'off';
$t->write_config(site('one'));
$r = $t->weir_ctl();
is($r->{rc}, 1, 'foreground start with failing workers: exit 1');
like($r->{err}, qr/\[emerg\] \d+#-1: worker processes could not start: worker process \d+: epoll_create1\(\) failed/,
    '... the reason on stderr');
is_deeply([ leftovers() ], [], '... no weir process left');

# 3. A reload whose workers cannot start.
unlink $trigger;
$t->start;
is($t->http_get('/')->body, 'one', 'started without the trigger');
my @before = sort { $a <=> $b } $t->worker_pids;
my $mark = $t->log_mark;
$t->write_file('fail-epoll', '');
# The new file also wants a third worker and a second address: the
# sockets opened for them must go with the failed generation.
$t->{main}{workers} = 3;
$t->write_config(site('two') . "\n[server s2]\nlisten = 127.0.0.1:%%PORT1%%\n"
    . "[route r2]\nserver = s2\nmatch = /\nreturn = 200 s2\n");
$r = $t->weir_ctl('-s', 'reload');
is($r->{rc}, 0, 'the file itself passes: the reload is signalled')
    or diag($r->{err});
ok($t->wait_for_log(qr/reload failed: the workers of generation 2 could not start: worker process \d+: epoll_create1\(\) failed: Too many open files; generation 1 keeps serving/,
    from => $mark), 'reload with failing workers: "reload failed", and why');
# The failed workers are reaped, not restarted.
my @after = $t->wait_workers(sub { @_ == 2 }, 5);
is_deeply([ sort { $a <=> $b } @after ], \@before,
    '... the same workers keep serving');
is($t->http_get('/')->body, 'one', '... the old configuration');
# With a third SO_REUSEPORT socket left open nobody would accept on it,
# and about one connection in three would hang.
my @bad = grep { $_->body ne 'one' }
    map { $t->http(WeirTest::request('GET', '/', Connection => 'close'),
                   timeout => 2) } 1 .. 30;
is(scalar @bad, 0, '... every new connection is answered')
    or diag($bad[0]->summary);
ok(!WeirTest::_listening($t->port(1)), '... the new address is closed again');
unlike(substr($t->error_log, $mark), qr/restarting worker|crash-looping/,
    '... no restart of the failed workers');

# 4. The cause gone, the next reload works.
unlink $trigger;
$t->{main}{workers} = 2;
$t->write_config(site('two'));
$mark = $t->log_mark;
is($t->weir_ctl('-s', 'reload')->{rc}, 0, 'reload again');
ok($t->wait_for_log(qr/reload: generation 3 started/, from => $mark),
    '... the new generation starts');
my $body;
my $dl = WeirTest::deadline(5);
do { $body = $t->http_get('/')->body } until $body eq 'two' || time > $dl;
is($body, 'two', '... and serves the new file');
is($t->stop, 0, 'graceful stop');

# 5. A master that fails before it forks says why, daemon or not.
my $held = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
    LocalPort => $t->port(0), Proto => 'tcp', Listen => 5, ReuseAddr => 1)
    or die "cannot hold the port: $!";
$t->{main}{daemon} = 'on';
$t->write_config(site('one'));
$r = $t->weir_ctl();
is($r->{rc}, 1, 'daemon start on a port another program holds: exit 1');
like($r->{err}, qr/bind\(\) to 127\.0\.0\.1:\d+ failed: Address already in use/,
    '... saying why');
ok(!-e $t->pid_file, '... no pid file');
close $held;

# The [emerg] lines of the failures provoked here are expected.
$t->done_testing(allow => qr/epoll_create1\(\) failed|worker processes could not start|bind\(\) to/);

# weir processes started here: masters whose title names our prefix (a
# daemon is not our child), and their workers.
sub leftovers {
    my (%master, @p);
    my $prefix = $t->prefix;
    my @procs;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my $s = WeirTest::_slurp($stat) // next;
        my ($pid, $comm, $state, $ppid) = $s =~ /^(\d+) \((.*)\) (\S) (\d+)/
            or next;
        next if $state eq 'Z' || $comm !~ /^weir-/;
        push @procs, [ $pid, $comm, $ppid ];
        my $cmd = WeirTest::_slurp("/proc/$pid/cmdline") // '';
        $master{$pid} = 1 if $comm eq 'weir-master'
            && index($cmd, " -p $prefix -c ") >= 0;
    }
    for my $p (@procs) {
        push @p, $p->[0] if $master{ $p->[0] } || $master{ $p->[2] };
    }
    return @p;
}

# A shared object whose epoll_create1() fails while $ENV{WEIR_TEST_FAIL_EPOLL}
# names an existing file. undef without a working compiler.
sub build_shim {
    my ($t) = @_;
    my $src = $t->write_file('shim.c', <<'C');
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int epoll_create1(int flags);

int
epoll_create1(int flags)
{
    const char *f = getenv("WEIR_TEST_FAIL_EPOLL");

    if (f != NULL && access(f, F_OK) == 0) {
        errno = EMFILE;
        return -1;
    }
    return (int) syscall(SYS_epoll_create1, flags);
}
C
    my $so = $t->path('shim.so');
    for my $cc (grep { defined && length } $ENV{CC}, 'cc', 'gcc', 'clang') {
        my $pid = fork // return undef;
        if ($pid == 0) {
            open STDOUT, '>', '/dev/null';
            open STDERR, '>', '/dev/null';
            { no warnings 'exec'; exec $cc, '-shared', '-fPIC', '-o', $so, $src; }
            POSIX::_exit(127);
        }
        waitpid $pid, 0;
        return $so if $? == 0 && -f $so;
    }
    return undef;
}
