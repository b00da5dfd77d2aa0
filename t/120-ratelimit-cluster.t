# The rate limiter on a Redis Cluster (astro_ratelimit_redis cluster=):
# three masters (t/lib/Astro/Cluster.pm, ports 6480-6482, buses 16480-
# 16482), keys spread over all three and decided exactly by each, every
# key on the master of its slot; a hash tag in key= puts a user's keys of
# two zones in one slot, decided in one call; the status per master
# (address, slots, pool, circuit) in JSON and Prometheus.
#
# nginx on TEST_NGINX_PORT + 70, two workers (each its map and pools,
# the masters' counts and circuits shared).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Astro::Instance qw(nginx_port have_redis wait_until
                       sleep_out_of_minute_end);
use Astro::Cluster;

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $run = "t120:$$:";

my $cl = Astro::Cluster->new(ports => [6480, 6481, 6482]);
ok($cl->start, 'a cluster of three masters on 6480-6482')
    or BAIL_OUT('no cluster');

my $seeds = $cl->seeds;

my $ngx = Astro::Instance->new(name => 't120', port => nginx_port(70),
    workers => 2, log_level => 'debug', http => <<_EOC_);
    astro_ratelimit_redis cluster=$seeds prefix=$run timeout=500ms;
    astro_ratelimit_zone zone=a:1m key=\$arg_k rate=3r/m algorithm=sliding_window;
    astro_ratelimit_zone zone=b:1m key=\$arg_k rate=5r/m algorithm=sliding_window;
    astro_ratelimit_zone zone=ta:1m "key={\$arg_u}:a" rate=3r/m algorithm=sliding_window;
    astro_ratelimit_zone zone=tb:1m "key={\$arg_u}:b" rate=5r/m algorithm=sliding_window;

    server {
        listen 127.0.0.1:\$PORT;
        add_header X-RL \$astro_ratelimit_status always;
        add_header X-Remaining \$astro_ratelimit_remaining always;
        location = /a { astro_ratelimit zone=a; echo ok; }
        location = /ab { astro_ratelimit zone=a; astro_ratelimit zone=b;
                         echo ok; }
        location = /t { astro_ratelimit zone=ta; astro_ratelimit zone=tb;
                        echo ok; }
        location /astro/status { astro_status; }
    }
_EOC_
ok($ngx->start, 'nginx starts') or BAIL_OUT('nginx did not start');

sleep_out_of_minute_end(10);

# -- keys over the three masters: one per master, found by their slots

# master => a key of zone a whose Redis key it holds
my %key = $cl->key_per_master("${run}a:");
is(scalar keys %key, 3, 'keys of zone a on each of the three masters');

for my $m (0 .. 2) {
    my $k = $key{$m};
    is_deeply([map { $ngx->rl_hit("/a?k=$k") } 1 .. 5],
              [('200 PASSED') x 3, ('429 REJECTED') x 2],
              "key $k (master $m): 3 pass, then refused, exactly");
}

for my $m (0 .. 2) {
    is_deeply($cl->keys_of($m, "${run}*"), ["${run}a:$key{$m}"],
              "master $m holds its key, and only it");
    is($cl->dbsize($m), 1, "master $m: DBSIZE 1");
}

# -- many keys: each in Redis on the master of its slot, none elsewhere

my @many = map { "m$_" } 1 .. 30;
is_deeply([map { $ngx->rl_hit("/a?k=$_") } @many], [('200 PASSED') x 30],
          '30 more keys: each passes');
my %want;
push @{ $want{$cl->master_of("${run}a:$_")} }, "${run}a:$_" for @many;
for my $m (0 .. 2) {
    my @have = grep { /:a:m\d+$/ } @{ $cl->keys_of($m, "${run}a:m*") };
    is_deeply(\@have, [sort @{ $want{$m} || [] }],
              sprintf('master %d holds the %d of its slots', $m,
                      scalar @{ $want{$m} || [] }));
    ok(@have > 0, "master $m has some of them");
}

# -- two zones in one location, keys of two slots of one master: two
#    calls, sent together; with a hash tag, one slot: one call of two keys

my $two;
for my $n (1 .. 500) {
    next unless $cl->master_of("${run}a:two$n")
                == $cl->master_of("${run}b:two$n");
    $two = "two$n";
    last;
}
my $mark = $ngx->log_mark;
is($ngx->rl_hit("/ab?k=$two"), '200 PASSED', 'zones a and b: PASSED');
my @lines = $ngx->log_since($mark);
my $sa = $cl->slot_of("${run}a:$two");
my $sb = $cl->slot_of("${run}b:$two");
isnt($sa, $sb, "their keys have two slots ($sa, $sb) of master "
     . $cl->master_of("${run}a:$two"));
