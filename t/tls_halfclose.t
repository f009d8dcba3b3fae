#!/usr/bin/perl
# TLS clients that half-close, as scripts and `nc -N` do: the request,
# then a FIN, with or without a close_notify before it. Like the plain
# ones in t/client_close.t, a request whose FIN came with it is answered
# (the proxy does not take the FIN for a client that left), and the
# connection is closed after the answer, not held to keepalive_timeout.
# weir reads TLS ahead and stops reading when the socket is empty, so
# the FIN must be noticed from EPOLLRDHUP, never from an extra read.
# The client is t/helper/tls_halfclose (Perl's core has no TLS, and
# s_client cannot half-close); its "together" corks request and FIN into
# one segment, so no case depends on timing.

use strict;
use warnings;
use File::Basename qw(dirname);
use Test::More;
use WeirTest;
use WeirTLS;
use WeirOrigin;

WeirTLS::need_openssl();
my $helper = dirname(WeirTest::binary()) . '/t/helper/tls_halfclose';
plan skip_all => "no $helper (make builds it)" unless -x $helper;

my $t = WeirTest->new(main => { workers => 1 });
WeirTLS::cert($t, 'site', names => ['localhost']);
$t->write_config(<<'INI');
[http]
access_log = logs/access.log
log_format = $status $request_uri
keepalive_timeout = 60s

[upstream app]
server = 127.0.0.1:%%PORT1%%
retries = 0

[server s]
listen = 127.0.0.1:%%PORT0%% tls
tls_certificate = certs/site.pem
tls_certificate_key = certs/site.key

[route ret]
server = s
match = /ret
return = 200 ret

[route app]
server = s
match = /
upstream = app
INI
my $origin = WeirOrigin->new(port => $t->port(1), handler => 'echo');
$t->start;

# Run the helper with $req; returns (exit code, what it read).
sub halfclose {
    my ($name, $req, @how) = @_;
    my $file = $t->path("$name.req");
    open my $fh, '>', $file or die "$file: $!";
    binmode $fh;
    print $fh $req;
    close $fh;
    my $out = $t->path("$name.out");
    system("$helper " . $t->port(0) . " $file @how > $out 2> $out.err");
    return ($? >> 8, $t->read_file("$name.out"));
}

for my $how ([ 'together' ], [ 'notify', 'together' ]) {
    my $tag = join '-', @$how;
    my ($rc, $got) = halfclose("get-$tag",
        "GET /ret HTTP/1.1\r\nHost: localhost\r\n\r\n", @$how);
    like($got, qr{^HTTP/1\.1 200 .*ret$}s, "$tag: a request and its FIN: answered");
    is($rc, 0, "$tag: the connection is closed after the answer, not held");

    ($rc, $got) = halfclose("proxy-$tag",
        "GET /app/$tag?sleep=0.3 HTTP/1.1\r\nHost: localhost\r\n\r\n", @$how);
    like($got, qr{^HTTP/1\.1 200 }, "$tag: a proxied request whose FIN came with it is answered");
    is($rc, 0, "$tag: and closed after");
    ok($t->wait_for_access_log(qr{^200 /app/\Q$tag\E}m), "$tag: logged 200, not 499");

    my $body = 'b' x 40000;
    ($rc, $got) = halfclose("post-$tag",
        "POST /app/post-$tag HTTP/1.1\r\nHost: localhost\r\n"
        . "Content-Length: 40000\r\n\r\n$body", @$how);
    like($got, qr{^HTTP/1\.1 200 }, "$tag: a 40 KB body whose last bytes came with the FIN: answered");
    is($rc, 0, "$tag: and closed after");
    my ($req) = grep { $_->{target} eq "/app/post-$tag" } $origin->requests;
    is($req && $req->{body_len}, 40000, "$tag: the origin got the whole body");
}

# Pipelined: every request before the FIN is answered.
my $three = join '', map { "GET /ret?$_ HTTP/1.1\r\nHost: localhost\r\n\r\n" } 1 .. 3;
my ($rc, $got) = halfclose('pipelined', $three, 'notify', 'together');
my $n = () = $got =~ m{HTTP/1\.1 200}g;
is($n, 3, 'three pipelined requests, close_notify and FIN: three answers');
is($rc, 0, 'then closed');

$t->done_testing;
