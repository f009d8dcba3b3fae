#!/usr/bin/perl
# Security defaults: Server without a version (server_tokens), and
# security_headers with its per-header keys in [http], [server] and
# [route]: what is sent, the inheritance, no duplicate of a field the
# origin or an add_header already set (nor a frame-ancestors next to
# their X-Frame-Options), Strict-Transport-Security only
# over TLS (none here: these connections are plain), the admin pages,
# and weir -t on bad values.

use strict;
use warnings;
use Test::More;
use WeirTest;
use WeirOrigin;

# --- Server: weir, and nothing else by default --------------------------------

my $plain = WeirTest->new(config => <<'INI');
[server s]
listen = 127.0.0.1:%%PORT0%%
[route r]
server = s
match = /
return = 200 plain
INI
$plain->start;
my $r = $plain->http_get('/');
is($r->header('server'), 'weir', 'Server: weir by default, without a version');
for my $h (qw(strict-transport-security x-content-type-options
              x-frame-options content-security-policy referrer-policy)) {
    is($r->header($h), undef, "no $h unless asked for");
}
$plain->stop;

my $ver = WeirTest->new(config => <<'INI');
[http]
server_tokens = version
[server s]
listen = 127.0.0.1:%%PORT0%%
[route r]
server = s
match = /
return = 200 v
INI
$ver->start;
like($ver->http_get('/')->header('server') // '', qr{^weir/\d+\.\d+\.\d+$},
    'server_tokens = version names the release');
$ver->stop;

# --- security_headers ---------------------------------------------------------------

my $t = WeirTest->new(config => <<'INI');
[http]
server_tokens = off
security_headers = on
strict_transport_security = max-age=600; includeSubDomains

[upstream own]
server = 127.0.0.1:%%PORT2%%

[server on]
listen = 127.0.0.1:%%PORT0%%

[server deny]
listen = 127.0.0.1:%%PORT1%%
x_frame_options = deny
referrer_policy = no-referrer

[server off]
listen = 127.0.0.1:%%PORT3%%
security_headers = off

[route framed]
server = on
match = /embed/
x_frame_options = off
return = 200 framed

[route origin]
server = on
match = /origin/
upstream = own

[route added]
server = on
match = = /added
add_header = x-frame-options: DENY
return = 200 added

[route noref]
server = on
match = = /noref
referrer_policy = same-origin
security_headers = off
return = 200 noref

[route on]
server = on
match = = /
return = 200 on

[route deny]
server = deny
match = /
return = 200 deny

[route off]
server = off
match = = /
return = 200 off

[route off_but_one]
server = off
match = = /one
x_content_type_options = nosniff
return = 200 one

[admin]
listen = 127.0.0.1:%%PORT9%%
INI
my $origin = WeirOrigin->new(port => $t->port(2), handler => 'fixed',
    status => 200, body => 'from origin',
    headers => [ 'X-Frame-Options: ALLOW-FROM https://x.test',
                 "Content-Security-Policy: default-src 'self'" ]);
my $rc = $t->weir_ctl('-t');
is($rc->{rc}, 0, 'weir -t accepts the keys') or diag($rc->{err});
$t->start;

