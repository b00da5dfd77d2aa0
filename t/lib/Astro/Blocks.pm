package Astro::Blocks;

# What several Test::Nginx::Socket files share.  They load it with
# `require "$FindBin::Bin/lib/Astro/Blocks.pm"`, which leaves @INC alone:
# under CPAN's Test::Nginx the in-tree t/lib/Test/Nginx must not shadow
# the real one.

use strict;
use warnings;

# user_files of a fake /proc whose CPU is $busy per mille busy, for
# astro_health_source: with the default thresholds 800 is degraded and
# 950 critical
sub fake_proc {
    my ($busy) = @_;
    my $idle = 1000 - $busy;
    return <<_EOF_;
>>> fake/proc/stat
cpu  $busy 0 0 $idle 0 0 0 0 0 0
>>> fake/proc/meminfo
MemTotal:        1000000 kB
MemAvailable:     600000 kB
>>> fake/proc/loadavg
0.10 0.20 0.30 1/100 1
_EOF_
}

# A block preprocessor of the rate limiter's files: a /self/ location
# that proxies to the server itself, and, unless the block has its own
# init, a wait out of a minute's last 10 seconds.  The sliding window
# weighs the previous minute's count by its overlap: a block that ran
# across a minute boundary would see a few more pass than its exact
# counts, and a block never takes 10 seconds.
sub ratelimit_block {
    my ($block) = @_;

    $block->set_value("config", $block->config . <<'_EOC_');
    location /self/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/;
    }
_EOC_
    $block->set_value("init",
                      'my $s = time % 60; sleep(61 - $s) if $s >= 50;')
        unless defined $block->init;
}

1;
