#!/usr/bin/perl
# A fast stop (SIGTERM) ends within about a second even when a worker does
# not react: the master SIGKILLs what is left. Regression: the deadline
# and the respawn timer share one timer, and re-arming it after the first
# worker's exit used to cancel the deadline, so the master waited for a
# stuck worker for ever.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use WeirTest;

my $t = WeirTest->new(main => { workers => 2 }, config => <<'INI');
[server s]
listen = 127.0.0.1:%%PORT0%%

[route r]
server = s
match = /
return = 200 ok
INI
$t->start;
my @w = $t->wait_workers(sub { @_ == 2 });
is(scalar @w, 2, 'two workers');
kill 'STOP', $w[0];         # this one will not see SIGTERM
my $t0 = time;
$t->signal('TERM');
my $st = $t->wait_exit(10);
ok(defined $st, 'the master exited');
cmp_ok(time - $t0, '<', 4, sprintf('soon after the 1 s deadline (%.2f s)', time - $t0));
ok(!kill(0, $w[0]), 'the stuck worker is gone');
$t->done_testing;
