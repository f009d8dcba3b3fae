#!/usr/bin/perl
# The access log: the combined line and its fields, json, a custom format,
# access_log = off, whole lines from several workers, flushed within 1 s.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use POSIX qw(strftime);
use JSON::PP;
use Time::Local qw(timegm);
use WeirTest;

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

my $c = WeirTest->new(files => \%files, config => <<"INI" . $site);
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

