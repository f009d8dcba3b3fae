#!/usr/bin/perl
# The access log: the combined line and its fields, json, a custom format,
# access_log = off, whole lines from several workers, flushed within 1 s;
# json types that stay the same on every line (static, proxied, retried,
# error); a log_format longer than inih's 199 characters with the upstream
# fields; $scheme and $server_port from the listener.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use POSIX qw(strftime);
use JSON::PP;
use Time::Local qw(timegm);
use IO::Socket::INET;
use WeirTest;
use WeirOrigin;

my %files = ('html/index.html' => "index\n", 'html/a.txt' => "0123456789");
my $site = <<'INI';
[server s]
listen = 127.0.0.1:%%PORT0%%

[route hello]
server = s
match = = /hello
return = 200 hello

[route site]
server = s
match = /
root = html
INI

my %mon = (Jan => 0, Feb => 1, Mar => 2, Apr => 3, May => 4, Jun => 5,
    Jul => 6, Aug => 7, Sep => 8, Oct => 9, Nov => 10, Dec => 11);

# --- combined ----------------------------------------------------------------

my $t = WeirTest->new(files => \%files, config => <<"INI" . $site);
[http]
access_log = logs/access.log
INI
$t->start;

my $r = $t->http_get('/hello?a=b', Referer => 'http://ref.example/',
    'User-Agent' => 'agent/1.0');
my $t0 = time;
my $line = $t->wait_for_access_log(qr{"GET /hello\?a=b HTTP/1\.1"}, timeout => 3);
my $lag = time - $t0;
ok($line, 'combined: the request is logged');
cmp_ok($lag, '<=', 1.5, 'combined: the line is flushed within about 1 s');
$line //= '';
like($line, qr{^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /hello\?a=b HTTP/1\.1" 200 5 "http://ref\.example/" "agent/1\.0"$},
    'combined: every field') or diag($line);
if ($line =~ m{\[(\d\d)/(\w{3})/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)\]}) {
    my $utc = timegm($6, $5, $4, $1, $mon{$2}, $3)
        - ($7 eq '-' ? -1 : 1) * ($8 * 3600 + $9 * 60);
    cmp_ok(abs($utc - time), '<', 120, 'combined: $time_local is now');
}

$r = $t->http_get('/missing', 'User-Agent' => 'x');
my $len404 = length $r->body;
ok($t->wait_for_access_log(qr{"GET /missing HTTP/1\.1" 404 \Q$len404\E "-" "x"$}),
    'combined: a 404 with its body size and "-" for no referer');

$r = $t->http_head('/a.txt');
ok($t->wait_for_access_log(qr{"HEAD /a\.txt HTTP/1\.1" 200 0 }),
    'combined: HEAD sends 0 body bytes');

$r = $t->http_get('/a.txt', Range => 'bytes=0-3');
ok($t->wait_for_access_log(qr{"GET /a\.txt HTTP/1\.1" 206 4 }),
    'combined: a 206 logs the bytes of the range');

$r = $t->http_get('/a.txt?quote', 'User-Agent' => 'evil" 200 0 "x');
$line = $t->wait_for_access_log(qr{/a\.txt\?quote}) // '';
unlike($line, qr/"evil" 200/, 'combined: a quote in a header is escaped');
like($line, qr/^127\.0\.0\.1 - - \[[^\]]+\] "GET \/a\.txt\?quote HTTP\/1\.1" 200 10 "-" "(?:[^"\\]|\\.)*"$/,
    'combined: the line still has exactly its quoted fields') or diag($line);

# 300 requests on new connections spread over both workers: whole lines
{
    for my $i (1 .. 300) { $t->http_get("/a.txt?n=$i") }
    my $dl = WeirTest::deadline(3);
    my @l;
    while (1) {
        @l = grep { m{/a\.txt\?n=\d+ } } $t->access_log_lines;
        last if @l >= 300 || time > $dl;
        select(undef, undef, undef, 0.05);
    }
    is(scalar @l, 300, '300 requests: 300 lines');
    my @bad = grep { !m{^127\.0\.0\.1 - - \[[^\]]+\] "GET /a\.txt\?n=\d+ HTTP/1\.1" 200 10 "-" "-"$} } @l;
    is(scalar @bad, 0, '... each one whole') or diag(@bad[0 .. 4]);
    my %seen = map { m{n=(\d+)} ? ($1 => 1) : () } @l;
    is(scalar keys %seen, 300, '... one per request');
}
$t->stop;

# --- json ----------------------------------------------------------------------

