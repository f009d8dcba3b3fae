#!/usr/bin/perl
# Process titles: in ps (/proc/PID/cmdline) the master reads "weir: master
# process BINARY -p PREFIX -c CONF" and each worker "weir: worker process";
# an old-generation worker still finishing a request after a reload reads
# "weir: worker process is shutting down". The task names (comm) stay
# weir-master / weir-worker.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use WeirTest;
use WeirOrigin;

sub cmdline {
    my ($pid) = @_;
    my $c = WeirTest::_slurp("/proc/$pid/cmdline") // return '';
    $c =~ s/\0+\z//;        # the unused rest of the area is NULs
    return $c;
}

my $t = WeirTest->new(config => <<'INI');
[upstream app]
server = 127.0.0.1:%%PORT1%%

[server s]
listen = 127.0.0.1:%%PORT0%%

[route app]
server = s
match = /
upstream = app
INI
# An origin that holds each answer until the test opens the gate.
my $gate = $t->path('gate');
my $origin = WeirOrigin->new(port => $t->port(1), handler => sub {
    my ($c) = @_;
    while (my $req = $c->read_request) {
        my $dl = time + 30;
        sleep 0.02 until -e $gate || time > $dl;
        $c->write(WeirOrigin::response(status => 200, body => "slow done\n"))
            or last;
    }
});
$t->start;

my $m = $t->master_pid;
my $want = sprintf 'weir: master process %s -p %s -c %s', WeirTest::binary(),
    $t->prefix, $t->conf_file;
is(cmdline($m), $want, 'the master title names the binary, prefix and config');
is(WeirTest::comm_of($m), 'weir-master', 'the master task name is weir-master');

my @w = $t->worker_pids;
is(scalar @w, 2, 'two workers');
is_deeply([ map { cmdline($_) } @w ], [ ('weir: worker process') x 2 ],
    'each worker is titled "weir: worker process"');

# A request held at the origin keeps one old worker busy across a reload.
my $bg = $t->background(sub {
    my ($ctl) = @_;
    my $conn = WeirTest::Conn->new(port => $t->port(0), timeout => 40);
    $conn->send(WeirTest::request('GET', '/slow', 'Connection' => 'close'));
    my $r = $conn->read_response(timeout => 40);
    return { status => $r->status, body => $r->body // '' };
}, max => 60);
ok($origin->wait_until(sub { $_[0]->request_count >= 1 }, 10),
    'the slow request reached the origin');

$t->signal('HUP');
my @new = $t->wait_workers(sub {
    my %old = map { $_ => 1 } @w;
    (grep { !$old{$_} } @_) == 2;
}, 10);
ok(@new, 'the new generation is up');
my %old = map { $_ => 1 } @w;
my @draining;
my $dl = WeirTest::deadline(10);
until (@draining || time > $dl) {
    @draining = grep { $old{$_} && cmdline($_) eq 'weir: worker process is shutting down' }
        $t->worker_pids;
    sleep 0.02 unless @draining;
}
is(scalar @draining, 1,
    'the old worker serving the request is titled "... is shutting down"');
my @fresh = grep { !$old{$_} } $t->worker_pids;
is_deeply([ map { cmdline($_) } @fresh ], [ ('weir: worker process') x 2 ],
    'the new workers are plain "weir: worker process"');

$t->write_file('gate', '');
my $res = $bg->finish;
is($res->{status}, 200, 'the held request completes with 200');

$t->done_testing;
