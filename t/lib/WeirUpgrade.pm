package WeirUpgrade;
# Helpers shared by the binary-upgrade tests (t/master_upgrade*.t): a copy
# of the binary in the test prefix that a test may replace, pid files,
# processes that are not the test's children, and the load clients that
# count failed requests.

use strict;
use warnings;
use File::Copy qw(copy);
use File::Path qw(make_path);
use Time::HiRes qw(sleep time);
use Exporter 'import';
use WeirTest;

our @EXPORT = qw(install_binary replace_binary read_pid proc_gone
    wait_until workers_of new_conn_client keepalive_client);

# Copy the binary under test to PREFIX/sbin/weir and run it from there:
# USR2 execs that path, so a test can put another file in its place.
sub install_binary {
    my ($t) = @_;
    make_path($t->path('sbin'));
    my $to = $t->path('sbin/weir');
    copy($t->{binary}, $to) or die "copy $t->{binary}: $!";
    chmod 0755, $to;
    $t->{orig_binary} = $t->{binary};
    $t->{binary} = $to;
    return $to;
}

# Put $content (a script), or the original binary when undef, at the
# path the master runs. rename(), as an installer does: the running
# binary keeps its inode.
sub replace_binary {
    my ($t, $content, $mode) = @_;
    my $to = $t->path('sbin/weir');
    my $tmp = "$to.new";
    if (defined $content) {
        open my $fh, '>', $tmp or die "$tmp: $!";
        print $fh $content;
        close $fh;
    } else {
        copy($t->{orig_binary}, $tmp) or die "copy: $!";
    }
    chmod $mode // 0755, $tmp;
    rename $tmp, $to or die "rename $tmp: $!";
}

# The pid in a pid file, or 0.
sub read_pid {
    my ($path) = @_;
    open my $fh, '<', $path or return 0;
    my $l = <$fh> // '';
    return $l =~ /^(\d+)$/ ? $1 + 0 : 0;
}

# Gone or a zombie: a master that is not our child (a new binary's
# master, reparented when its parent exited) is reaped by someone else.
sub proc_gone {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return 1;
    my $s = <$fh> // return 1;
    return $s =~ /\)\s+Z\s/ ? 1 : 0;
}

# Poll $cond until true or $secs (scaled) pass; its last value.
sub wait_until {
    my ($cond, $secs) = @_;
    my $dl = WeirTest::deadline($secs // 10);
    while (1) {
        my $v = $cond->();
        return $v if $v || time > $dl;
        sleep 0.05;
    }
}

# Live weir-worker children of $pid.
sub workers_of {
    my ($pid) = @_;
    my @w;
    opendir my $d, '/proc' or return ();
    for my $p (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$p/stat" or next;
        my $s = <$fh> // next;
        next unless $s =~ /^\d+ \(weir-worker\) (\S) (\d+)/;
        push @w, $p + 0 if $1 ne 'Z' && $2 == $pid;
    }
    return @w;
}

# A client on a new connection per request: every request must get a
# 200 with one of the bodies in %$ok.
sub new_conn_client {
    my ($t, $path, $ok) = @_;
    return sub {
        my ($ctl) = @_;
        my ($n, $fail, @why, %seen) = (0, 0);
        until ($ctl->stop) {
            my $r = $t->http_get($path);
            $n++;
            if ($r->status && $r->status == 200 && !$r->error
                && $ok->{ $r->body }) {
                $seen{ $r->body }++;
                next;
            }
            $fail++;
            push @why, $r->summary if @why < 10;
        }
        return { requests => $n, fail => $fail, why => join('; ', @why),
            seen => join(',', map { "$_=$seen{$_}" } sort keys %seen) };
    };
}

# A client on keep-alive connections (reconnecting only after
# Connection: close or a close found between requests, see WeirTest).
sub keepalive_client {
    my ($t, $path, $ok) = @_;
    return sub {
        my ($ctl) = @_;
        my $cl = WeirTest::Client->new(port => $t->port(0), retry_race => 0);
        my ($fail, @why) = (0);
        until ($ctl->stop) {
            my $r = $cl->get($path);
            next if $r->status && $r->status == 200 && !$r->error
                && $ok->{ $r->body };
            $fail++;
            push @why, $r->summary if @why < 10;
        }
        $cl->close;
        return { $cl->counters, fail => $fail, why => join('; ', @why) };
    };
}

1;
