package WeirTest;

# Plumbing for weir's integration tests, so that a test file reads like a
# specification:
#
#   use WeirTest;
#   my $t = WeirTest->new(config => <<'INI', files => { 'html/a.txt' => 'A' });
#   [server s]
#   listen = 127.0.0.1:%%PORT0%%
#   [route r]
#   server = s
#   match = /
#   root = html
#   INI
#   $t->start;
#   is($t->http_get('/a.txt')->body, 'A', 'file served');
#   $t->done_testing;     # stops weir, checks the logs, done_testing()
#
# What it does:
# - a temporary prefix (File::Temp, removed at exit unless WEIR_TEST_KEEP=1)
#   holding conf/weir.ini (+ conf/mime.types from the source tree), logs/,
#   html/ and every file given in `files`;
# - placeholders in the config and in file contents: %%PORTn%% (a free
#   loopback port each, stable within one WeirTest object), %%PREFIX%%,
#   %%SRCDIR%%;
# - a default [main] section when the config has none: daemon = off,
#   workers = 2, error_log = logs/error.log, pid = logs/weir.pid,
#   log_level = info (override with main => { workers => 1, ... });
# - weir runs in the foreground as our child in its own process group;
#   start() waits, with a deadline, until every listen port is in LISTEN
#   state (read from /proc/net/tcp, so no probe connection ever reaches a
#   worker or the access log) and the expected workers exist;
# - every weir we started is stopped at END, even when a test dies;
# - done_testing()/check_log_clean(): no [alert]/[emerg] line and no
#   sanitizer report in the error log(s) or in weir's captured stderr.
#
# Deadlines, not sleeps: every wait polls with a short interval up to a
# deadline. Deadlines (never the timing a test asserts as behaviour) are
# multiplied by $WeirTest::SCALE: WEIR_TEST_TIMEOUT_SCALE, or 3 when the
# binary was built with AddressSanitizer.
#
# The API, by use:
#   set-up      new(config, files, main), port(n), write_config (reload),
#               write_file, read_file, path, prefix, conf_file, pid_file
#   processes   start, stop (QUIT, then TERM, then KILL), signal('HUP'),
#               alive, wait_exit, exit_code, master_pid, worker_pids,
#               wait_workers(sub { @_ == 2 }), weir_cmd(@argv) and
#               weir_ctl(@argv) (with -p and -c) -> { rc, out, err }
#   HTTP        http_get($path, @headers), http_head, http($raw),
#               WeirTest::request($method, $path, @headers, body => $b),
#               connect -> WeirTest::Conn (send, request, get,
#               read_response, wait_close, closed_by_peer),
#               WeirTest::Client (keep-alive with the rule below);
#               responses are WeirTest::Response (status, header('name')
#               case-insensitive, body, interim 1xx, closes, error)
#   logs        log_mark, wait_for_log(qr//, from, timeout), error_log,
#               access_log_lines, wait_for_access_log, check_log_clean
#   load        background(sub { my $ctl = shift; until ($ctl->stop) {..}
#               return {k => v} }) -> ->wait_event, ->finish (the hash)
#
# Keep-alive rule of the clients here (WeirTest::Client):
# a server may legitimately close an idle keep-alive connection. A client
# therefore reconnects without counting a failure only when
#   (a) the previous response carried "Connection: close" (or was HTTP/1.0
#       without keep-alive), or
#   (b) before writing the next request it finds the connection already at
#       EOF/reset (the server closed it cleanly *between* requests).
# A request that was written and then got EOF or a reset before any byte of
# its response is a failure. Only when the caller opts in with
# retry_race => 1 (safe for idempotent requests, RFC 9112 9.3.1) is it
# retried once on a fresh connection, and it is still counted as a "race".

use strict;
use warnings;

use Test::More ();
use IO::Socket::INET;
use POSIX qw(WNOHANG _exit setpgid);
use Time::HiRes qw(time sleep);
use File::Temp qw(tempdir);
use File::Path qw(make_path);
use File::Basename qw(dirname basename);
use Cwd qw(abs_path);
use Scalar::Util ();

our $VERSION = '0.1';
our @INSTANCES;
our @BACKGROUND;     # weak refs to live background clients
our $SCALE;
our $POLL = 0.02;
our $SANITIZER_RE = qr/AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|ERROR: \w*Sanitizer/;

my $OWNER_PID = $$;

$SIG{PIPE} = 'IGNORE';
# Let END run (and stop weir) when prove is interrupted.
$SIG{INT} = $SIG{TERM} = sub { exit 1 };

END {
    my $rc = $?;
    if ($$ == $OWNER_PID) {
        for my $t (@INSTANCES) {
            eval { $t->_kill_all if $t->{master} };
        }
    }
    $? = $rc;
}

# ---------------------------------------------------------------------------
# Construction

sub srcdir {
    return $ENV{WEIR_SRCDIR} if $ENV{WEIR_SRCDIR};
    return abs_path(dirname(__FILE__) . '/../..');
}

