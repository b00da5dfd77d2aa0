# Key invalidations across nodes and the zone's sync state: two nginx
# nodes with one astro_cache_zone on one Redis (as t/098).  The
# subscription stays up through a quiet time far longer than the
# client's command timeout (50 ms), and a later invalidation still
# arrives within 1 s; a soft key invalidation made on A expires B's
# entry (EXPIRED, or STALE with a background update), a hard one removes
# it; key invalidations made while Redis is down wait in A's ring
# (sync.pending) and reach B, also when B subscribes again after A,
# within 2.5 sync periods of Redis's return (A reads Redis within one);
# past 64 the oldest are lost and counted (sync.pending_lost).  The
# status's key_invalidations (local, received), sync.generation,
# last_sync and lag are checked against what the test did.  This file
# drives nginx and a private redis-server itself (t/lib/Astro/Instance.pm).
#
# Ports: nginx A on 8550 (with the nodes' backend on 8552), B on 8551,
# C on 8553; Redis on 6530 (6531: nothing listens, C's).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Digest::MD5 qw(md5_hex);
use JSON::PP ();
use Time::HiRes qw(time sleep);
use Astro::Instance qw(have_redis wait_until);
use Astro::Cache;

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $SYNC = 2;       # seconds, the zones' sync=
my $TOL = 0.3;      # seconds past a bound in sync periods: section 5
my $BACKEND = 8552;

my @frozen;         # B's processes while they are stopped
END { kill 'CONT', @frozen if @frozen }

my $redis = Astro::Instance::Redis->new(port => 6530);
ok($redis->start, 'redis on 6530 starts') or BAIL_OUT('no redis');

# a node: keys "class:generation:uri"; /page/ of a class with no stale
# window, /sw/ of one served stale while a background update runs
sub body {
    my ($redis_port, $backend) = @_;
    my $origin = $backend ? <<_EOC_ : '';
    server {
        listen 127.0.0.1:$BACKEND;
        location / { return 200 "\$uri \$msec\\n"; }
    }
_EOC_
    return <<_EOC_;
    proxy_cache_path cache keys_zone=pc:1m;
    astro_cache_zone z:1m redis=127.0.0.1:$redis_port sync=${SYNC}s;
    astro_cache_ttl z page 1h;
    astro_cache_ttl z api 1h;
    astro_cache_ttl z sw 1h stale=1h;
    map \$uri \$cls { ~^/api/ api; default page; }
$origin
    server {
        listen 127.0.0.1:\$PORT;
        proxy_cache pc;
        add_header X-Cache \$upstream_cache_status always;
        add_header X-Astro \$astro_cache_status always;
        location / {
            proxy_pass http://127.0.0.1:$BACKEND;
            proxy_cache_key "\$cls:\$astro_cache_gen:\$uri";
            astro_cache zone=z class=\$cls;
        }
        location /sw/ {
            proxy_pass http://127.0.0.1:$BACKEND;
            proxy_cache_key "sw:\$astro_cache_gen:\$uri";
            proxy_cache_use_stale updating;
            proxy_cache_background_update on;
            astro_cache zone=z class=sw;
        }
        location = /inv { astro_cache_invalidate zone=z cache=pc; }
        location /astro/status { astro_status; }
    }
_EOC_
}

my $A = Astro::Instance->new(name => 'ckeys-a', port => 8550, workers => 2,
                             http => body(6530, 1));
my $B = Astro::Instance->new(name => 'ckeys-b', port => 8551, workers => 2,
                             http => body(6530, 0));

for ($A, $B) {
    # the workers (nobody, when the tests run as root) reach the cache
    chmod 0755, $_->root;
    ok($_->start, 'nginx on ' . $_->port . ' starts')
        or BAIL_OUT('nginx did not start');
}

# the Redis clients subscribed to the zone's channel: {id => age}
sub subscribed {
    my %ids;
    for (split /\n/, $redis->cli('CLIENT', 'LIST') // '') {
        $ids{$1} = $2 if /\bid=(\d+)\b.*\bage=(\d+)\b.*\bsub=1\b/;
    }
    return \%ids;
}

