#!/usr/bin/perl
# report.pl RAWFILE - the summary tables of contrib/bench/run.
#
# RAWFILE holds tab-separated lines written by the run script:
#   meta    KEY VALUE                      (clk_tck, duration, rounds, ...)
#   run     ROUND SCENARIO PROXY CONNS RPS P50_MS P99_MS NON2XX SOCKERR
#           REQUESTS CPU_TICKS SECONDS BYTES_PER_REQ ORIGIN_TICKS
#           [ORIGIN_REQUESTS ORIGIN_CONNS]  (requests the origin served
#           and connections it accepted during the run, "-" when unknown;
#           absent in older files)
#   hitcheck PROXY PATH STATUS VERDICT ORIGIN_REQUESTS HEADERS
#                              (run --cache: the checks before the rounds)
#   unavail PROXY REASON
#   start   PROXY MS|-  NOTE
#   idle    PROXY OK FAIL RSS_BEFORE_KB RSS_AFTER_KB NOTE
# It prints medians over rounds per scenario and proxy, then the ratios of
# weir to nginx and to HAProxy, and when weir-b or weir-c ran (--weir-b,
# --weir-c) each one against weir: medians with the spread (min-max) and
# the ratios of the runs of the same round.  With --cache runs, also the
# miss path against pass-through per proxy (miss-X minus pass-X, round by
# round).
use strict;
use warnings;

my $raw = shift or die "usage: report.pl RAWFILE\n";
open(my $f, '<', $raw) or die "report.pl: $raw: $!\n";
my (%meta, %runs, @order, %unavail, @start, @idle, @hitcheck);
while (<$f>) {
    chomp;
    my ($tag, @v) = split /\t/;
    next unless defined $tag;
    if ($tag eq 'meta') {
        $meta{ $v[0] } = $v[1];
    } elsif ($tag eq 'run') {
        my $key = "$v[1]\t$v[2]";
        push @order, $key unless $runs{$key};
        push @{ $runs{$key} }, \@v;
    } elsif ($tag eq 'unavail') {
        $unavail{ $v[0] } = $v[1];
    } elsif ($tag eq 'start') {
        push @start, \@v;
    } elsif ($tag eq 'idle') {
        push @idle, \@v;
    } elsif ($tag eq 'hitcheck') {
        push @hitcheck, \@v;
    }
}
close $f;
my $hz = $meta{clk_tck} || 100;

sub median {
    my @s = sort { $a <=> $b } grep { defined } @_;
    return undef unless @s;
    my $m = int(@s / 2);
    return @s % 2 ? $s[$m] : ($s[$m - 1] + $s[$m]) / 2;
}
sub fmt {
    my ($fmt, $v) = @_;
    return defined $v ? sprintf($fmt, $v) : '-';
}

# Per (scenario, proxy): medians of the per-run figures.
my (%med, @scen, %seen);
for my $key (@order) {
    my ($sc, $px) = split /\t/, $key;
    push @scen, $sc unless $seen{$sc}++;
    my (@rps, @p50, @p99, @us, @pct, @mib, @ous, @oreq, $err, $n);
    for my $r (@{ $runs{$key} }) {
        my (undef, undef, undef, undef, $rps, $p50, $p99, $non2xx, $sockerr,
            $reqs, $ticks, $secs, $bytes, $oticks, $oreqs) = @$r;
        push @oreq, $oreqs / $reqs
            if defined $oreqs && $oreqs =~ /^-?\d+$/ && $reqs > 0;
        $n++;
        $err += $non2xx + $sockerr;
        push @rps, $rps;
        push @p50, $p50;
        push @p99, $p99;
        my $cpu = $ticks / $hz;
        push @pct, 100 * $cpu / $secs if $secs > 0;
        if ($reqs > 0) {
            push @us, 1e6 * $cpu / $reqs;
            push @ous, 1e6 * ($oticks / $hz) / $reqs if $px ne 'direct';
            push @mib, 1e3 * $cpu / ($reqs * $bytes / 1048576)
                if $bytes >= 1048576;
        }
    }
    $med{$key} = {
        conns => $runs{$key}[0][3], n => $n, err => $err,
        rps => median(@rps), p50 => median(@p50), p99 => median(@p99),
        us => median(@us), pct => median(@pct), mib => median(@mib),
        ous => median(@ous), oreq => median(@oreq),
    };
}

