#!/usr/bin/perl
# Route and server_name regexes run under a PCRE2 match limit: a
# catastrophic pattern ("^/(a+)+$", "^(a+)+\.test$") against a hostile
# path or Host gives up after about a millisecond, is taken as no match,
# so the request is still answered (by the next route, by the default
# server), and the error log names the limit, the route or server and the
# pattern, at most one line per 10 s however many requests hit it.

use strict;
use warnings;
use Test::More;
use WeirTest;

my $t = WeirTest->new(main => { workers => 1 }, config => <<'INI');
[server dflt]
listen = 127.0.0.1:%%PORT0%% default_server
server_name = dflt.test

[server re]
listen = 127.0.0.1:%%PORT0%%
server_name = ~^(a+)+\.test$

[route evil]
server = dflt
match = ~ ^/(a+)+$
return = 200 evil

[route rest]
server = dflt
match = /
return = 200 rest

[route re]
server = re
match = /
return = 200 re
INI
$t->start;

sub get {
    my ($path, $host) = @_;
    my $res = $t->http(WeirTest::request('GET', $path, Host => $host,
        Connection => 'close'));
    return $res->status == 200 ? $res->body : $res->status;
}

my $evil = '/' . ('a' x 60) . 'b';
my $mark = $t->log_mark;

# --- the patterns still match what they should ---------------------------------
is(get('/aaaa', 'dflt.test'), 'evil', 'the route regex matches /aaaa');
is(get('/', 'aaaa.test'), 're', 'the server_name regex matches aaaa.test');

# --- a hostile path -------------------------------------------------------------
is(get($evil, 'dflt.test'), 'rest',
    'a catastrophic path is answered by the next route');
ok($t->wait_for_log(qr/\[route evil\] match "\^\/\(a\+\)\+\$" hit the PCRE2 match limit \(\d+\)/,
        from => $mark),
    'the error log names the limit, the route and its pattern')
    or diag($t->error_log);

# --- a hostile Host (a new worker: the line above holds the period) --------------
$t->restart;
$mark = $t->log_mark;
my $host = ('a' x 60) . 'b.test';
is(get('/', $host), 'rest',
    'a catastrophic Host is answered by the default server');
ok($t->wait_for_log(qr/\[server re\] server_name "~\^\(a\+\)\+\\\.test\$" hit the PCRE2 match limit/,
        from => $mark),
    'the error log names the limit, the server and its pattern')
    or diag($t->error_log);
is(get('/', 'aaa.test'), 're', 'and the next ordinary Host still matches');

# --- one line per period, not per request -------------------------------------------
for (1 .. 5) {
    is(get($evil, $host), 'rest', "hostile request $_ answered");
}
my @lines = grep { /hit the PCRE2 match limit/ }
    split /\n/, substr($t->error_log, $mark);
cmp_ok(scalar @lines, '<', 6,
    'at most one log line per period, not one per hostile match')
    or diag(join "\n", @lines);

$t->stop;
$t->done_testing;
