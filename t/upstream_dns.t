#!/usr/bin/perl
# Upstream peers by host name: `server = localhost:PORT` is resolved when
# the file is loaded (start, reload, weir -t), every address a peer with
# the line's options; health probes ask for the name. A name that does
# not resolve (nonexistent.invalid, RFC 6761) fails -t, the start and a
# reload with file:line, the key and the name.

use strict;
use warnings;
use Test::More;
use Socket qw(getaddrinfo getnameinfo SOCK_STREAM NI_NUMERICHOST NI_NUMERICSERV);
use Time::HiRes qw(time);
use WeirTest;
use WeirOrigin;

# What the system resolver says localhost is (the expected peers).
my ($gerr, @ai) = getaddrinfo('localhost', 80, { socktype => SOCK_STREAM });
plan skip_all => "localhost does not resolve here: $gerr" if $gerr;
my %addrs;
for my $a (@ai) {
    my ($e, $h) = getnameinfo($a->{addr}, NI_NUMERICHOST | NI_NUMERICSERV);
    $addrs{$h} = 1 unless $e;
}
plan skip_all => 'localhost must include 127.0.0.1 here' unless $addrs{'127.0.0.1'};
diag("localhost is @{[ sort keys %addrs ]}") if $ENV{TEST_VERBOSE};

my $conf = <<'INI';
[upstream app]
server = localhost:%%PORT1%% weight=3
health_check = /health
health_interval = 200ms
; a localhost that is also ::1 gives a peer nobody listens on: it must
; not take the requests meanwhile
retries = 3
max_fails = 1

[server s]
listen = 127.0.0.1:%%PORT0%%

[admin]
listen = 127.0.0.1:%%PORT2%%

[route app]
server = s
match = /
upstream = app
INI

my $t = WeirTest->new(config => $conf);
my $port = $t->port(1);
my $origin = WeirOrigin->new(port => $port, handler => 'echo');

# -T shows the name, once, with its options.
my $r = $t->weir_ctl('-T');
is($r->{rc}, 0, 'weir -t passes with a host name') or diag($r->{err});
my @lines = $r->{out} =~ /^(server = .* weight=.*)$/mg;
is_deeply(\@lines, [ "server = localhost:$port weight=3 max_fails=1 fail_timeout=10s max_conns=0" ],
    'weir -T writes the name once, with its options');

$t->start;
$r = $t->http_get('/x');
is($r->status, 200, 'a request goes to the peer named by the name');

# Every address of the name is a peer (/status lists them).
my $s = $t->http("GET /status HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    port => $t->port(2));
my @peers = $s->body =~ /"address":\s*"([^"]+)"/g;
my %want = map { (/:/ ? "[$_]" : $_) . ":$port" => 1 } keys %addrs;
is_deeply([ sort @peers ], [ sort keys %want ],
    'one peer per address of localhost') or diag($s->body);

# The health checker asks for the name, not the address.
my $dl = WeirTest::deadline(5);
my $probe;
until ($probe || time > $dl) {
    ($probe) = grep { $_->{target} eq '/health' } $origin->requests;
    select(undef, undef, undef, 0.05) unless $probe;
}
ok($probe, 'a health probe arrived');
my %h = map { lc $_->[0] => $_->[1] } @{ $probe ? $probe->{headers} : [] };
is($h{host}, "localhost:$port", 'health probes send Host: the name');

# A reload resolves again; a name that does not resolve fails it with
# file:line, and the running configuration keeps serving.
my $bad = $conf;
$bad =~ s/^(server = localhost.*)$/$1\nserver = nonexistent.invalid:%%PORT1%%/m;
my $mark = $t->log_mark;
$t->write_config($bad);
my ($ln) = grep { (split /\n/, $t->config_text)[$_ - 1] =~ /nonexistent/ }
    1 .. scalar(split /\n/, $t->config_text);
my $file = $t->conf_file;
$r = $t->weir_ctl('-t');
is($r->{rc}, 1, 'weir -t fails on a name that does not resolve');
like($r->{err}, qr/^weir: \Q$file\E:$ln: \[upstream app\] server: cannot resolve "nonexistent\.invalid": /m,
    '... naming file:line, the key and the name') or diag($r->{err});
$t->signal('HUP');
ok($t->wait_for_log(qr/reload failed: \Q$file\E:$ln: \[upstream app\] server: cannot resolve "nonexistent\.invalid"/,
    from => $mark, timeout => 15), 'the reload fails the same way');
is($t->http_get('/y')->status, 200, 'the running configuration keeps serving');

$t->write_config($conf);
$mark = $t->log_mark;
$t->signal('HUP');
ok($t->wait_for_log(qr/reload: generation \d+ started/, from => $mark, timeout => 15),
    'a reload with the name resolves it again');
is($t->http_get('/z')->status, 200, 'serving after the reload');

$t->stop;
# A start with a name that does not resolve fails, saying where.
$t->write_config($bad);
$r = $t->weir_cmd('-p', $t->prefix, '-c', $file);
is($r->{rc}, 1, 'a start with a name that does not resolve fails');
like($r->{err}, qr/\Q$file\E:$ln: \[upstream app\] server: cannot resolve "nonexistent\.invalid"/,
    '... saying where and which');

$origin->stop;
$t->done_testing;