print "Medians over $meta{rounds} round(s) of $meta{duration} s each "
    . "(wrk -t$meta{threads}).\n"
    . "CPU = utime+stime of the proxy's process tree during the run "
    . "(for \"direct\": the origin's);\n"
    . "origin = the origin's CPU per request; errors = non-2xx/3xx + socket "
    . "errors, summed over rounds;\norigin req/req = requests the origin "
    . "served per request completed (0 for cache hits,\n1 for misses and "
    . "pass-through; a little over 1: requests in flight when wrk stopped).\n\n";
my @h = ('scenario', 'proxy', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'errors',
         'CPU %', 'CPU us/req', 'CPU ms/MiB', 'origin us/req', 'origin req/req');
my $line = "%-10s %-8s %5s %10s %8s %8s %7s %6s %10s %10s %13s %14s\n";
printf $line, @h;
my @proxies = split / /, ($meta{proxies} // 'weir nginx haproxy');
for my $sc (@scen) {
    for my $px ('direct', @proxies) {
        my $m = $med{"$sc\t$px"};
        if (!$m) {
            printf "%-10s %-8s %s\n", $sc, $px, 'unavailable (see below)'
                if $px ne 'direct' && exists $unavail{$px};
            next;
        }
        printf $line, $sc, $px, $m->{conns}, fmt('%.0f', $m->{rps}),
            fmt('%.2f', $m->{p50}), fmt('%.2f', $m->{p99}), $m->{err},
            fmt('%.0f', $m->{pct}), fmt('%.1f', $m->{us}),
            fmt('%.2f', $m->{mib}), fmt('%.1f', $m->{ous}),
            fmt('%.3f', $m->{oreq});
    }
}
for my $px (@proxies) {
    print "\n$px: unavailable: $unavail{$px}\n" if exists $unavail{$px};
}

# Ratios: weir against each other proxy.  rps > 1 is better for weir;
# CPU and p99 < 1 are better for weir.
my @others = grep { $_ ne 'weir' && !/^weir-/ } @proxies;
if (@others && grep { $_ eq 'weir' } @proxies) {
    # CPU per request of each run, by scenario, proxy and round: the last
    # column takes the ratio round by round (runs seconds apart, so drift
    # and the load of the moment mostly cancel), median [min-max].
    my %cpu;
    for my $key (@order) {
        my ($sc, $px) = split /\t/, $key;
        for my $r (@{ $runs{$key} }) {
            my ($round, $reqs, $ticks) = @$r[0, 9, 10];
            $cpu{$sc}{$px}{$round} = 1e6 * $ticks / $hz / $reqs if $reqs > 0;
        }
    }
    print "\nRatios weir/other (rps: higher is better; CPU us/req and p99: "
        . "lower is better;\nthe ratios of the medians, and the CPU ratio "
        . "taken round by round: median [min-max])\n";
    printf "%-10s %-14s %8s %12s %8s %22s\n", 'scenario', 'ratio', 'rps',
        'CPU us/req', 'p99', 'CPU per round';
    for my $sc (@scen) {
        for my $other (@others) {
            my ($w, $o) = ($med{"$sc\tweir"}, $med{"$sc\t$other"});
            my $r = sub {
                my $k = shift;
                return 'n/a' unless $w && $o && $w->{$k} && $o->{$k};
                return sprintf '%.2f', $w->{$k} / $o->{$k};
            };
            my ($cw, $co) = ($cpu{$sc}{weir} || {}, $cpu{$sc}{$other} || {});
            my @pr = sort { $a <=> $b } map { $cw->{$_} / $co->{$_} }
                grep { $co->{$_} } keys %$cw;
            printf "%-10s %-14s %8s %12s %8s %22s\n", $sc, "weir/$other",
                $r->('rps'), $r->('us'), $r->('p99'),
                @pr ? sprintf('%.2f [%.2f-%.2f]', median(@pr), $pr[0], $pr[-1]) : 'n/a';
        }
    }
}

# weir variants against weir: per round, the variant's figure over weir's
# in the same round (adjacent runs, so slow drift mostly cancels).
my @variants = grep { /^weir-/ } @proxies;
if (@variants && grep { $_ eq 'weir' } @proxies) {
    my %byround;       # scenario, proxy, round -> [rps, us/req, origin us/req]
    for my $key (@order) {
        my ($sc, $px) = split /\t/, $key;
        for my $r (@{ $runs{$key} }) {
            my ($round, $rps, $reqs, $ticks, $oticks) = @$r[0, 4, 9, 10, 13];
            next unless $reqs > 0;
            $byround{$sc}{$px}{$round} = [ $rps, 1e6 * $ticks / $hz / $reqs,
                                           1e6 * $oticks / $hz / $reqs ];
        }
    }
    print "\nweir variants (median [min-max] over rounds; ratio = the "
        . "variant over weir in the same round;\nCPU/origin = the CPU ratio "
        . "over the origin's CPU-per-request ratio of the same two runs:\n"
        . "the origin does the same work for both, so its ratio is the "
        . "machine's noise)\n";
    printf "%-10s %-8s %22s %20s %22s %22s %22s\n", 'scenario', 'proxy',
        'req/s', 'CPU us/req', 'rps ratio', 'CPU ratio', 'CPU/origin ratio';
    for my $sc (@scen) {
        my $base = $byround{$sc}{weir} or next;
        for my $px ('weir', @variants) {
            my $v = $byround{$sc}{$px} or next;
            my @rounds = sort { $a <=> $b } keys %$v;
            my @rps = map { $v->{$_}[0] } @rounds;
            my @us = map { $v->{$_}[1] } @rounds;
            my (@rr, @ur, @nr);
            if ($px ne 'weir') {
                for my $r (grep { $base->{$_} } @rounds) {
                    my ($x, $y) = ($v->{$r}, $base->{$r});
                    push @rr, $x->[0] / $y->[0] if $y->[0] > 0;
                    push @ur, $x->[1] / $y->[1] if $y->[1] > 0;
                    push @nr, ($x->[1] / $y->[1]) / ($x->[2] / $y->[2])
                        if $y->[1] > 0 && $x->[2] > 0 && $y->[2] > 0;
                }
            }
            my $fmt3 = sub {
                my @s = sort { $a <=> $b } @_;
                return '' unless @s;
                return sprintf '%.3f [%.3f-%.3f]', median(@s), $s[0], $s[-1];
            };
            my @rs = sort { $a <=> $b } @rps;
            my @us_s = sort { $a <=> $b } @us;
            printf "%-10s %-8s %22s %20s %22s %22s %22s\n", $sc, $px,
                sprintf('%.0f [%.0f-%.0f]', median(@rs), $rs[0], $rs[-1]),
                sprintf('%.2f [%.2f-%.2f]', median(@us_s), $us_s[0], $us_s[-1]),
                $fmt3->(@rr), $fmt3->(@ur), $fmt3->(@nr);
        }
    }
}

# Cache mode: the miss path against pass-through, per proxy and body size.
# Both runs send unique URLs (unique.lua) that the origin serves alike; on
# the pass route the proxy only forwards, on the cached route it also looks
# the key up, misses, and stores the response: the difference is that work.
my %mp;    # size, proxy, round -> [pass us/req, miss us/req, pass rps, miss rps]
for my $key (@order) {
    my ($sc, $px) = split /\t/, $key;
    next unless $sc =~ /^(pass|miss)-(.+)$/;
    my ($kind, $size) = ($1, $2);
    for my $r (@{ $runs{$key} }) {
        my ($round, $rps, $reqs, $ticks) = @$r[0, 4, 9, 10];
        next unless $reqs > 0;
        my $i = $kind eq 'pass' ? 0 : 1;
        $mp{$size}{$px}{$round}[$i] = 1e6 * $ticks / $hz / $reqs;
        $mp{$size}{$px}{$round}[$i + 2] = $rps;
    }
}
if (%mp) {
    print "\nMiss path against pass-through (the same unique URLs on the "
        . "cached and the uncached\nroute; per round miss - pass and "
        . "miss / pass of CPU us/req; median [min-max] over rounds)\n";
    printf "%-5s %-8s %9s %9s %22s %20s %9s %9s\n", 'body', 'proxy',
        'pass us', 'miss us', 'miss-pass us/req', 'miss/pass', 'pass rps',
        'miss rps';
    my $ms = sub {
        my ($fmt, @v) = @_;
        my @s = sort { $a <=> $b } grep { defined } @v;
        return '-' unless @s;
        return sprintf("$fmt [$fmt-$fmt]", median(@s), $s[0], $s[-1]);
    };
    for my $size (sort keys %mp) {
        for my $px (@proxies) {
            my $v = $mp{$size}{$px} or next;
            my @rounds = sort { $a <=> $b } keys %$v;
            my @both = grep { defined $v->{$_}[0] && defined $v->{$_}[1] } @rounds;
            printf "%-5s %-8s %9s %9s %22s %20s %9s %9s\n", $size, $px,
                fmt('%.1f', median(map { $v->{$_}[0] } @rounds)),
                fmt('%.1f', median(map { $v->{$_}[1] } @rounds)),
                $ms->('%.1f', map { $v->{$_}[1] - $v->{$_}[0] } @both),
                $ms->('%.2f', map { $v->{$_}[0] > 0 ? $v->{$_}[1] / $v->{$_}[0] : undef } @both),
                fmt('%.0f', median(map { $v->{$_}[2] } @rounds)),
                fmt('%.0f', median(map { $v->{$_}[3] } @rounds));
        }
    }
}

if (@hitcheck) {
    print "\nCache checks before the rounds (GET with curl; origin = requests "
        . "the origin served\nduring that GET: a hit must leave it at 0, a "
        . "miss and a pass take 1)\n";
    for my $h (@hitcheck) {
        my ($px, $path, $status, $verdict, $oreq, $hdrs) = @$h;
        printf "%-8s %-32s %s %-7s origin %s  %s\n", $px, $path, $status,
            $verdict, $oreq, $hdrs // '';
    }
}

if (@idle) {
    print "\nIdle keep-alive connections (worker VmRSS before and after "
        . "opening them)\n";
    printf "%-8s %8s %6s %12s %12s %14s  %s\n", 'proxy', 'open', 'failed',
        'RSS before', 'RSS after', 'KiB/conn', 'note';
    for my $i (@idle) {
        my ($px, $ok, $fail, $b, $a, $note) = @$i;
        my $per = $ok > 0 ? sprintf('%.2f', ($a - $b) / $ok) : '-';
        printf "%-8s %8s %6s %9s KiB %9s KiB %14s  %s\n", $px, $ok, $fail, $b,
            $a, $per, $note // '';
    }
}
if (@start) {
    print "\nTime from exec to the first 200 through the proxy "
        . "(origin already up)\n";
    for my $s (@start) {
        my ($px, $ms, $note) = @$s;
        printf "%-8s %10s  %s\n", $px, $ms eq '-' ? '-' : "$ms ms", $note // '';
    }
}
