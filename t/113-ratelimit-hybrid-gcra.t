# The hybrid backend with GCRA: leases of tokens from Redis.  Two nginx
# nodes (two workers each) on one Redis send a key's requests in turn at
# 200/s for 2 s against rate=20r/s burst=9: every request that passes
# was granted by Redis, so the nodes pass at most what GCRA allows over
# the run (burst + 1 + rate * time, + 1 for the edges), most of them on
# a token here (decisions "local"), the others asking Redis for a lease
# ("exact").  With Redis stopped each node decides with its own GCRA
# (the fail policy), without waiting.
#
# Ports: nginx on 8483 and 8484; Redis on 6473.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use POSIX qw(ceil);
use Time::HiRes qw(time sleep);
use Astro::Instance qw(have_redis wait_until);

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $redis = Astro::Instance::Redis->new(port => 6473);
ok($redis->start, 'redis on 6473 starts') or BAIL_OUT('no redis');

my $body = <<'_EOC_';
    astro_ratelimit_redis 127.0.0.1:6473 timeout=300ms max_fails=1
                          backoff=200ms max_backoff=200ms;
    astro_ratelimit_zone zone=g:1m key=$arg_k rate=20r/s burst=9
                         backend=hybrid algorithm=gcra sync=100ms;
    server {
        listen 127.0.0.1:$PORT;
        location /g { astro_ratelimit zone=g; echo ok; }
        location /astro/status { astro_status; }
    }
_EOC_

my @ngx = map {
    Astro::Instance->new(name => "hgcra$_", port => 8482 + $_, workers => 2,
                         http => $body)
} 1 .. 2;

for (@ngx) {
    ok($_->start, 'nginx on ' . $_->port . ' starts')
        or BAIL_OUT('nginx did not start');
}

sub hy { (($_[0]->ratelimit || {})->{zones}{g} || {})->{hybrid} || {} }

# -- 1. two nodes, 2 s at 200/s: no more than GCRA allows

my $A_RATE = 200;
my $start = time;
my ($sent, $passed, $i) = (0, 0, 0);
while (1) {
    my $at = $start + $i / $A_RATE;
    last if $at >= $start + 2;
    my $wait = $at - time;
    sleep $wait if $wait > 0;
    $passed++ if $ngx[$i % 2]->get('/g?k=run')->{status} == 200;
    $sent++;
    $i++;
}
my $d = time - $start;
my $allowed = 10 + ceil(20 * $d) + 1;
note sprintf('GCRA 20r/s burst=9 over %.2f s at %.0f/s on two nodes: %d '
             . 'sent, %d passed, GCRA allows %d', $d, $sent / $d, $sent,
             $passed, $allowed);
cmp_ok($passed, '<=', $allowed, "at most what GCRA allows ($allowed)");
cmp_ok($passed, '>=', 0.7 * $allowed,
       'at least 70% of it (tokens of a lease may go unused)');

for my $n (@ngx) {
    my $h = hy($n);
    note sprintf('port %d: %s', $n->port,
                 join(', ', map { "$_ $h->{decisions}{$_}" }
                            sort keys %{ $h->{decisions} || {} }));
    cmp_ok($h->{decisions}{local}, '>', 0,
           'port ' . $n->port . ': passed on tokens here');
    cmp_ok($h->{decisions}{exact}, '>', 0,
           'port ' . $n->port . ': leases asked of Redis');
}

# -- 2. Redis stopped: the node's own GCRA, without waiting

$redis->stop;

my ($A) = @ngx;
my (@st, $max);
$max = 0;
for (1 .. 15) {
    my $res = $A->get('/g?k=down');
    push @st, $res->{status};
    $max = $res->{ms} if $res->{ms} > $max;
}
is(scalar(grep { $_ == 200 } @st), 10,
   'Redis stopped: 10 pass at once (burst + 1), decided here')
    or diag "@st";
cmp_ok($max, '<', 100, 'none waited (slowest < 100 ms)');
note sprintf('slowest %.1f ms', $max);
cmp_ok(hy($A)->{decisions}{fail}, '>=', 15,
       'decided by the fail policy');

for my $n (@ngx) {
    my @bad = $n->bad_lines;
    is(scalar @bad, 0, 'port ' . $n->port . ': no alert or crash')
        or diag @bad;
}

$_->stop for @ngx;

done_testing();
