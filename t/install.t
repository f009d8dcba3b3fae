#!/usr/bin/perl
# `make install` into a DESTDIR: it installs the binary, the configuration,
# the pages and the manual pages; run again over an installation whose
# weir.ini and html/ pages the operator edited, it keeps them (installing
# only what is missing, and saying which pages it kept) while
# weir.ini.default is the shipped file.

use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp ();
use Test::More;
use WeirTest;

my $src = WeirTest::srcdir();
my $build = dirname(dirname(abs_path(WeirTest::binary())));
plan(skip_all => "no $build/objs/Makefile (not configured)")
    unless -f "$build/objs/Makefile";

sub slurp {
    my ($p) = @_;
    open my $fh, '<:raw', $p or return undef;
    local $/;
    return scalar <$fh>;
}

sub spew {
    my ($p, $text) = @_;
    open my $fh, '>:raw', $p or die "$p: $!";
    print $fh $text;
    close $fh or die "$p: $!";
}

# The paths configure chose, from the generated Makefile.
my %mk;
for (split /\n/, slurp("$build/objs/Makefile")) {
    $mk{$1} = $2 if /^(PREFIX|SBIN_PATH|CONF_PATH|MANDIR)\s*=\s*(\S+)\s*$/;
}
is(scalar keys %mk, 4, 'objs/Makefile names PREFIX, SBIN_PATH, CONF_PATH, MANDIR');

my $dest = File::Temp::tempdir('weir-install-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# make install DESTDIR=$dest, from the build directory; the output (stdout
# and stderr) and the exit status.
sub install {
    # Not the jobserver of a `make check` that runs us.
    local @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL)};
    delete @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL)};
    my $cmd = "make -s -C '$build' -f objs/Makefile install DESTDIR='$dest' 2>&1";
    my $out = `$cmd`;
    return ($? >> 8, $out);
}

my ($rc, $out) = install();
is($rc, 0, 'make install DESTDIR=...: exit 0') or diag($out);
my $html = "$dest$mk{PREFIX}/html";
my $conf = "$dest$mk{CONF_PATH}";
ok(-x "$dest$mk{SBIN_PATH}", 'the binary is installed');
is(slurp($conf), slurp("$src/conf/weir.ini"), 'weir.ini is the shipped one');
my @pages = map { s{^\Q$src\E/html/}{}r } grep { -f } glob "$src/html/*";
ok(scalar @pages, 'the tree has html/ pages');
is(slurp("$html/$_"), slurp("$src/html/$_"), "html/$_ installed") for @pages;

# The operator edits weir.ini and index.html, removes 404.html and adds a
# page of their own.
spew($conf, "; mine\n" . slurp($conf));
spew("$html/index.html", "<p>my site</p>\n");
unlink "$html/404.html" or die "$html/404.html: $!";
spew("$html/mine.html", "mine\n");

($rc, $out) = install();
is($rc, 0, 'make install again: exit 0') or diag($out);
like(slurp($conf), qr/\A; mine\n/, 'again: the edited weir.ini is kept');
is(slurp("$conf.default"), slurp("$src/conf/weir.ini"),
    'again: weir.ini.default is the shipped file');
is(slurp("$html/index.html"), "<p>my site</p>\n",
    'again: the edited html/index.html is kept');
like($out, qr{keeping the installed \Q$html\E/index\.html},
    '... and make install says so') or diag($out);
is(slurp("$html/404.html"), slurp("$src/html/404.html"),
    'again: the removed html/404.html is installed');
is(slurp("$html/mine.html"), "mine\n", 'again: the operator\'s own page stays');

done_testing;
