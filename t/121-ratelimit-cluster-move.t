# A Redis Cluster's slot moved while nginx decides on its keys: the
# source migrating and the target importing (a key the source no longer
# has: ASK, then ASKING and the call on the target; a call of two keys
# of the slot, one on each side: TRYAGAIN, the fail policy for both),
# the keys migrated,
# the slot given to the target (MOVED: the map updated, the call sent
# again once, the map read again at most once a second).  The decisions
# stay exact: a key's count follows it to the target.
#
# The cluster: t/lib/Astro/Cluster.pm on 6483-6485 (buses 16483-16485);
# nginx on TEST_NGINX_PORT + 71.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);
use Astro::Instance qw(nginx_port have_redis wait_until
                       sleep_out_of_minute_end);
use Astro::Cluster;

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $run = "t121:$$:";

my $cl = Astro::Cluster->new(ports => [6483, 6484, 6485]);
ok($cl->start, 'a cluster of three masters on 6483-6485')
    or BAIL_OUT('no cluster');

my $seeds = $cl->seeds;

my $ngx = Astro::Instance->new(name => 't121', port => nginx_port(71),
    log_level => 'debug', http => <<_EOC_);
    astro_ratelimit_redis cluster=$seeds prefix=$run timeout=500ms;
    astro_ratelimit_zone zone=a:1m key=\$arg_k rate=5r/m
                         algorithm=sliding_window;
    astro_ratelimit_zone zone=ta:1m "key={\$arg_u}:a" rate=5r/m
                         algorithm=sliding_window fail=open;
    astro_ratelimit_zone zone=tb:1m "key={\$arg_u}:b" rate=5r/m
                         algorithm=sliding_window fail=open;

    server {
        listen 127.0.0.1:\$PORT;
        add_header X-RL \$astro_ratelimit_status always;
        location = /a { astro_ratelimit zone=a; echo ok; }
        location = /ta { astro_ratelimit zone=ta; echo ok; }
        location = /t { astro_ratelimit zone=ta; astro_ratelimit zone=tb;
                        echo ok; }
        location /astro/status { astro_status; }
    }
_EOC_
ok($ngx->start, 'nginx starts') or BAIL_OUT('nginx did not start');

sleep_out_of_minute_end(15);

# two tags of master 0's slots: keys {tag}x and {tag}y share a slot
my @tags;
for my $n (1 .. 500) {
    push @tags, "s$n" if $cl->master_of("s$n") == 0;
    last if @tags == 2;
}
my ($tag, $tag2) = @tags;
my $slot = $cl->slot_of($tag);
my $slot2 = $cl->slot_of($tag2);
my $k = "{$tag}x";
my $k2 = "{$tag}y";

sub hit { $ngx->rl_hit("/a?k=$_[0]") }

# -- before the move: master 0 decides

is_deeply([hit($k), hit($k)], ['200 PASSED', '200 PASSED'],
          "key $k (slot $slot, master 0): 2 pass");
is_deeply($cl->keys_of(0, "${run}a:*"), ["${run}a:$k"],
          'its key is on master 0');
is($ngx->rl_hit("/ta?u=$tag"), '200 PASSED',
   "zone ta's key of user $tag (the same slot): PASSED");

# -- migrating: master 0 still has $k; $k2 it has not: ASK to master 1

$cl->begin_move($slot, 0, 1);
my $before = $ngx->redis->{cluster};
my $mark = $ngx->log_mark;

is(hit($k), '200 PASSED', 'slot migrating: the key master 0 has: PASSED');
is(hit($k2), '200 PASSED', 'a key of the slot master 0 has not: PASSED');
my $c = $ngx->redis->{cluster};
is($c->{ask} - $before->{ask}, 1, 'status: one ASK');
is($c->{moved} - $before->{moved}, 0, 'status: no MOVED');
my @lines = $ngx->log_since($mark);
is(scalar(grep { /astro_redis: ASK: for a call, slot $slot to 127\.0\.0\.1:6484, from 127\.0\.0\.1:6483/ } @lines),
   1, 'debug log: the ASK followed to master 1');
