#!/usr/bin/perl
# Heads built near their limits come out whole, or are refused cleanly:
# - a client head just under max_header_size (90 long fields, long
#   X-Forwarded-For and Via that weir appends to) goes to the origin with
#   every field intact, plus 10 long set_header fields;
# - the response to it carries 10 long add_header fields;
# - an origin's head of 95 long fields just under the 64 KiB response
#   buffer reaches the client whole, with the route's add_header fields;
# - an origin's head over that buffer is a 502 whose page escapes the
#   client's X-Request-Id to six times its size, and the worker lives;
# - a return answer and a generated 404 carry the long add_header fields.
# Each of these heads and pages was built by sizing a buffer, then
# appending unchecked (81104a0 was a heap overflow of that kind); under
# ASan this file shows that the builders stay within what they hold.

use strict;
use warnings;
use Test::More;
use WeirTest;
use WeirOrigin;

my $MAX_HEAD = 65536;

# Ten long header values for the configuration (lines hold 8192 bytes).
my @edit = map { [ $_, chr(97 + $_) x 4000 . "-$_" ] } 1 .. 10;
my $set = join '', map { "set_header = X-Set-$_->[0]: $_->[1]\n" } @edit;
my $add = join '', map { "add_header = X-Add-$_->[0]: $_->[1]\n" } @edit;

my $t = WeirTest->new(main => { workers => 1 },
    files => { 'html/index.html' => "index\n" }, config => <<"INI");
[http]
max_header_size = 64k

[upstream echo]
server = 127.0.0.1:%%PORT1%%

[upstream fat]
server = 127.0.0.1:%%PORT2%%
retries = 0
max_fails = 0

[server s]
listen = 127.0.0.1:%%PORT0%%

[route echo]
server = s
match = /echo/
upstream = echo
$set$add
[route fat]
server = s
match = /fat/
upstream = fat
$add
[route ret]
server = s
match = /ret
return = 200 fixed
$add
[route site]
server = s
match = /
root = html
$add
INI

# Response fields of $n x $len bytes; /fat/over asks for more than the
# 64 KiB buffer holds.
sub fat_fields {
    my ($n, $len) = @_;
    return map { [ sprintf('X-Fat-%03d', $_), chr(65 + $_ % 26) x $len ] }
        1 .. $n;
}
my @fat = fat_fields(95, 660);
my $echo = WeirOrigin->new(port => $t->port(1), handler => 'echo');
my $fato = WeirOrigin->new(port => $t->port(2), handler => sub {
    my ($c) = @_;
    while (my $req = $c->read_request) {
        my @h = $req->{target} =~ m{/over} ? fat_fields(100, 700) : @fat;
        $c->write(WeirOrigin::response(status => 200, headers => \@h,
            body => "fat\n", close => 1));
        last;
    }
});
$t->start;

# Every [name, value] of @$want is in the response once, as it was.
sub has_all {
    my ($r, $want, $what) = @_;
    my @bad = grep { ($r->header_count($_->[0]) != 1)
        || ($r->header($_->[0]) // '') ne $_->[1] } @$want;
    ok(!@bad, "$what: all " . scalar(@$want) . ' fields whole')
        or diag('first bad: ' . $bad[0][0]);
}

my @add = map { [ "X-Add-$_->[0]", $_->[1] ] } @edit;
my @set = map { [ "X-Set-$_->[0]", $_->[1] ] } @edit;

# --- a client head just under max_header_size, proxied -----------------------

my @fill = map { [ sprintf('X-Fill-%02d', $_), chr(97 + $_ % 26) x 680 ] }
    1 .. 90;
my $xff = join ', ', map { "10.0.$_.1" } 1 .. 100;
my $via = join ', ', map { "1.1 proxy$_" } 1 .. 40;
my $rid = 'r' x 32;
my @head = ('GET', '/echo/big', Host => 'big.example',
    'X-Forwarded-For' => $xff, Via => $via, 'X-Request-Id' => $rid,
    (map { @$_ } @fill), Connection => 'close');
# One more field brings the head to 256 bytes under the limit.
my $pad = $MAX_HEAD - 256 - length(WeirTest::request(@head))
    - length("X-Pad: \r\n");
push @fill, [ 'X-Pad', 'p' x $pad ];
my $raw = WeirTest::request(@head, 'X-Pad' => $fill[-1][1]);
is(length $raw, $MAX_HEAD - 256,
    'the request head is 256 bytes under max_header_size');

my $r = $t->http($raw);
is($r->status, 200, 'a head near max_header_size is proxied')
    or diag($r->summary);
has_all($r, \@add, 'response add_header');
my ($req) = grep { $_->{target} eq '/echo/big' } $echo->requests;
$req //= { headers => [] };
my %got;
push @{ $got{ lc $_->[0] } }, $_->[1] for @{ $req->{headers} };
my @lost = grep { ($got{ lc $_->[0] }[0] // '') ne $_->[1]
    || @{ $got{ lc $_->[0] } } != 1 } @fill, @set;
ok(!@lost, 'the origin got the 91 long fields and 10 set_header fields whole')
    or diag('first lost: ' . $lost[0][0]);
is_deeply($got{'x-forwarded-for'}, [ "$xff, 127.0.0.1" ],
    'X-Forwarded-For: the long list, then the client');
is_deeply($got{via}, [ "$via, 1.1 weir" ], 'Via: the long list, then weir');
is_deeply($got{'x-request-id'}, [ $rid ], 'X-Request-Id kept');
is_deeply($got{host}, [ 'big.example' ], 'Host kept');

# --- an origin head just under the response buffer ----------------------------

$r = $t->http_get('/fat/ok');
is($r->status, 200, 'a 62 KiB upstream head is passed on') or diag($r->summary);
has_all($r, \@fat, 'upstream fields');
has_all($r, \@add, 'add_header after them');
is($r->body, "fat\n", 'the body follows the long head');

# The 502 page carries the client's id, every byte of it escaped (6 bytes
# each in HTML), behind the long add_header fields.
$r = $t->http_get('/fat/over', 'X-Request-Id' => q{<"&'>} x 6 . '<&');
is($r->status, 502, 'an upstream head over the buffer is a 502');
unlike($r->head, qr/X-Fat-/, '... and none of it reaches the client');
has_all($r, \@add, '502 add_header');
like($r->body, qr{request id: (?:&lt;&quot;&amp;&#39;&gt;){6}&lt;&amp;</p>},
    '... its page has the id escaped whole');
is(length $r->body, $r->header('content-length'),
    '... and the announced length');

# --- a fixed answer and a generated error page with long add_header fields ----

$r = $t->http_get('/ret');
is($r->status, 200, 'return with 10 long add_header fields');
is($r->body, 'fixed', '... the body follows them');
has_all($r, \@add, 'return add_header');

$r = $t->http_get('/missing');
is($r->status, 404, 'a generated 404 with 10 long add_header fields');
has_all($r, \@add, '404 add_header');
like($r->body, qr{<p>request id: [0-9a-f]{32}</p>}, '... and its page');

$r = $t->http_get('/echo/again');
is($r->status, 200, 'the worker still serves after all of it');

WeirOrigin::check_workers($t);
$t->done_testing;
