#!/usr/bin/perl
# The default TLS configuration graded by a real scanner, testssl.sh
# (Debian package testssl.sh): protocols, cipher categories, forward
# secrecy, the server's preferences, renegotiation, compression and a
# few vulnerabilities. Every finding at MEDIUM or above fails the test,
# except those about the throw-away certificate itself (self-signed
# chain, short validity, no CRL/OCSP URI), which are the test's doing,
# not the configuration's. Skipped when testssl is not installed.

use strict;
use warnings;
use Test::More;
use JSON::PP;
use WeirTest;
use WeirTLS;

WeirTLS::need_openssl();
my ($testssl) = grep { system("command -v $_ > /dev/null 2>&1") == 0 }
    qw(testssl testssl.sh);
plan(skip_all => 'testssl.sh is not installed (Debian package testssl.sh; '
    . 'contrib/quickstart installs it)') unless $testssl;

my $t = WeirTest->new(main => { workers => 1 });
WeirTLS::ca($t, 'ca');
WeirTLS::cert($t, 'rsa', ca => 'ca', names => ['localhost']);
WeirTLS::cert($t, 'ec', ca => 'ca', names => ['localhost'], type => 'ec');
$t->write_config(<<'INI');
[server s]
listen = 127.0.0.1:%%PORT0%% tls
tls_certificate = certs/ec.pem
tls_certificate_key = certs/ec.key
tls_certificate = certs/rsa.pem
tls_certificate_key = certs/rsa.key

[route r]
server = s
match = /
return = 200 graded
INI
$t->start;

my $json = $t->path('testssl.json');
my $r = WeirTLS::run($t, [ $testssl, '--quiet', '--color', '0', '--warnings',
    'batch', '--fast', '-p', '-s', '-f', '-P', '-R', '-C', '-B', '-O',
    '--jsonfile', $json, '127.0.0.1:' . $t->port(0) ], timeout => 600);
ok(-s $json, 'testssl ran and wrote its findings') or diag($r->{out});
my $findings = eval { decode_json($t->read_file('testssl.json')) } || [];
my %by = map { $_->{id} => $_ } @$findings;

sub finding { my ($id) = @_; return $by{$id} ? $by{$id}{finding} : '(none)' }

like(finding('SSLv2'), qr/not offered/, 'SSLv2 not offered');
like(finding('SSLv3'), qr/not offered/, 'SSLv3 not offered');
like(finding('TLS1'), qr/not offered/, 'TLS 1.0 not offered');
like(finding('TLS1_1'), qr/not offered/, 'TLS 1.1 not offered');
like(finding('TLS1_2'), qr/^offered/, 'TLS 1.2 offered');
like(finding('TLS1_3'), qr/^offered/, 'TLS 1.3 offered');
# testssl 3.0 says PFS, 3.1 FS
like($by{PFS} ? finding('PFS') : finding('FS'), qr/offered/, 'forward secrecy');
like(finding('cipherlist_AVERAGE'), qr/not offered/, 'no CBC or non-FS suites');
like(finding('secure_client_renego'), qr/not vulnerable/,
     'no client-initiated renegotiation');

my @certonly = qr/^cert/;
my @bad = grep {
    my $f = $_;
    $f->{severity} =~ /^(MEDIUM|HIGH|CRITICAL)$/
        && !grep { $f->{id} =~ $_ } @certonly
} @$findings;
is(scalar @bad, 0, 'no finding at MEDIUM or above about the configuration')
    or diag(join "\n", map { "$_->{severity} $_->{id}: $_->{finding}" } @bad);

$t->done_testing;
