#!/usr/bin/perl
# `make install` into a DESTDIR: it installs the binary, the configuration,
# the pages and the manual pages; run again over an installation whose
# weir.ini and html/ pages the operator edited, it keeps them (installing
# only what is missing, and saying which pages it kept) while
# weir.ini.default is the shipped file. The installed manual pages are
# found by `man -M PREFIX/share/man`, and by man alone once PREFIX/sbin is
# on PATH, as the README says.

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

# Reading the manual pages without a MANPATH entry.
SKIP: {
    # man-db (Debian's man prints "man 2.x"); not a minimised system's stub.
    my $version = `man --version 2>/dev/null` // '';
    skip 'no man-db man command', 3 unless $version =~ /^man \d/;
    my $mandir = "$dest$mk{MANDIR}";
    local $ENV{MANPATH};
    delete $ENV{MANPATH};
    my $w = `man -M '$mandir' -w weir 2>/dev/null`;
    is($w, "$mandir/man8/weir.8\n", 'man -M PREFIX/share/man weir finds weir(8)');
    $w = `man -M '$mandir' -w weir.ini 2>/dev/null`;
    is($w, "$mandir/man5/weir.ini.5\n", '... and weir.ini(5)');
    skip 'MANDIR is not PREFIX/share/man next to PREFIX/sbin', 1
        unless $mk{MANDIR} eq "$mk{PREFIX}/share/man"
            && dirname($mk{SBIN_PATH}) eq "$mk{PREFIX}/sbin";
    local $ENV{PATH} = "$dest$mk{PREFIX}/sbin:$ENV{PATH}";
    $w = `man -w weir 2>/dev/null`;
    is($w, "$mandir/man8/weir.8\n",
        'with PREFIX/sbin on PATH, man weir finds it without -M');
}

done_testing;
