package WeirOrigin;

# Fake origin servers for weir's proxy tests: well-behaved and misbehaving
# HTTP/1.1 servers, each a forked child process on a loopback port.
#
#   use WeirOrigin;
#   my $o = WeirOrigin->new(port => $t->port(1), handler => 'echo');
#   my $s = WeirOrigin->new(handler => 'fixed', status => 204);
#   my $x = WeirOrigin->new(handler => sub {
#       my ($c, $o) = @_;                   # one accepted connection
#       while (my $req = $c->read_request) {
#           $c->write(WeirOrigin::response(status => 200, body => 'hi'));
#       }
#   });
#   ... $o->port, $o->addr ("127.0.0.1:PORT"), $o->connections,
#   ... $o->requests (list of hashes), $o->events, $o->stop
#
# How it works:
# - new() binds and listens in the test process (so the port is live
#   before weir starts), then forks the server process, which accepts and,
#   by default, forks one child per connection (fork_conn => 0: handle the
#   connections one after another in the server process). The server
#   process leads its own process group; stop() (and END) kill that group,
#   by the pid we started. Every process has a bounded lifetime
#   (`lifetime`, default 120 s scaled as WeirTest's deadlines are).
# - `handler` is a code ref run once per accepted connection with a
#   WeirOrigin::Conn (buffered, non-blocking, every wait bounded) and the
#   origin; or the name of a ready-made behaviour (h_<name> below) that is
#   given new()'s other options.
# - A log file (one JSON object a line, appended by every process) records
#   what the origin saw: {ev => 'conn', conn => N} for each accepted
#   connection, {ev => 'request', conn, seq, method, target, version,
#   headers => [[name, value], ...], head (raw), body (when <= 64 KiB),
#   body_len, md5, chunked, chunk_ext => [...], trailers => [...]} for each
#   complete request, 'eof' (peer closed between requests), 'incomplete'
#   (closed/timed out inside a request), 'bad_request', 'progress' and
#   'sent'/'write_error' (large sources), 'tunnel_eof', 'done'. With
#   log_rx => 1 every read also logs {ev => 'rx', conn, n, data (first 200
#   bytes)}: "the origin received nothing" is then "no rx event".
#
# Behaviours (handler => NAME, options in new()):
#   echo            answers every request 200 with a JSON body describing
#                   it (the request event above); HEAD gets the head only;
#                   "sleep=S" in the query delays the answer S seconds;
#                   keep-alive until the client sends Connection: close.
#   fixed           status, reason, headers => [...], body, chunked => N
#                   (chunk size) or [sizes], trailers => [...],
#                   close_delimited => 1, interim => [raw 1xx heads],
#                   raw => exact bytes, delay => S (slow head), close => 1.
#   slow_head       fixed with delay => 3 by default.
#   reset           read the request, then an RST (how => 'close': a FIN);
#                   on_accept => 1: before reading anything; partial =>
#                   bytes written first.
#   garbage         read the request, write `bytes` (a non-HTTP head), close.
#   truncated       head with Content-Length `cl` (1000), `send` (10) body
#                   bytes, then how => close | reset | stall (stall => S).
#   truncated_chunked  a chunked head, one chunk, then close (no 0 chunk).
#   close_after_first  answer the first request of a connection (echo,
#                   keep-alive), then mode => 'idle': close after `idle`
#                   seconds (0.3) without reading; mode => 'on_next': read
#                   the next request, then close (how => 'reset': RST)
#                   without answering.
#   upgrade         answer an Upgrade request with 101 (with the
#                   Sec-WebSocket-Accept of its key), write `greeting`,
#                   then echo every byte until EOF; other requests: echo.
#   source          answer with `size` bytes of pattern() (Content-Length,
#                   or chunked => 1), as fast as the socket takes them,
#                   logging 'progress' {written} every MiB.
#   sink            read the request body whatever its size (not kept) and
#                   answer JSON {length, md5, chunked, method}.
#
# Helpers: response(%o) builds raw response bytes; pattern_chunk($i, $len)
# / pattern_md5($size) describe the deterministic large bodies;
# proc_mem($pid) reads VmRSS/VmHWM (kB); check_workers($t) is a test that
# no weir worker died (call it before $t->done_testing).

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Socket qw(SOL_SOCKET SO_LINGER IPPROTO_TCP TCP_NODELAY);
use POSIX qw(WNOHANG _exit setpgid);
use Time::HiRes qw(time sleep);
use File::Temp qw(tempdir);
use JSON::PP ();
use Digest::MD5 ();
use Digest::SHA ();
use Errno qw(EINTR EAGAIN EWOULDBLOCK);
use Fcntl qw(O_WRONLY O_APPEND O_CREAT);

