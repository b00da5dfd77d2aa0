#!/usr/bin/perl
# Servers at a Redis address that are not quite Redis, for the tests of
# the Redis client (t/071-redis-unasked.t): each answers every command it
# reads (the Redis protocol: *N then N bulk strings) with "+OK", and
#
#   greet   says "+OK" first, unasked, as soon as a client connects
#   twice   answers every command twice
#   late    says "+OK" once more, unasked, 200ms after its last answer
#
#   util/fake-redis.pl PIDFILE PORT:MODE...
#
# It listens on 127.0.0.1 at every PORT, then goes to the background and
# writes its pid to PIDFILE; it exits on SIGTERM.  util/test-servers.sh
# starts and stops it.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use POSIX qw(setsid _exit);
use Time::HiRes qw(time);

my ($pidfile, @specs) = @ARGV;
die "usage: $0 PIDFILE PORT:MODE...\n" unless $pidfile && @specs;

my %reply = (greet => "+OK\r\n", twice => "+OK\r\n+OK\r\n",
             late => "+OK\r\n");
my (%mode, %buf, %late);
my $sel = IO::Select->new;

for (@specs) {
    my ($port, $mode) = /\A(\d+):(greet|twice|late)\z/
        or die "$0: not PORT:greet, PORT:twice or PORT:late: $_\n";
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                  LocalPort => $port, Listen => 64,
                                  ReuseAddr => 1, Proto => 'tcp')
        or die "$0: cannot listen on 127.0.0.1:$port: $!\n";
    $mode{fileno $l} = $mode;
    $sel->add($l);
}

# listening: the caller may go on
my $pid = fork;
die "$0: fork: $!\n" unless defined $pid;
exit 0 if $pid;

setsid();
open STDIN, '<', '/dev/null';
open STDOUT, '>', '/dev/null';
open STDERR, '>', '/dev/null';
open my $fh, '>', $pidfile or _exit(1);
print {$fh} "$$\n";
close $fh;

$SIG{TERM} = sub { _exit(0) };
$SIG{PIPE} = 'IGNORE';

my %listener = map { fileno($_) => $_ } $sel->handles;
my %conn_mode;

while (1) {
    # the unasked "+OK" of "late" connections whose time has come
    my $now = time;
    for my $fd (keys %late) {
        next if $late{$fd}[1] > $now;
        syswrite($late{$fd}[0], "+OK\r\n");
        delete $late{$fd};
    }

    for my $fh ($sel->can_read(%late ? 0.02 : undef)) {
        my $fd = fileno $fh;

        if ($listener{$fd}) {
            my $c = $fh->accept or next;
            $sel->add($c);
            $buf{fileno $c} = '';
            $conn_mode{fileno $c} = $mode{$fd};
            syswrite($c, "+OK\r\n") if $mode{$fd} eq 'greet';
            next;
        }

        my $n = sysread($fh, $buf{$fd}, 65536, length $buf{$fd});
        if (!$n) {
            delete $buf{$fd};
            delete $conn_mode{$fd};
            delete $late{$fd};
            $sel->remove($fh);
            close $fh;
            next;
        }

        my $out = '';
        $out .= $reply{$conn_mode{$fd}} while command(\$buf{$fd});
        next unless length $out;
        syswrite($fh, $out);
        $late{$fd} = [$fh, time + 0.2] if $conn_mode{$fd} eq 'late';
    }
}

# takes a whole command off the buffer: true if there was one
sub command {
    my ($b) = @_;
    return 0 unless $$b =~ /\A\*(\d+)\r\n/;
    my $n = $1;
    my $pos = length "*$n\r\n";
    for (1 .. $n) {
        return 0 unless substr($$b, $pos) =~ /\A\$(\d+)\r\n/;
        $pos += length("\$$1\r\n") + $1 + 2;
        return 0 if $pos > length $$b;
    }
    substr($$b, 0, $pos, '');
    return 1;
}
