#!/usr/bin/perl
# stress/probe.pl: the stress run's own clients, one request at a time at
# a fixed pace, until the file STOP exists. Each request is one line of
# OUT, tab-separated, starting with the time it was sent and the time it
# ended (Unix seconds); a request that fails has status 0.
#
#   probe.pl status MS OUT STOP URL
#       GET URL every MS ms: sent, ended, status, the body (one line)
#   probe.pl limit MS OUT STOP TOKEN URL...
#       every MS ms, GET each URL with "Authorization: Bearer TOKEN":
#       sent, ended, URL, status, RateLimit-Remaining, RateLimit-Limit,
#       X-RateLimit-Status, Retry-After ("-" when absent)
#
# HTTP/1.0, a connection per request: a worker killed or shutting down
# never holds the probe. Core Perl only.

use strict;
use warnings;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);

my ($mode, $ms, $out, $stop, @rest) = @ARGV;
die "usage: $0 status|limit MS OUT STOP ...\n"
    unless defined $stop && ($mode eq 'status' || $mode eq 'limit');

my $token = $mode eq 'limit' ? shift @rest : undef;
my @urls = @rest or die "$0: no URL\n";

open my $fh, '>>', $out or die "$out: $!\n";
$fh->autoflush(1);

# (status, headers (lower-cased names), body) of GET $url; status 0 when
# the request fails
sub get {
    my ($url, @headers) = @_;
    my ($host, $port, $path) = $url =~ m{^http://([^/:]+):(\d+)(/.*)$}
        or die "$0: bad URL $url\n";
    my $res = '';

    my $ok = eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 5;
        my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                      Proto => 'tcp', Timeout => 2)
            or die "connect: $!\n";
        print $s "GET $path HTTP/1.0\r\nHost: $host\r\n",
            map({ "$_\r\n" } @headers), "\r\n";
        while (my $n = sysread $s, my $buf, 65536) {
            $res .= $buf;
        }
        close $s;
        alarm 0;
        1;
    };
    alarm 0;

    return (0, {}, $@ =~ s/\s+\z//r) unless $ok;

    my ($head, $body) = split /\r\n\r\n/, $res, 2;
    my ($status) = ($head // '') =~ m{^HTTP/\d\.\d (\d{3})}
        or return (0, {}, 'no status line');
    my %h;
    for (split /\r\n/, $head) {
        $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
    }
    return ($status, \%h, $body // '');
}

my $next = time;

until (-e $stop) {
    for my $url (@urls) {
        my $sent = time;

        if ($mode eq 'status') {
            my ($st, $h, $body) = get($url);
            $body =~ s/[\r\n\t]+/ /g;
            printf $fh "%.3f\t%.3f\t%d\t%s\n", $sent, time, $st, $body;

        } else {
            my ($st, $h) = get($url, "Authorization: Bearer $token");
            printf $fh "%.3f\t%.3f\t%s\t%d\t%s\n", $sent, time, $url, $st,
                join "\t", map { $h->{$_} // '-' }
                    'ratelimit-remaining', 'ratelimit-limit',
                    'x-ratelimit-status', 'retry-after';
        }
    }

    $next += $ms / 1000;
    my $wait = $next - time;
    if ($wait > 0) {
        sleep $wait;
    } else {
        $next = time;    # late (the machine is busy): no catching up
    }
}
