#!/usr/bin/perl
# weir -s reload tests the file first, as -t does: a broken file gets its
# errors (file:line) on stderr, exit 1, and the master is not signalled
# at all, so it keeps serving the old configuration. A good file is
# signalled as before.

use strict;
use warnings;
use Test::More;
use WeirTest;

my $site = <<'INI';
[server s]
listen = 127.0.0.1:%%PORT0%%

[route r]
server = s
match = /
return = 200 BODY
INI
sub site { (my $s = $site) =~ s/BODY/$_[0]/; return $s }

my $t = WeirTest->new(config => site('one'));
$t->start;
is($t->http_get('/')->body, 'one', 'serving the first file');
my $mark = $t->log_mark;

# A broken file: an unknown key on a known line.
$t->write_config(site('two') . "bogus_key = 1\n");
my @l = split /\n/, $t->config_text;
my ($line) = grep { $l[$_ - 1] =~ /^bogus_key/ } 1 .. @l;
my $conf = $t->conf_file;
my $r = $t->weir_ctl('-s', 'reload');
is($r->{rc}, 1, 'reload of a broken file: exit 1');
like($r->{err}, qr/^weir: \Q$conf\E:$line: \[route r\] bogus_key: unknown key$/m,
    '... the error, with file:line, on stderr');
like($r->{err}, qr/^weir: configuration file \Q$conf\E test failed: no signal sent$/m,
    '... and that no signal was sent');

# A host problem (-t's checks) is refused the same way.
$t->write_config(site('two'), undef);
my $text = $t->config_text;
$text =~ s{^pid = .*$}{pid = no/such/dir/weir.pid}m;
$t->write_file($t->{conf}, $text);
$r = $t->weir_ctl('-s', 'reload');
is($r->{rc}, 1, 'reload with a pid file in a missing directory: exit 1');
like($r->{err}, qr/\[main\] pid: cannot create/, '... saying why');

# Now a good file. If either bad attempt had been signalled, the master
# would log "reloading configuration" for it too.
$t->write_config(site('three'));
$r = $t->weir_ctl('-s', 'reload');
is($r->{rc}, 0, 'reload of a good file: exit 0') or diag($r->{err});
ok($t->wait_for_log(qr/reload: generation 2 started/, from => $mark),
    'the good reload is done');
my @reloads = grep { /reloading configuration/ }
    split /\n/, substr($t->error_log, $mark);
is(scalar @reloads, 1, 'the master saw exactly one reload: the good one');
unlike(substr($t->error_log, $mark), qr/reload failed/,
    'the master never saw the broken files');
my $body;
my $dl = WeirTest::deadline(5);
do { $body = $t->http_get('/')->body } until $body eq 'three' || time > $dl;
is($body, 'three', 'the good file serves');

$t->done_testing;