is(scalar(grep { /connection #\d+: ASKING queued ahead/ } @lines), 1,
   'debug log: ASKING ahead of the call');
is_deeply($cl->keys_of(1, "${run}a:*"), ["${run}a:$k2"],
          "the new key $k2 is on master 1, which imports the slot");
is_deeply($cl->keys_of(0, "${run}a:*"), ["${run}a:$k"],
          "and $k still on master 0");

# -- one call of two keys of the slot, one on master 0 and one nowhere:
#    TRYAGAIN, the fail policy for both, for that call only

$mark = $ngx->log_mark;
is($ngx->rl_hit("/t?u=$tag"), '200 FAILOPEN',
   'zones ta and tb: one call, TRYAGAIN: fail=open');
$c = $ngx->redis->{cluster};
is($c->{tryagain} - $before->{tryagain}, 1, 'status: one TRYAGAIN');
@lines = $ngx->log_since($mark);
is(scalar(grep { /EVALSHA of 2 keys/ } @lines), 1, 'one call of 2 keys');
is(scalar(grep { /\[error\].*redis 127\.0\.0\.1:6483: error reply: TRYAGAIN/ } @lines),
   1, 'the error log names the master and TRYAGAIN');
my %mm = map { $_->{address} => $_ } @{ $ngx->redis->{masters} };
is($mm{'127.0.0.1:6483'}{consecutive_failures}, 0,
   'not counted against the master\'s circuit');
is(hit($k), '200 PASSED', "the next call, of $k: Redis decides");

# -- the keys migrated: master 0 has none of the slot, ASK for $k too

is($cl->migrate_keys($slot, 0, 1), 2, 'MIGRATE: the slot\'s keys moved');
is(hit($k), '200 PASSED', "$k after MIGRATE: PASSED (its 5th)");
$c = $ngx->redis->{cluster};
is($c->{ask} - $before->{ask}, 2, 'status: a second ASK');

# -- the slot is master 1's: MOVED once, then master 1 directly

$cl->end_move($slot, 1);
$mark = $ngx->log_mark;
is_deeply([hit($k), hit($k)], ['429 REJECTED', '429 REJECTED'],
          "$k after the move: its 6th and 7th refused: exact across the "
          . "move");
$c = $ngx->redis->{cluster};
is($c->{moved} - $before->{moved}, 1, 'status: one MOVED, then the map');
@lines = $ngx->log_since($mark);
is(scalar(grep { /astro_redis: MOVED: slot $slot to 127\.0\.0\.1:6484, from 127\.0\.0\.1:6483/ } @lines),
   1, 'debug log: the MOVED followed');
is_deeply([hit($k2), hit($k2), hit($k2), hit($k2), hit($k2)],
          [('200 PASSED') x 4, '429 REJECTED'],
          "$k2: 4 more pass (5 in all), then refused");
is_deeply($cl->keys_of(1, "${run}a:*"), ["${run}a:$k", "${run}a:$k2"],
          'both keys on master 1');
is_deeply($cl->keys_of(0, "${run}*"), [], 'none left on master 0');

# -- the map read again: master 1 has the slot in the status

ok(wait_until(sub {
       my %m = map { $_->{address} => $_ } @{ $ngx->redis->{masters} };
       $m{'127.0.0.1:6483'}{slots} == 5460
           && $m{'127.0.0.1:6484'}{slots} == 5463;
   }, 3, 0.1),
   'status: 5460 slots for master 0, 5463 for master 1');

# -- a second slot moved within a second of the last map: the map is read
#    again a second after the last, not at once

$c = $ngx->redis->{cluster};
my $maps = $c->{maps};
is($cl->move_slot($slot2, 0, 2), 0, "slot $slot2 moved to master 2");
is(hit("{$tag2}z"), '200 PASSED', "a key of slot $slot2: PASSED");
my $now = $ngx->redis->{cluster};
is($now->{moved} - $c->{moved}, 1, 'status: its MOVED');
is($cl->keys_of(2, "${run}*")->[0], "${run}a:{$tag2}z",
   'its key on master 2');
cmp_ok($now->{maps} - $maps, '<=', 1, 'at most one map read at once');
ok(wait_until(sub {
       my %m = map { $_->{address} => $_ } @{ $ngx->redis->{masters} };
       $m{'127.0.0.1:6483'}{slots} == 5459;
   }, 3, 0.1), 'the map read again: 5459 slots left on master 0');

is_deeply([$ngx->bad_lines], [], 'no crash, alert or emerg in the log');

done_testing();
