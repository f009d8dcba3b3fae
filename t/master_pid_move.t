#!/usr/bin/perl
# `pid` changed in the file while a master runs: weir -s still finds the
# master (by its process title, which names its config) instead of saying
# "no running master"; a reload moves the pid file to the new path (and
# removes the old one), after which the new path alone is enough; a quit
# sent before any reload stops the master, which removes the file it
# wrote.

use strict;
use warnings;
use Test::More;
use WeirTest;

my $site = <<'INI';
[server s]
listen = 127.0.0.1:%%PORT0%%

[route r]
server = s
match = /
return = 200 ok
INI

sub pid_in {
    my ($t, $rel) = @_;
    my $c = $t->read_file($rel) // return 0;
    return $c =~ /^(\d+)\s*$/ ? $1 : 0;
}

# --- reload after the edit --------------------------------------------------

my $t = WeirTest->new(config => $site);
$t->start;
my $m = $t->master_pid;
is(pid_in($t, 'logs/weir.pid'), $m, 'the master wrote logs/weir.pid');

$t->{main}{pid} = 'logs/moved.pid';
$t->write_config($site);
my $mark = $t->log_mark;
my $r = $t->weir_ctl('-s', 'reload');
is($r->{rc}, 0, 'pid changed in the file: -s reload still finds the master')
    or diag($r->{err});
like($r->{err}, qr/moved\.pid.*signalling master process $m\b/,
    '... and says it signalled the master found by its title');
ok($t->wait_for_log(qr/reload: generation 2 started/, from => $mark),
    'the master reloaded');
ok($t->wait_for_log(qr/pid file moved from ".*weir\.pid" to ".*moved\.pid"/, from => $mark),
    'the master logs that the pid file moved');
is(pid_in($t, 'logs/moved.pid'), $m, 'the new pid file names the master');
ok(!-e $t->path('logs/weir.pid'), 'the old pid file is gone');

$mark = $t->log_mark;
$r = $t->weir_ctl('-s', 'reopen');
is($r->{rc}, 0, 'the new pid file alone finds the master') or diag($r->{err});
unlike($r->{err}, qr/signalling master process/, '... without a search');
ok($t->wait_for_log(qr/reopening logs/, from => $mark), '... which acted on it');

$r = $t->weir_ctl('-s', 'quit');
is($r->{rc}, 0, '-s quit');
ok(defined $t->wait_exit(10), 'the master exits');
ok(!-e $t->path('logs/moved.pid'), 'and removes the pid file it moved to');

# --- quit straight after the edit --------------------------------------------

my $q = WeirTest->new(config => $site);
$q->start;
$q->{main}{pid} = 'logs/elsewhere.pid';
$q->write_config($site);
$r = $q->weir_ctl('-s', 'quit');
is($r->{rc}, 0, 'pid changed, no reload: -s quit still finds the master')
    or diag($r->{err});
ok(defined $q->wait_exit(10), 'the master exits');
ok(!-e $q->path('logs/weir.pid'), 'it removed the pid file it had written');

# --- nothing to find ---------------------------------------------------------

$r = $q->weir_ctl('-s', 'reload');
is($r->{rc}, 1, 'no master at all: -s reload exits 1');
like($r->{err}, qr/no running master/, '... "no running master"');

$t->done_testing;