sub binary {
    return $ENV{WEIR_BINARY} if $ENV{WEIR_BINARY};
    return srcdir() . '/objs/weir';
}

sub _detect_scale {
    return $SCALE if defined $SCALE;
    if ($ENV{WEIR_TEST_TIMEOUT_SCALE}) {
        return $SCALE = $ENV{WEIR_TEST_TIMEOUT_SCALE};
    }
    $SCALE = 1;
    if (open my $fh, '<:raw', binary()) {
        local $/ = \(1 << 20);
        while (my $chunk = <$fh>) {
            if (index($chunk, '__asan_init') >= 0) { $SCALE = 3; last }
        }
    }
    return $SCALE;
}

# A deadline of $secs seconds (scaled) from now.
sub deadline { my $secs = shift; return time + $secs * _detect_scale() }

sub new {
    my ($class, %a) = @_;
    my $bin = binary();
    unless (-x $bin) {
        Test::More::plan(skip_all => "no weir binary at $bin");
    }
    _detect_scale();
    my $self = bless {
        binary  => $bin,
        srcdir  => srcdir(),
        ports   => {},
        master  => undef,
        conf    => $a{conf_name} // 'conf/weir.ini',
    }, $class;
    $self->{prefix} = tempdir('weir-test-XXXXXX', TMPDIR => 1,
        CLEANUP => !$ENV{WEIR_TEST_KEEP});
    Test::More::diag("prefix kept: $self->{prefix}") if $ENV{WEIR_TEST_KEEP};
    make_path(map { "$self->{prefix}/$_" } qw(conf logs html));
    my $mime = "$self->{srcdir}/conf/mime.types";
    $self->write_file('conf/mime.types', _slurp($mime)) if -f $mime;
    $self->{main} = {
        daemon    => 'off',
        workers   => 2,
        error_log => 'logs/error.log',
        pid       => 'logs/weir.pid',
        log_level => 'info',
        %{ $a{main} || {} },
    };
    my $files = $a{files} || {};
    for my $f (sort keys %$files) {
        $self->write_file($f, $self->subst($files->{$f}));
    }
    $self->write_config($a{config}) if defined $a{config};
    push @INSTANCES, $self;
    return $self;
}

sub prefix    { $_[0]{prefix} }
sub conf_file { "$_[0]{prefix}/$_[0]{conf}" }
sub path      { "$_[0]{prefix}/$_[1]" }
sub pid_file  { $_[0]->path($_[0]{main}{pid}) }
sub error_log_file { $_[0]->path($_[0]{main}{error_log}) }
sub access_log_file { $_[0]->path($_[0]{access_log} // 'logs/access.log') }

# The port behind %%PORTn%%: a loopback port that was free when asked.
sub port {
    my ($self, $n) = @_;
    $n //= 0;
    return $self->{ports}{$n} if defined $self->{ports}{$n};
    return $self->{ports}{$n} = _free_port($self);
}

sub _free_port {
    my ($self) = @_;
    my %taken = map { $_ => 1 } values %{ $self->{ports} };
    for (1 .. 50) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
            Proto => 'tcp', Listen => 1) or die "cannot bind: $!";
        my $p = $s->sockport;
        close $s;
        return $p unless $taken{$p};
    }
    die "no free port";
}

sub subst {
    my ($self, $text) = @_;
    return $text unless defined $text;
    $text =~ s/%%PORT(\d+)%%/$self->port($1)/ge;
    $text =~ s/%%PREFIX%%/$self->{prefix}/g;
    $text =~ s/%%SRCDIR%%/$self->{srcdir}/g;
    return $text;
}

# The default [main] section (see the top of this file).
sub main_section {
    my ($self) = @_;
    my $m = $self->{main};
    my @order = qw(daemon workers error_log pid log_level);
    my %seen;
    my $s = "[main]\n";
    for my $k (@order, sort keys %$m) {
        next if $seen{$k}++ or !defined $m->{$k};
        $s .= "$k = $m->{$k}\n";
    }
    return "$s\n";
}

