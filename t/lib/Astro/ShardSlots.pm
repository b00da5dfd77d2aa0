package Astro::ShardSlots;

# What the shard module's status tests (t/108, t/109) share: the slot of
# a key under hash=seed (the original backend's Java string hash over
# UTF-16 units, |h| mod S in 64 bits), a key for each slot, and backends
# as server blocks of the test's own nginx, each an upstream block
# answering its name in X-Backend and the body.
#
#   my %key = Astro::ShardSlots::keys_by_slot(16);    # slot -> "u7"
#   my $http = Astro::ShardSlots::backends(8471, qw(b0 b1 b2 b3));
#   near($share, 0.25, 'a share');   # a figure of the status, to 0.0015

use strict;
use warnings;

use Encode ();
use Exporter 'import';
use Test::More ();

our @EXPORT_OK = qw(near);

sub seed_slot {
    my ($key, $slots) = @_;
    my $h = 0;
    my $units = Encode::encode('UTF-16BE', Encode::decode('UTF-8', $key));
    for my $u (unpack 'n*', $units) {
        $h = ($h * 31 + $u) % 4294967296;
    }
    $h -= 4294967296 if $h >= 2147483648;
    return abs($h) % $slots;
}

# slot -> the first key "u1", "u2", ... that lands in it
sub keys_by_slot {
    my ($slots) = @_;
    my %key;
    for (my $i = 1; keys %key < $slots; $i++) {
        my $s = seed_slot("u$i", $slots);
        $key{$s} //= "u$i";
    }
    return %key;
}

# upstream blocks named as the backends, on ports from $port; a backend
# answers 500 to a path with /fail
sub backends {
    my ($port, @names) = @_;
    my $http = '';
    for my $name (@names) {
        $http .= <<_EOC_;
    upstream $name { server 127.0.0.1:$port; }
    server {
        listen 127.0.0.1:$port;
        location / {
            add_header X-Backend $name;
            return 200 "$name\\n";
        }
        location ~ /fail {
            add_header X-Backend $name always;
            return 500;
        }
    }
_EOC_
        $port++;
    }
    return $http;
}

# a number of the status (three decimals) against the exact figure
sub near {
    my ($got, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    Test::More::ok(defined $got && abs($got - $want) < 0.0015, $name)
        or Test::More::diag('got ' . ($got // 'undef') . ", want $want");
}

1;
