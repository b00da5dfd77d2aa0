# The Redis client's gauges, "connections" and "in_flight" in the status,
# are counted by worker slot in the zone of the directive and address: a
# worker killed with decisions in flight (Redis paused) leaves neither its
# connections nor its decisions counted.  The worker that the master
# starts in its place gives them back when it starts; a worker of an old
# configuration, which nobody replaces, has them given back when the
# status is read and finds it gone.  Ports: nginx on TEST_NGINX_PORT + 72,
# a private Redis on 6425 (paused with SIGSTOP).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(nginx_port have_redis wait_until process_gone);

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $run = "t072:$$:";
my $RP = 6425;

# the decisions wait for a paused Redis: no timeout in the test
my $body = <<_EOC_;
    astro_ratelimit_redis 127.0.0.1:$RP prefix=$run pool=2 timeout=60s;
    astro_ratelimit_zone zone=o:1m key=\$arg_k rate=10r/m burst=10
                         algorithm=gcra fail=open;
    server {
        listen 127.0.0.1:\$PORT;
        add_header X-RL \$astro_ratelimit_status always;
        location = /o { astro_ratelimit zone=o; echo ok; }
        location /astro/status { astro_status; }
    }
_EOC_

my $redis = Astro::Instance::Redis->new(port => $RP);
ok($redis->start, "redis on $RP starts") or BAIL_OUT('no redis');

my $ngx = Astro::Instance->new(name => 'redis-workers',
                               port => nginx_port(72), http => $body);
ok($ngx->start, 'nginx starts') or BAIL_OUT('no nginx');

sub gauges {
    my $r = $ngx->redis;
    return join ' ', map { $r->{$_} // '-' } qw(connections in_flight);
}

sub given_back {
    my ($pid, $c, $n, $mark) = @_;
    my $line = "redis 127.0.0.1:$RP: process $pid is gone: its $c "
               . "connections and $n decisions in flight no longer counted";
    return grep { /\[notice\] .*\Q$line\E/ } $ngx->log_since($mark);
}

is($ngx->rl_hit('/o?k=a'), '200 PASSED', 'Redis decides');
ok(wait_until(sub { gauges() eq '2 0' }, 5, 0.05),
   'the worker\'s 2 connections, nothing in flight')
    or diag gauges();

# --- a worker killed: the master starts another in its slot -------------

$redis->pause;
my @held = map { $ngx->hold("/o?k=k$_") } 1 .. 3;
ok(wait_until(sub { gauges() eq '2 3' }, 5, 0.05),
   'Redis paused: 3 decisions in flight')
    or diag gauges();

my ($w1) = $ngx->worker_pids;
my $mark = $ngx->log_mark;
kill 'KILL', $w1;
ok(process_gone($w1), 'the worker is killed');
ok(wait_until(sub { my @w = $ngx->worker_pids; @w == 1 && $w[0] != $w1 },
              10, 0.05),
   'the master starts another one');
close $_ for @held;
$redis->resume;

is($ngx->rl_hit('/o?k=b'), '200 PASSED', 'Redis decides again');
is(gauges(), '2 0',
   'status: the new worker\'s 2 connections, nothing in flight');
ok(scalar(given_back($w1, 2, 3, $mark)), 'the new worker says so');

# --- a worker of an old configuration killed: nobody replaces it --------

$redis->pause;
@held = map { $ngx->hold("/o?k=m$_") } 1 .. 2;
ok(wait_until(sub { gauges() eq '2 2' }, 5, 0.05),
   'Redis paused: 2 decisions in flight')
    or diag gauges();

# the same address: the zone and its counts are kept; until the old
# worker has closed its listening socket, it accepts connections too
my ($old) = $ngx->worker_pids;
$mark = $ngx->log_mark;
ok($ngx->signal_reload == 0, 'reload');
ok(wait_until(sub { my @w = $ngx->worker_pids;
                    @w == 2 && ($ngx->generation // '') eq $ngx->{gen}
                    && grep { /gracefully shutting down/ }
                            $ngx->log_since($mark) },
              10, 0.05),
   'the old worker stays for its requests, and stops accepting');
ok(wait_until(sub { gauges() eq '4 2' }, 5, 0.05),
   'the new worker\'s connections counted with the old one\'s')
    or diag gauges();

$mark = $ngx->log_mark;
kill 'KILL', $old;
ok(process_gone($old), 'the old worker is killed');
close $_ for @held;
is(scalar($ngx->worker_pids), 1, 'and not replaced');
$redis->resume;

ok(wait_until(sub { gauges() eq '2 0' }, 5, 0.05),
   'status: the new worker\'s 2 connections, nothing in flight')
    or diag gauges();
ok(scalar(given_back($old, 2, 2, $mark)),
   'the worker that read the status says so');
my $prom = $ngx->get('/astro/status?format=prometheus')->{body};
like($prom, qr/^astro_ratelimit_redis_connections 2$/m,
     'Prometheus: 2 connections');
like($prom, qr/^astro_ratelimit_redis_in_flight 0$/m,
     'Prometheus: 0 in flight');
is($ngx->rl_hit('/o?k=c'), '200 PASSED', 'Redis decides');

my @bad = grep { !/worker process (?:$w1|$old) exited on signal 9/ }
          $ngx->bad_lines;
is(scalar @bad, 0, 'no crash, alert, crit or emerg but the kills')
    or diag @bad;

done_testing();