my $j = WeirTest->new(files => \%files, config => <<"INI" . $site);
[http]
access_log = logs/access.log
log_format = json
INI
$j->start;
$j->http_get('/hello?j=1', 'User-Agent' => "q\"uo\\te \xc3\xa9");
# Bytes that are not UTF-8 (a lone 0xff, a cut 2-byte sequence) must not
# make the line invalid JSON text: they come out as \u00XX.
$j->http_get('/hello?j=2', 'User-Agent' => "bad \xff \xc3");
$j->http_get('/missing?j=3');
my $dl = WeirTest::deadline(3);
my @recs;
while (1) {
    @recs = $j->access_log_lines;
    last if @recs >= 3 || time > $dl;
    select(undef, undef, undef, 0.05);
}
is(scalar @recs, 3, 'json: one line per request');
my @obj;
for my $l (@recs) {
    # ->utf8: the line must be valid UTF-8 as well as valid JSON.
    my $o = eval { JSON::PP->new->utf8->decode($l) };
    ok(ref $o eq 'HASH', 'json: each line is a UTF-8 JSON object') or diag("$@: $l");
    push @obj, $o || {};
}
my ($o1) = grep { ($_->{request} // '') =~ /j=1/ } @obj;
$o1 //= {};
is($o1->{remote_addr}, '127.0.0.1', 'json: remote_addr');
is($o1->{request}, 'GET /hello?j=1 HTTP/1.1', 'json: request');
is($o1->{status}, 200, 'json: status');
is($o1->{body_bytes_sent}, 5, 'json: body_bytes_sent');
like($o1->{request_time} // '', qr/^\d+(\.\d+)?$/, 'json: request_time is a number');
like($o1->{request_id} // '', qr/^\S{8,}$/, 'json: a request_id');
is($o1->{http_user_agent}, "q\"uo\\te \x{e9}",
    'json: quotes and backslashes escaped, UTF-8 kept');
my ($o2) = grep { ($_->{request} // '') =~ /j=2/ } @obj;
is(($o2 // {})->{http_user_agent}, "bad \x{ff} \x{c3}",
    'json: bytes that are not UTF-8 come out as \\u00XX');
my ($o3) = grep { ($_->{request} // '') =~ /j=3/ } @obj;
is(($o3 // {})->{status}, 404, 'json: the 404');
my %ids = map { ($_->{request_id} // '') => 1 } @obj;
is(scalar keys %ids, 3, 'json: request ids differ');
$j->stop;

# --- a custom format ---------------------------------------------------------------

# Two listens, so that $server_port is seen to be the port each request
# came in on (the same variable cache keys use).
(my $site2 = $site) =~ s/^(listen = .*\n)/$1listen = 127.0.0.1:%%PORT1%%\n/m
    or die 'no listen line';
my $c = WeirTest->new(files => \%files, config => <<"INI" . $site2);
[http]
access_log = logs/access.log
log_format = \$remote_addr|\$status|\$request_uri|\$http_x_test|\$body_bytes_sent|\$host|\$request_time
INI
$c->start;
$c->http_get('/hello?c=1', 'X-Test' => 'foo', Host => 'example.test');
$line = $c->wait_for_access_log(qr{/hello\?c=1}) // '';
like($line, qr{^127\.0\.0\.1\|200\|/hello\?c=1\|foo\|5\|example\.test\|\d+\.\d{3}$},
    'custom format: the variables in place') or diag($line);
$c->http_get('/hello?c=2');
$line = $c->wait_for_access_log(qr{/hello\?c=2}) // '';
like($line, qr{^127\.0\.0\.1\|200\|/hello\?c=2\|-\|5\|}, 'custom format: an absent header is "-"')
    or diag($line);
$c->stop;

# $scheme and $server_port: from the listener the request came on, never
# from what the client sends (Host's port, X-Forwarded-Proto).
$c = WeirTest->new(files => \%files, config => <<"INI" . $site2);
[http]
access_log = logs/access.log
log_format = \$scheme|\$server_port|\$request_uri
INI
$c->start;
my ($p0, $p1) = ($c->port(0), $c->port(1));
$c->http_get('/hello?s=0', Host => 'example.test:9999',
    'X-Forwarded-Proto' => 'https');
$line = $c->wait_for_access_log(qr{/hello\?s=0}) // '';
is($line, "http|$p0|/hello?s=0",
    '$scheme is http and $server_port the listen port, whatever Host says');
$c->http(WeirTest::request('GET', '/hello?s=1', Connection => 'close'),
    port => $p1);
$line = $c->wait_for_access_log(qr{/hello\?s=1}) // '';
is($line, "http|$p1|/hello?s=1", '$server_port: the second listen\'s port');
$c->stop;

# --- json types: the same keys and types on every line ------------------------
#
# A static file, a proxied request, one retried after a refused connect
# (the refused peer has weight=10 so it is tried first), and a 502 with
# every peer refused. PORT2 and PORT3 have nothing listening.

my $up = <<'INI';
[http]
access_log = logs/access.log
log_format = json

[upstream ok]
server = 127.0.0.1:%%PORT1%%

[upstream retried]
server = 127.0.0.1:%%PORT2%% weight=10
server = 127.0.0.1:%%PORT1%%
retries = 1
max_fails = 0

[upstream down]
server = 127.0.0.1:%%PORT3%%
retries = 0
max_fails = 0

[server s]
listen = 127.0.0.1:%%PORT0%%

[route p]
server = s
match = /p/
upstream = ok

[route r]
server = s
match = /r/
upstream = retried

[route down]
server = s
match = /down/
upstream = down

[route site]
server = s
match = /
root = html
INI
my $jt = WeirTest->new(main => { workers => 1 }, files => \%files,
    config => $up);
my $origin = WeirOrigin->new(port => $jt->port(1), handler => 'echo');
$jt->start;
my %want = (static => [ '/a.txt', 200 ], proxied => [ '/p/x', 200 ],
    retried => [ '/r/x', 200 ], error => [ '/down/x', 502 ]);
for my $k (sort keys %want) {
    my $res = $jt->http_get("$want{$k}[0]?k=$k");
    is($res->status, $want{$k}[1], "json types, $k: status $want{$k}[1]");
}
$dl = WeirTest::deadline(5);
my %rec;
while (1) {
    %rec = ();
    for my $l ($jt->access_log_lines) {
        my $o = eval { JSON::PP->new->utf8->decode($l) } or next;
        $rec{$1} = [ $o, $l ] if ($o->{request} // '') =~ /k=(\w+)/;
    }
    last if keys %rec >= 4 || time > $dl;
    select(undef, undef, undef, 0.05);
}
is(scalar keys %rec, 4, 'json types: four lines, each valid JSON');

# The type of a decoded value, from JSON::PP's view of the text.
sub jtype {
    my ($v) = @_;
    return 'null' unless defined $v;
    return 'array' if ref $v eq 'ARRAY';
    my $flags = B::svref_2object(\$v)->FLAGS;
    return ($flags & (B::SVp_IOK() | B::SVp_NOK())) && !($flags & B::SVp_POK())
        ? 'number' : 'string';
}
use B ();

my @numbers = qw(status body_bytes_sent request_time retries);
my @up_numbers = qw(upstream_status upstream_connect_time upstream_response_time);
my @strings = qw(time remote_addr request request_id);
my %keys;
for my $k (sort keys %rec) {
    my ($o, $l) = @{ $rec{$k} };
    $keys{ join ',', sort keys %$o } = 1;
    for my $f (@numbers, @strings) {
        is(jtype($o->{$f}), (grep { $_ eq $f } @numbers) ? 'number' : 'string',
            "json types, $k: $f") or diag($l);
    }
    is(jtype($o->{http_referer}), 'null', "json types, $k: an absent header is null");
    is(jtype($o->{cache_status}), 'null', "json types, $k: cache_status null (no cache)");
    unlike($l, qr/"-"/, "json types, $k: no \"-\" placeholders") or diag($l);
}
is(scalar keys %keys, 1, 'json types: every line has the same set of keys')
    or diag(join "\n", keys %keys);

my $st = $rec{static}[0] // {};
is(jtype($st->{$_}), 'null', "json types, static: $_ is null")
    for qw(upstream_addr upstream_addrs error_code), @up_numbers;
is($st->{status}, 200, 'json types, static: status 200');
is($st->{retries}, 0, 'json types, static: retries 0');

my ($op1, $p2, $p3) = ($jt->port(1), $jt->port(2), $jt->port(3));
my $px = $rec{proxied}[0] // {};
is($px->{upstream_status}, 200, 'json types, proxied: upstream_status 200');
is(jtype($px->{upstream_status}), 'number', 'json types, proxied: ... a number');
is(jtype($px->{$_}), 'number', "json types, proxied: $_ is a number")
    for qw(upstream_connect_time upstream_response_time);
is($px->{upstream_addr}, "127.0.0.1:$op1", 'json types, proxied: upstream_addr');
is_deeply($px->{upstream_addrs}, [ "127.0.0.1:$op1" ],
    'json types, proxied: upstream_addrs, one peer');

my $rt = $rec{retried}[0] // {};
is($rt->{retries}, 1, 'json types, retried: retries 1');
is($rt->{upstream_status}, 200, 'json types, retried: the last try\'s status');
is($rt->{upstream_addr}, "127.0.0.1:$op1",
    'json types, retried: upstream_addr is the last peer');
is_deeply($rt->{upstream_addrs}, [ "127.0.0.1:$p2", "127.0.0.1:$op1" ],
    'json types, retried: upstream_addrs lists every try in order');

my $er = $rec{error}[0] // {};
is($er->{status}, 502, 'json types, error: status 502');
is(jtype($er->{upstream_status}), 'null', 'json types, error: no upstream status');
is(jtype($er->{error_code}), 'string', 'json types, error: error_code is a string');
is_deeply($er->{upstream_addrs}, [ "127.0.0.1:$p3" ],
    'json types, error: the refused peer is in upstream_addrs');
$jt->stop;
$origin->stop;

# --- a long log_format (longer than inih's 199 characters) --------------------

my $long = join ' ', '$remote_addr', '"$request"', '$status',
    map({ "up$_=\$upstream_addr/\$upstream_status/\$upstream_response_time" } 1 .. 10),
    'end=$request_id';
cmp_ok(length $long, '>', 600, 'the long format is over 600 characters');
my $lt = WeirTest->new(main => { workers => 1 }, files => \%files,
    config => <<"INI");
[http]
access_log = logs/access.log
log_format = $long

[upstream ok]
server = 127.0.0.1:%%PORT1%%

[server s]
listen = 127.0.0.1:%%PORT0%%

[route p]
server = s
match = /
upstream = ok
INI
my $lo = WeirOrigin->new(port => $lt->port(1), handler => 'echo');
my $lr = $lt->weir_ctl('-t');
is($lr->{rc}, 0, 'long log_format: weir -t accepts it') or diag($lr->{err});
$lt->start;
$lt->http_get('/long', 'X-Request-Id' => 'long-format-id');
$line = $lt->wait_for_access_log(qr/long-format-id/) // '';
my $po = $lt->port(1);
like($line, qr{^127\.0\.0\.1 "GET /long HTTP/1\.1" 200 (?:up\d+=127\.0\.0\.1:$po/200/\d+\.\d{3} ){10}end=long-format-id$},
    'long log_format: every upstream field on the line') or diag($line);
$lt->stop;
$lo->stop;

# The same format split over lines with a trailing backslash joins back to
# exactly the one-line value (weir -T prints the effective value).
(my $split = $long) =~ s/ (?=up\d+=)/ \\\n             /g;
cmp_ok(scalar(() = $split =~ /\\\n/g), '==', 10,
    'the long format, split over 11 lines');
my $conf_text = $lt->read_file("conf/weir.ini");
$conf_text =~ s/^log_format = .*$/log_format = $split/m or die 'no log_format';
$lt->write_config($conf_text);
$lr = $lt->weir_ctl('-T');
is($lr->{rc}, 0, 'long log_format on continuation lines: weir -T accepts it')
    or diag($lr->{err});
my ($dumped) = $lr->{out} =~ /^log_format = (.*)$/m;
is($dumped, $long, '... and joins it to the one-line value');

# --- $body_bytes_sent of a file that takes many sendfile rounds -------------

# 16 MiB to a client with a 64 KiB receive buffer: the socket fills many
# times, and every round counts (the count was once reset at each
# wake-up, logging only the last round's bytes).
my $big = WeirTest->new(files => { 'html/big.bin' => 'x' x (16 << 20) },
    config => <<"INI" . $site);
[http]
access_log = logs/access.log
log_format = \$request_uri \$status \$body_bytes_sent \$bytes_sent
INI
$big->start;
{
    use Socket qw(SOL_SOCKET SO_RCVBUF);
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $big->port(0),
        Proto => 'tcp') or die "connect: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 65536);
    print $s "GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    my ($got, $buf) = (0, '');
    my $dl = WeirTest::deadline(30);
    while (time < $dl) {
        my $n = sysread($s, $buf, 65536);
        last unless $n;
        $got += $n;
    }
    close $s;
    cmp_ok($got, '>', 16 << 20, 'a 16 MiB file came whole (head and body)');
    my $l = $big->wait_for_access_log(qr{^/big\.bin }) // '';
    like($l, qr{^/big\.bin 200 16777216 \d+$}, '$body_bytes_sent counts every round')
        or diag($l);
    my ($all) = $l =~ / (\d+)$/;
    is($all, $got, '$bytes_sent is what the client read');
}
$big->stop;

# --- off -----------------------------------------------------------------------------

my $off = WeirTest->new(files => \%files, config => <<"INI" . $site);
[http]
access_log = off
INI
$off->start;
is($off->http_get('/hello')->body, 'hello', 'access_log = off: still serves');
$off->http_get('/missing');
is($off->stop, 0, 'access_log = off: stops cleanly (and flushes)');
my @logs = grep { -s $_ && !/error\.log|stderr\.log/ } glob($off->prefix . '/logs/*');
is_deeply(\@logs, [], 'access_log = off: no access log written');

$t->done_testing;