our @ORIGINS;
my $OWNER = $$;
my $JSON = JSON::PP->new->ascii->canonical;

$SIG{PIPE} = 'IGNORE';

END {
    my $rc = $?;
    if ($$ == $OWNER) {
        eval { $_->stop } for @ORIGINS;
    }
    $? = $rc;
}

sub _scale {
    return WeirTest::_detect_scale() if defined &WeirTest::_detect_scale;
    return $ENV{WEIR_TEST_TIMEOUT_SCALE} || 1;
}

# ---------------------------------------------------------------------------
# The origin (test-process side)

sub new {
    my ($class, %o) = @_;
    my $self = bless { %o }, $class;
    $self->{lifetime} //= 120 * _scale();
    $self->{timeout}  //= 30 * _scale();     # one read or write wait
    $self->{fork_conn} //= 1;
    my $h = $self->{handler} // 'echo';
    if (!ref $h) {
        my $f = $class->can("h_$h") or die "no origin behaviour '$h'";
        $self->{name} //= $h;
        $h = $f->(%o);
    }
    $self->{code} = $h;
    # host => another loopback address (127.0.0.2: two origins on one port)
    $self->{host} //= '127.0.0.1';
    my $ls = IO::Socket::INET->new(LocalAddr => $self->{host},
        LocalPort => $o{port} // 0, Proto => 'tcp', ReuseAddr => 1,
        Listen => $o{backlog} // 128)
        or die "origin: cannot listen on $self->{host}:" . ($o{port} // 0) . ": $!";
    $self->{port} = $ls->sockport;
    $self->{dir} //= tempdir('weir-origin-XXXXXX', TMPDIR => 1,
        CLEANUP => !$ENV{WEIR_TEST_KEEP});
    $self->{log} = "$self->{dir}/origin-$self->{port}.log";
    open my $lf, '>', $self->{log} or die "$self->{log}: $!";
    close $lf;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $ok = eval { $self->_serve($ls); 1 };
        $self->_log(ev => 'server_died', error => "$@") unless $ok;
        _exit(0);
    }
    close $ls;
    $self->{pid} = $pid;
    push @ORIGINS, $self;
    return $self;
}

sub port { $_[0]{port} }
sub addr { "$_[0]{host}:$_[0]{port}" }
sub pid  { $_[0]{pid} }
sub log_file { $_[0]{log} }

# Kill the server process and its per-connection children (one process
# group, led by the pid we forked).
sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    kill 'KILL', -$pid;
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

# Every logged event, in order.
sub events {
    my ($self) = @_;
    open my $fh, '<:raw', $self->{log} or return ();
    my @ev;
    while (my $l = <$fh>) {
        chomp $l;
        my $e = eval { $JSON->decode($l) } or next;
        push @ev, $e;
    }
    return @ev;
}

sub events_of { my ($self, $what) = @_; return grep { $_->{ev} eq $what } $self->events }
sub connections { my ($self) = @_; return scalar $self->events_of('conn') }
sub requests { my ($self) = @_; return $self->events_of('request') }
sub request_count { my ($self) = @_; return scalar $self->events_of('request') }
sub rx_bytes {
    my ($self) = @_;
    my $n = 0;
    $n += $_->{n} for $self->events_of('rx');
    return $n;
}
# Most bytes a source wrote on one connection so far.
sub written {
    my ($self) = @_;
    my $max = 0;
    for my $e ($self->events) {
        next unless defined $e->{written};
        $max = $e->{written} if $e->{written} > $max;
    }
    return $max;
}