is(scalar(grep { /astro_redis: EVALSHA of 1 keys/ } @lines), 2,
   'two calls of one key each') or diag join "\n", grep { /EVALSHA/ } @lines;
my @order = map { /EVALSHA/ ? 'call' : 'reply' }
            grep { /astro_redis: (EVALSHA|reply) of/ } @lines;
is("@order", 'call call reply reply',
   'both calls sent at once, the second not held for the first\'s reply');

$mark = $ngx->log_mark;
is_deeply([map { $ngx->rl_hit('/t?u=alice') } 1 .. 4],
          [('200 PASSED') x 3, '429 REJECTED'],
          'key={$arg_u}: zone ta refuses the 4th');
@lines = $ngx->log_since($mark);
is(scalar(grep { /astro_redis: EVALSHA of 2 keys/ } @lines), 4,
   'each request one call of both keys')
    or diag join "\n", grep { /EVALSHA/ } @lines;
is(scalar(grep { /astro_redis: EVALSHA of 1 keys/ } @lines), 0,
   'and no call of one key');
my $m = $cl->master_of('alice');
is_deeply($cl->keys_of($m, "${run}t*"),
          ["${run}ta:{alice}:a", "${run}tb:{alice}:b"],
          "both keys on the master of slot " . $cl->slot_of('alice'));

# -- the status: per master its address, slots, pool, circuit

my $r = $ngx->redis;
is($r->{address}, "cluster=$seeds", 'status: the address as written');
is($r->{cluster}{slots}, 16384, 'status: 16384 slots mapped');
cmp_ok($r->{cluster}{maps}, '>=', 1, 'status: a map read');
is($r->{cluster}{moved}, 0, 'status: no MOVED');
is($r->{cluster}{unmapped}, 0, 'status: no decision without a master');
my @masters = sort { $a->{address} cmp $b->{address} } @{ $r->{masters} };
is_deeply([map { $_->{address} } @masters],
          [map { "127.0.0.1:$_" } 6480 .. 6482], 'status: the three masters');
is_deeply([map { $_->{slots} } @masters], [5461, 5462, 5461],
          'status: their slots');
is_deeply([map { $_->{ranges} } @masters],
          [[[0, 5460]], [[5461, 10922]], [[10923, 16383]]],
          'status: their ranges');
is_deeply([map { $_->{circuit} } @masters], [('closed') x 3],
          'status: their circuits closed');
is_deeply([map { $_->{pool} } @masters], [2, 2, 2], 'status: pool 2 each');
is_deeply([map { $_->{connections} } @masters], [4, 4, 4],
          'status: 2 connections each from each of the 2 workers');
ok(!grep({ $_->{commands} < 5 } @masters),
   'status: each master answered decisions')
    or diag explain [map { $_->{commands} } @masters];

my $prom = $ngx->get('/astro/status?format=prometheus')->{body} // '';
like($prom, qr/^astro_ratelimit_redis_master_slots\{address="127\.0\.0\.1:6481"\} 5462$/m,
     'prometheus: a master\'s slots');
like($prom, qr/^astro_ratelimit_redis_master_circuit\{address="127\.0\.0\.1:6480"\} 0$/m,
     'prometheus: a master\'s circuit');
like($prom, qr/^astro_ratelimit_redis_master_connections\{address="127\.0\.0\.1:6482"\} 4$/m,
     'prometheus: a master\'s connections');
like($prom, qr/^astro_ratelimit_redis_cluster_events_total\{event="moved"\} 0$/m,
     'prometheus: the cluster\'s events');

# -- a reload keeps the zone: the masters' counts and circuits

my %before = map { $_->{address} => $_->{commands} } @{ $r->{masters} };
ok($ngx->reload, 'nginx reloads');
is_deeply([map { $ngx->rl_hit("/a?k=$key{$_}") } 0 .. 2],
          [('429 REJECTED') x 3], 'after the reload: the keys still refused');
is_deeply([map { $ngx->rl_hit('/a?k=reloaded') } 1 .. 4],
          [('200 PASSED') x 3, '429 REJECTED'], 'a new key decided exactly');
my %after = map { $_->{address} => $_->{commands} }
            @{ $ngx->redis->{masters} };
is(scalar(grep { $after{$_} < $before{$_} } keys %before), 0,
   'the masters\' counts kept over the reload');
is(scalar keys %after, 3, 'three masters still');

is_deeply([$ngx->bad_lines], [], 'no crash, alert or emerg in the log');

done_testing();
