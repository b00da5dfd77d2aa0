# The hybrid backend's accuracy: two nginx nodes (two workers each) on one
# Redis, a key's requests sent to both in turn at a rate A over the nodes,
# for one window (1 s, the key new, so that no previous window weighs),
# the requests that pass counted.  The bound: within the limit + 2% while
# A * T <= 0.2 * limit (T the sync period), within limit + A * T beyond;
# and at least the limit - 2% passes (the demand is twice it).  The
# figures are printed (note).  Also: a node learns the other's count with
# its first push.
#
# Ports: nginx on 8481 and 8482; Redis on 6471.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(have_redis wait_until sleep_into_second
                       sleep_out_of_minute_end);

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $redis = Astro::Instance::Redis->new(port => 6471);
ok($redis->start, 'redis on 6471 starts') or BAIL_OUT('no redis');

# near: A * T = 200/s * 0.1 s = 20 = 0.2 * 100; far: 200/s * 0.5 s = 100
# = 2 * 50
my %case = (
    near => { rate => 100, sync => 0.1 },
    far  => { rate => 50,  sync => 0.5 },
);

my $body = <<'_EOC_';
    astro_ratelimit_redis 127.0.0.1:6471;
    astro_ratelimit_zone zone=near:1m key=$arg_k rate=100r/s
                         backend=hybrid sync=100ms;
    astro_ratelimit_zone zone=far:1m key=$arg_k rate=50r/s
                         backend=hybrid sync=500ms;
    astro_ratelimit_zone zone=m:1m key=$arg_k rate=1000r/m
                         backend=hybrid sync=100ms;
    server {
        listen 127.0.0.1:$PORT;
        location /near { astro_ratelimit zone=near; echo ok; }
        location /far { astro_ratelimit zone=far; echo ok; }
        location /m { astro_ratelimit zone=m; echo ok; }
        location /astro/status { astro_status; }
    }
_EOC_

my @ngx = map {
    Astro::Instance->new(name => "hybrid$_", port => 8480 + $_, workers => 2,
                         http => $body)
} 1 .. 2;
my ($A, $B) = @ngx;

for (@ngx) {
    ok($_->start, 'nginx on ' . $_->port . ' starts')
        or BAIL_OUT('nginx did not start');
}

# -- 1. B learns A's count with its first push

sleep_out_of_minute_end(10);

is(scalar(grep { $A->get('/m?k=seen')->{status} == 200 } 1 .. 30), 30,
   'A: 30 pass');
ok(wait_until(sub { ($redis->cli('GET', 'astro:rl:m:seen') // '')
                    =~ /^\d+ 30 0$/ }, 1, 0.02),
   'A pushed its 30 within 1 s');
is($B->get('/m?k=seen')->{headers}{'ratelimit-remaining'}, 1000 - 1,
   'B: its first request knows nothing of them yet (no push yet)');
ok(wait_until(sub { ($redis->cli('GET', 'astro:rl:m:seen') // '')
                    =~ /^\d+ 31 0$/ }, 1, 0.02),
   'Redis holds both nodes\' 31 within 1 s');
sleep 0.1;
is($B->get('/m?k=seen')->{headers}{'ratelimit-remaining'}, 1000 - 32,
   'B: after its push, it counts A\'s 30');

# -- 2. the accuracy: one window, the key's requests over both nodes

# Sends to A and B in turn, paced at $a per second, from 20 ms into the
# next second to 20 ms before its end: (sent, passed, rate sent at).
sub window {
    my ($zone, $key, $a) = @_;
    sleep_into_second(0.02);
    my $start = time;
    my $end = int($start) + 0.98;
    my ($sent, $passed, $i) = (0, 0, 0);
    while (1) {
        my $at = $start + $i / $a;
        last if $at >= $end;
        my $wait = $at - time;
        sleep $wait if $wait > 0;
        my $res = $ngx[$i % 2]->get("/$zone?k=$key");
        $sent++;
        $passed++ if $res->{status} == 200;
        $i++;
    }
    return ($sent, $passed, $sent / (time - $start));
}

my $A_RATE = 200;

for my $zone (qw(near far)) {
    my ($L, $T) = @{ $case{$zone} }{qw(rate sync)};
    my $at = $A_RATE * $T;
    my $bound = $at <= 0.2 * $L ? $L * 1.02 : $L + $at;
    my $max = 0;

    for my $round (1 .. 3) {
        my ($sent, $passed, $a) = window($zone, "k$round", $A_RATE);
        note sprintf('%s: limit %d/s, sync %d ms, A %.0f/s (A*T = %.0f = '
                     . '%.2f * limit): %d sent, %d passed (%+.1f%%)',
                     $zone, $L, $T * 1000, $a, $a * $T, $a * $T / $L,
                     $sent, $passed, ($passed - $L) * 100 / $L);
        cmp_ok($passed, '<=', $bound,
               "$zone round $round: passed <= $bound");
        cmp_ok($passed, '>=', $L * 0.98,
               "$zone round $round: passed >= the limit - 2%")
            if $sent >= 1.5 * $L;
        $max = $passed if $passed > $max;
    }

    note sprintf('%s: the most that passed in a window: %d for a limit of '
                 . '%d (%+.1f%%), bound %s', $zone, $max, $L,
                 ($max - $L) * 100 / $L, $bound);
}

for my $n (@ngx) {
    my $st = ($n->ratelimit || {})->{zones}{near}{hybrid} || {};
    note sprintf('port %d near: %s', $n->port,
                 join(', ', map { "$_ $st->{decisions}{$_}" }
                            sort keys %{ $st->{decisions} || {} }));
    cmp_ok($st->{decisions}{local}, '>', 0,
           'port ' . $n->port . ': decisions made here');
    cmp_ok($st->{decisions}{exact}, '>', 0,
           'port ' . $n->port . ': decisions by Redis near the limit');

    my @bad = $n->bad_lines;
    is(scalar @bad, 0, 'port ' . $n->port . ': no alert or crash')
        or diag @bad;
}

$_->stop for @ngx;
$redis->stop;

done_testing();
