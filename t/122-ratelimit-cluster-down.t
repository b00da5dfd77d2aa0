# A Redis Cluster's masters that do not answer: before the worker has the
# slot map (every seed paused), a decision waits for it within the
# timeout, then takes the fail policy; once the map is read, Redis
# decides.  One master killed: only the keys of its slots take the fail
# policy (fail=open and fail=closed), at once after its circuit opens,
# while the other masters still decide theirs exactly.
#
# The cluster: t/lib/Astro/Cluster.pm on 6486-6488 (buses 16486-16488);
# nginx on TEST_NGINX_PORT + 72.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(nginx_port have_redis wait_until
                       sleep_out_of_minute_end);
use Astro::Cluster;

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $run = "t122:$$:";
my $T = 300;

my $cl = Astro::Cluster->new(ports => [6486, 6487, 6488]);
ok($cl->start, 'a cluster of three masters on 6486-6488')
    or BAIL_OUT('no cluster');

my $seeds = $cl->seeds;

my $ngx = Astro::Instance->new(name => 't122', port => nginx_port(72),
    http => <<_EOC_);
    astro_ratelimit_redis cluster=$seeds prefix=$run timeout=${T}ms
                          connect_timeout=${T}ms max_fails=3
                          backoff=10s max_backoff=10s;
    astro_ratelimit_zone zone=o:1m key=\$arg_k rate=3r/m
                         algorithm=sliding_window fail=open;
    astro_ratelimit_zone zone=c:1m key=\$arg_k rate=3r/m
                         algorithm=sliding_window fail=closed;

    server {
        listen 127.0.0.1:\$PORT;
        add_header X-RL \$astro_ratelimit_status always;
        location = /o { astro_ratelimit zone=o; echo ok; }
        location = /c { astro_ratelimit zone=c; echo ok; }
        location /astro/status { astro_status; }
    }
_EOC_

sleep_out_of_minute_end(20);

# -- no map yet: every master paused when nginx starts

$cl->pause($_) for 0 .. 2;
ok($ngx->start, 'nginx starts, its cluster paused')
    or BAIL_OUT('nginx did not start');