# Wait (bounded, scaled) until $pred->($self) is true; returns its value,
# or false on timeout.
sub wait_until {
    my ($self, $pred, $secs) = @_;
    my $dl = time + ($secs // 5) * _scale();
    while (1) {
        my $v = $pred->($self);
        return $v if $v;
        return 0 if time > $dl;
        sleep 0.02;
    }
}

# The value of the first header `name` of a request event (or undef), and
# every value.
sub header {
    my ($req, $name) = @_;
    for (@{ $req->{headers} || [] }) {
        return $_->[1] if lc $_->[0] eq lc $name;
    }
    return undef;
}
sub header_all {
    my ($req, $name) = @_;
    return map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ $req->{headers} || [] };
}

# ---------------------------------------------------------------------------
# The server process

sub _log {
    my ($self, %e) = @_;
    $e{t} = sprintf '%.3f', time;
    my $line = $JSON->encode(\%e) . "\n";
    if (!$self->{logfh}) {
        sysopen($self->{logfh}, $self->{log}, O_WRONLY | O_APPEND | O_CREAT)
            or return;
    }
    syswrite $self->{logfh}, $line;
}

sub _serve {
    my ($self, $ls) = @_;
    setpgid(0, 0);
    $SIG{TERM} = $SIG{INT} = $SIG{HUP} = 'DEFAULT';
    $SIG{PIPE} = 'IGNORE';
    $SIG{ALRM} = sub { _exit(0) };
    alarm(int($self->{lifetime}) + 1);
    my $end = time + $self->{lifetime};
    my $n = 0;
    my $sel = IO::Select->new($ls);
    while (time < $end) {
        1 while waitpid(-1, WNOHANG) > 0;
        next unless $sel->can_read(0.1);
        my $s = $ls->accept or next;
        $n++;
        $self->_log(ev => 'conn', conn => $n, peer => $s->peerport);
        if (!$self->{fork_conn}) {
            $self->_handle($s, $n);
            next;
        }
        my $pid = fork;
        if (!defined $pid) { close $s; next }
        if ($pid == 0) {
            close $ls;
            alarm(int($self->{lifetime}) + 1);
            $self->_handle($s, $n);
            _exit(0);
        }
        close $s;
    }
    _exit(0);
}

sub _handle {
    my ($self, $s, $n) = @_;
    my $c = WeirOrigin::Conn->new($s, $n, $self);
    my $ok = eval { $self->{code}->($c, $self); 1 };
    $c->log(ev => 'handler_died', error => "$@") unless $ok;
    $c->log(ev => 'done', rx => $c->{rx}, tx => $c->{tx});
    $c->close;
}

# ---------------------------------------------------------------------------
# Building blocks

my %REASON = (100 => 'Continue', 101 => 'Switching Protocols',
    103 => 'Early Hints', 200 => 'OK', 201 => 'Created', 204 => 'No Content',
    301 => 'Moved Permanently', 304 => 'Not Modified', 400 => 'Bad Request',
    404 => 'Not Found', 418 => "I'm a teapot", 500 => 'Internal Server Error',
    502 => 'Bad Gateway', 503 => 'Service Unavailable');

sub _hdr_pairs {
    my ($h) = @_;
    return map { ref $_ ? [@$_] : [ split /:\s*/, $_, 2 ] } @{ $h || [] };
}

