#!/usr/bin/perl
# Log rotation: after the logs are renamed, SIGUSR1 (or weir -s reopen)
# makes weir write to new files at the old paths; nothing more goes to
# the renamed ones.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use WeirTest;

my $t = WeirTest->new(config => <<'INI', files => { 'html/index.html' => "index\n" });
[http]
access_log = logs/access.log

[server s]
listen = 127.0.0.1:%%PORT0%%

[route site]
server = s
match = /
root = html
INI
$t->start;

my $err = $t->error_log_file;
my $acc = $t->access_log_file;

sub wait_file {
    my ($p) = @_;
    my $dl = WeirTest::deadline(3);
    until (-e $p) { return 0 if time > $dl; select(undef, undef, undef, 0.02) }
    return 1;
}

for my $round (1 .. 2) {
    my $how = $round == 1 ? 'SIGUSR1' : 'weir -s reopen';
    $t->http_get("/before-$round");
    ok($t->wait_for_access_log(qr{/before-$round }), "$how: a line before the rotation");

    rename $err, "$err.$round" or die "rename: $!";
    rename $acc, "$acc.$round" or die "rename: $!";
    if ($round == 1) {
        $t->signal('USR1');
    } else {
        my $r = $t->weir_ctl('-s', 'reopen');
        is($r->{rc}, 0, 'weir -s reopen: exit 0') or diag($r->{err});
    }
    ok(wait_file($err), "$how: a new error log at the old path");
    ok($t->wait_for_log(qr/reopening logs/, timeout => 3),
        "$how: the reopen is logged in the new error log");

    # Workers reopen when the master's signal reaches them, a moment after
    # the master's own reopen: a line may still land in the renamed file,
    # but from the second request on they go to the new file. None is lost.
    my ($k, $where) = (0, '');
    while ($k < 5 && $where ne 'new') {
        $k++;
        $t->http_get("/after-$round-$k");
        my $dl = WeirTest::deadline(3);
        $where = '';
        while (!$where && time < $dl) {
            $where = (grep { m{/after-$round-$k } } $t->access_log_lines) ? 'new'
                : (grep { m{/after-$round-$k } } $t->access_log_lines("$acc.$round"))
                ? 'old' : '';
            select(undef, undef, undef, 0.02) unless $where;
        }
        last unless $where;
    }
    is($where, 'new', "$how: requests are logged in a new access log at the old path");
    cmp_ok($k, '<=', 2, "$how: ... from the first or second request on");
    my @old = $t->access_log_lines("$acc.$round");
    ok((grep { m{/before-$round } } @old), "$how: the old lines stay in the renamed file");

    # every worker reopened: requests on new connections reach both
    # workers, and all their lines land in the new file
    $t->http_get("/spread-$round-$_") for 1 .. 20;
    my $dl = WeirTest::deadline(3);
    my @new;
    while (1) {
        @new = grep { m{/spread-$round-} } $t->access_log_lines;
        last if @new >= 20 || time > $dl;
        select(undef, undef, undef, 0.05);
    }
    is(scalar @new, 20, "$how: every worker writes to the new access log");
}

ok($t->alive, 'the master is alive after two reopens');
is(scalar $t->worker_pids, 2, '... with its two workers');

$t->done_testing;
