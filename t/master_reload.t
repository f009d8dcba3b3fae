#!/usr/bin/perl
# Reload (SIGHUP, weir -s reload) under load: 20 reloads while two clients
# keep sending (one on new connections, one on keep-alive connections) and
# not one request fails. A changed file takes effect; a broken file is
# refused with file:line and the old configuration keeps serving.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use WeirTest;

my $conf = <<'INI';
[server s]
listen = 127.0.0.1:%%PORT0%%

[route hello]
server = s
match = = /hello
return = 200 %%BODY%%

[route site]
server = s
match = /
root = html
INI
sub conf_with { my $body = shift; (my $c = $conf) =~ s/%%BODY%%/$body/; return $c }

my $t = WeirTest->new(config => conf_with('hello'),
    files => { 'html/index.html' => "index\n" });
$t->start;
is($t->http_get('/hello')->body, 'hello', 'serving before the reloads');

# Client on a new connection per request.
sub new_conn_client {
    my ($ctl) = @_;
    my ($n, $fail, @why) = (0, 0);
    until ($ctl->stop) {
        my $r = $t->http_get('/hello');
        $n++;
        next if $r->status == 200 && !$r->error && $r->body eq 'hello';
        $fail++;
        push @why, $r->summary if @why < 10;
    }
    return { requests => $n, fail => $fail, why => join('; ', @why) };
}

# Client on keep-alive connections (the rule is in WeirTest.pm: reconnect
# only after Connection: close or a close found between requests; a
# request that got no response is a failure, never retried).
sub keepalive_client {
    my ($ctl) = @_;
    my $cl = WeirTest::Client->new(port => $t->port(0), retry_race => 0);
    my ($fail, @why) = (0);
    my $i = 0;
    until ($ctl->stop) {
        my $r = $cl->get($i++ % 5 ? '/hello' : '/');
        my $want = ($i - 1) % 5 ? 'hello' : "index\n";
        next if $r->status == 200 && !$r->error && $r->body eq $want;
        $fail++;
        push @why, $r->summary if @why < 10;
    }
    $cl->close;
    return { $cl->counters, fail => $fail, why => join('; ', @why) };
}

my $nc = $t->background(\&new_conn_client, max => 120);
my $ka = $t->background(\&keepalive_client, max => 120);

my ($prev, @gens, $slow);
for my $i (1 .. 20) {
    my $mark = $t->log_mark;
    if ($i == 1) {
        my $r = $t->weir_ctl('-s', 'reload');
        is($r->{rc}, 0, 'weir -s reload: exit 0') or diag($r->{err});
    } else {
        $t->signal('HUP');
    }
    my ($line, $gen) = $t->wait_for_log(qr/reload: generation (\d+) started/,
        from => $mark, timeout => 10);
    if (!$line) { fail("reload $i: no generation notice"); last }
    push @gens, $gen;
}
is(scalar @gens, 20, '20 reloads, each announced');
my @steps = map { $gens[$_] - $gens[$_ - 1] } 1 .. $#gens;
is_deeply(\@steps, [ (1) x 19 ], 'generations count up by one') or diag("@gens");

# The old generations drain and exit while the clients still send.
my @w = $t->wait_workers(sub { @_ == 2 }, 15);
is(scalar @w, 2, 'old workers have exited: two workers left');

my $ra = $nc->finish;
my $rb = $ka->finish;
cmp_ok($ra->{requests} // 0, '>', 20, 'new-connection client ran throughout');
is($ra->{fail}, 0, 'new-connection client: zero failed requests')
    or diag($ra->{why} // $ra->{died});
cmp_ok($rb->{requests} // 0, '>', 20, 'keep-alive client ran throughout');
is($rb->{fail}, 0, 'keep-alive client: zero failed requests')
    or diag($rb->{why} // $rb->{died});
diag(sprintf 'new-conn: %d requests; keep-alive: %d requests on %d connections '
    . '(%d closed by Connection: close, %d found closed between requests)',
    $ra->{requests} // 0, $rb->{requests} // 0, $rb->{conns} // 0,
    $rb->{closes} // 0, $rb->{reconnects} // 0) if $ENV{TEST_VERBOSE};

# --- a changed file takes effect -------------------------------------------------

$t->write_config(conf_with('v2'));
my $mark = $t->log_mark;
$t->signal('HUP');
ok($t->wait_for_log(qr/reload: generation \d+ started/, from => $mark, timeout => 10),
    'reload with a changed file: announced');
my $dl = WeirTest::deadline(5);
my $body = '';
while (time < $dl) {
    $body = $t->http_get('/hello')->body;
    last if $body eq 'v2';
    select(undef, undef, undef, 0.05);
}
is($body, 'v2', 'the new configuration serves');
@w = $t->wait_workers(sub { @_ == 2 }, 15);
my %seen = map { $t->http_get('/hello')->body => 1 } 1 .. 20;
is_deeply([ sort keys %seen ], [ 'v2' ], 'once the old workers left, only the new one serves');

# --- a broken file is refused -----------------------------------------------------

my @before = $t->worker_pids;
my $file = $t->conf_file;
my @lines = split /\n/, $t->read_file($file);
my ($at) = grep { $lines[$_] =~ /^\[route hello\]/ } 0 .. $#lines;
splice @lines, $at + 1, 0, 'no_such_key = 1';
my $badline = $at + 2;
$t->write_file($file, join("\n", @lines) . "\n");
$mark = $t->log_mark;
$t->signal('HUP');
my $err = $t->wait_for_log(qr/reload failed/, from => $mark, timeout => 10);
ok($err, 'broken file: reload failed is logged');
like($err // '', qr/\[error\] .*reload failed: \Q$file\E:$badline: /,
    'broken file: [error] line naming file:line');
like($err // '', qr/no_such_key/, 'broken file: naming the key');
ok(!$t->wait_for_log(qr/reload: generation/, from => $mark, timeout => 0),
    'broken file: no new generation');
is($t->http_get('/hello')->body, 'v2', 'broken file: the old configuration still serves');
is_deeply([ $t->worker_pids ], \@before, 'broken file: the same workers');
ok($t->alive, 'broken file: the master lives on');

# --- fixing the file recovers ------------------------------------------------------

$t->write_config(conf_with('v3'));
$mark = $t->log_mark;
$t->signal('HUP');
ok($t->wait_for_log(qr/reload: generation \d+ started/, from => $mark, timeout => 10),
    'fixed file: reload announced');
$dl = WeirTest::deadline(5);
while (time < $dl) {
    $body = $t->http_get('/hello')->body;
    last if $body eq 'v3';
    select(undef, undef, undef, 0.05);
}
is($body, 'v3', 'fixed file: the new configuration serves');

is($t->stop, 0, 'graceful stop: exit 0');
$t->done_testing;
