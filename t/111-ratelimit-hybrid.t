# The hybrid backend on one node (two workers) and a private Redis:
# decisions made here are pushed every sync period (Redis holds the
# node's count); near the limit (exact_at) Redis decides, the status
# counters tell which path decided, and a refusal is kept; with Redis
# stopped every request is decided here without waiting, and what was
# counted meanwhile is pushed when Redis is back; one worker syncs, another
# takes over when it is killed; a reload that would change a zone's
# backend to or from hybrid is refused, one that keeps it keeps its
# counts, and its new workers sync.  The windows are a minute's, so
# the test keeps out of a minute's last seconds.
#
# Ports: nginx on 8480; Redis on 6470.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(have_redis wait_until sleep_out_of_minute_end);

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $redis = Astro::Instance::Redis->new(port => 6470);
ok($redis->start, 'redis on 6470 starts') or BAIL_OUT('no redis');

sub body {
    my ($backend) = @_;
    $backend ||= 'hybrid sync=100ms';
    return <<_EOC_;
    astro_ratelimit_redis 127.0.0.1:6470 timeout=300ms max_fails=1
                          backoff=200ms max_backoff=200ms;
    astro_ratelimit_zone zone=h:1m key=\$arg_k rate=1000r/m
                         backend=$backend;
    astro_ratelimit_zone zone=x:1m key=\$arg_k rate=10r/m backend=hybrid
                         sync=100ms exact_at=50%;
    server {
        listen 127.0.0.1:\$PORT;
        add_header X-RL \$astro_ratelimit_status always;
        location /h { astro_ratelimit zone=h; echo ok; }
        location /x { astro_ratelimit zone=x; echo ok; }
        location /astro/status { astro_status; }
    }
_EOC_
}

my $ngx = Astro::Instance->new(name => 'hybrid', port => 8480, workers => 2,
                               http => body());
ok($ngx->start, 'nginx on 8480 starts') or BAIL_OUT('nginx did not start');

sub zone { ($ngx->ratelimit || {})->{zones}{$_[0]} || {} }
sub hy { zone($_[0])->{hybrid} || {} }

# the key's counts in Redis: "cur prev" of its window
sub in_redis {
    my ($zone, $key) = @_;
    my $v = $redis->cli('GET', "astro:rl:$zone:$key") // '';
    return $v =~ /^\d+ (\d+) (\d+)$/ ? "$1 $2" : "none ($v)";
}

# n requests: their statuses, and the slowest's ms
sub burst {
    my ($path, $n) = @_;
    my (@st, $max);
    $max = 0;
    for (1 .. $n) {
        my $res = $ngx->get($path);
        push @st, $res->{status};
        $max = $res->{ms} if $res->{ms} > $max;
    }
    return (join(' ', @st), $max);
}

sub count_of {
    my ($st, $code) = @_;
    return scalar grep { $_ == $code } split ' ', $st;
}

sleep_out_of_minute_end(20);

# -- 1. decided here, pushed within a sync period

my ($st) = burst('/h?k=a', 30);
is(count_of($st, 200), 30, '30 requests pass');
is_deeply([@{ hy('h')->{decisions} || {} }{qw(local exact)}], [30, 0],
          'h: 30 decisions made here, none by Redis');
my $t0 = time;
ok(wait_until(sub { in_redis('h', 'a') eq '30 0' }, 1, 0.02),
   'Redis holds the 30 within 1 s') or diag in_redis('h', 'a');
note sprintf('pushed after %.0f ms', (time - $t0) * 1000);
my $h = hy('h');
cmp_ok($h->{keys_pushed}, '>=', 1, 'h: keys pushed');
is($h->{keys_failed}, 0, 'h: no key failed');
ok(defined $h->{sync_lag_ms} && $h->{sync_lag_ms} < 1000,
   'h: the sync lag is under 1 s') or diag explain $h;
is(zone('h')->{passed}, 30, 'h: 30 passed');

# -- 2. near the limit (exact_at=50% of 10): Redis decides, and refuses

($st) = burst('/x?k=b', 12);
is($st, join(' ', (200) x 10, 429, 429),
   'x: 10 pass, then 429');
is_deeply(hy('x')->{decisions}, { local => 5, exact => 6, cached => 1,
                                  fail => 0 },
          'x: 5 decided here, 6 by Redis (5 passed, 1 refused), '
          . '1 refusal kept');
is(hy('x')->{keys_near_limit}, 1, 'x: one key near its limit');
is(in_redis('x', 'b'), '10 0', 'Redis holds the 10 of x');

