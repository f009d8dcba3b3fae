#!/usr/bin/perl
# Upstream host names re-resolved while weir runs (`resolve`): a child of
# the master resolves them every interval; new addresses reload weir (a
# new generation, as HUP); a name that stops resolving keeps its last
# addresses and is logged once; a file edited since it was loaded is not
# reloaded behind the operator's back.
# The names come from WEIR_TEST_HOSTS, a hosts-format file read instead of
# the system resolver: a hook for tests only (see HACKING), so the test
# never touches /etc/hosts.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use WeirTest;
use WeirOrigin;

my $t = WeirTest->new(config => <<'INI');
[upstream app]
server = app.test:%%PORT1%%
resolve = 1s
keepalive = 0

[server s]
listen = 127.0.0.1:%%PORT0%%

[route app]
server = s
match = /
upstream = app
INI
my $port = $t->port(1);
my $a = WeirOrigin->new(port => $port, handler => 'fixed', body => 'A');
my $b = eval { WeirOrigin->new(host => '127.0.0.2', port => $port,
    handler => 'fixed', body => 'B') };
plan skip_all => "cannot listen on 127.0.0.2: $@" unless $b;

my $hosts = $t->path('hosts');
sub hosts {
    my ($text) = @_;
    $t->write_file('hosts.new', $text);
    rename $t->path('hosts.new'), $hosts or die "rename: $!";
}
hosts("127.0.0.1 app.test\n");
$ENV{WEIR_TEST_HOSTS} = $hosts;

$t->start;
is($t->http_get('/')->body, 'A', 'app.test is 127.0.0.1 at start');

# The name moves: weir notices and reloads.
my $mark = $t->log_mark;
hosts("# moved\n127.0.0.2 app.test\n");
ok($t->wait_for_log(qr/upstream "app": app\.test:$port resolves to other addresses now/,
    from => $mark, timeout => 10), 'the new address is noticed');
ok($t->wait_for_log(qr/reload: generation 2 started/, from => $mark, timeout => 15),
    '... and a reload applies it');
my $dl = WeirTest::deadline(10);
my $body = '';
until ($body eq 'B' || time > $dl) { $body = $t->http_get('/')->body }
is($body, 'B', 'requests go to the new address');

# The name stops resolving: the last addresses stay, said once.
$mark = $t->log_mark;
hosts("# nothing here\n");
ok($t->wait_for_log(qr/\[warn\].*upstream "app": app\.test:$port: cannot resolve "app\.test": .*; keeping its last addresses/,
    from => $mark, timeout => 10), 'a name that stops resolving is logged');
# Several more intervals (1 s each, the shortest allowed) pass
# meanwhile: no second line.
ok(!$t->wait_for_log(qr/keeping its last addresses/,
    from => $t->log_mark, timeout => 3), '... once');
my @bodies = map { $t->http_get('/')->body } 1 .. 5;
is_deeply(\@bodies, [ ('B') x 5 ], 'its last address keeps serving');
unlike($t->error_log, qr/generation 3/, 'no reload for a name that fails');

$mark = $t->log_mark;
hosts("127.0.0.2 app.test\n");
ok($t->wait_for_log(qr/upstream "app": app\.test:$port resolves again/,
    from => $mark, timeout => 10), 'back: logged');

# An edited file is not reloaded by a DNS change.
$mark = $t->log_mark;
$t->write_config($t->config_text . "\n; edited\n");
hosts("127.0.0.1 app.test\n");
ok($t->wait_for_log(qr/not reloading for the new addresses: the configuration file changed since it was loaded/,
    from => $mark, timeout => 10), 'an edited file: no reload, said why');
is($t->http_get('/')->body, 'B', '... the running configuration serves on');
$t->signal('HUP');
ok($t->wait_for_log(qr/reload: generation 3 started/, from => $mark, timeout => 15),
    'the operator\'s reload');
$dl = WeirTest::deadline(10);
$body = '';
until ($body eq 'A' || time > $dl) { $body = $t->http_get('/')->body }
is($body, 'A', '... applies the new address');

$a->stop;
$b->stop;
$t->done_testing;
