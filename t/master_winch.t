#!/usr/bin/perl
# SIGWINCH: the workers stop gracefully (an in-flight request finishes),
# the master stays and keeps its pid file; a reload (HUP) brings workers
# back, serving on the same port.

use strict;
use warnings;
use Test::More;
use WeirTest;

my $t = WeirTest->new(config => <<'INI', files => { 'html/index.html' => "index\n" });
[server s]
listen = 127.0.0.1:%%PORT0%%

[route post]
server = s
match = /post
return = 200 posted

[route site]
server = s
match = /
root = html
INI
$t->start;

# a request whose response is in progress: the head is read, the body
# request body (Content-Length 10) is still arriving
my $c = $t->connect;
$c->send("POST /post HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n01234");
my $mark = $t->log_mark;
$t->signal('WINCH');
ok($t->wait_for_log(qr/WINCH|stopping workers/i, from => $mark, timeout => 5),
    'WINCH is logged');
$c->send('56789');
my $r = $c->read_response;
is($r->status, 200, 'the request in flight at WINCH is answered');
is($r->body, 'posted', '... in full');
$c->close;

my @w = $t->wait_workers(sub { @_ == 0 }, 10);
is(scalar $t->worker_pids, 0, 'WINCH: every worker has exited');
ok($t->alive, 'WINCH: the master stays');
ok(-f $t->pid_file, 'WINCH: the pid file stays');
select(undef, undef, undef, 0.3);
is(scalar $t->worker_pids, 0, 'WINCH: the workers are not respawned');

$mark = $t->log_mark;
$t->signal('HUP');
ok($t->wait_for_log(qr/reload: generation \d+ started/, from => $mark, timeout => 10),
    'HUP after WINCH: a new generation');
@w = $t->wait_workers(sub { @_ == 2 }, 10);
is(scalar @w, 2, 'HUP after WINCH: two workers again');
is($t->http_get('/')->body, "index\n", 'HUP after WINCH: serving again');

is($t->stop, 0, 'graceful stop: exit 0');
$t->done_testing;
