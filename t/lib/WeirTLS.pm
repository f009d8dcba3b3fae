package WeirTLS;

# Throw-away certificates and TLS clients for weir's TLS tests, all with
# the openssl command line tool and curl:
#
#   use WeirTLS;
#   WeirTLS::need_openssl();                 # skip_all without openssl
#   my $ca = WeirTLS::ca($t, 'ca');          # certs/ca.pem, certs/ca.key
#   WeirTLS::cert($t, 'site', ca => 'ca', names => ['localhost'],
#                 type => 'ec');             # certs/site.pem, site.key
#   my $r = WeirTLS::s_client($t, port => $t->port(0), args => [...],
#                             input => "GET / ...");  # {out, rc}
#   my $r = WeirTLS::curl($t, 'https://localhost:PORT/', '--cacert', ...);
#
# Every command runs under coreutils `timeout` (scaled as WeirTest's
# deadlines are), so no test waits forever on a client.

use strict;
use warnings;
use File::Path qw(make_path);
use POSIX ();
use Test::More;
use WeirTest;

sub have_openssl { return system('openssl version > /dev/null 2>&1') == 0 }
sub have_curl    { return system('curl --version > /dev/null 2>&1') == 0 }

sub need_openssl {
    Test::More::plan(skip_all => 'the openssl command is not installed '
        . '(Debian package openssl)') unless have_openssl();
}

sub _secs { my ($s) = @_; return int(WeirTest::deadline($s) - time) || 1 }

# Run a command with stdin from `input`, stdout and stderr together.
sub run {
    my ($t, $argv, %o) = @_;
    my $dir = $t->path('tls-run');
    make_path($dir);
    my $in = "$dir/in.$$";
    my $out = "$dir/out.$$";
    open my $fh, '>:raw', $in or die "$in: $!";
    print $fh $o{input} // '';
    close $fh;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', $in;
        open STDOUT, '>', $out;
        open STDERR, '>&', \*STDOUT;
        { no warnings 'exec'; exec 'timeout', _secs($o{timeout} // 20), @$argv; }
        POSIX::_exit(127);
    }
    waitpid($pid, 0);
    my $rc = $? >> 8;
    open my $rh, '<:raw', $out or die "$out: $!";
    local $/;
    my $text = <$rh> // '';
    close $rh;
    unlink $in, $out;
    return { out => $text, rc => $rc };
}

sub openssl {
    my ($t, @args) = @_;
    my $r = run($t, [ 'openssl', @args ], timeout => 60);
    die "openssl @args failed:\n$r->{out}" if $r->{rc} != 0;
    return $r->{out};
}

# A CA: certs/NAME.pem and certs/NAME.key.
sub ca {
    my ($t, $name) = @_;
    my $d = $t->path('certs');
    make_path($d);
    openssl($t, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
        '-keyout', "$d/$name.key", '-out', "$d/$name.pem",
        '-subj', "/CN=weir test CA $name",
        '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature');
    return "$d/$name.pem";
}

# A leaf: certs/NAME.pem (leaf, then the CA's certificate unless
# chain => 0) and certs/NAME.key. type: rsa (default) or ec; names: DNS
# names (the first is the CN); client => 1 for a client certificate;
# ca: the CA's name, or none for a self-signed one; days: validity (2;
# -1 makes one that expired yesterday).
sub cert {
    my ($t, $name, %o) = @_;
    my $d = $t->path('certs');
    make_path($d);
    my @names = @{ $o{names} || ['localhost'] };
    my $type = $o{type} // 'rsa';
    my @key = $type eq 'ec'
        ? ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256')
        : ('-newkey', 'rsa:2048');
    my $ext = "$d/$name.ext";
    open my $fh, '>', $ext or die "$ext: $!";
    print $fh "basicConstraints=CA:FALSE\n";
    print $fh $o{client} ? "extendedKeyUsage=clientAuth\n"
                         : "extendedKeyUsage=serverAuth\n"
              . 'subjectAltName=' . join(',', map { "DNS:$_" } @names) . "\n";
    close $fh;
    if (!$o{ca}) {
        openssl($t, 'req', '-x509', @key, '-nodes', '-days', '2',
            '-keyout', "$d/$name.key", '-out', "$d/$name.pem",
            '-subj', "/CN=$names[0]", '-extensions', 'v3', '-config',
            _req_conf($t, $ext));
        return "$d/$name.pem";
    }
    openssl($t, 'req', @key, '-nodes', '-keyout', "$d/$name.key",
        '-out', "$d/$name.csr", '-subj', "/CN=$names[0]");
    openssl($t, 'x509', '-req', '-in', "$d/$name.csr", '-days', $o{days} // 2,
        '-CA', "$d/$o{ca}.pem", '-CAkey', "$d/$o{ca}.key",
        '-CAcreateserial', '-out', "$d/$name.leaf", '-extfile', $ext);
    my $pem = _slurp("$d/$name.leaf");
    $pem .= _slurp("$d/$o{ca}.pem") unless defined $o{chain} && !$o{chain};
    $t->write_file("certs/$name.pem", $pem);
    return "$d/$name.pem";
}

# An OCSP response (DER) saying "good" for certs/NAME.pem, signed by
# the CA `ca`, written to certs/NAME.ocsp (openssl ocsp as a responder
# over a one-line index).
sub ocsp {
    my ($t, $name, %o) = @_;
    my $d = $t->path('certs');
    my $ca = $o{ca} // 'ca';
    my ($serial) = openssl($t, 'x509', '-noout', '-serial', '-in',
        "$d/$name.pem") =~ /=(\S+)/;
    my @t = gmtime(time + 2 * 86400);
    my $exp = sprintf '%02d%02d%02d%02d%02d%02dZ', $t[5] % 100, $t[4] + 1,
        @t[3, 2, 1, 0];
    $t->write_file("certs/$name.index", "V\t$exp\t\t$serial\tunknown\t/CN=x\n");
    openssl($t, 'ocsp', '-issuer', "$d/$ca.pem", '-cert', "$d/$name.pem",
        '-reqout', "$d/$name.req", '-no_nonce');
    openssl($t, 'ocsp', '-index', "$d/$name.index", '-rsigner', "$d/$ca.pem",
        '-rkey', "$d/$ca.key", '-CA', "$d/$ca.pem", '-reqin', "$d/$name.req",
        '-respout', "$d/$name.ocsp", '-ndays', '1');
    return "$d/$name.ocsp";
}

# A minimal req config for a self-signed certificate with extensions.
sub _req_conf {
    my ($t, $ext) = @_;
    my $conf = "$ext.cnf";
    open my $fh, '>', $conf or die "$conf: $!";
    print $fh "[req]\ndistinguished_name = dn\n[dn]\n[v3]\n", _slurp($ext);
    close $fh;
    return $conf;
}

sub _slurp {
    my ($p) = @_;
    open my $fh, '<:raw', $p or die "$p: $!";
    local $/;
    my $c = <$fh>;
    close $fh;
    return $c;
}

# openssl s_client to 127.0.0.1:port; `input` is written once the
# handshake is done; returns {out, rc}.
sub s_client {
    my ($t, %o) = @_;
    return run($t, [ 'openssl', 's_client', '-connect',
        "127.0.0.1:$o{port}", @{ $o{args} || [] } ],
        input => $o{input}, timeout => $o{timeout});
}

# curl, silent, with the response head in the output (-i); --resolve
# maps the URL's host to 127.0.0.1.
sub curl {
    my ($t, @args) = @_;
    return run($t, [ 'curl', '-sS', '-i', '--max-time', _secs(20), @args ]);
}

1;
