# The hybrid backend's sync is paced: a key's counts are pushed a sync
# period after its first request not pushed, in small batches as keys
# become due, not every key of a period in one round (which held the
# syncing worker's requests behind thousands of calls and replies).
#
# Eight groups of 20 new keys, 150 ms apart, one request each, with
# sync=1s: Redis's key count (DBSIZE), polled meanwhile, follows the
# groups a second later, each group there within 1 s + 150 ms of its
# last request and none before 1 s - 100 ms of its first (a round of
# every dirty key each second pushed some groups early and others up to
# 2 s late); at least one batch per group, each key pushed exactly once.
#
# Ports: nginx on 8486; Redis on 6476.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(have_redis wait_until);

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my ($GROUPS, $KEYS, $GAP, $SYNC) = (8, 20, 0.15, 1.0);
my ($EARLY, $LATE) = (0.1, 0.15);       # the tolerances, s

my $redis = Astro::Instance::Redis->new(port => 6476);
ok($redis->start, 'redis on 6476 starts') or BAIL_OUT('no redis');

my $ngx = Astro::Instance->new(name => 'hpace', port => 8486, workers => 1,
                               http => <<'_EOC_');
    astro_ratelimit_redis 127.0.0.1:6476 timeout=1s;
    astro_ratelimit_zone zone=p:1m key=$arg_k rate=100r/s backend=hybrid
                         sync=1s;
    server {
        listen 127.0.0.1:$PORT;
        location /p { astro_ratelimit zone=p; echo ok; }
        location /astro/status { astro_status; }
    }
_EOC_
ok($ngx->start, 'nginx on 8486 starts') or BAIL_OUT('nginx did not start');

sub hy { (($ngx->ratelimit || {})->{zones}{p} || {})->{hybrid} || {} }

# the lease taken and the first push over before the keys are sent
is($ngx->get('/p?k=warm')->{status}, 200, 'a first request passes');
ok(wait_until(sub { ($redis->cli('DBSIZE') // 0) == 1 }, 3, 0.05),
   'and is pushed');
my $rounds0 = hy()->{sync_rounds} // 0;

my (@first, @last, @polls);
my $t0 = time;

sub poll { push @polls, [time, ($redis->cli('DBSIZE') // 0) - 1] }

my $bad = 0;

for my $g (0 .. $GROUPS - 1) {
    my $at = $t0 + $g * $GAP;
    poll() while time < $at - 0.02;
    sleep($at - time) if $at > time;

    $first[$g] = time;
    for my $k (0 .. $KEYS - 1) {
        $bad++ if $ngx->get("/p?k=g$g-$k")->{status} != 200;
    }
    $last[$g] = time;
    poll();
}

poll() while time < $t0 + ($GROUPS - 1) * $GAP + $SYNC + 0.4;

is($bad, 0, 'every request passed');
cmp_ok($last[$_] - $first[$_], '<', $GAP - 0.02,
       "group $_ sent within its ${GAP}s") for 0 .. $GROUPS - 1;

is($redis->cli('DBSIZE'), 1 + $GROUPS * $KEYS,
   'Redis holds every key at the end');
note sprintf('%d polls of DBSIZE', scalar @polls);

# every poll: at least the groups due long enough, at most those that may
# be due

for my $g (0 .. $GROUPS - 1) {
    my ($early, $late) = (0, undef);

    for my $p (@polls) {
        my ($t, $n) = @$p;
        my $must = grep { $last[$_] + $SYNC + $LATE <= $t } 0 .. $GROUPS - 1;
        my $may = grep { $first[$_] + $SYNC - $EARLY <= $t } 0 .. $GROUPS - 1;

        $late = sprintf('%.3f s after its last request: %d keys, not %d',
                        $t - $last[$g], $n, $must * $KEYS)
            if !defined $late && $must == $g + 1 && $n < $must * $KEYS;
        $early = sprintf('%.3f s after its first request: %d keys, not %d',
                         $t - $first[$g], $n, $may * $KEYS)
            if !$early && $may == $g && $n > $may * $KEYS;
    }

    ok(!defined $late, "group $g in Redis by sync + ${LATE}s")
        or diag $late;
    ok(!$early, "group $g not in Redis before sync - ${EARLY}s")
        or diag $early;
}

my $h = hy();
is($h->{keys_pushed}, 1 + $GROUPS * $KEYS, 'each key pushed once');
cmp_ok(($h->{sync_rounds} // 0) - $rounds0, '>=', $GROUPS,
       'a batch per group at least');
is($h->{keys_failed} // 0, 0, 'no push failed');

my @bad = $ngx->bad_lines;
is(scalar @bad, 0, 'no alert or crash') or diag @bad;

$ngx->stop;
$redis->stop;

done_testing();