# "X-Cache X-Astro" of a request
sub seen {
    my ($ngx, $path) = @_;
    my $res = $ngx->get($path);
    return join ' ', map { $res->{headers}{$_} // '-' } qw(x-cache x-astro);
}

sub cache { Astro::Cache::x_cache(@_) }
sub invalidate { Astro::Cache::invalidate(@_) }
sub zone_status { Astro::Cache::zone_status($_[0], 'z') }

sub sync_of { zone_status($_[0])->{sync} || {} }

# "local received" of key_invalidations
sub keyinv {
    my $k = zone_status($_[0])->{key_invalidations} || {};
    return join ' ', map { $_ // '-' } @$k{qw(local received)};
}

sub key_local { (split ' ', keyinv($_[0]))[0] }

# A node's own message comes back from Redis: a soft one finds the entry
# it has just expired, which is not counted as received
sub own_received {
    my ($ngx, $name) = @_;
    is((split ' ', keyinv($ngx))[1], 0, $name);
}

sub file_of {
    my ($ngx, $key) = @_;
    return $ngx->root . '/cache/' . md5_hex($key);
}

sub store {
    my ($ngx, @paths) = @_;
    return join ' ', map { cache($ngx, $_) . '/' . cache($ngx, $_) } @paths;
}

# -- 1. subscribed, and the sync state of a node that has read Redis

ok(wait_until(sub { keys %{ subscribed() } == 2 }, 3),
   'one subscription per node');
ok(wait_until(sub { defined sync_of($B)->{last_sync} }, $SYNC + 1),
   'B has read the generations');

for my $n ($A, $B) {
    my $s = sync_of($n);
    my $now = time;
    is_deeply([@$s{qw(connected generation pending pending_lost)},
               keyinv($n)],
              [JSON::PP::true, 0, 0, 0, '0 0'],
              'port ' . $n->port . ': connected, nothing invalidated yet')
        or diag explain $s;
    ok($s->{last_sync} <= $now && $s->{last_sync} >= int($now) - $SYNC - 1,
       'port ' . $n->port . ": last_sync within sync of now")
        or diag "last_sync $s->{last_sync}, now $now";
    ok($s->{lag} >= 0 && $s->{lag} <= $SYNC + 1
       && abs(int($now) - $s->{last_sync} - $s->{lag}) <= 1,
       'port ' . $n->port . ': lag is now - last_sync, at most sync')
        or diag "lag $s->{lag}, last_sync $s->{last_sync}, now $now";
}

# -- 2. the subscription has no command timeout: quiet for 3 s, 60 times
#       the client's timeout (50 ms) and longer than sync, it stays

my $subs = subscribed();
my $mark_a = $A->log_mark;
my $mark_b = $B->log_mark;
sleep 3;
my $after = subscribed();
is_deeply([sort keys %$after], [sort keys %$subs],
          'the same two subscribed connections after 3 s without a message')
    or diag explain [$subs, $after];
ok(!grep({ $after->{$_} < 3 } keys %$after),
   'each of them 3 s old at least') or diag explain $after;
my @lines = grep { /subscri/ } $A->log_since($mark_a), $B->log_since($mark_b);
is(scalar @lines, 0, 'no subscription lost or made again in the logs')
    or diag @lines;

my ($status, $json) = invalidate($A, 'class=api');
is_deeply([$status, @$json{qw(generation broadcast)}], [200, 1, 'ok'],
          'A: class api invalidated, generation 1, broadcast');
my $t0 = time;
ok(wait_until(sub { (zone_status($B)->{classes}{api}{generation} // 0) == 1 },
              1, 0.02),
   'B: the invalidation arrives within 1 s over the quiet subscription');
diag sprintf('B had it after %.0f ms', (time - $t0) * 1000);
is_deeply([sync_of($A)->{generation}, sync_of($B)->{generation}], [1, 1],
          'sync.generation is 1 on both nodes');

# -- 3. a soft key invalidation on A expires B's entries

is(store($B, qw(/page/s /sw/s /page/h)), 'MISS/HIT MISS/HIT MISS/HIT',
   'B: /page/s, /sw/s, /page/h stored');
is(store($A, qw(/page/s)), 'MISS/HIT', 'A: /page/s stored');
my $sw_body = $B->get('/sw/s')->{body};

($status, $json) = invalidate($A, 'key=page:0:/page/s&mode=soft');
is_deeply([$status, @$json{qw(mode found expired broadcast)}],
          [200, 'soft', JSON::PP::true, JSON::PP::true, 'ok'],
          'A: /page/s expired, broadcast');
($status, $json) = invalidate($A, 'key=sw:0:/sw/s&mode=soft');
is_deeply([$status, @$json{qw(mode found broadcast)}],
          [200, 'soft', JSON::PP::false, 'ok'],
          'A: /sw/s (not stored here) expired, broadcast');
($status, $json) = invalidate($A, 'key=page:0:/page/h');
is_deeply([$status, @$json{qw(mode found broadcast)}],
          [200, 'hard', JSON::PP::false, 'ok'],
          'A: /page/h (not stored here) removed, broadcast');
($status, $json) = invalidate($A, 'key=page:0:/page/none');
is_deeply([$status, @$json{qw(mode found broadcast)}],
          [200, 'hard', JSON::PP::false, 'ok'],
          'A: /page/none (stored nowhere) removed, broadcast');

ok(wait_until(sub { !-e file_of($B, 'page:0:/page/h') }, 1, 0.02),
   'B: the hard one has removed /page/h within 1 s');
# one subscription delivers in order: the soft ones were applied first
ok(-f file_of($B, 'page:0:/page/s') && -f file_of($B, 'sw:0:/sw/s'),
   'B: the soft ones left the files of /page/s and /sw/s');
is(seen($B, '/page/s'), 'EXPIRED EXPIRED',
   'B: /page/s is EXPIRED at its next request');
is(seen($B, '/page/s'), 'HIT HIT', 'B: then stored again');
my $res = $B->get('/sw/s');
is(($res->{headers}{'x-cache'} // '-') . ' ' . $res->{body}, "STALE $sw_body",
   'B: /sw/s is served STALE, the stored answer');
ok(wait_until(sub { cache($B, '/sw/s') eq 'HIT'
                    && $B->get('/sw/s')->{body} ne $sw_body }, 3),
   'B: /sw/s refreshed in the background');
is(seen($B, '/page/h'), 'MISS MISS', 'B: /page/h is a MISS');
is(seen($A, '/page/s'), 'EXPIRED EXPIRED', 'A: /page/s is EXPIRED too');

# made on A: 4; of an entry B had: 3 (/page/none was nowhere); A gets its
# own messages but receives nothing from elsewhere
is(keyinv($B), '0 3', 'B: key_invalidations local 0, received 3');
is(key_local($A), 4, 'A: key_invalidations local 4');
own_received($A, 'A: key_invalidations received 0');

# -- 4. Redis away: key invalidations wait in A's ring

is(store($B, qw(/page/p1 /page/p2 /page/p3)), 'MISS/HIT MISS/HIT MISS/HIT',
   'B: /page/p1..3 stored');

$redis->stop;
my $stopped = time;

for my $i (1 .. 3) {
    ($status, $json) = invalidate($A, "key=page:0:/page/p$i");
    is_deeply([$status, $json->{broadcast}], [200, 'failed'],
              "A: /page/p$i invalidated here, the broadcast failed");
}
my $s = sync_of($A);
is_deeply([@$s{qw(pending pending_lost broadcast_failed)}], [3, 0, 3],
          'A: 3 pending, none lost, 3 broadcasts failed')
    or diag explain $s;
is(key_local($A), 7, 'A: key_invalidations local 7');

sleep $SYNC + 0.5;
$s = sync_of($B);
ok($s->{connected} == JSON::PP::false
   && $s->{last_sync} <= int($stopped)
   && $s->{lag} >= $SYNC, 'B: not connected, lag grows past sync')
    or diag explain $s;
is(store($B, qw(/page/p1 /page/p2 /page/p3)), 'HIT/HIT HIT/HIT HIT/HIT',
   'B: /page/p1..3 still hit');

# -- 5. Redis back: the ring reaches B, also when B subscribes last

# A message reaches only the nodes subscribed when it is sent.  Each
# node subscribes again within its backoff (at most sync=) of Redis's
# return, in no set order; A's ring waits sync and half again after A's
# own subscription, then goes after a poll: within 2.5 sync of Redis's
# return, plus $TOL for a tick and a connection's setup.  B is held
# (SIGSTOP) until A has read Redis, as when B's backoff ends after A's
# (about 1 round in 12 of free-running stops and starts lost the keys
# when the ring went at A's first poll).

@frozen = ($B->master_pid, $B->worker_pids);
kill 'STOP', @frozen;

ok($redis->start, 'redis on 6530 starts again');
my $back = time;
ok(wait_until(sub { (sync_of($A)->{last_sync} // 0) >= int($back) },
              $SYNC + $TOL, 0.02),
   "A has read Redis within sync ($SYNC s) + $TOL s of its return");
sleep 0.2;
kill 'CONT', @frozen;
@frozen = ();

ok(wait_until(sub { !grep { -e file_of($B, "page:0:/page/p$_") } 1 .. 3 },
              2.5 * $SYNC + $TOL - (time - $back), 0.02),
   "B: /page/p1..3 removed within 2.5 sync + $TOL s of Redis's return");
diag sprintf('B had them %.0f ms after Redis came back',
             (time - $back) * 1000);
is(store($B, qw(/page/p1 /page/p2 /page/p3)), 'MISS/HIT MISS/HIT MISS/HIT',
   'B: /page/p1..3 miss, then are stored again');

$s = sync_of($A);
is_deeply([@$s{qw(connected pending pending_lost)}],
          [JSON::PP::true, 0, 0], 'A: connected, nothing pending')
    or diag explain $s;
ok($s->{last_sync} >= int($back) && $s->{lag} <= 1,
   'A: last_sync after Redis came back') or diag explain $s;
is(keyinv($B), '0 6', 'B: key_invalidations received 6');
own_received($A, 'A: key_invalidations received 0, none of its own');

# -- 6. more than 64 while Redis is away: the oldest are lost, counted

my @p = map { "/page/q$_" } 1 .. 66;
is(scalar(grep { cache($B, $_) eq 'MISS' } @p), 66, 'B: 66 pages stored');
$redis->stop;
for (@p) {
    ($status, $json) = invalidate($A, "key=page:0:$_");
    last unless $status == 200 && $json->{broadcast} eq 'failed';
}
is("$status $json->{broadcast}", '200 failed',
   'A: 66 keys invalidated, each broadcast failed');
$s = sync_of($A);
is_deeply([@$s{qw(pending pending_lost)}], [64, 2],
          'A: 64 pending, 2 lost') or diag explain $s;

ok($redis->start, 'redis on 6530 starts again');
ok(wait_until(sub { !grep { -e file_of($B, "page:0:$_") } @p[2 .. 65] },
              2.5 * $SYNC + $TOL, 0.02),
   "B: the 64 newest removed within 2.5 sync + $TOL s");
is(join(' ', map { cache($B, $_) } @p[0, 1, 2, 65]), 'HIT HIT MISS MISS',
   'B: the 2 oldest (lost) still hit, the others miss');
$s = sync_of($A);
is_deeply([@$s{qw(pending pending_lost)}], [0, 2],
          'A: nothing pending, 2 lost') or diag explain $s;
is(keyinv($B), '0 70', 'B: key_invalidations received 70');

# -- 7. a node that never reached Redis: no last_sync, no lag

my $C = Astro::Instance->new(name => 'ckeys-c', port => 8553, workers => 1,
                             http => body(6531, 0));
chmod 0755, $C->root;
ok($C->start, 'nginx with no Redis on 6531 starts');
sleep 0.5;
$s = sync_of($C);
is_deeply([@$s{qw(connected generation last_sync lag pending)}],
          [JSON::PP::false, 0, undef, undef, 0],
          'C: not connected, last_sync and lag null') or diag explain $s;

for ($A, $B, $C) {
    my @bad = $_->bad_lines;
    is(scalar @bad, 0, 'port ' . $_->port . ': no crash, alert or crit')
        or diag @bad;
}

$_->stop for $A, $B, $C;
$redis->stop;

done_testing();
