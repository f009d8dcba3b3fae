#!/usr/bin/perl
# daemon = on: the command returns once the detached master has written
# the pid file and its workers accept (so whatever runs next, a systemd
# Type=forking unit or a script, finds both), then it serves; "weir -s
# quit" stops it and the pid file goes.
# user = nobody (when started as root): workers run as that user, the
# master stays root, and log files stay writable after a reopen.

use strict;
use warnings;
use Test::More;
use POSIX qw(WNOHANG);
use WeirTest;

my ($nobody_uid) = (getpwnam('nobody'))[2];
my $as_root = $> == 0 && defined $nobody_uid;

my $t = WeirTest->new(
    main => {
        daemon  => 'on',
        workers => 2,
        ($as_root ? (user => 'nobody') : ()),
    },
    config => <<'INI', files => { 'html/index.html' => "daemon\n" });
[http]
access_log = logs/access.log

[server s]
listen = 127.0.0.1:%%PORT0%%

[route site]
server = s
match = /
root = html
INI
# Workers that drop to nobody must be able to read the site.
chmod 0755, $t->prefix, $t->path('html'), $t->path('conf');
chmod 0644, $t->path('html/index.html'), $t->path('conf/mime.types');

my $r = $t->weir_ctl();
is($r->{rc}, 0, 'daemon = on: the command exits 0') or diag($r->{err});
is($r->{err}, '', '... saying nothing');

my $pid;
# The daemon is not our child: if this test dies half-way, stop the master
# we started (by its pid) so nothing outlives the run.
END { kill 'TERM', $pid if $pid && kill 0, $pid }
# No waiting from here: the command returned after the start was done.
if (open my $f, '<', $t->pid_file) { ($pid) = <$f> =~ /(\d+)/ }
ok($pid, 'the pid file exists when the command returns, naming the master');
ok($pid && kill(0, $pid), '... which is running');
my $ppid = $pid ? (split ' ', (_read("/proc/$pid/stat") // ''))[3] : -1;
isnt($ppid, $$, '... detached from us (not our child)');

# Both workers are up already (children of the daemon).
my @workers = grep { ((split ' ', (_read("/proc/$_/stat") // '0 0 0 0'))[3] // 0) == ($pid // -1) }
    map { m{/proc/(\d+)/comm} ? $1 : () }
    grep { (_read($_) // '') =~ /^weir-worker/ } glob '/proc/[0-9]*/comm';
is(scalar @workers, 2, 'two workers under the daemonised master');

is($t->http_get('/')->body, "daemon\n", 'the daemon serves');

SKIP: {
    skip 'not root, or no user nobody', 4 unless $as_root;
    my %uid = map { $_ => uid_of($_) } ($pid, @workers);
    is($uid{$pid}, 0, 'user = nobody: the master stays root');
    is_deeply([ map { $uid{$_} } @workers ], [ ($nobody_uid) x @workers ],
        '... the workers run as nobody');
    # A reopen after rotation creates files the workers can still write.
    rename $t->path('logs/access.log'), $t->path('logs/access.log.1');
    is($t->weir_ctl('-s', 'reopen')->{rc}, 0, 'weir -s reopen');
    my $ok = 0;
    my $dl = WeirTest::deadline(5);
    while (!$ok && time < $dl) {
        $t->http_get('/after-reopen');
        select(undef, undef, undef, 0.2);
        $ok = (_read($t->path('logs/access.log')) // '') =~ m{/after-reopen};
    }
    ok($ok, '... and the nobody workers log into the new access.log');
}

$r = $t->weir_ctl('-s', 'quit');
is($r->{rc}, 0, 'weir -s quit: exit 0') or diag($r->{err});
my $dl = WeirTest::deadline(10);
select(undef, undef, undef, 0.05) while $pid && kill(0, $pid) && time < $dl;
ok(!($pid && kill(0, $pid)), 'the master is gone');
ok(!-e $t->pid_file, 'the pid file is removed');
is(scalar(grep { kill 0, $_ } @workers), 0, 'the workers are gone');

$t->done_testing;

sub _read {
    my ($f) = @_;
    open my $fh, '<', $f or return undef;
    local $/;
    return scalar <$fh>;
}

sub uid_of {
    my ($p) = @_;
    my ($uid) = (_read("/proc/$p/status") // '') =~ /^Uid:\s+(\d+)/m;
    return $uid;
}
