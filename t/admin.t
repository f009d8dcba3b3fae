#!/usr/bin/perl
# The admin listener ([admin]), two workers:
# - `allow` decides on accept: another address gets 403, and nothing else;
# - /metrics equals the traffic sent (requests per server and status
#   class, per peer requests, responses and failures by error, breaker
#   state, in-flight), summed over both workers; it parses with
#   Prometheus's own parser (promtool, when installed) and with the
#   format's rules checked here;
# - /status is valid JSON with every upstream, peer and worker; with
#   Accept: text/html it is a self-contained page embedding the same
#   document;
# - counters survive a reload; a worker killed with requests in flight has
#   its in-flight counts cleared by the master and is counted as a restart;
# - /healthz: 200 while serving, 503 while the whole weir drains on a
#   graceful stop (the admin listener stays open until the workers exit).

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time sleep);
use WeirTest;
use WeirOrigin;

my $t = WeirTest->new(main => { workers => 2 }, config => <<'INI');
[upstream app]
server = 127.0.0.1:%%PORT1%%
server = 127.0.0.1:%%PORT2%%
max_fails = 2
fail_timeout = 60s
retries = 1
keepalive = 0

[server s]
listen = 127.0.0.1:%%PORT0%%

[route missing]
server = s
match = /missing
return = 404 gone

[route app]
server = s
match = /
upstream = app

[admin]
listen = 127.0.0.1:%%PORT9%%
allow = 127.0.0.2/32 ::1
INI
my $live = WeirOrigin->new(port => $t->port(1), handler => 'echo');
my $dead = '127.0.0.1:' . $t->port(2);
my $la = '127.0.0.1:' . $t->port(1);
$t->start;

# An admin request from a given local address.
sub admin {
    my ($path, %o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port(9), LocalAddr => $o{from} // '127.0.0.2',
        Proto => 'tcp', Timeout => 5) or return (0, '', "connect: $!");
    my $hdr = $o{accept} ? "Accept: $o{accept}\r\n" : '';
    print $s "GET $path HTTP/1.1\r\nHost: admin\r\n${hdr}Connection: close\r\n\r\n";
    local $/;
    # Bounded: a response that never comes is a failure, not a hang.
    my $resp = eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm(10 * WeirTest::_detect_scale());
        my $r = <$s>;
        alarm(0);
        $r;
    } // '';
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.1 (\d+)};
    return ($status // 0, $body // '', $head // '');
}

# --- allow ---------------------------------------------------------------

my ($st, $body) = admin('/metrics', from => '127.0.0.1');
is($st, 403, 'an address outside allow gets 403');
unlike($body, qr/weir_/, 'and no metrics');
($st) = admin('/healthz');
is($st, 200, 'an allowed address gets in; /healthz is 200 while serving');

# --- traffic, then the metrics -------------------------------------------

my @got;
push @got, $t->http_get("/a$_")->status for 1 .. 20;
push @got, $t->http_get("/missing$_")->status for 1 .. 3;
is_deeply([sort { $a <=> $b } @got], [(200) x 20, (404) x 3], '20 proxied, 3 not found');
my $refused = () = $t->error_log =~ /connect failed.*upstream: \Q$dead\E/g;
cmp_ok($refused, '>=', 2, "the dead peer refused $refused tries");

