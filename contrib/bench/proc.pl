#!/usr/bin/perl
# proc.pl - process-tree accounting for contrib/bench/run (Linux /proc).
#
#   proc.pl tree PID   the pids of PID and all its descendants, one a line
#   proc.pl cpu PID    CPU time in clock ticks spent by the tree of PID:
#                      utime+stime of every live process in it, plus
#                      cutime+cstime (children already reaped by the tree)
#   proc.pl rss PID    VmRSS in KiB of the tree's workers: every process
#                      but PID itself when PID has descendants (the
#                      master's memory does not grow with connections),
#                      else PID alone
#
# A pid that vanished prints nothing (tree), 0 (cpu, rss).
use strict;
use warnings;

my ($cmd, $root) = @ARGV;
die "usage: proc.pl tree|cpu|rss PID\n"
    unless defined $root && $root =~ /^\d+$/ && $cmd =~ /^(tree|cpu|rss)$/;

# One pass over /proc: ppid and times of every process.
my (%kids, %stat);
opendir(my $d, '/proc') or die "proc.pl: /proc: $!\n";
for my $pid (grep { /^\d+$/ } readdir $d) {
    open(my $f, '<', "/proc/$pid/stat") or next;
    my $line = <$f>;
    close $f;
    next unless defined $line;
    # comm may hold spaces and parentheses: split after the last ')'.
    my $rest = substr($line, rindex($line, ')') + 2);
    my @f = split ' ', $rest;
    # @f[0] is field 3 (state); ppid is field 4, utime..cstime 14..17.
    next if $f[0] eq 'Z';
    $stat{$pid} = [ @f[11 .. 14] ];
    push @{ $kids{ $f[1] } }, $pid;
}
closedir $d;

my @tree;
if (exists $stat{$root}) {
    my @todo = ($root);
    while (@todo) {
        my $p = shift @todo;
        push @tree, $p;
        push @todo, @{ $kids{$p} || [] };
    }
}

if ($cmd eq 'tree') {
    print "$_\n" for @tree;
} elsif ($cmd eq 'cpu') {
    my $t = 0;
    for my $p (@tree) {
        $t += $_ for @{ $stat{$p} };
    }
    print "$t\n";
} else {
    my @w = @tree > 1 ? @tree[1 .. $#tree] : @tree;
    my $kb = 0;
    for my $p (@w) {
        open(my $f, '<', "/proc/$p/status") or next;
        while (<$f>) {
            if (/^VmRSS:\s+(\d+)\s+kB/) { $kb += $1; last }
        }
        close $f;
    }
    print "$kb\n";
}
