package LimitTest;

# What the [limit] tests share (t/limit_*.t, t/admission.t), so each reads
# as the behaviour it checks:
#
#   use LimitTest;
#   my ($t, $origin) = LimitTest::start(workers => 2, origin => 'echo',
#       config => <<'INI');
#   [limit perip] ...
#   INI
#   my ($status, $retry_after) = get_from($t, '127.0.0.2', '/x',
#       'X-Key' => 'k');
#   is(metric($t, 'weir_limit_keys{limit="perip"}'), 1, 'one key');
#   wait_metric($t, $name, 1);              # until it reads 1 (bounded)
#   wait_metric($t, $name, sub { $_[0] >= 2 });
#
# - start(): a WeirTest with `workers` workers (and any other `main`
#   keys), an [admin] listener on %%PORT9%% appended unless the config
#   has one (the tests read /metrics), a WeirOrigin on %%PORT1%% when
#   `origin` names its handler, started before weir, with an
#   [upstream app] for it (no keep-alive) unless the config has one;
#   returns ($t, $origin).
# - get_from() / get_at(): one GET with Connection: close on a new
#   connection from a given loopback address (the tests key limits by
#   $remote_addr), to port(0) or a given port; (status or 0, Retry-After
#   or undef).
# - metric(): one value of /metrics, by name with its labels as printed
#   (a name without labels also matches its one labelled line); -1 when
#   absent.
# - wait_metric(): polls /metrics until the value equals $want (or the
#   code ref says yes), up to a deadline; returns the last value read.

use strict;
use warnings;
use Exporter 'import';
use IO::Socket::INET;
use Time::HiRes qw(time);
use WeirTest;
use WeirOrigin;

our @EXPORT = qw(get_from get_at metric wait_metric);

sub start {
    my (%a) = @_;
    my $config = $a{config};
    $config .= "\n[admin]\nlisten = 127.0.0.1:%%PORT9%%\n"
        unless $config =~ /^\[admin\]/m;
    $config = "[upstream app]\nserver = 127.0.0.1:%%PORT1%%\nkeepalive = 0\n\n"
        . $config if defined $a{origin} && $config !~ /^\[upstream app\]/m;
    my $t = WeirTest->new(config => $config,
        main => { workers => $a{workers} // 1, %{ $a{main} || {} } },
        $a{files} ? (files => $a{files}) : ());
    my $origin = defined $a{origin}
        ? WeirOrigin->new(port => $t->port(1), handler => $a{origin})
        : undef;
    $t->start;
    return ($t, $origin);
}

sub get_from {
    my ($t, $from, $path, @h) = @_;
    return get_at($t, $t->port(0), $from, $path, @h);
}

sub get_at {
    my ($t, $port, $from, $path, @h) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $port, LocalAddr => $from, Proto => 'tcp',
        Timeout => 5) or return (0, undef);
    my $hdr = '';
    while (@h) { my ($k, $v) = splice @h, 0, 2; $hdr .= "$k: $v\r\n" }
    print $s "GET $path HTTP/1.1\r\nHost: x\r\n${hdr}Connection: close\r\n\r\n";
    local $/;
    my $resp = eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm(30 * WeirTest::_detect_scale());
        my $r = <$s>;
        alarm(0);
        $r;
    } // '';
    close $s;
    my ($st) = $resp =~ m{^HTTP/1\.1 (\d+)};
    my ($ra) = $resp =~ m{\r\nRetry-After: (\d+)\r\n}i;
    return ($st // 0, $ra);
}

sub metric {
    my ($t, $name) = @_;
    my $r = $t->http(WeirTest::request('GET', '/metrics',
        Connection => 'close'), port => $t->port(9));
    my ($v) = $r->body =~ /^\Q$name\E(?:\{[^}]*\})? (\d+)$/m;
    return $v // -1;
}

sub wait_metric {
    my ($t, $name, $want, $secs) = @_;
    my $ok = ref $want ? $want : sub { $_[0] == $want };
    my $dl = WeirTest::deadline($secs // 10);
    my $v;
    while (1) {
        $v = metric($t, $name);
        return $v if $ok->($v) || time > $dl;
        select(undef, undef, undef, 0.05);
    }
}

1;