# Raw response bytes. Options: status (200), reason, headers ("K: v" or
# [k, v]), body, chunked (chunk size, or [sizes]: the rest in one chunk),
# chunk_ext (appended to every size line), trailers, head_only (HEAD: no
# body but the same framing headers), no_length (close-delimited), close.
sub response {
    my (%o) = @_;
    my $st = $o{status} // 200;
    my $body = $o{body} // '';
    my @h = _hdr_pairs($o{headers});
    my %have = map { lc $_->[0] => 1 } @h;
    my $nobody = $st == 204 || $st == 304 || ($st >= 100 && $st < 200);
    my $out = "HTTP/1.1 $st " . ($o{reason} // $REASON{$st} // 'Whatever') . "\r\n";
    if (!$nobody && !$o{no_length}) {
        if ($o{chunked}) {
            push @h, [ 'Transfer-Encoding', 'chunked' ] unless $have{'transfer-encoding'};
        } elsif (!$have{'content-length'}) {
            push @h, [ 'Content-Length', length $body ];
        }
    }
    push @h, [ 'Connection', 'close' ] if $o{close} && !$have{connection};
    $out .= "$_->[0]: $_->[1]\r\n" for @h;
    $out .= "\r\n";
    return $out if $nobody || $o{head_only};
    return $out . $body unless $o{chunked};
    my @sizes = ref $o{chunked} ? @{ $o{chunked} } : ();
    my $ext = $o{chunk_ext} // '';
    my $off = 0;
    while ($off < length $body) {
        my $left = length($body) - $off;
        my $n = @sizes ? shift @sizes : ref $o{chunked} ? $left : $o{chunked};
        $n = $left if $n > $left || $n <= 0;
        $out .= sprintf("%x%s\r\n", $n, $ext) . substr($body, $off, $n) . "\r\n";
        $off += $n;
    }
    $out .= "0\r\n";
    $out .= "$_\r\n" for @{ $o{trailers} || [] };
    return $out . "\r\n";
}

# The JSON document echo answers with (everything but the raw head).
sub echo_doc {
    my ($req) = @_;
    my %d = map { $_ => $req->{$_} } grep { $_ ne 'ev' && $_ ne 't' } keys %$req;
    return $JSON->encode(\%d);
}

sub json { return $JSON }

# Does the request ask to close the connection after the response?
sub wants_close {
    my ($req) = @_;
    my $c = header($req, 'connection') // '';
    return 1 if $c =~ /\bclose\b/i;
    return 1 if $req->{version} eq '1.0' && $c !~ /keep-alive/i;
    return 0;
}

# Write the echo response for $req on $c; false when the connection should
# end (write failed or the client asked to close).
sub echo_response {
    my ($c, $req, %o) = @_;
    if (my ($d) = $req->{target} =~ /[?&]sleep=([\d.]+)/) { sleep $d }
    my $body = echo_doc($req);
    my $close = wants_close($req);
    my @h = ([ 'Content-Type', 'application/json' ],
        [ 'X-Origin-Conn', $c->id ], [ 'X-Origin-Seq', $req->{seq} ],
        _hdr_pairs($o{headers}));
    push @h, [ 'Connection', 'close' ] if $close;
    push @h, [ 'Connection', 'keep-alive' ] if !$close && $req->{version} eq '1.0';
    $c->write(response(status => $o{status} // 200, headers => \@h,
        body => $body, head_only => $req->{method} eq 'HEAD')) or return 0;
    return !$close;
}

# Deterministic large bodies: 64 KiB blocks, block $i starts with its
# number so a lost, repeated or reordered block changes the checksum.
my $BASE;
sub _base {
    return $BASE if defined $BASE;
    my $x = 12345;
    my @b;
    for (1 .. 65536) {
        $x = ($x * 1103515245 + 12345) & 0x7fffffff;
        push @b, chr(($x >> 16) & 255);
    }
    return $BASE = join '', @b;
}
sub pattern_chunk {
    my ($i, $len) = @_;
    $len //= 65536;
    my $b = pack('N', $i) . substr(_base(), 4);
    return $len == 65536 ? $b : substr($b, 0, $len);
}
# md5 (hex) of the first $size bytes of the pattern.
my %MD5;
sub pattern_md5 {
    my ($size) = @_;
    return $MD5{$size} //= do {
        my $d = Digest::MD5->new;
        my ($i, $left) = (0, $size);
        while ($left > 0) {
            my $n = $left < 65536 ? $left : 65536;
            $d->add(pattern_chunk($i++, $n));
            $left -= $n;
        }
        $d->hexdigest;
    };
}

