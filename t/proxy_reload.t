#!/usr/bin/perl
# Reloads under proxied load: 10 reloads while three clients keep sending
# through the proxy (new connections, keep-alive connections, and POSTs
# with bodies) and not one request fails. The old workers drain: their
# in-flight proxied responses complete, their pooled upstream connections
# close, and they exit.

use strict;
use warnings;
use Test::More;
use WeirTest;
use WeirOrigin;

my $t = WeirTest->new(config => <<'INI');
[upstream app]
server = 127.0.0.1:%%PORT1%%
keepalive = 16

[server s]
listen = 127.0.0.1:%%PORT0%%

[route app]
server = s
match = /
upstream = app
INI
my $origin = WeirOrigin->new(port => $t->port(1), handler => 'echo',
    lifetime => 120);
$t->start;
is($t->http_get('/warm')->status, 200, 'proxying before the reloads');

# Created after the last reload: each client, on its first request that
# starts after that, says so ("after"), so the test knows every client
# kept sending across all the reloads, without counting requests (how
# many fit in the time depends on the machine).
my $marker = $t->path('logs/reloads-done');

sub after_mark {
    my ($ctl, $seen) = @_;
    return 1 if $$seen;
    return 0 unless -e $marker;
    $ctl->event('after');
    return $$seen = 1;
}

sub check {
    my ($r, $path) = @_;
    return 0 if $r->error || ($r->status // 0) != 200;
    my $doc = eval { WeirOrigin::json()->decode($r->body) } || {};
    return ($doc->{target} // '') eq $path;
}

sub new_conn_client {
    my ($ctl) = @_;
    my ($n, $fail, @why) = (0, 0);
    my $after = 0;
    until ($ctl->stop) {
        after_mark($ctl, \$after);
        my $path = '/n' . $n++;
        my $r = $t->http_get($path);
        $ctl->event("started") if $n == 1;
        next if check($r, $path);
        $fail++;
        push @why, $r->summary if @why < 10;
    }
    return { requests => $n, fail => $fail, why => join('; ', @why) };
}

sub keepalive_client {
    my ($ctl) = @_;
    my $cl = WeirTest::Client->new(port => $t->port(0), retry_race => 0);
    my ($n, $fail, @why) = (0, 0);
    my $after = 0;
    until ($ctl->stop) {
        after_mark($ctl, \$after);
        my $path = '/k' . $n++;
        my $r = $cl->get($path);
        $ctl->event("started") if $n == 1;
        next if check($r, $path);
        $fail++;
        push @why, $r->summary if @why < 10;
    }
    $cl->close;
    return { requests => $n, fail => $fail, why => join('; ', @why) };
}

sub post_client {
    my ($ctl) = @_;
    my ($n, $fail, @why) = (0, 0);
    my $after = 0;
    until ($ctl->stop) {
        after_mark($ctl, \$after);
        my $path = '/p' . $n++;
        my $body = 'x' x (1000 + $n % 5000);
        my $r = $t->http("POST $path HTTP/1.1\r\nHost: x\r\nContent-Length: "
            . length($body) . "\r\nConnection: close\r\n\r\n$body");
        $ctl->event("started") if $n == 1;
        my $doc = eval { WeirOrigin::json()->decode($r->body // '') } || {};
        next if ($r->status // 0) == 200 && ($doc->{body_len} // -1) == length $body;
        $fail++;
        push @why, $r->summary if @why < 10;
    }
    return { requests => $n, fail => $fail, why => join('; ', @why) };
}

my @bg = map { $t->background($_, max => 120) }
    (\&new_conn_client, \&keepalive_client, \&post_client);

# Every client is inside its loop before the first reload and stays there
# until after the last one (its "after" event), so each reload lands among
# live requests.
for my $k (0 .. 2) {
    is($bg[$k]->wait_event(20), 'started', "client $k running before the reloads");
}

my $reloads = 0;
for my $i (1 .. 10) {
    my $mark = $t->log_mark;
    $t->signal('HUP');
    $reloads++ if $t->wait_for_log(qr/reload: generation \d+ started/,
        from => $mark, timeout => 10);
}
is($reloads, 10, '10 reloads, each announced');
$t->write_file('logs/reloads-done', '');
for my $k (0 .. 2) {
    is($bg[$k]->wait_event(20), 'after', "client $k still sending after the last reload");
}
my @w = $t->wait_workers(sub { @_ == 2 }, 30);
is(scalar @w, 2, 'the old generations drained and exited');

my @res = map { $_->finish } @bg;
my @names = ('new connections', 'keep-alive', 'POST with bodies');
for my $k (0 .. 2) {
    is($res[$k]{fail}, 0, "$names[$k]: zero failed requests")
        or diag($res[$k]{why} // $res[$k]{died});
}

WeirOrigin::check_workers($t);
$t->done_testing;