sub get {
    my ($path, %o) = @_;
    return $t->http(WeirTest::request('GET', $path, Connection => 'close'),
        port => $o{port} // $t->port(0));
}

$r = get('/');
is($r->body, 'on', 'security_headers = on: served');
is($r->header('server'), undef, 'server_tokens = off: no Server');
is($r->header('x-content-type-options'), 'nosniff', 'X-Content-Type-Options');
is($r->header('x-frame-options'), 'SAMEORIGIN', 'X-Frame-Options SAMEORIGIN');
is($r->header('content-security-policy'), "frame-ancestors 'self'",
    'and its CSP frame-ancestors');
is($r->header('referrer-policy'), 'strict-origin-when-cross-origin',
    'Referrer-Policy');
is($r->header('strict-transport-security'), undef,
    'no Strict-Transport-Security over plain HTTP, even when set');

$r = get('/nothing-here');
is($r->status, 404, 'no route: 404');
is($r->header('x-frame-options'), 'SAMEORIGIN',
    'an error without a route gets the server\'s headers');

$r = get('/', port => $t->port(1));
is($r->header('x-frame-options'), 'DENY', 'a server overrides: DENY (upper-cased)');
is($r->header('content-security-policy'), "frame-ancestors 'none'",
    'DENY is frame-ancestors \'none\'');
is($r->header('referrer-policy'), 'no-referrer', 'and its referrer_policy');
is($r->header('x-content-type-options'), 'nosniff', 'the rest inherited from [http]');

$r = get('/', port => $t->port(3));
is($r->body, 'off', 'a server with security_headers = off');
is(scalar(grep { defined $r->header($_) } qw(x-content-type-options
    x-frame-options content-security-policy referrer-policy)), 0,
    'sends none of them');
$r = get('/one', port => $t->port(3));
is($r->header('x-content-type-options'), 'nosniff',
    'one key alone sends its header without security_headers');
is($r->header('x-frame-options'), undef, 'and only that one');

$r = get('/embed/widget');
is($r->body, 'framed', 'the embeddable route');
is($r->header('x-frame-options'), undef, 'a route turns X-Frame-Options off');
is($r->header('content-security-policy'), undef, 'and its frame-ancestors');
is($r->header('x-content-type-options'), 'nosniff', 'keeps the others');

$r = get('/noref');
is($r->header('referrer-policy'), 'same-origin', 'a route sets a value');
is($r->header('x-content-type-options'), undef,
    'and security_headers = off in a route drops the defaults');

$r = get('/origin/x');
is($r->body, 'from origin', 'proxied');
is($r->header_count('x-frame-options'), 1, 'the origin\'s X-Frame-Options is not doubled');
is($r->header('x-frame-options'), 'ALLOW-FROM https://x.test', 'the origin\'s value stands');
is($r->header_count('content-security-policy'), 1, 'nor its Content-Security-Policy');
is($r->header('content-security-policy'), "default-src 'self'", 'which stands alone');
is($r->header('referrer-policy'), 'strict-origin-when-cross-origin',
    'headers the origin did not send are added');

$r = get('/added');
is($r->header_count('x-frame-options'), 1, 'an add_header is not doubled either');
is($r->header('x-frame-options'), 'DENY', 'the add_header value wins');
is($r->header('content-security-policy'), undef,
    'and no frame-ancestors \'self\' undercuts it (browsers obey that over X-Frame-Options)');

$r = $t->http("GET /healthz HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n",
    port => $t->port(9));
is($r->status, 200, 'admin answers');
is($r->header('x-frame-options'), 'SAMEORIGIN', 'the admin pages get [http]\'s headers');

# --- weir -t on bad values ------------------------------------------------------------

my @bad = (
    [ "[http]\nx_frame_options = ALLOW-FROM x\n", 2, '[http] x_frame_options',
      qr/expected DENY, SAMEORIGIN or off/ ],
    [ "[http]\nstrict_transport_security = includeSubDomains\n", 2,
      '[http] strict_transport_security', qr/expected max-age=SECONDS/ ],
    [ "[http]\nreferrer_policy = sometimes\n", 2, '[http] referrer_policy',
      qr/expected a referrer policy/ ],
    [ "[http]\nx_content_type_options = yes\n", 2,
      '[http] x_content_type_options', qr/expected nosniff or off/ ],
    [ "[http]\nsecurity_headers = maybe\n", 2, '[http] security_headers',
      qr/expected on or off/ ],
);
my $n = 0;
for my $b (@bad) {
    my ($text, $line, $where, $why) = @$b;
    my $file = $t->write_config("[main]\ndaemon = off\n" . $text . <<'INI',
[server s]
listen = 127.0.0.1:%%PORT5%%
[route r]
server = s
match = /
return = 204
INI
        'conf/bad' . $n++ . '.ini');
    my $res = $t->weir_cmd('-t', '-p', $t->prefix, '-c', $file);
    isnt($res->{rc}, 0, "weir -t refuses $where");
    like($res->{err}, qr/\Q$file\E:@{[$line + 2]}: \Q$where\E: .*$why/,
        "by file:line and key") or diag($res->{err});
}

$origin->stop;
$t->done_testing;
