# The hybrid backend's sync while Redis does not answer (stopped with
# SIGSTOP: its connections stay open, its replies never come): the worker
# that syncs waits for its round out without waking up every millisecond
# (it did: the tick was re-armed for 1 ms while a round was out past its
# sync period), requests are still decided here at once, and the round
# ends by the client's timeout; when Redis answers again, what was
# counted is pushed.  The wake-ups are the worker's voluntary context
# switches (/proc/PID/status) over a second of the stall.
#
# Ports: nginx on 8489; Redis on 6474.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(have_redis wait_until sleep_out_of_minute_end);

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();
plan skip_all => 'no /proc' unless -r "/proc/$$/status";

my $redis = Astro::Instance::Redis->new(port => 6474);
ok($redis->start, 'redis on 6474 starts') or BAIL_OUT('no redis');

my $ngx = Astro::Instance->new(name => 'hstall', port => 8489, workers => 1,
                               http => <<'_EOC_');
    astro_ratelimit_redis 127.0.0.1:6474 timeout=2s max_fails=1
                          backoff=200ms max_backoff=200ms;
    astro_ratelimit_zone zone=s:1m key=$arg_k rate=1000r/m backend=hybrid
                         sync=20ms;
    server {
        listen 127.0.0.1:$PORT;
        location /s { astro_ratelimit zone=s; echo ok; }
        location /astro/status { astro_status; }
    }
_EOC_
ok($ngx->start, 'nginx on 8489 starts') or BAIL_OUT('nginx did not start');

sub in_redis {
    my ($key) = @_;
    my $v = $redis->cli('GET', "astro:rl:s:$key") // '';
    return $v =~ /^\d+ (\d+) (\d+)$/ ? "$1 $2" : "none ($v)";
}

sub switches {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return undef;
    while (<$fh>) {
        return $1 if /^voluntary_ctxt_switches:\s+(\d+)/;
    }
    return undef;
}

sleep_out_of_minute_end(15);

is($ngx->get('/s?k=a')->{status}, 200, 'a request passes');
ok(wait_until(sub { in_redis('a') eq '1 0' }, 1, 0.02),
   'and is pushed') or diag in_redis('a');

my ($worker) = $ngx->worker_pids;
ok($worker, "the worker is $worker");

# -- 1. Redis stalls while a round is out

kill 'STOP', $redis->pid;

is($ngx->get('/s?k=b')->{status}, 200, 'a request passes, Redis stalled');
my $t0 = time;
sleep 0.2;              # b's round is out (sync=20ms), Redis silent

my $s0 = switches($worker);
sleep 1;
my $s1 = switches($worker);
ok(defined $s0 && defined $s1, 'the worker\'s context switches read');
my $woke = $s1 - $s0;
note "the worker woke $woke times in 1 s with its round out";
cmp_ok($woke, '<', 150,
       'the worker does not tick every millisecond (< 150 wake-ups in 1 s, '
       . 'sync=20ms: about 50)');

my $res = $ngx->get('/s?k=c');
is($res->{status}, 200, 'a request passes at once meanwhile');
cmp_ok($res->{ms}, '<', 100, 'without waiting (< 100 ms)');

# -- 2. Redis answers again: the counts reach it (b's and c's at least
# once: a push that timed out is pushed again, and Redis, resumed, may
# still run the first), and a new key's exactly once

kill 'CONT', $redis->pid;

sub cur { (in_redis($_[0]) =~ /^(\d+) /)[0] // 0 }

ok(wait_until(sub { cur('b') >= 1 && cur('c') >= 1 }, 5, 0.05),
   'Redis holds b and c once it answers')
    or diag in_redis('b') . ' / ' . in_redis('c');
note sprintf('%.1f s after the stall began: b %s, c %s', time - $t0,
             in_redis('b'), in_redis('c'));
is($ngx->get('/s?k=d')->{status}, 200, 'a new key passes');
ok(wait_until(sub { in_redis('d') eq '1 0' }, 2, 0.02),
   'and is pushed once') or diag in_redis('d');

my @bad = $ngx->bad_lines;
is(scalar @bad, 0, 'no alert or crash') or diag @bad;

$ngx->stop;
$redis->stop;

done_testing();
