#!/usr/bin/perl
# A binary upgrade with a [cache]: the new master cannot share the old
# one's shared memory, so its cache manager rebuilds the index from the
# directory while the old manager still works there. Objects stored by
# the old binary are hits for the new one, objects the new one stores are
# hits for both, requests keep being answered meanwhile, and nothing is
# logged above [error] (weir(8), BINARY UPGRADE, says why two managers on
# one directory for a while are harmless).

use strict;
use warnings;
use Test::More;
use WeirTest;
use WeirCacheOrigin;
use WeirUpgrade;

my $t = WeirTest->new(config => <<'INI');
[upstream app]
server = 127.0.0.1:%%PORT1%%

[cache main]
path = cache
max_size = 10m

[server s]
listen = 127.0.0.1:%%PORT0%%

[route app]
server = s
match = /
upstream = app
cache = main
INI
my $o = WeirCacheOrigin->new(port => $t->port(1));
install_binary($t);
$t->start(workers => 2);
my $old = $t->master_pid;

my $ma = 'h=Cache-Control:max-age%3D600';
sub get { return $t->http_get($_[0]) }
sub hit_ok {
    my ($path, $body, $what) = @_;
    my $r = get($path);
    ok($r->status == 200 && $r->body eq $body
        && ($r->header('cache-status') // '') =~ /^weir; hit/, $what)
        or diag($r->status . ' ' . ($r->header('cache-status') // '-'));
}

my @old_objs = map { "/old$_?$ma&b=old$_" } 1 .. 5;
for my $p (@old_objs) { get($p) }
hit_ok($old_objs[0], 'old1', 'the old binary stores and hits');

my $mark = $t->log_mark;
kill 'USR2', $old;
my (undef, $new) = $t->wait_for_log(
    qr/binary upgrade: new master process (\d+) started/, from => $mark);
ok($t->wait_for_log(qr/\Q$new\E#-1: binary upgrade: serving on/, from => $mark,
    timeout => 15), 'the new binary serves');
# Its manager loaded the directory (the old objects are in its index).
ok($t->wait_for_log(qr/\[notice\] \d+#-1: \[cache main\]: loaded [1-9]\d* objects/,
    from => $mark, timeout => 15), 'the new cache manager loaded the directory');

# Both binaries answer now: every old object is a hit whoever answers.
for my $i (1 .. 5) {
    hit_ok($old_objs[$i - 1], "old$i", "old object $i: a hit during the upgrade")
        for 1 .. 2;
}
my @mid = map { "/mid$_?$ma&b=mid$_" } 1 .. 5;
for my $p (@mid) { get($p) }
hit_ok($_, ($_ =~ /b=(\w+)/)[0], "stored during the upgrade: $_") for @mid;

kill 'WINCH', $old;
ok(wait_until(sub { workers_of($old) == 0 }, 15), 'WINCH: the old workers exit');
kill 'QUIT', $old;
ok(defined $t->wait_exit(15), 'QUIT: the old master exits');

hit_ok($_, ($_ =~ /b=(\w+)/)[0], "after the upgrade: $_") for @old_objs, @mid;
my $fresh = "/new1?$ma&b=new1";
get($fresh);
hit_ok($fresh, 'new1', 'the new binary stores and hits alone');
is(WeirCacheOrigin::count_of($o, qr{^/old1\?}), 1,
    'the origin saw each old object once');

kill 'QUIT', $new;
ok(wait_until(sub { proc_gone($new) }, 15), 'the new master exits');
$t->done_testing;
