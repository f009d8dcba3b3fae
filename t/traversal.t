#!/usr/bin/perl
# Nothing outside the root is ever served: dot-dot in every spelling,
# encoded slashes and NULs, and symlinks that point out of the root.

use strict;
use warnings;
use Test::More;
use WeirTest;

my $secret = "TOPSECRET-" . ('s' x 20) . "\n";
my $t = WeirTest->new(config => <<'INI', files => {
[server s]
listen = 127.0.0.1:%%PORT0%%

[route site]
server = s
match = /
root = html
INI
    'html/index.html'    => "index\n",
    'html/sub/page.html' => "page\n",
    'secret.txt'         => $secret,
    'private/secret.txt' => $secret,
});

my $p = $t->prefix;
symlink "$p/secret.txt", "$p/html/link-out" or die "symlink: $!";
symlink '../secret.txt', "$p/html/link-rel-out" or die;
symlink "$p/private", "$p/html/dir-out" or die;
symlink 'index.html', "$p/html/link-in" or die;
symlink 'sub', "$p/html/dir-in" or die;

$t->start;

sub never_leaks {
    my ($path, $what) = @_;
    my $r = $t->http(WeirTest::request('GET', $path, Connection => 'close'));
    my $st = $r->status;
    ok($st == 400 || $st == 403 || $st == 404,
        "$what ($path): 400, 403 or 404") or diag($r->summary);
    unlike($r->body, qr/TOPSECRET/, "$what ($path): not the outside file");
}

never_leaks('/../secret.txt',                'plain dot-dot');
never_leaks('/sub/../../secret.txt',         'dot-dot after a directory');
never_leaks('/./../secret.txt',              'dot then dot-dot');
never_leaks('/%2e%2e/secret.txt',            'encoded dot-dot');
never_leaks('/%2E%2E/secret.txt',            'upper-case encoded dot-dot');
never_leaks('/.%2e/secret.txt',              'half-encoded dot-dot');
never_leaks('/..%2fsecret.txt',              'dot-dot with an encoded slash');
never_leaks('/%2e%2e%2fsecret.txt',          'fully encoded dot-dot slash');
never_leaks('/sub/..%2f..%2fsecret.txt',     'encoded slashes after a directory');
never_leaks('/..%5csecret.txt',              'encoded backslash');
never_leaks('/sub/%2e%2e/%2e%2e/secret.txt', 'encoded dot-dot twice');
never_leaks('/%252e%252e/secret.txt',        'double-encoded dot-dot');
never_leaks('//../secret.txt',               'double slash then dot-dot');
never_leaks('/link-out',                     'absolute symlink out of the root');
never_leaks('/link-rel-out',                 'relative symlink out of the root');
never_leaks('/dir-out/secret.txt',           'directory symlink out of the root');
never_leaks('/index.html%00.txt',            'encoded NUL');

# An absolute-form target or a target without the leading slash
for my $target ("/../../../../../../../..$p/secret.txt", '../secret.txt') {
    my $r = $t->http("GET $target HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    unlike($r->body, qr/TOPSECRET/, "target '$target' does not leak");
    isnt($r->status, 200, "target '$target' is not 200");
}

# What stays inside the root is still served.
my $r = $t->http_get('/sub/../index.html');
ok($r->status == 200 && $r->body eq "index\n" || $r->status == 400,
    'dot-dot that stays inside the root: the inside file (or 400)')
    or diag($r->summary);
$r = $t->http_get('/link-in');
is($r->status, 200, 'a symlink inside the root is served');
is($r->body, "index\n", '... with its target content');
$r = $t->http_get('/dir-in/page.html');
is($r->body, "page\n", 'a directory symlink inside the root is served');

$t->done_testing;