# VmRSS and VmHWM of a process, in kB (undef when gone).
sub proc_mem {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return;
    my ($rss, $hwm);
    while (<$fh>) {
        $rss = $1 if /^VmRSS:\s+(\d+)/;
        $hwm = $1 if /^VmHWM:\s+(\d+)/;
    }
    return ($rss, $hwm);
}

# A test for the end of a proxy test file: no weir worker died (the master
# logs "worker process N exited on signal S" and restarts it, which the
# [alert]/[emerg] check of WeirTest does not see).
sub check_workers {
    my ($t) = @_;
    my @crash = grep { /worker process \d+ exited on signal/ }
        split /\n/, $t->error_log // '';
    Test::More::ok(!@crash, 'no worker process crashed')
        or Test::More::diag(join "\n", @crash,
            grep { length } split /\n/, $t->read_file('logs/stderr.log') // '');
}

# ---------------------------------------------------------------------------
# Behaviours: h_NAME(%options) returns the per-connection handler.

sub h_echo {
    my (%a) = @_;
    return sub {
        my ($c) = @_;
        while (my $req = $c->read_request) {
            echo_response($c, $req, headers => $a{headers}) or last;
        }
    };
}

sub h_fixed {
    my (%a) = @_;
    return sub {
        my ($c) = @_;
        while (my $req = $c->read_request) {
            sleep $a{delay} if $a{delay};
            $c->write($_) or return for @{ $a{interim} || [] };
            if (defined $a{raw}) {
                $c->write($a{raw});
                return if $a{close} // 1;
                next;
            }
            my $close = $a{close} || $a{close_delimited} || wants_close($req);
            $c->write(response(%a, no_length => $a{close_delimited},
                close => $close && !$a{close_delimited},
                head_only => $req->{method} eq 'HEAD')) or return;
            return if $close;
        }
    };
}

sub h_slow_head { my (%a) = @_; return h_fixed(delay => 3, %a) }

sub h_reset {
    my (%a) = @_;
    return sub {
        my ($c) = @_;
        if (!$a{on_accept}) {
            $c->read_request or return;
        }
        $c->write($a{partial}) if defined $a{partial};
        sleep $a{pause} if $a{pause};
        ($a{how} // 'reset') eq 'reset' ? $c->reset : $c->close;
    };
}

sub h_garbage {
    my (%a) = @_;
    return sub {
        my ($c) = @_;
        $c->read_request or return;
        $c->write($a{bytes} // "this is not an HTTP response\r\nat all\r\n\r\n");
        sleep 0.1;
    };
}

sub h_truncated {
    my (%a) = @_;
    my $cl = $a{cl} // 1000;
    my $send = $a{send} // 10;
    return sub {
        my ($c) = @_;
        $c->read_request or return;
        $c->write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            . "Content-Length: $cl\r\n\r\n" . ('x' x $send)) or return;
        my $how = $a{how} // 'close';
        if ($how eq 'stall') { sleep($a{stall} // 5); return }
        sleep 0.05;
        $how eq 'reset' ? $c->reset : $c->close;
    };
}

sub h_truncated_chunked {
    my (%a) = @_;
    return sub {
        my ($c) = @_;
        $c->read_request or return;
        $c->write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            . "Transfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n"
            . ($a{partial} // '')) or return;
        sleep 0.05;
        ($a{how} // 'close') eq 'reset' ? $c->reset : $c->close;
    };
}

sub h_close_after_first {
    my (%a) = @_;
    my $mode = $a{mode} // 'idle';
    return sub {
        my ($c) = @_;
        my $req = $c->read_request or return;
        echo_response($c, $req) or return;
        if ($mode eq 'idle') {
            sleep($a{idle} // 0.3);
            my $pending = $c->pending;
            $c->log(ev => 'idle_close', pending => $pending);
        } else {
            my $next = $c->read_request or return;
            $c->log(ev => 'dropped', target => $next->{target});
        }
        ($a{how} // 'close') eq 'reset' ? $c->reset : $c->close;
    };
}

sub h_upgrade {
    my (%a) = @_;
    return sub {
        my ($c) = @_;
        while (my $req = $c->read_request) {
            my $up = header($req, 'upgrade');
            if (!$up) { echo_response($c, $req) or return; next }
            my $key = header($req, 'sec-websocket-key') // '';
            my $accept = Digest::SHA::sha1_base64(
                $key . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11') . '=';
            $c->write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: $up\r\n"
                . "Connection: Upgrade\r\nSec-WebSocket-Accept: $accept\r\n\r\n")
                or return;
            $c->write($a{greeting}) if defined $a{greeting};
            $c->tunnel_echo;
            return;
        }
    };
}

sub h_source {
    my (%a) = @_;
    my $size = $a{size} // (100 << 20);
    return sub {
        my ($c) = @_;
        while (my $req = $c->read_request) {
            my @h = ('Content-Type: application/octet-stream',
                $a{chunked} ? 'Transfer-Encoding: chunked' : "Content-Length: $size");
            $c->write("HTTP/1.1 200 OK\r\n" . join('', map { "$_\r\n" } @h) . "\r\n")
                or return;
            next if $req->{method} eq 'HEAD';
            my ($i, $w, $next_log) = (0, 0, 1 << 20);
            while ($w < $size) {
                my $n = $size - $w < 65536 ? $size - $w : 65536;
                my $d = pattern_chunk($i++, $n);
                $d = sprintf("%x\r\n", $n) . $d . "\r\n" if $a{chunked};
                if (!$c->write($d)) {
                    $c->log(ev => 'write_error', written => $w, error => $c->{error});
                    return;
                }
                $w += $n;
                if ($w >= $next_log) {
                    $c->log(ev => 'progress', written => $w);
                    $next_log += 1 << 20;
                }
            }
            $c->write("0\r\n\r\n") or return if $a{chunked};
            $c->log(ev => 'sent', written => $w);
        }
    };
}

sub h_sink {
    my (%a) = @_;
    return sub {
        my ($c) = @_;
        while (my $req = $c->read_request(keep_body => 0)) {
            my $body = $JSON->encode({ length => $req->{body_len},
                md5 => $req->{md5}, chunked => $req->{chunked} ? 1 : 0,
                method => $req->{method} });
            $c->write(response(status => 200, body => $body,
                headers => ['Content-Type: application/json'])) or return;
        }
    };
}

# ---------------------------------------------------------------------------

package WeirOrigin::Conn;

# One accepted connection, non-blocking with a read buffer; every wait is
# bounded by the origin's `timeout`.

use Time::HiRes qw(time sleep);
use Socket qw(SOL_SOCKET SO_LINGER MSG_PEEK MSG_DONTWAIT);
use Errno qw(EINTR EAGAIN EWOULDBLOCK);

sub new {
    my ($class, $s, $id, $o) = @_;
    binmode $s;
    $s->blocking(0);
    return bless { sock => $s, id => $id, o => $o, buf => '', rx => 0,
        tx => 0, seq => 0, timeout => $o->{timeout} }, $class;
}

sub id     { $_[0]{id} }
sub sock   { $_[0]{sock} }
sub origin { $_[0]{o} }

sub log {
    my ($self, %e) = @_;
    $self->{o}->_log(conn => $self->{id}, %e);
}

# Read more into the buffer: >0 bytes, 0 EOF, undef error or timeout.
sub fill {
    my ($self, $dl) = @_;
    my $s = $self->{sock} or return undef;
    $dl //= time + $self->{timeout};
    while (1) {
        my $left = $dl - time;
        if ($left <= 0) { $self->{error} = 'timeout'; return undef }
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        my $r = select($rin, undef, undef, $left);
        next if $r <= 0;
        my $n = sysread $s, $self->{buf}, 262144, length $self->{buf};
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            $self->{error} = "read: $!";
            return undef;
        }
        $self->{rx} += $n;
        if ($n && $self->{o}{log_rx}) {
            $self->log(ev => 'rx', n => $n,
                data => substr($self->{buf}, -$n, $n > 200 ? 200 : $n));
        }
        return $n;
    }
}

# Bytes already waiting on the socket or in the buffer (no blocking).
sub pending {
    my ($self) = @_;
    my $s = $self->{sock} or return length $self->{buf};
    my $peek = '';
    my $r = recv($s, $peek, 65536, MSG_PEEK | MSG_DONTWAIT);
    return length($self->{buf}) + (defined $r ? length $peek : 0);
}

# Write all of $data; 1, or 0 (->{error}) on error or timeout.
sub write {
    my ($self, $data) = @_;
    my $s = $self->{sock} or return 0;
    my $dl = time + $self->{timeout};
    my $off = 0;
    while ($off < length $data) {
        my $left = $dl - time;
        if ($left <= 0) { $self->{error} = 'write timeout'; return 0 }
        my $win = '';
        vec($win, fileno($s), 1) = 1;
        next unless select(undef, $win, undef, $left) > 0;
        my $n = syswrite $s, $data, length($data) - $off, $off;
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            $self->{error} = "write: $!";
            return 0;
        }
        $off += $n;
        $self->{tx} += $n;
    }
    return 1;
}

sub close {
    my ($self) = @_;
    my $s = delete $self->{sock} or return;
    CORE::close($s);
}

# Abortive close: the peer gets an RST.
sub reset {
    my ($self) = @_;
    my $s = delete $self->{sock} or return;
    setsockopt($s, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    CORE::close($s);
}

# Wait up to $secs for the peer to close: 'eof', 'error' or undef.
sub wait_eof {
    my ($self, $secs) = @_;
    my $dl = time + $secs;
    while (1) {
        my $n = $self->fill($dl);
        return 'eof' if defined $n && $n == 0;
        return ($self->{error} // '') eq 'timeout' ? undef : 'error' unless defined $n;
        $self->{buf} = '';
    }
}

sub _line {
    my ($self, $dl) = @_;
    my $i;
    while (($i = index($self->{buf}, "\r\n")) < 0) {
        return undef if length $self->{buf} > 65536;
        my $n = $self->fill($dl);
        return undef unless $n;
    }
    my $l = substr($self->{buf}, 0, $i + 2, '');
    return substr($l, 0, $i);
}

sub _read_n {
    my ($self, $n, $dl, $sink) = @_;
    while ($n > 0) {
        if (!length $self->{buf}) {
            my $r = $self->fill($dl);
            return 0 unless $r;
        }
        my $k = length $self->{buf} < $n ? length $self->{buf} : $n;
        $sink->(substr($self->{buf}, 0, $k, ''));
        $n -= $k;
    }
    return 1;
}

# Read one request (head and body). Returns the request hash (also
# logged), or undef at EOF, on a timeout, or on a malformed request (each
# logged). Options: keep_body (bytes of body kept in ->{body}, default
# 1 MiB; beyond, only body_len and md5), timeout.
sub read_request {
    my ($self, %o) = @_;
    my $dl = time + ($o{timeout} // $self->{timeout});
    my $end;
    while (($end = index($self->{buf}, "\r\n\r\n")) < 0) {
        if (length $self->{buf} > 262144) {
            $self->log(ev => 'bad_request', why => 'head too large');
            return undef;
        }
        my $n = $self->fill($dl);
        if (!$n) {
            if (length $self->{buf}) {
                $self->log(ev => 'incomplete', why => 'in head: ' . ($self->{error} // 'eof'),
                    data => substr($self->{buf}, 0, 200));
            } else {
                $self->log(ev => defined $n ? 'eof' : 'read_end',
                    error => $self->{error});
            }
            return undef;
        }
    }
    my $head = substr($self->{buf}, 0, $end + 4, '');
    my @lines = split /\r\n/, substr($head, 0, $end);
    my $rl = shift(@lines) // '';
    my ($m, $tgt, $ver) = $rl =~ m{^([A-Za-z]+) (\S+) HTTP/(\d\.\d)$};
    if (!$m) {
        $self->log(ev => 'bad_request', why => 'request line', data => substr($head, 0, 200));
        return undef;
    }
    my @h;
    for (@lines) {
        if (/^([^:\s]+):[ \t]*(.*?)[ \t]*$/) { push @h, [ $1, $2 ] }
        else { push @h, [ '', $_ ] }       # kept so a test can see it
    }
    my $req = { method => $m, target => $tgt, version => $ver,
        headers => \@h, head => $head, seq => ++$self->{seq},
        chunked => 0, chunk_ext => [], trailers => [] };
    my $keep = $o{keep_body} // (1 << 20);
    my $md5 = Digest::MD5->new;
    my ($len, $body) = (0, '');
    my $sink = sub {
        $md5->add($_[0]);
        $len += length $_[0];
        $body .= $_[0] if length($body) < $keep;
    };
    my $te = WeirOrigin::header($req, 'transfer-encoding');
    my $cl = WeirOrigin::header($req, 'content-length');
    if (defined $te && $te =~ /chunked/i) {
        $req->{chunked} = 1;
        while (1) {
            my $line = $self->_line($dl);
            if (!defined $line) {
                $self->log(ev => 'incomplete', why => 'in chunk size', target => $tgt, body_len => $len);
                return undef;
            }
            my ($hex, $ext) = $line =~ /^([0-9a-fA-F]+)[ \t]*(;.*)?$/;
            if (!defined $hex) {
                $self->log(ev => 'bad_request', why => "chunk size '$line'", target => $tgt);
                return undef;
            }
            push @{ $req->{chunk_ext} }, $ext if defined $ext;
            my $size = hex $hex;
            if ($size == 0) {
                while (1) {
                    my $t = $self->_line($dl);
                    if (!defined $t) {
                        $self->log(ev => 'incomplete', why => 'in trailers', target => $tgt);
                        return undef;
                    }
                    last if $t eq '';
                    push @{ $req->{trailers} }, $t;
                }
                last;
            }
            if (!$self->_read_n($size, $dl, $sink)) {
                $self->log(ev => 'incomplete', why => 'in chunk', target => $tgt, body_len => $len);
                return undef;
            }
            my $crlf = $self->_line($dl);
            if (!defined $crlf || $crlf ne '') {
                $self->log(ev => 'bad_request', why => 'chunk end', target => $tgt);
                return undef;
            }
        }
    } elsif (defined $cl) {
        if ($cl !~ /^\d+$/) {
            $self->log(ev => 'bad_request', why => "content-length '$cl'", target => $tgt);
            return undef;
        }
        if (!$self->_read_n($cl, $dl, $sink)) {
            $self->log(ev => 'incomplete', why => 'in body', target => $tgt, body_len => $len);
            return undef;
        }
    }
    $req->{body_len} = $len;
    $req->{md5} = $md5->hexdigest;
    $req->{body} = $len <= $keep ? $body : undef;
    $req->{conn} = $self->{id};
    my %ev = (%$req, ev => 'request');
    $ev{body} = undef if $len > 65536;
    $self->{o}->_log(%ev);
    return $req;
}

# After a 101: echo every byte back until EOF (or the origin's timeout
# without traffic).
sub tunnel_echo {
    my ($self) = @_;
    if (length $self->{buf}) {
        my $d = $self->{buf};
        $self->{buf} = '';
        $self->write($d) or return;
    }
    while (1) {
        my $n = $self->fill;
        if (!$n) {
            $self->log(ev => 'tunnel_eof', how => defined $n ? 'eof' : $self->{error});
            return;
        }
        my $d = $self->{buf};
        $self->{buf} = '';
        $self->write($d) or return;
    }
}

1;