my ($mst, $m) = admin('/metrics');
is($mst, 200, '/metrics answers');
my %v;
for (split /\n/, $m) {
    next if /^#/;
    my ($k, $val) = /^(\S+) (\S+)$/ or next;
    $v{$k} = $val;
}
sub m_is {
    my ($key, $want, $name) = @_;
    is($v{$key}, $want, $name) or diag("$key: " . ($v{$key} // 'absent'));
}
m_is('weir_http_requests_total{server="s",code="2xx"}', 20, 'requests by server: 2xx');
m_is('weir_http_requests_total{server="s",code="4xx"}', 3, 'requests by server: 4xx');
m_is('weir_http_request_duration_seconds_count{server="s"}', 23,
    'the duration histogram counted all 23');
m_is(qq{weir_upstream_peer_requests_total{upstream="app",peer="$la"}},
    $live->request_count, 'peer requests = what the origin saw');
m_is(qq{weir_upstream_peer_responses_total{upstream="app",peer="$la",code="2xx"}},
    20, 'peer 2xx responses');
m_is(qq{weir_upstream_peer_failures_total{upstream="app",peer="$dead",error="connect_refused"}},
    $refused, 'peer failures by error = the refused tries in the error log');
m_is(qq{weir_upstream_peer_breaker_state{upstream="app",peer="$dead",state="open"}},
    1, 'the dead peer\'s breaker is open');
m_is(qq{weir_upstream_peer_up{upstream="app",peer="$dead"}}, 0, 'and it is not up');
m_is(qq{weir_upstream_peer_up{upstream="app",peer="$la"}}, 1, 'the live one is');
m_is(qq{weir_upstream_peer_in_flight{upstream="app",peer="$la"}}, 0, 'nothing in flight');
m_is('weir_upstream_retries_total{upstream="app"}', $refused, 'each refused try was retried');
m_is('weir_config_generation', 1, 'generation 1');
is(scalar(grep { /^weir_worker_connections\{/ } keys %v), 2, 'one series per worker');

# The format's rules, checked here as well: HELP and TYPE once per family
# before its samples, names and labels well formed, counters end in
# _total, histogram buckets cumulative up to +Inf = _count.
{
    my (%type, %seen_family, @bad, $cur);
    for my $line (split /\n/, $m) {
        if ($line =~ /^# TYPE (\S+) (counter|gauge|histogram)$/) {
            push @bad, "TYPE twice: $1" if $type{$1}++;
            $cur = $1;
            push @bad, "counter without _total: $1" if $2 eq 'counter' && $1 !~ /_total$/;
            next;
        }
        next if $line =~ /^# HELP \S+ \S/;
        if ($line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+]+|\+Inf)$/) {
            my $fam = $1;
            $fam =~ s/_(bucket|sum|count)$// unless $type{$fam};
            push @bad, "sample before its TYPE: $line" unless $cur && $fam eq $cur;
            next;
        }
        push @bad, "malformed: $line";
    }
    my %bucket;
    while ($m =~ /^(\w+)_bucket\{(.*),le="([^"]+)"\} (\d+)$/mg) {
        push @{ $bucket{"$1\{$2\}"} }, [$3, $4];
    }
    for my $series (keys %bucket) {
        my @b = @{ $bucket{$series} };
        for my $i (1 .. $#b) {
            push @bad, "buckets not cumulative: $series" if $b[$i][1] < $b[$i - 1][1];
        }
        my ($name, $labels) = $series =~ /^(\w+)\{(.*)\}$/;
        push @bad, "+Inf != _count: $series"
            unless $b[-1][0] eq '+Inf' && $m =~ /^\Q${name}_count{$labels}\E $b[-1][1]$/m;
    }
    is_deeply(\@bad, [], 'the page follows the exposition format') or diag(join "\n", @bad[0 .. 9]);
}
SKIP: {
    my $promtool = -x '/usr/bin/promtool' ? '/usr/bin/promtool' : undef;
    skip 'promtool not installed (Debian package prometheus)', 1 unless $promtool;
    my $f = $t->path('logs/metrics.txt');
    $t->write_file('logs/metrics.txt', $m);
    my $out = `$promtool check metrics < $f 2>&1`;
    is($?, 0, 'promtool check metrics accepts the page') or diag($out);
}

# --- /status ------------------------------------------------------------------

my ($sst, $json) = admin('/status');
is($sst, 200, '/status answers');
my $d = eval { decode_json($json) };
ok($d, '/status is valid JSON') or diag($@);
is($d->{generation}, 1, 'with the generation');
is(scalar @{ $d->{workers} }, 2, 'both workers');
my ($u) = grep { $_->{name} eq 'app' } @{ $d->{upstreams} };
my %peer = map { $_->{address} => $_ } @{ $u->{peers} };
is($peer{$dead}{state}, 'open', 'the dead peer: open');
is($peer{$dead}{breaker}{state}, 'open', 'breaker detail');
ok($peer{$dead}{breaker}{next_trial_ms} > 0, 'with the time to its next trial');
is($peer{$dead}{failures}{connect_refused}, $refused, 'its failures by error');
is($peer{$la}{state}, 'up', 'the live peer: up');
is($peer{$la}{responses}{'2xx'}, 20, 'its responses');

