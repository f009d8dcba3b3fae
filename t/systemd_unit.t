#!/usr/bin/perl
# contrib/systemd/weir.service, checked without systemd:
# - statically: Type=forking with the pid file of the shipped weir.ini
#   (which has daemon = on); stop is graceful (KillSignal=SIGQUIT to the
#   master, KillMode=mixed, no ExecStop that would only signal) and
#   bounded by a TimeoutStopSec above shutdown_timeout; reload runs
#   `weir -s reload` (which tests the file first) or `weir -t` first;
# - by running its commands as systemd would, with this test's prefix:
#   ExecStart returns with the pid file written and the service up,
#   ExecReload fails on a broken file and the master keeps serving, and
#   KillSignal sent to the pid in PIDFile lets an in-flight request
#   finish before the master exits.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use WeirTest;
use WeirOrigin;

my $src = WeirTest::srcdir();
my %unit = parse_unit("$src/contrib/systemd/weir.service");
my %svc = %{ $unit{Service} || {} };
my %ini = parse_ini("$src/conf/weir.ini");

# --- statically ------------------------------------------------------------
my $prefix = '/usr/local/weir';
is(one('Type'), 'forking', 'Type=forking');
is(($ini{main}{daemon} // ''), 'on', '... and the shipped weir.ini has daemon = on');
is(one('PIDFile'), "$prefix/" . ($ini{main}{pid} // 'logs/weir.pid'),
    'PIDFile is the pid of the shipped weir.ini under the default prefix');
is_deeply(words(one('ExecStart')), ["$prefix/sbin/weir"], 'ExecStart runs weir');
ok(!exists $svc{ExecStop},
    'no ExecStop (a stop command that only signals cuts the graceful stop)');
like(one('KillSignal') // '', qr/^(?:SIG)?QUIT$/, 'KillSignal=SIGQUIT: graceful stop');
is(one('KillMode'), 'mixed', 'KillMode=mixed: the signal to the master alone');
my $stop = seconds(one('TimeoutStopSec'));
my $grace = seconds($ini{main}{shutdown_timeout} // '30s');
ok(defined $stop && $stop > $grace,
    "TimeoutStopSec ($stop s) is above shutdown_timeout ($grace s)");
my @reload = map { words($_) } @{ $svc{ExecReload} || [] };
ok(@reload && (join(' ', @{ $reload[0] }[1 .. $#{ $reload[0] }]) =~ /^(?:-s reload|-t)$/),
    'ExecReload tests the file first (weir -s reload, or weir -t)')
    or diag(explain(\@reload));

# --- its commands, run as systemd would -------------------------------------
my $t = WeirTest->new(main => { daemon => 'on', workers => 2,
    shutdown_timeout => '10s' }, config => <<'INI');
[upstream app]
server = 127.0.0.1:%%PORT1%%

[server s]
listen = 127.0.0.1:%%PORT0%%

[route r]
server = s
match = /
upstream = app
INI
my $origin = WeirOrigin->new(port => $t->port(1), handler => 'echo');
my $pidfile = $t->pid_file;
my $master;
# Not our child (a daemon): stopped by pid if this test leaves it running.
END { kill 'TERM', $master if $master && kill(0, $master) && !zombie($master) }

# Every ExecStartPre, then ExecStart: each must succeed.
for my $cmd (@{ $svc{ExecStartPre} || [] }, one('ExecStart')) {
    my $r = run_unit_cmd($cmd);
    is($r->{rc}, 0, "`$cmd` exits 0") or diag($r->{err});
}
# Type=forking: when ExecStart returns, systemd reads PIDFile at once.
($master) = (WeirTest::_slurp($pidfile) // '') =~ /^(\d+)$/m;
ok($master && kill(0, $master), 'PIDFile names the running master right away');
is($t->http_get('/up')->status, 200, 'the service answers');

# systemctl reload with a broken file.
my $good = $t->read_file($t->{conf});
$t->write_file($t->{conf}, $good . "no_such_key = 1\n");
my $mark = $t->log_mark;
my $failed = grep { run_unit_cmd(join ' ', @$_)->{rc} != 0 } @reload;
ok($failed, 'ExecReload fails on a broken file');
is($t->http_get('/still')->status, 200, '... and the master keeps serving');
unlike(substr($t->error_log // '', $mark), qr/reloading configuration/,
    '... without having been signalled');
$t->write_file($t->{conf}, $good);
my @rc = map { run_unit_cmd(join ' ', @$_)->{rc} } @reload;
is_deeply(\@rc, [ (0) x @reload ], 'ExecReload succeeds on a good file');
ok($t->wait_for_log(qr/reload: generation 2 started/, from => $mark),
    '... and the master reloads');

# systemctl stop: KillSignal to the main pid, with a request in flight.
my $c = $t->connect;
$c->send(WeirTest::request('GET', '/slow?sleep=1', Connection => 'close'));
my $dl = WeirTest::deadline(5);
sleep 0.02 until grep({ ($_->{target} // '') =~ m{^/slow} } $origin->requests)
    || time > $dl;
(my $sig = one('KillSignal')) =~ s/^SIG//;
kill $sig, $master;
my $r = $c->read_response;
is($r->status, 200, 'stop: the request in flight completes')
    or diag($r->summary);
$dl = WeirTest::deadline($stop);
sleep 0.02 while kill(0, $master) && !zombie($master) && time < $dl;
ok(!kill(0, $master) || zombie($master), '... the master exits within TimeoutStopSec');
like($t->error_log, qr/graceful stop/, '... a graceful stop');
$dl = WeirTest::deadline(5);
sleep 0.02 while -e $pidfile && time < $dl;
ok(!-e $pidfile, '... and removes the pid file');

$origin->stop;
$t->done_testing;

# One value of [Service] (the last one given).
sub one { my $v = $svc{ $_[0] }; return $v ? $v->[-1] : undef }

sub words { return [ split ' ', $_[0] ] }

# systemd time spans: "40s", "1min 30s", "2m", a bare number of seconds.
sub seconds {
    my ($v) = @_;
    return undef unless defined $v;
    my %mul = (ms => 0.001, s => 1, sec => 1, m => 60, min => 60, h => 3600);
    my $total = 0;
    for my $part (split ' ', $v) {
        my ($n, $u) = $part =~ /^(\d+(?:\.\d+)?)([a-z]*)$/ or return undef;
        $u ||= 's';
        return undef unless $mul{$u};
        $total += $n * $mul{$u};
    }
    return $total;
}

# A unit file: { Section => { Key => [values in order] } }.
sub parse_unit {
    my ($file) = @_;
    my (%u, $sec);
    open my $fh, '<', $file or die "$file: $!";
    while (my $l = <$fh>) {
        next if $l =~ /^\s*(?:[#;]|$)/;
        if ($l =~ /^\[(\w+)\]/) { $sec = $1; next }
        my ($k, $v) = $l =~ /^\s*(\w+)\s*=\s*(.*?)\s*$/ or next;
        push @{ $u{$sec}{$k} }, $v;
    }
    return %u;
}

# The [main] keys of an INI file (comments after ";" dropped).
sub parse_ini {
    my ($file) = @_;
    my (%c, $sec);
    open my $fh, '<', $file or die "$file: $!";
    while (my $l = <$fh>) {
        $l =~ s/\s*[;#].*//;
        if ($l =~ /^\[(\w+)/) { $sec = $1; next }
        my ($k, $v) = $l =~ /^\s*(\w+)\s*=\s*(.*?)\s*$/ or next;
        $c{$sec}{$k} = $v if $sec;
    }
    return %c;
}

# A command of the unit, with the built binary and this test's prefix and
# file in place of the installed paths.
sub run_unit_cmd {
    my ($cmd) = @_;
    my ($bin, @args) = split ' ', $cmd;
    $bin =~ m{/sbin/weir$} or die "not a weir command: $cmd";
    return $t->weir_ctl(@args);
}

sub zombie {
    my ($pid) = @_;
    my $s = WeirTest::_slurp("/proc/$pid/stat") // return 1;
    return $s =~ /^\d+ \(.*\) Z /;
}
