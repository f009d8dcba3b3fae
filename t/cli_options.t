#!/usr/bin/perl
# The version and help options operators reach for first: -v and
# --version print one version line, -V the build details, -h, -? and
# --help the usage; all exit 0 without reading any configuration. An
# unknown long option is still refused.

use strict;
use warnings;
use Test::More;
use WeirTest;

my $t = WeirTest->new;   # no config file at all: none of these reads one

for my $opt ('-v', '--version') {
    my $r = $t->weir_cmd($opt);
    is($r->{rc}, 0, "$opt: exit 0") or diag($r->{err});
    like($r->{out}, qr/\Aweir version \d+\.\d+\.\d+\n\z/,
        "$opt: one short version line on stdout");
}

my $r = $t->weir_cmd('-V');
is($r->{rc}, 0, '-V: exit 0');
like($r->{out}, qr/^weir version \d+\.\d+\.\d+\n.*configure arguments:/s,
    '-V: version, then the build details');

for my $opt ('-h', '-?', '--help') {
    $r = $t->weir_cmd($opt);
    is($r->{rc}, 0, "$opt: exit 0") or diag($r->{err});
    like($r->{out}, qr/^usage: weir /, "$opt: prints the usage");
    like($r->{out}, qr/^\s+-v, --version\b/m, "$opt: usage lists -v, --version");
    like($r->{out}, qr/^\s+-h, -\?, --help\b/m, "$opt: usage lists --help");
}

$r = $t->weir_cmd('--bogus');
is($r->{rc}, 1, 'an unknown long option: exit 1');
like($r->{err}, qr/invalid option: "--bogus"/, '... named on stderr');

$t->done_testing;
