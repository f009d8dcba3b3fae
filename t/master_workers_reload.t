#!/usr/bin/perl
# A reload that lowers `workers` loses no queued connection. Each worker
# slot has its own SO_REUSEPORT socket, and closing one resets every
# connection waiting in its accept queue; so the surplus sockets stay open
# and a remaining worker accepts on them. WINCH stops the workers first,
# so connections pile up in every slot's queue while nobody accepts: the
# new single worker must answer all of them.

use strict;
use warnings;
use Test::More;
use WeirTest;

my $config = <<'INI';
[server s]
listen = 127.0.0.1:%%PORT0%%

[route r]
server = s
match = /
return = 200 served
INI
my $t = WeirTest->new(config => $config, main => { workers => 3 });
$t->start;
my @w = $t->wait_workers(sub { @_ == 3 }, 10);
is(scalar @w, 3, 'three workers to start with');

$t->signal('WINCH');
@w = $t->wait_workers(sub { @_ == 0 }, 10);
is(scalar @w, 0, 'WINCH: no worker accepts any more');

# 40 connections spread by the kernel over the three slots' queues: the
# chance that none lands outside slot 0 is (1/3)^40.
my @conns;
for my $i (1 .. 40) {
    my $c = $t->connect;
    $c->send("GET /q$i HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    push @conns, $c;
}
is(scalar(grep { $_->ok } @conns), 40, '40 connections queued while no worker runs');

$t->{main}{workers} = 1;
$t->write_config($config);
my $mark = $t->log_mark;
$t->signal('HUP');
ok($t->wait_for_log(qr/reload: generation \d+ started/, from => $mark,
    timeout => 10), 'reload to workers = 1');

my ($ok, @bad) = (0);
for my $c (@conns) {
    my $r = $c->read_response;
    if (!$r->error && ($r->status // 0) == 200 && ($r->body // '') eq 'served') {
        $ok++;
    } else {
        push @bad, $r->summary if @bad < 5;
    }
    $c->close;
}
is($ok, 40, 'every queued connection is answered by the one new worker')
    or diag(join '; ', @bad);
@w = $t->wait_workers(sub { @_ == 1 }, 10);
is(scalar @w, 1, 'one worker runs');

# New connections keep landing on all three sockets; all are served.
my $served = grep { ($t->http_get("/n$_")->status // 0) == 200 } 1 .. 40;
is($served, 40, 'new connections after the reload are all served');

# Back up to three: the kept sockets return to their own slots.
$t->{main}{workers} = 3;
$t->write_config($config);
$mark = $t->log_mark;
$t->signal('HUP');
ok($t->wait_for_log(qr/reload: generation \d+ started/, from => $mark,
    timeout => 10), 'reload to workers = 3');
@w = $t->wait_workers(sub { @_ == 3 }, 10);
is(scalar @w, 3, 'three workers again');
$served = grep { ($t->http_get("/m$_")->status // 0) == 200 } 1 .. 40;
is($served, 40, 'and every new connection is served');
unlike($t->error_log, qr/no socket for/, 'every worker found its sockets');

is($t->stop, 0, 'graceful stop: exit 0');
$t->done_testing;