# Write (or rewrite, for a reload) the config file. Without a [main]
# section, the default one is prepended.
sub write_config {
    my ($self, $text, $name) = @_;
    $text = $self->subst($text);
    $text = $self->main_section . $text unless $text =~ /^\s*\[main\]/m;
    $self->{config_text} = $text;
    if ($text =~ /^\s*access_log\s*=\s*(\S+)/m && $1 ne 'off') {
        $self->{access_log} = $1;
    }
    $self->{listens} = [ $text =~ /^\s*listen\s*=\s*127\.0\.0\.1:(\d+)/mg ];
    if ($text =~ /^\s*workers\s*=\s*(\S+)/m) {
        $self->{nworkers} = $1 eq 'auto' ? _ncpu() : $1;
    }
    $self->write_file($name // $self->{conf}, $text);
    return $self->path($name // $self->{conf});
}

sub config_text { $_[0]{config_text} }

sub write_file {
    my ($self, $rel, $content) = @_;
    my $p = $rel =~ m{^/} ? $rel : "$self->{prefix}/$rel";
    make_path(dirname($p));
    open my $fh, '>:raw', $p or die "$p: $!";
    print $fh $content;
    close $fh or die "$p: $!";
    return $p;
}

sub _slurp {
    my ($p) = @_;
    open my $fh, '<:raw', $p or return undef;
    local $/;
    my $c = <$fh>;
    return $c // '';
}

sub read_file { my ($self, $rel) = @_; return _slurp($rel =~ m{^/} ? $rel : $self->path($rel)) }

sub _ncpu {
    my $n = 0;
    if (open my $fh, '<', '/proc/cpuinfo') {
        $n = grep { /^processor\s*:/ } <$fh>;
    }
    return $n || 1;
}

# ---------------------------------------------------------------------------
# Running the binary

# Run weir with exactly @args; returns { rc, out, err, signal }.
# Killed (and rc = -1) after a deadline.
sub weir_cmd {
    my ($self, @args) = @_;
    my $out = "$self->{prefix}/cmd.out.$$";
    my $err = "$self->{prefix}/cmd.err.$$";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out;
        open STDERR, '>', $err;
        { no warnings q(exec); exec $self->{binary}, @args; }
        _exit(127);
    }
    my $dl = deadline(15);
    my $st;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) { $st = $?; last }
        if (time > $dl) { kill 'KILL', $pid; waitpid($pid, 0); $st = -1; last }
        sleep $POLL;
    }
    my %r = (out => _slurp($out) // '', err => _slurp($err) // '');
    unlink $out, $err;
    # kept for check_log_clean: a command may be expected to fail, its
    # sanitizer report must still be noticed
    $self->{cmd_sanitizer} ||= [];
    push @{ $self->{cmd_sanitizer} }, map { "weir @args: $_" }
        grep { /$SANITIZER_RE/ } split /\n/, $r{err};
    $r{signal} = $st == -1 ? 'timeout' : $st & 127;
    $r{rc} = $st == -1 ? -1 : ($st & 127) ? -1 : $st >> 8;
    return \%r;
}

# weir_cmd with -p PREFIX -c CONF in front.
sub weir_ctl {
    my ($self, @args) = @_;
    return $self->weir_cmd('-p', $self->{prefix}, '-c', $self->conf_file, @args);
}