my $res = $ngx->get('/o?k=early');
is("$res->{status} " . ($res->{headers}{'x-rl'} // '-'), '200 FAILOPEN',
   'no map: the fail policy');
ok($res->{ms} >= $T - 20 && $res->{ms} < $T + 100,
   sprintf('after waiting for the map within the timeout: %.0fms in '
           . '[%d, %d)', $res->{ms}, $T - 20, $T + 100));
my $c = $ngx->redis->{cluster};
is($c->{waited}, 1, 'status: one decision waited for the map');
is($c->{slots}, 0, 'status: no slot known');

$cl->resume($_) for 0 .. 2;
my $n = 0;
ok(wait_until(sub { $ngx->rl_hit('/o?k=poll' . $n++) eq '200 PASSED' },
              5, 0.1),
   'the cluster answers again: the map is read, Redis decides');
is($ngx->redis->{cluster}{slots}, 16384, 'status: 16384 slots known');

# -- a key on each master

my %key;
for my $i (1 .. 300) {
    my $m = $cl->master_of("${run}o:k$i");
    next if defined $key{$m} || $cl->master_of("${run}c:k$i") != $m;
    $key{$m} = "k$i";
    last if keys %key == 3;
}
is(scalar keys %key, 3, 'a key on each master, the same for both zones');

for my $m (0 .. 2) {
    is_deeply([map { $ngx->rl_hit("/$_?k=$key{$m}") } qw(o c)],
              ['200 PASSED', '200 PASSED'], "master $m: Redis decides");
}

# -- master 2 killed: its connections are refused

my $maps = $ngx->redis->{cluster}{maps};
$cl->kill(2);

my (@dead, $slowest);
$slowest = 0;
for my $i (1 .. 4) {
    my $r = $ngx->get("/o?k=$key{2}");
    push @dead, "$r->{status} " . ($r->{headers}{'x-rl'} // '-');
    $slowest = $r->{ms} if $r->{ms} > $slowest;
}
is_deeply(\@dead, [('200 FAILOPEN') x 3, '429 REJECTED'],
          'master 2 killed: its key takes fail=open (the zone\'s own '
          . 'count: 3, then refused)');
cmp_ok($slowest, '<', $T, 'connection refused: none waits the timeout');
is_deeply([map { $ngx->rl_hit("/c?k=$key{2}") } 1 .. 2],
          [('503 FAILCLOSED') x 2], 'and fail=closed');

for my $m (0 .. 1) {
    is_deeply([map { $ngx->rl_hit("/o?k=$key{$m}") } 1 .. 3],
              ['200 PASSED', '200 PASSED', '429 REJECTED'],
              "master $m still decides its key exactly (zone o)");
    is_deeply([map { $ngx->rl_hit("/c?k=$key{$m}") } 1 .. 3],
              ['200 PASSED', '200 PASSED', '429 REJECTED'],
              "and of zone c");
}

my %m = map { $_->{address} => $_ } @{ $ngx->redis->{masters} };
is($m{'127.0.0.1:6488'}{slots}, 5461, 'status: master 2 keeps its slots');
is($m{'127.0.0.1:6488'}{connections}, 0, 'status: no connection to it');
is_deeply([map { $m{"127.0.0.1:$_"}{connections} } 6486, 6487], [2, 2],
          'status: 2 each to the others');
cmp_ok($m{'127.0.0.1:6488'}{skipped} + $m{'127.0.0.1:6488'}{failed}, '>=',
       6, 'status: its decisions failed or skipped');
cmp_ok($m{'127.0.0.1:6488'}{errors}{connect}, '>=', 1,
       'status: its connect errors');
is($m{'127.0.0.1:6486'}{failed} + $m{'127.0.0.1:6487'}{failed}, 0,
   'status: none failed on the others');
ok(wait_until(sub { $ngx->redis->{cluster}{maps} > $maps }, 3, 0.1),
   'the map read again after master 2 failed (a replica may have its '
   . 'slots)');
is(scalar(grep { /redis 127\.0\.0\.1:6488: connect failed: Connection refused/ }
          $ngx->error_log),
   1, 'the error log names the master refused (once a second)');

# -- master 1 paused: its keys wait the timeout until its circuit opens,
#    then take the fail policy at once; master 0 still decides

# $n fresh keys of zone o on master $m
sub fresh {
    my ($m, $n) = @_;
    my @k;
    for my $i (1 .. 1000) {
        push @k, "f$i" if $cl->master_of("${run}o:f$i") == $m;
        return @k if @k == $n;
    }
}
my @p1 = fresh(1, 9);
my ($p0) = fresh(0, 1);

$cl->pause(1);
my (@answers, @ms, $open);
for my $k (@p1[0 .. 7]) {
    my $r = $ngx->get("/o?k=$k");
    push @answers, "$r->{status} " . ($r->{headers}{'x-rl'} // '-');
    push @ms, int $r->{ms};
    my %m = map { $_->{address} => $_ } @{ $ngx->redis->{masters} };
    $open = $m{'127.0.0.1:6487'}{circuit} eq 'open' and last;
}
ok($open, "master 1 paused: its circuit opens after max_fails=3 "
   . "(@ms ms)");
is_deeply(\@answers, [('200 FAILOPEN') x @answers],
          'its keys take the fail policy meanwhile');
is(scalar(grep { $_ >= $T - 20 && $_ < $T + 100 } @ms), 3,
   'three of them waited the timeout');
%m = map { $_->{address} => $_ } @{ $ngx->redis->{masters} };
is($m{'127.0.0.1:6486'}{circuit}, 'closed', 'status: master 0\'s closed');
my $r = $ngx->get("/o?k=$p1[8]");
is("$r->{status} $r->{headers}{'x-rl'}", '200 FAILOPEN',
   'then master 1\'s keys take the fail policy');
cmp_ok($r->{ms}, '<', 50, 'at once');
is_deeply([map { $ngx->rl_hit("/o?k=$p0") } 1 .. 4],
          ['200 PASSED', '200 PASSED', '200 PASSED', '429 REJECTED'],
          'master 0 decides a new key exactly');
is(scalar(grep { /redis 127\.0\.0\.1:6487: circuit open after 3 failed commands/ }
          $ngx->error_log),
   1, 'the error log names the master whose circuit opened');
is(scalar(grep { /redis 127\.0\.0\.1:648[68]: circuit open/ }
          $ngx->error_log),
   0, 'and no other');
$cl->resume(1);

is_deeply([$ngx->bad_lines], [], 'no crash, alert or emerg in the log');

done_testing();