my ($hst, $html, $hhead) = admin('/status', accept => 'text/html,application/xhtml+xml');
is($hst, 200, '/status for a browser');
like($hhead, qr{Content-Type: text/html}i, 'as HTML');
unlike($html, qr{<(?:link|img)\b|\bsrc="http|href="http}i, 'with no external assets');
my ($embedded) = $html =~ m{<script type="application/json" id="data">(.*?)</script>}s;
ok($embedded && eval { decode_json($embedded) }, 'embedding the status document');
like($html, qr/setTimeout\(poll,2000\)/, 'and refreshing itself');

# --- a reload keeps the counters -------------------------------------------------

my $mark = $t->log_mark;
$t->signal('HUP');
ok($t->wait_for_log(qr/reload: generation 2 started/, from => $mark), 'reloaded');
$t->wait_workers(sub { @_ == 2 });
$t->http_get('/after-reload');
(undef, $m) = admin('/metrics');
like($m, qr/^weir_http_requests_total\{server="s",code="2xx"\} 21$/m,
    'the request counter went on from 20 across the reload');
like($m, qr/^weir_reloads_total 1$/m, 'reloads_total 1');
like($m, qr/^weir_config_generation 2$/m, 'generation 2');
like($m, qr/^weir_upstream_peer_breaker_state\{upstream="app",peer="\Q$dead\E",state="open"\} 1$/m,
    'the breaker is still open');

# --- a killed worker: its in-flight count is cleared ---------------------------

my @c = map { my $c = $t->connect; $c->send(WeirTest::request('GET', "/slow$_?sleep=30",
    Connection => 'close')); $c } 1 .. 4;
ok($live->wait_until(sub { (grep { $_->{target} =~ /^\/slow/ } $_[0]->requests) == 4 }, 10),
    'four slow requests in flight');
(undef, $m) = admin('/metrics');
like($m, qr/^weir_upstream_peer_in_flight\{upstream="app",peer="\Q$la\E"\} 4$/m,
    'in flight: 4, over both workers');
my @w = $t->worker_pids;
kill 'KILL', @w;
ok($t->wait_workers(sub { @_ == 2 && !grep { my $x = $_; grep { $_ == $x } @w } @_ }),
    'both workers replaced');
$_->close for @c;
(undef, $m) = admin('/metrics');
like($m, qr/^weir_upstream_peer_in_flight\{upstream="app",peer="\Q$la\E"\} 0$/m,
    'the master cleared the dead workers\' in-flight counts');
like($m, qr/^weir_worker_restarts_total 2$/m, 'two restarts counted');
like($m, qr/^weir_http_requests_total\{server="s",code="2xx"\} 21$/m,
    'the counters survive the workers');

# --- /healthz while draining ------------------------------------------------

my $slow = $t->connect;
$slow->send(WeirTest::request('GET', '/drain?sleep=2', Connection => 'close'));
ok($live->wait_until(sub { grep { $_->{target} =~ /^\/drain/ } $_[0]->requests }, 10),
    'a slow request in flight');
$t->signal('QUIT');
my ($dst, $dbody);
my $dl = WeirTest::deadline(5);
do { ($dst, $dbody) = admin('/healthz') } until $dst == 503 || time > $dl;
is($dst, 503, '/healthz says 503 while the workers drain');
is($dbody, "draining\n", 'draining');
is($slow->read_response->status, 200, 'the request in flight still completes');
ok(defined $t->wait_exit(10), 'weir exits once drained');

my @crash = grep { /exited on signal/ && !/on signal 9 / } split /\n/, $t->error_log;
is_deeply(\@crash, [], 'no worker crashed (besides the two killed)');
$t->done_testing;