# Start weir in the foreground; dies with its stderr when it does not come
# up. Returns $self.
sub start {
    my ($self, %o) = @_;
    die "weir already started" if $self->{master};
    my $stderr = $self->path('logs/stderr.log');
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        setpgid(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $stderr;
        open STDERR, '>>', $stderr;
        { no warnings q(exec); exec $self->{binary}, '-p', $self->{prefix}, '-c', $self->conf_file; }
        _exit(127);
    }
    $self->{master} = $pid;
    $self->{exit_status} = undef;
    my $dl = deadline($o{timeout} // 10);
    my $why = '';
    while (1) {
        if (!$self->alive) {
            die "weir exited at start-up (status $self->{exit_status}):\n"
                . (_slurp($stderr) // '') . ($self->error_log // '');
        }
        my @down = grep { !_listening($_) } @{ $self->{listens} || [] };
        my $nw = () = $self->worker_pids;
        my $want = $o{workers} // $self->{nworkers} // 1;
        last if !@down && -f $self->pid_file && $nw >= $want;
        $why = @down ? "ports @down not listening"
            : !-f $self->pid_file ? "no pid file" : "$nw of $want workers";
        if (time > $dl) {
            die "weir did not come up ($why):\n" . (_slurp($stderr) // '')
                . ($self->error_log // '');
        }
        sleep $POLL;
    }
    return $self;
}

# Is a TCP port in LISTEN state on this host? (/proc/net/tcp{,6})
sub _listening {
    my ($port) = @_;
    my $hex = sprintf ':%04X', $port;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $f or next;
        while (my $l = <$fh>) {
            my @f = split ' ', $l;
            return 1 if @f > 3 && $f[1] =~ /\Q$hex\E$/ && $f[3] eq '0A';
        }
    }
    return 0;
}

sub master_pid { $_[0]{master} }

# Has our master not exited yet? Reaps it when it has (exit_status).
sub alive {
    my ($self) = @_;
    my $pid = $self->{master} or return 0;
    return 0 if defined $self->{exit_status};
    my $r = waitpid($pid, WNOHANG);
    if ($r == $pid) { $self->{exit_status} = $?; return 0 }
    return 1;
}

# Wait up to $secs (scaled) for the master to exit. Returns its wait
# status, or undef on timeout.
sub wait_exit {
    my ($self, $secs) = @_;
    my $dl = deadline($secs // 10);
    while ($self->alive) {
        return undef if time > $dl;
        sleep $POLL;
    }
    return $self->{exit_status};
}

sub exit_code {
    my ($self) = @_;
    my $st = $self->{exit_status};
    return undef unless defined $st;
    return ($st & 127) ? -($st & 127) : $st >> 8;
}

sub signal { my ($self, $sig) = @_; return kill $sig, $self->{master} }

# Graceful stop: QUIT, then TERM, then KILL, each after a deadline.
# Returns the master's exit code (negative signal number when killed).
sub stop {
    my ($self, %o) = @_;
    return $self->exit_code unless $self->{master};
    if ($self->alive) {
        kill 'QUIT', $self->{master};
        if (!defined $self->wait_exit($o{timeout} // 15)) {
            Test::More::diag("weir did not exit on QUIT, sending TERM");
            kill 'TERM', $self->{master};
            if (!defined $self->wait_exit(5)) {
                Test::More::diag("weir did not exit on TERM, sending KILL");
                kill 'KILL', $self->{master};
                $self->wait_exit(5);
            }
        }
    }
    $self->_sweep_group;
    return $self->exit_code;
}

# Stop gracefully, then start again on the same prefix (what survives a
# restart: files, not shared memory).
sub restart {
    my ($self, %o) = @_;
    $self->stop;
    delete $self->{master};
    return $self->start(%o);
}

# Fast clean-up (END): TERM, then KILL the whole process group we made.
sub _kill_all {
    my ($self) = @_;
    if ($self->alive) {
        kill 'TERM', $self->{master};
        if (!defined $self->wait_exit(5)) {
            kill 'KILL', $self->{master};
            $self->wait_exit(5);
        }
    }
    $self->_sweep_group;
}

# Leftover processes of the group we created for weir (workers that
# outlived their master): report and kill them.
sub _sweep_group {
    my ($self) = @_;
    my $pg = $self->{master} or return;
    my $dl = time + 2;
    my @left;
    while (1) {
        @left = grep { $_->{pgrp} == $pg } _procs();
        last if !@left || time > $dl;
        sleep $POLL;
    }
    return unless @left;
    $self->{orphans} = [ map { "$_->{pid} ($_->{comm})" } @left ];
    kill 'KILL', -$pg;
}

# ---------------------------------------------------------------------------
# Processes

sub _procs {
    my @p;
    opendir my $d, '/proc' or return;
    for my $pid (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $s = <$fh> // next;
        my $l = index($s, '(');
        my $r = rindex($s, ')');
        next if $l < 0 || $r < 0;
        my $comm = substr($s, $l + 1, $r - $l - 1);
        my @f = split ' ', substr($s, $r + 2);
        push @p, { pid => $pid + 0, comm => $comm, state => $f[0],
            ppid => $f[1], pgrp => $f[2] };
    }
    return @p;
}

sub comm_of {
    my ($pid) = @_;
    my $c = _slurp("/proc/$pid/comm") // return undef;
    chomp $c;
    return $c;
}

# Worker processes: children of the master named weir-worker (zombies
# excluded), sorted; their number in scalar context.
sub worker_pids {
    my ($self) = @_;
    my $m = $self->{master} or return ();
    my @w = sort { $a <=> $b } map { $_->{pid} }
        grep { $_->{ppid} == $m && $_->{comm} eq 'weir-worker'
            && $_->{state} ne 'Z' } _procs();
    return wantarray ? @w : scalar @w;
}

# Wait until the worker set satisfies $pred->(@pids). Returns the pids or
# an empty list on timeout.
sub wait_workers {
    my ($self, $pred, $secs) = @_;
    my $dl = deadline($secs // 10);
    while (1) {
        my @w = $self->worker_pids;
        return @w if $pred->(@w);
        return () if time > $dl;
        sleep $POLL;
    }
}

# ---------------------------------------------------------------------------
# Logs

sub error_log { my ($self) = @_; return _slurp($self->error_log_file) }

# Byte offset at the end of the error log now: pass as from => to
# wait_for_log() to only see what is logged after this point.
sub log_mark { my ($self) = @_; return -s $self->error_log_file || 0 }

# Wait until a line of the error log (from byte offset `from`, see
# log_mark; `file` for another log; `timeout` seconds, default 5, scaled)
# matches $re. Returns the line, or in list context (line, captures...);
# undef / () on timeout.
sub wait_for_log {
    my ($self, $re, %o) = @_;
    my $file = $o{file} // $self->error_log_file;
    my $dl = deadline($o{timeout} // 5);
    my $from = $o{from} // 0;
    while (1) {
        my $c = _slurp($file);
        if (defined $c && length $c > $from) {
            for my $line (split /\n/, substr($c, $from)) {
                if (my @m = $line =~ $re) {
                    return wantarray ? ($line, @m) : $line;
                }
            }
        }
        return wantarray ? () : undef if time > $dl;
        sleep $POLL;
    }
}

sub access_log_lines {
    my ($self, $file) = @_;
    my $c = _slurp($file // $self->access_log_file) // return ();
    return split /\n/, $c;
}

# Wait (default 3 s, the access log flushes within 1 s) for an access-log
# line matching $re; returns it or undef.
sub wait_for_access_log {
    my ($self, $re, %o) = @_;
    return scalar $self->wait_for_log($re,
        file => $o{file} // $self->access_log_file,
        timeout => $o{timeout} // 3, from => $o{from} // 0);
}

# The error log(s) (rotated ones too) and weir's stderr carry no
# [alert]/[emerg] line (unless it matches `allow`) and no sanitizer report.
sub check_log_clean {
    my ($self, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $allow = $o{allow};
    my (@bad, @san);
    my @files = (glob($self->error_log_file . '*'), $self->path('logs/stderr.log'));
    for my $f (@files) {
        my $c = _slurp($f) // next;
        for my $line (split /\n/, $c) {
            if ($line =~ /\[(?:alert|emerg)\]/
                && !($allow && $line =~ $allow)) {
                push @bad, basename($f) . ": $line";
            }
            if ($line =~ /$SANITIZER_RE/) {
                push @san, basename($f) . ": $line";
            }
        }
    }
    push @san, @{ delete $self->{cmd_sanitizer} || [] };
    Test::More::ok(!@bad, 'no [alert] or [emerg] lines in the error log')
        or Test::More::diag(join "\n", @bad[0 .. ($#bad < 19 ? $#bad : 19)]);
    Test::More::ok(!@san, 'no sanitizer reports')
        or Test::More::diag(join "\n", @san[0 .. ($#san < 39 ? $#san : 39)]);
    if ($self->{orphans}) {
        Test::More::fail('no weir process outlived its master');
        Test::More::diag("left over: @{ $self->{orphans} }");
        delete $self->{orphans};
    }
}

# The end of every test file: stop each weir still running, check every
# instance's logs, then Test::More::done_testing.
sub done_testing {
    my ($self, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    for my $t (@INSTANCES) {
        $t->stop if $t->{master} && $t->alive;
        $t->check_log_clean(%o)
            if ($t->{master} || $t->{cmd_sanitizer}) && !$t->{logs_checked}++;
    }
    Test::More::done_testing();
}

# ---------------------------------------------------------------------------
# HTTP

# A new connection to 127.0.0.1:port (default %%PORT0%%).
sub connect {
    my ($self, %o) = @_;
    return WeirTest::Conn->new(port => $o{port} // $self->port(0), %o);
}

# One raw request on a new connection; returns a WeirTest::Response
# (status 0 and ->error on failure). Options: port, timeout, head => 1.
sub http {
    my ($self, $raw, %o) = @_;
    my $c = $self->connect(%o);
    return WeirTest::Response->failed($c->{error}) unless $c->{sock};
    my $r = $c->request($raw, %o);
    $c->close;
    return $r;
}

# GET with Connection: close on a new connection. Extra headers as pairs.
sub http_get {
    my ($self, $path, @h) = @_;
    return $self->http(request('GET', $path, Connection => 'close', @h));
}

sub http_head {
    my ($self, $path, @h) = @_;
    return $self->http(request('HEAD', $path, Connection => 'close', @h));
}

# Build a raw HTTP/1.1 request: Host: localhost unless given; a `body`
# pair sets the body (Content-Length added unless a framing header is
# given). Header order is kept.
sub request {
    my ($method, $path, @h) = @_;
    my ($body, @hdr);
    while (@h) {
        my ($k, $v) = splice @h, 0, 2;
        if ($k eq 'body') { $body = $v; next }
        push @hdr, [ $k, $v ];
    }
    my %have = map { lc $_->[0] => 1 } @hdr;
    unshift @hdr, [ Host => 'localhost' ] unless $have{host};
    if (defined $body && !$have{'content-length'} && !$have{'transfer-encoding'}) {
        push @hdr, [ 'Content-Length' => length $body ];
    }
    my $s = "$method $path HTTP/1.1\r\n";
    $s .= "$_->[0]: $_->[1]\r\n" for @hdr;
    return $s . "\r\n" . ($body // '');
}

# ---------------------------------------------------------------------------
# Background clients

# Run $code->($ctl) in a forked child; $ctl->stop is true once the parent
# called ->finish (or after max seconds). The child's hashref result comes
# back to the parent through a pipe. The child never runs END blocks (it
# must not stop weir) and never prints TAP.
sub background {
    my ($self, $code, %o) = @_;
    pipe(my $res_r, my $res_w) or die "pipe: $!";
    pipe(my $ctl_r, my $ctl_w) or die "pipe: $!";
    pipe(my $ev_r, my $ev_w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $res_r; close $ctl_w; close $ev_r;
        # Drop our copies of the other clients' pipes, or their control
        # pipe would never see EOF when the parent closes it.
        for my $other (grep { defined } @BACKGROUND) {
            close $_ for grep { defined } @{$other}{qw(res ctl ev)};
        }
        $SIG{INT} = $SIG{TERM} = 'DEFAULT';
        my $ctl = WeirTest::Ctl->new($ctl_r, $ev_w, $o{max} // 120);
        my $r = eval { $code->($ctl) } || { died => "$@" };
        my $out = '';
        for my $k (sort keys %$r) {
            my $v = $r->{$k} // '';
            $v =~ s/\n/\\n/g;
            $out .= "$k=$v\n";
        }
        syswrite $res_w, $out;
        close $res_w;
        _exit(0);
    }
    close $res_w; close $ctl_r; close $ev_w;
    my $bg = bless { pid => $pid, res => $res_r, ctl => $ctl_w, ev => $ev_r },
        'WeirTest::Background';
    push @BACKGROUND, $bg;
    Scalar::Util::weaken($BACKGROUND[-1]);
    return $bg;
}

package WeirTest::Ctl;

use Time::HiRes qw(time);

sub new {
    my ($class, $ctl, $ev, $max) = @_;
    return bless { ctl => $ctl, ev => $ev, until => time + $max }, $class;
}

# True once the parent asked us to finish (or the max time is over).
sub stop {
    my ($self) = @_;
    return 1 if $self->{stopped};
    return $self->{stopped} = 1 if time > $self->{until};
    my $rin = '';
    vec($rin, fileno($self->{ctl}), 1) = 1;
    if (select($rin, undef, undef, 0) > 0) { return $self->{stopped} = 1 }
    return 0;
}

# Tell the parent something happened ("started"), see Background->wait_event.
sub event { my ($self, $what) = @_; syswrite $self->{ev}, "$what\n" }

package WeirTest::Background;

use Time::HiRes qw(time);
use POSIX qw(WNOHANG);

# Wait up to $secs (scaled) for an event line from the child.
sub wait_event {
    my ($self, $secs) = @_;
    my $dl = WeirTest::deadline($secs // 10);
    my $buf = $self->{evbuf} // '';
    while ($buf !~ /\n/) {
        my $left = $dl - time;
        return undef if $left <= 0;
        my $rin = '';
        vec($rin, fileno($self->{ev}), 1) = 1;
        next unless select($rin, undef, undef, $left) > 0;
        my $n = sysread $self->{ev}, $buf, 4096, length $buf;
        return undef unless $n;
    }
    $buf =~ s/^(.*)\n//;
    $self->{evbuf} = $buf;
    return $1;
}

# Ask the child to finish and collect its result hash (undef values when
# it did not answer within the deadline).
sub finish {
    my ($self, $secs) = @_;
    close $self->{ctl} if $self->{ctl};
    delete $self->{ctl};
    my $dl = WeirTest::deadline($secs // 30);
    my $out = '';
    my $fh = $self->{res};
    while (1) {
        my $left = $dl - time;
        last if $left <= 0;
        my $rin = '';
        vec($rin, fileno($fh), 1) = 1;
        next unless select($rin, undef, undef, $left) > 0;
        my $n = sysread $fh, $out, 65536, length $out;
        last unless $n;
    }
    if (waitpid($self->{pid}, WNOHANG) != $self->{pid}) {
        kill 'KILL', $self->{pid};
        waitpid($self->{pid}, 0);
    }
    my %r;
    for (split /\n/, $out) {
        my ($k, $v) = split /=/, $_, 2;
        $v =~ s/\\n/\n/g;
        $r{$k} = $v;
    }
    return \%r;
}

sub DESTROY {
    my ($self) = @_;
    if ($self->{pid} && waitpid($self->{pid}, WNOHANG) == 0) {
        kill 'KILL', $self->{pid};
        waitpid($self->{pid}, 0);
    }
}

# ---------------------------------------------------------------------------

package WeirTest::Conn;

# A client connection with its own read buffer, so pipelined responses and
# keep-alive reuse work. Every I/O is bounded by a timeout (scaled).

use Time::HiRes qw(time);
use IO::Socket::INET;
use Errno qw(EINTR EAGAIN);
use Socket qw(MSG_PEEK MSG_DONTWAIT);

sub new {
    my ($class, %o) = @_;
    my $self = bless { buf => '', timeout => $o{timeout} // 10,
        port => $o{port} }, $class;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $o{port}, Proto => 'tcp',
        Timeout => 5 * WeirTest::_detect_scale());
    if (!$s) { $self->{error} = "connect: $!"; return $self }
    $s->autoflush(1);
    binmode $s;
    $self->{sock} = $s;
    return $self;
}

sub ok    { return !!$_[0]{sock} }
sub error { $_[0]{error} }

sub close {
    my ($self) = @_;
    close $self->{sock} if $self->{sock};
    delete $self->{sock};
}

# Write all of $data; returns 1, or 0 with ->error set.
sub send {
    my ($self, $data) = @_;
    my $s = $self->{sock} or do { $self->{error} //= 'not connected'; return 0 };
    my $dl = WeirTest::deadline($self->{timeout});
    my $off = 0;
    while ($off < length $data) {
        my $win = '';
        vec($win, fileno($s), 1) = 1;
        my $left = $dl - time;
        if ($left <= 0) { $self->{error} = 'write timeout'; return 0 }
        next unless select(undef, $win, undef, $left) > 0;
        my $n = syswrite $s, $data, length($data) - $off, $off;
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN;
            $self->{error} = "write: $!";
            return 0;
        }
        $off += $n;
    }
    return 1;
}

# Read more into the buffer: >0 bytes read, 0 EOF, undef error/timeout
# (->error says which).
sub _fill {
    my ($self, $dl) = @_;
    my $s = $self->{sock} or do { $self->{error} = 'not connected'; return undef };
    while (1) {
        my $left = $dl - time;
        if ($left <= 0) { $self->{error} = 'timeout'; return undef }
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        my $n = select($rin, undef, undef, $left);
        next if $n <= 0;
        $n = sysread $s, $self->{buf}, 65536, length $self->{buf};
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN;
            $self->{error} = "read: $!";
            $self->{reset} = 1;
            return undef;
        }
        $self->{eof} = 1 if $n == 0;
        return $n;
    }
}

# Read one response. Options: head => 1 (response to HEAD: no body),
# timeout. 1xx interim responses are collected in ->interim.
# Returns a WeirTest::Response; status 0 with ->error on failure
# ("eof before response" when the peer closed before any byte).
sub read_response {
    my ($self, %o) = @_;
    my $dl = WeirTest::deadline($o{timeout} // $self->{timeout});
    my @interim;
    my $got_any = length $self->{buf} > 0;
    while (1) {
        my $end;
        while (($end = index($self->{buf}, "\r\n\r\n")) < 0) {
            my $n = $self->_fill($dl);
            if (!$n) {
                my $why = defined $n
                    ? ($got_any || @interim ? 'eof in response head' : 'eof before response')
                    : ($got_any || @interim ? "$self->{error} in response head" : "$self->{error} before response");
                return WeirTest::Response->failed($why, raw => $self->{buf});
            }
            $got_any = 1;
        }
        my $head = substr($self->{buf}, 0, $end + 4, '');
        my $r = WeirTest::Response->parse_head($head)
            or return WeirTest::Response->failed('bad status line', raw => $head);
        if ($r->{status} >= 100 && $r->{status} < 200 && $r->{status} != 101) {
            push @interim, $r;
            next;
        }
        $r->{interim} = \@interim;
        my $err = $self->_read_body($r, $dl, $o{head});
        if ($err) { $r->{error} = $err; $r->{truncated} = 1 }
        return $r;
    }
}

sub _read_body {
    my ($self, $r, $dl, $head) = @_;
    my $st = $r->{status};
    return undef if $head || $st == 204 || $st == 304;
    my $te = $r->header('transfer-encoding');
    if ($te && $te =~ /chunked/i) {
        my $body = '';
        while (1) {
            my $i;
            while (($i = index($self->{buf}, "\r\n")) < 0) {
                return "eof in chunk size" unless $self->_fill($dl);
            }
            my $line = substr($self->{buf}, 0, $i + 2, '');
            my ($hex) = $line =~ /^([0-9a-fA-F]+)/ or return "bad chunk size";
            my $size = hex $hex;
            if ($size == 0) {
                # trailers up to the empty line
                while (1) {
                    while (($i = index($self->{buf}, "\r\n")) < 0) {
                        return "eof in trailers" unless $self->_fill($dl);
                    }
                    my $t = substr($self->{buf}, 0, $i + 2, '');
                    last if $t eq "\r\n";
                }
                $r->{body} = $body;
                $r->{chunked} = 1;
                return undef;
            }
            while (length $self->{buf} < $size + 2) {
                return "eof in chunk" unless $self->_fill($dl);
            }
            $body .= substr($self->{buf}, 0, $size, '');
            substr($self->{buf}, 0, 2, '') eq "\r\n" or return "bad chunk end";
        }
    }
    my $cl = $r->header('content-length');
    if (defined $cl) {
        while (length $self->{buf} < $cl) {
            if (!$self->_fill($dl)) {
                $r->{body} = $self->{buf};
                $self->{buf} = '';
                return "eof after " . length($r->{body}) . " of $cl body bytes";
            }
        }
        $r->{body} = substr($self->{buf}, 0, $cl, '');
        return undef;
    }
    # no framing: to EOF
    while (1) {
        my $n = $self->_fill($dl);
        last if defined $n && $n == 0;
        return "$self->{error} reading body to EOF" unless defined $n;
    }
    $r->{body} = $self->{buf};
    $self->{buf} = '';
    return undef;
}

# Send a raw request and read its response (HEAD detected from the
# request line unless head => given).
sub request {
    my ($self, $raw, %o) = @_;
    $self->send($raw)
        or return WeirTest::Response->failed("$self->{error} sending request");
    $o{head} //= $raw =~ /^HEAD /;
    return $self->read_response(%o);
}

sub get {
    my ($self, $path, @h) = @_;
    return $self->request(WeirTest::request('GET', $path, @h));
}

# Wait for the peer to close. Returns 'eof' or 'reset' (and sets ->extra to
# any bytes that came first), or undef when still open after $secs
# (scaled).
sub wait_close {
    my ($self, $secs) = @_;
    my $dl = WeirTest::deadline($secs // 5);
    while (1) {
        my $n = $self->_fill($dl);
        if (defined $n && $n == 0) { $self->{extra} = $self->{buf}; return 'eof' }
        if (!defined $n) {
            $self->{extra} = $self->{buf};
            return $self->{reset} ? 'reset' : undef;
        }
    }
}

sub extra { $_[0]{extra} }

# Without blocking: has the peer closed this idle connection (EOF or
# reset pending)? Data pending (unexpected) counts as not closed.
sub closed_by_peer {
    my ($self) = @_;
    my $s = $self->{sock} or return 1;
    return 0 if length $self->{buf};
    my $rin = '';
    vec($rin, fileno($s), 1) = 1;
    return 0 unless select($rin, undef, undef, 0) > 0;
    my $peek = '';
    my $r = recv($s, $peek, 1, MSG_PEEK | MSG_DONTWAIT);
    return 1 unless defined $r;     # error (reset)
    return length($peek) == 0 ? 1 : 0;
}

# ---------------------------------------------------------------------------

package WeirTest::Response;

sub failed {
    my ($class, $error, %o) = @_;
    return bless { status => 0, error => $error, headers => {},
        header_list => [], body => '', raw => $o{raw} // '' }, $class;
}

sub parse_head {
    my ($class, $head) = @_;
    my @lines = split /\r\n/, $head;
    my $sl = shift @lines // return undef;
    my ($ver, $st, $reason) = $sl =~ m{^HTTP/(\d\.\d) (\d{3})(?: (.*))?$}
        or return undef;
    my (%h, @list);
    for (@lines) {
        my ($k, $v) = /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
        $k = lc $k;
        push @list, [ $k, $v ];
        $h{$k} = exists $h{$k} ? "$h{$k}, $v" : $v;
    }
    return bless { version => $ver, status => $st + 0, reason => $reason // '',
        headers => \%h, header_list => \@list, head => $head, body => '' },
        $class;
}

sub status  { $_[0]{status} }
sub body    { $_[0]{body} }
sub error   { $_[0]{error} }
sub headers { $_[0]{headers} }
sub version { $_[0]{version} }
sub head    { $_[0]{head} // $_[0]{raw} }
sub interim { @{ $_[0]{interim} || [] } }
sub header  { my ($self, $k) = @_; return $self->{headers}{ lc $k } }
# Number of times a header appears.
sub header_count {
    my ($self, $k) = @_;
    return scalar grep { $_->[0] eq lc $k } @{ $self->{header_list} };
}

# Does the response ask to close the connection?
sub closes {
    my ($self) = @_;
    my $c = $self->header('connection') // '';
    return 1 if $c =~ /\bclose\b/i;
    return 1 if ($self->{version} // '1.1') eq '1.0' && $c !~ /keep-alive/i;
    return 0;
}

# "200 OK (body 12 bytes)" or the error, for test diagnostics.
sub summary {
    my ($self) = @_;
    return "no response: $self->{error}" if !$self->{status};
    return "$self->{status} $self->{reason}, " . length($self->{body})
        . " body bytes" . ($self->{error} ? ", $self->{error}" : '');
}


# ---------------------------------------------------------------------------

package WeirTest::Client;

# A keep-alive client following the rule at the top of this file.
# Counters: requests, reconnects (server closed between requests),
# closes (response said Connection: close), races (retried, only with
# retry_race => 1).

sub new {
    my ($class, %o) = @_;
    return bless { port => $o{port}, retry_race => $o{retry_race} // 0,
        timeout => $o{timeout} // 10, requests => 0, reconnects => 0,
        closes => 0, races => 0, conns => 0 }, $class;
}

sub _conn {
    my ($self) = @_;
    $self->{conns}++;
    return $self->{conn} = WeirTest::Conn->new(port => $self->{port},
        timeout => $self->{timeout});
}

# Send one request (raw text) on the kept connection; returns the
# response (status 0 on failure: the caller counts it).
sub request {
    my ($self, $raw) = @_;
    $self->{requests}++;
    if ($self->{conn} && $self->{conn}->closed_by_peer) {
        $self->{reconnects}++;
        $self->{conn}->close;
        delete $self->{conn};
    }
    my $c = $self->{conn} // $self->_conn;
    my $r = $c->ok ? $c->request($raw)
        : WeirTest::Response->failed($c->error);
    if (!$r->status && $self->{retry_race}
        && ($r->error // '') =~ /before response/) {
        $self->{races}++;
        $c->close;
        $c = $self->_conn;
        $r = $c->ok ? $c->request($raw) : WeirTest::Response->failed($c->error);
    }
    if (!$r->status || $r->error || $r->closes) {
        $self->{closes}++ if $r->status && !$r->error;
        $c->close;
        delete $self->{conn};
    }
    return $r;
}

sub get {
    my ($self, $path, @h) = @_;
    return $self->request(WeirTest::request('GET', $path, @h));
}

sub counters {
    my ($self) = @_;
    return map { $_ => $self->{$_} } qw(requests reconnects closes races conns);
}

sub close {
    my ($self) = @_;
    $self->{conn}->close if $self->{conn};
    delete $self->{conn};
}

1;