# -- 3. Redis stopped: decided here without waiting

$redis->stop;

my $ms;
($st, $ms) = burst('/h?k=c', 20);
is(count_of($st, 200), 20, 'h: 20 pass with Redis stopped');
cmp_ok($ms, '<', 100, 'h: none waited (slowest < 100 ms)');
note sprintf('slowest %.1f ms', $ms);
is(hy('h')->{decisions}{local}, 50, 'h: 50 decided here in all');

($st, $ms) = burst('/x?k=d', 12);
is($st, join(' ', (200) x 10, 429, 429),
   'x: 10 pass, then 429, decided here (the fail policy)');
cmp_ok($ms, '<', 100, 'x: none waited (slowest < 100 ms)');
is(hy('x')->{decisions}{fail}, 7,
   'x: 7 decided by the fail policy (near the limit, no Redis)');

ok(wait_until(sub { hy('h')->{keys_failed} > 0
                    && hy('h')->{sync_lag_ms} > 300 }, 2),
   'h: the sync fails, its lag grows') or diag explain hy('h');

# -- 4. Redis back (empty): what was counted meanwhile is pushed

ok($redis->start, 'redis on 6470 starts again');
$t0 = time;
ok(wait_until(sub { in_redis('h', 'c') eq '20 0'
                    && in_redis('x', 'd') eq '10 0' }, 2, 0.02),
   'Redis holds the counts of the outage within 2 s')
    or diag in_redis('h', 'c') . ' / ' . in_redis('x', 'd');
note sprintf('resynced %.0f ms after Redis came back', (time - $t0) * 1000);
ok(wait_until(sub { (hy('h')->{sync_lag_ms} // 1e9) < 500 }, 2),
   'h: the sync lag is small again');

# -- 5. the worker that syncs killed: another takes over

my ($holder) = reverse map { /(\d+)#\d+: astro_ratelimit_zone "h": this worker syncs/
                          ? $1 : () } $ngx->error_log;
ok($holder, "the sync worker is $holder");
kill 'KILL', $holder;
ok(wait_until(sub {
       grep { /"h": this worker syncs .* \(the lease of $holder\)/ }
            $ngx->error_log
   }, 5), 'another worker took the sync over');
($st) = burst('/h?k=e', 5);
ok(wait_until(sub { in_redis('h', 'e') eq '5 0' }, 1, 0.02),
   'and pushes: Redis holds the 5 of a new key') or diag in_redis('h', 'e');

# -- 6. a reload that changes h's backend is refused

my $mark = $ngx->log_mark;
is($ngx->signal_reload(body('local algorithm=sliding_window')), 0, 'reload signalled');
ok(wait_until(sub {
       grep { /astro_ratelimit_zone "h" uses backend=local while previously it used backend=hybrid; rename the zone/ }
            $ngx->log_since($mark)
   }, 5), 'the reload to backend=local is refused, naming both');
sleep 0.3;
is(zone('h')->{backend}, 'hybrid', 'h is still hybrid');
($st) = burst('/h?k=a', 1);
is($st, '200', 'and serves');

# -- 7. a reload that keeps the zone: the counts carry over, the new
# workers sync, nothing is pushed twice

($st) = burst('/h?k=r', 10);
ok(wait_until(sub { in_redis('h', 'r') eq '10 0' }, 1, 0.02),
   'Redis holds the 10 of r');
my %old = map { $_ => 1 } $ngx->worker_pids;
ok($ngx->reload(body('hybrid sync=200ms')), 'reloaded with sync=200ms');
is(hy('h')->{sync_ms}, 200, 'h: sync 200 ms');
($st) = burst('/h?k=r', 10);
is(count_of($st, 200), 10, '10 more pass');
ok(wait_until(sub { in_redis('h', 'r') eq '20 0' }, 2, 0.02),
   'Redis holds 20: each count pushed once') or diag in_redis('h', 'r');
my $pid = hy('h')->{sync_worker};
ok($pid && !$old{$pid}, "a new worker ($pid) syncs");
is(zone('h')->{passed}, 30 + 20 + 5 + 1 + 20,
   'h: the counts carried over the reload');

my @bad = grep { !/exited on signal 9|\[emerg\].*backend=local while/ }
               $ngx->bad_lines;
is(scalar @bad, 0, 'no alert, crash or other emerg') or diag @bad;

$ngx->stop;
$redis->stop;

done_testing();
