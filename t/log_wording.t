#!/usr/bin/perl
# The words of the error log are the words of the manual: the master's
# start line counts workers in good English, and the example error line
# quoted in weir(8) is what a refused upstream connection really logs
# (same message, same "while <action>", same context fields).

use strict;
use warnings;
use Test::More;
use WeirTest;

my $conf = <<'INI';
[upstream app]
server = 127.0.0.1:%%PORT1%%
retries = 0

[server public]
listen = 127.0.0.1:%%PORT0%%

[route r]
server = public
match = /
upstream = app
INI

# --- "started: 1 worker" / "started: 2 workers" -----------------------------

for my $n (1, 2) {
    my $t = WeirTest->new(main => { workers => $n }, config => $conf);
    $t->start;
    my $word = $n == 1 ? 'worker' : 'workers';
    ok($t->wait_for_log(qr/weir\/[\d.]+ started: $n $word$/),
        "the start line says \"started: $n $word\"")
        or diag($t->error_log);
    $t->stop;
    $t->check_log_clean;
}

# --- the weir(8) example line ------------------------------------------------

my $man = WeirTest::_slurp(WeirTest::srcdir() . '/man/weir.8') // '';
$man =~ s/\\e\n//g;        # the example is folded with \e at line ends
my ($example) = $man =~ /^\S+ \[error\] 1234#0: \*42 (upstream connect failed .*)$/m;
ok($example, 'weir(8) quotes an upstream connect failure') or diag($man);
$example //= '';
# Turn the example into a pattern: the variable parts become wildcards.
my $re = quotemeta $example;
$re =~ s/127\\\.0\\\.0\\\.1\\:3000/127\\.0\\.0\\.1:\\d+/;
$re =~ s/server\\: public/server: public/;
$re =~ s/id\\:\\ [0-9a-f.\\]+$/id: [0-9a-f]+/;

my $t = WeirTest->new(main => { workers => 1 }, config => $conf);
$t->start;
is($t->http_get('/')->status, 502, 'a refused upstream gives 502');
my $line = $t->wait_for_log(qr/upstream connect failed/);
ok($line, 'the failure is logged');
like($line // '', qr/\*\d+ $re/, 'the log line reads like the weir(8) example')
    or diag("example: $example");
$t->done_testing;
