#!/usr/bin/perl
# The /status page in a real browser (headless chromium, skipped when it
# is not installed): it renders every upstream and peer with its state,
# the workers and the servers, and refreshes itself (the page counts its
# renders in <body data-rendered>; after the initial one, each refresh
# fetched /status again). The browser's requests come from 127.0.0.1,
# inside the default `allow`.

use strict;
use warnings;
use Test::More;
use WeirTest;
use WeirOrigin;

my ($browser) = grep { -x } qw(/usr/bin/chromium /usr/bin/chromium-browser
    /usr/bin/google-chrome);
plan skip_all => 'no chromium (Debian package chromium)' unless $browser;

my $t = WeirTest->new(main => { workers => 2 }, config => <<'INI');
[upstream shop]
server = 127.0.0.1:%%PORT1%%
server = 127.0.0.1:%%PORT2%%
max_fails = 1
fail_timeout = 60s
keepalive = 0

[server s]
listen = 127.0.0.1:%%PORT0%%

[route app]
server = s
match = /
upstream = shop

[admin]
listen = 127.0.0.1:%%PORT9%%
INI
my $live = WeirOrigin->new(port => $t->port(1), handler => 'echo');
$t->start;
$t->http_get("/x$_") for 1 .. 6;

my $dir = $t->path('logs/chromium');
my $url = 'http://127.0.0.1:' . $t->port(9) . '/status';
my $dom = `timeout 90 $browser --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir=$dir --virtual-time-budget=5000 --dump-dom '$url' 2>/dev/null`;
ok(length $dom, 'the browser loaded the page') or diag("exit $?");
my $full = $dom;

# What the script rendered (its own source holds the same markup).
my ($main) = $dom =~ m{<main id="main">(.*?)</main>}s;
$dom = $main // '';
my $live_addr = '127.0.0.1:' . $t->port(1);
my $dead_addr = '127.0.0.1:' . $t->port(2);
like($dom, qr/<section class="card upstream" data-name="shop">/,
    'the upstream is shown');
like($dom, qr/<tr class="peer" data-peer="\Q$live_addr\E" data-state="up">/,
    'the live peer, up');
like($dom, qr/<tr class="peer bad" data-peer="\Q$dead_addr\E" data-state="open">/,
    'the dead peer, open, marked');
like($dom, qr/connect_refused 1/, 'with its failure by error');
is(scalar(() = $dom =~ /<tr class="worker">/g), 2, 'both workers');
my ($renders) = $full =~ /<body data-rendered="(\d+)"/;
cmp_ok($renders // 0, '>=', 2, 'the page refreshed itself from /status '
    . '(rendered ' . ($renders // 0) . ' times)');
unlike($full, qr/id="stale" class="on"/, 'and says nothing is stale');

$t->done_testing;
