#!/usr/bin/perl
# weir -t checks what a start will need from this host, not only the
# syntax: a user that does not exist, a pid file or log in a directory
# that is missing (or is a file), a listen address that is not on this
# host or that another program holds. Each error names file:line, the
# section and the key. A running weir's own ports are no conflict, and a
# start with such a file fails at once with the same words.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use WeirTest;

my $site = <<'INI';
[server s]
listen = 127.0.0.1:%%PORT0%%

[route r]
server = s
match = /
return = 200 ok
INI

# The line of the first "key =" in the written config.
sub line_of {
    my ($t, $re) = @_;
    my @l = split /\n/, $t->config_text;
    for my $i (0 .. $#l) { return $i + 1 if $l[$i] =~ $re }
    return 0;
}

sub minus_t {
    my ($t) = @_;
    my $r = $t->weir_ctl('-t');
    return $r;
}

# --- a user that does not exist ----------------------------------------------

my $nouser = 'weir-no-such-user';
SKIP: {
    skip "a user $nouser exists here", 4 if defined getpwnam($nouser);
    my $t = WeirTest->new(main => { user => $nouser }, config => $site);
    my $conf = $t->conf_file;
    my $line = line_of($t, qr/^user =/);
    my $r = minus_t($t);
    is($r->{rc}, 1, 'user = missing: -t exits 1');
    like($r->{err}, qr/^weir: \Q$conf\E:$line: \[main\] user: no such user "$nouser"$/m,
        '... naming file:line, [main] user and the user');
    like($r->{err}, qr/test failed$/m, '... and "test failed"');
    # start fails the same way, before any worker is forked
    $r = $t->weir_ctl();
    is($r->{rc}, 1, 'a start with that file exits 1 at once');
    like($r->{err}, qr/\[main\] user: no such user/, '... saying why');
}

# --- pid and logs in a missing directory, or under a file --------------------

{
    my $t = WeirTest->new(main => { pid => 'run/missing/weir.pid',
        error_log => 'logs/afile/error.log' },
        config => "[http]\naccess_log = nolog/access.log\n\n$site");
    $t->write_file('logs/afile', "a file, not a directory\n");
    my $conf = $t->conf_file;
    my $p = $t->prefix;
    my $r = minus_t($t);
    is($r->{rc}, 1, 'pid/logs in missing directories: -t exits 1');
    my $l = line_of($t, qr/^pid =/);
    like($r->{err}, qr/^weir: \Q$conf\E:$l: \[main\] pid: cannot create "\Q$p\E\/run\/missing\/weir.pid": directory "\Q$p\E\/run\/missing": No such file or directory$/m,
        'the pid directory is missing');
    $l = line_of($t, qr/^error_log =/);
    like($r->{err}, qr/^weir: \Q$conf\E:$l: \[main\] error_log: cannot create .*"\Q$p\E\/logs\/afile" is not a directory$/m,
        'the error log directory is a file');
    $l = line_of($t, qr/^access_log =/);
    like($r->{err}, qr/^weir: \Q$conf\E:$l: \[http\] access_log: cannot create "\Q$p\E\/nolog\/access.log"/m,
        'the access log directory is missing');
}

# --- a read-only directory (only meaningful when not root) --------------------

SKIP: {
    skip 'root may write anywhere', 2 if $> == 0;
    my $t = WeirTest->new(config => $site);
    chmod 0555, $t->path('logs');
    my $r = minus_t($t);
    chmod 0755, $t->path('logs');
    is($r->{rc}, 1, 'logs/ read-only: -t exits 1');
    like($r->{err}, qr/\[main\] error_log: cannot create .*Permission denied/,
        '... error_log: Permission denied');
}

# --- listen addresses ----------------------------------------------------------

{
    # 192.0.2.1 (TEST-NET-1) is assigned to no host
    my $t = WeirTest->new(config => <<'INI');
[server s]
listen = 127.0.0.1:%%PORT0%%
listen = 192.0.2.1:%%PORT1%%

[route r]
server = s
match = /
return = 200 ok
INI
    my $conf = $t->conf_file;
    my $port = $t->port(1);
    my $l = line_of($t, qr/^listen = 192/);
    my $r = minus_t($t);
    is($r->{rc}, 1, 'a listen address not on this host: -t exits 1');
    like($r->{err}, qr/^weir: \Q$conf\E:$l: \[server s\] listen: cannot bind 192\.0\.2\.1:$port: Cannot assign requested address \(not an address of this host\)$/m,
        '... named with file:line');
}
{
    my $t = WeirTest->new(config => $site);
    my $conf = $t->conf_file;
    my $port = $t->port(0);
    my $holder = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => $port, Proto => 'tcp', Listen => 5, ReuseAddr => 1)
        or die "cannot hold port $port: $!";
    my $l = line_of($t, qr/^listen =/);
    my $r = minus_t($t);
    is($r->{rc}, 1, 'a port another program listens on: -t exits 1');
    like($r->{err}, qr/^weir: \Q$conf\E:$l: \[server s\] listen: cannot bind 127\.0\.0\.1:$port: Address already in use \(held by another program\)$/m,
        '... named with file:line');
    close $holder;
    $r = minus_t($t);
    is($r->{rc}, 0, 'once the port is free: -t passes') or diag($r->{err});

    # weir's own ports are no conflict: -t on the file a master runs
    $t->start;
    $r = minus_t($t);
    is($r->{rc}, 0, '-t while this weir runs on the same ports: exit 0')
        or diag($r->{err});
    $t->done_testing;
}
