package WeirCacheOrigin;
# A programmable origin for the cache tests: the request target says what
# to answer, so each test names its response in the URL it asks for.
#
#   /any/path?s=200&h=Cache-Control:max-age%3D60&h=ETag:"v1"&b=hello
#
#   s=N       status (200)
#   h=N:V     a header (repeatable; %-decoded)
#   b=TEXT    the body (default: "body of <path>")
#   n=BYTES   a body of that many bytes instead (pattern)
#   chunked=1 send it chunked
#   delay=S   wait S seconds before the head
#   cut=N     send N body bytes of a longer Content-Length, then close
#   drip=S    send the head and half the body, wait S seconds, write the
#             file mark=PATH (if given), then the rest
#   ims=1     answer 304 to any If-None-Match / If-Modified-Since
#   r=N:V     a header sent only with that 304 (replacing h= of that name)
# A request header X-Location: V comes back as Location: V.
#
# Every request is in $o->requests (WeirOrigin's log); count_of($o, $re)
# counts the ones whose target matches.
use strict;
use warnings;
use Time::HiRes qw(sleep);
use WeirOrigin;

sub _dec { my $s = shift; $s =~ tr/+/ /; $s =~ s/%([0-9a-fA-F]{2})/chr hex $1/ge; return $s }

sub new {
    my ($class, %o) = @_;
    return WeirOrigin->new(%o, handler => sub {
        my ($c) = @_;
        while (my $req = $c->read_request) {
            my ($path, $q) = split /\?/, $req->{target}, 2;
            my (%a, @h, @r304);
            for my $kv (split /&/, $q // '') {
                my ($k, $v) = split /=/, $kv, 2;
                $v = _dec($v // '');
                if ($k eq 'h') { push @h, [ split /:/, $v, 2 ] }
                elsif ($k eq 'r') { push @r304, [ split /:/, $v, 2 ] }
                else { $a{$k} = $v }
            }
            sleep $a{delay} if $a{delay};
            my %rh = map { lc $_->[0] => $_->[1] } @{ $req->{headers} };
            if ($a{ims} && ($rh{'if-none-match'} || $rh{'if-modified-since'})) {
                my %over = map { lc $_->[0] => 1 } @r304;
                $c->write(WeirOrigin::response(status => 304,
                    headers => [ (grep { !$over{lc $_->[0]} } @h), @r304 ]));
                next;
            }
            push @h, [ 'Location', $rh{'x-location'} ] if $rh{'x-location'};
            my $body = defined $a{n} ? 'x' x $a{n} : $a{b} // "body of $path";
            if (defined $a{drip}) {
                my $half = int(length($body) / 2);
                $c->write(WeirOrigin::response(status => $a{s} // 200,
                    headers => [ @h, [ 'Content-Length', length $body ] ],
                    head_only => 1) . substr($body, 0, $half));
                sleep $a{drip};
                if ($a{mark}) { open(my $m, '>', $a{mark}); close $m }
                $c->write(substr($body, $half));
                next;
            }
            if (defined $a{cut}) {
                $c->write(WeirOrigin::response(status => $a{s} // 200,
                    headers => [ @h, [ 'Content-Length', length $body ] ],
                    head_only => 1) . substr($body, 0, $a{cut}));
                return;
            }
            $c->write(WeirOrigin::response(status => $a{s} // 200,
                headers => \@h, body => $req->{method} eq 'HEAD' ? '' : $body,
                ($req->{method} eq 'HEAD' ? (no_length => 1, headers => [ @h, [ 'Content-Length', length $body ] ]) : ()),
                chunked => $a{chunked}));
        }
    });
}

sub count_of {
    my ($o, $re) = @_;
    return scalar grep { $_->{target} =~ $re } $o->requests;
}

1;
