#!/usr/bin/perl
# ${NAME} in weir.ini values: expanded from the environment weir was
# started with; an unset variable fails -t, the start and a reload with
# file:line, the key and the variable's name; "$${" is a literal "${".

use strict;
use warnings;
use Test::More;
use WeirTest;

delete $ENV{WEIR_T_MISSING};
$ENV{WEIR_T_BODY} = 'from-the-environment';
$ENV{WEIR_T_CODE} = '200';

my $conf = <<'INI';
[server s]
listen = 127.0.0.1:%%PORT0%%

[route env]
server = s
match = = /env
return = ${WEIR_T_CODE} ${WEIR_T_BODY}

[route literal]
server = s
match = = /literal
return = 200 $${WEIR_T_BODY} costs $5
INI

my $t = WeirTest->new(config => $conf);
my $file = $t->conf_file;

# The line of the first line matching $re in the file as written.
sub line_of {
    my ($re) = @_;
    my @l = split /\n/, $t->config_text;
    for my $i (0 .. $#l) { return $i + 1 if $l[$i] =~ $re }
    return 0;
}
my $ln = line_of(qr/WEIR_T_BODY\}$/);

# -t: the expanded file is valid.
my $r = $t->weir_ctl('-t');
is($r->{rc}, 0, 'weir -t passes with the variables set')
    or diag($r->{err});

# -t and the start fail on an unset variable, naming where and which.
{
    local $ENV{WEIR_T_BODY};
    delete $ENV{WEIR_T_BODY};
    $r = $t->weir_ctl('-t');
    is($r->{rc}, 1, 'weir -t fails when a variable is unset');
    like($r->{err}, qr/^weir: \Q$file\E:$ln: \[route env\] return: environment variable WEIR_T_BODY is not set$/m,
        '... naming file:line, section, key and the variable');
    my $s = $t->weir_cmd('-p', $t->prefix, '-c', $file);
    # weir_cmd waits for the exit: a start that fails returns at once
    is($s->{rc}, 1, 'a start with an unset variable fails');
    like($s->{err}, qr/environment variable WEIR_T_BODY is not set/,
        '... and says which');
}

$t->start;
$r = $t->http_get('/env');
is($r->status, 200, 'status from ${WEIR_T_CODE}');
is($r->body, 'from-the-environment', 'body from ${WEIR_T_BODY}');
is($t->http_get('/literal')->body, '${WEIR_T_BODY} costs $5',
    '$${ is a literal ${, a lone $ stays');

# A reload expands again from the master's environment (which a running
# process keeps): a new reference to an unset variable fails the reload,
# the running configuration keeps serving.
my $mark = $t->log_mark;
$t->write_config($conf . <<'INI');

[route more]
server = s
match = = /more
return = 200 ${WEIR_T_MISSING}
INI
$ln = line_of(qr/WEIR_T_MISSING/);
$t->signal('HUP');
ok($t->wait_for_log(qr/reload failed: \Q$file\E:$ln: \[route more\] return: environment variable WEIR_T_MISSING is not set/,
    from => $mark), 'a reload naming an unset variable fails, with where');
is($t->http_get('/env')->body, 'from-the-environment',
    'the running configuration keeps serving');

$t->done_testing;
