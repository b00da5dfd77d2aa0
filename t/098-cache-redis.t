# Invalidations across nodes: two nginx instances with one astro_cache_zone
# on one Redis.  A class invalidated on A misses on B within 1 s; with
# Redis stopped during the invalidation (A says the broadcast failed), B
# catches up within one sync period after Redis is back, though Redis
# comes back empty; a key invalidated on A is removed from B's cache.  One
# worker per node holds the subscription, another takes it when that one
# is killed, and a reload's old workers let it go and exit.  A node whose
# Redis is down at start serves and invalidates locally.  Test::Nginx runs
# one nginx, so this file drives nginx and a private redis-server itself
# (t/lib/Astro/Instance.pm), as t/034 does.
#
# Ports: nginx on TEST_NGINX_PORT + 180, 181, 182; their backends on 8445,
# 8446, 8447; Redis on 6430 (6431: nothing listens).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Digest::MD5 qw(md5_hex);
use JSON::PP ();
use Time::HiRes qw(time sleep);
use Astro::Instance qw(nginx_port have_redis wait_until process_gone);
use Astro::Cache;

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $SYNC = 2;       # seconds, the zones' sync=
my $TOL = 0.3;      # seconds past it: see section 3

my $redis = Astro::Instance::Redis->new(port => 6430);
ok($redis->start, 'redis on 6430 starts') or BAIL_OUT('no redis');

# a node: a cache keyed by its class's generation, its own backend, whose
# body changes with every answer
sub body {
    my ($backend, $redis_port) = @_;
    return <<_EOC_;
    proxy_cache_path cache keys_zone=pc:1m;
    astro_cache_zone z:1m redis=127.0.0.1:$redis_port sync=${SYNC}s;
    astro_cache_ttl z api 1h;
    astro_cache_ttl z page 1h;
    map \$uri \$cls { ~^/api/ api; default page; }
    server {
        listen 127.0.0.1:$backend;
        location / { return 200 "\$uri \$msec\\n"; }
    }
    server {
        listen 127.0.0.1:\$PORT;
        location / {
            proxy_pass http://127.0.0.1:$backend;
            proxy_cache pc;
            proxy_cache_valid 200 1h;
            proxy_cache_key "\$cls:\$astro_cache_gen:\$uri";
            astro_cache zone=z class=\$cls;
            add_header X-Cache \$upstream_cache_status always;
        }
        location = /inv { astro_cache_invalidate zone=z cache=pc; }
        location /astro/status { astro_status; }
    }
_EOC_
}

my @ngx = map {
    Astro::Instance->new(name => "cache$_", port => nginx_port(180 + $_),
                         workers => 2, http => body(8445 + $_, 6430))
} 0 .. 1;
my ($A, $B) = @ngx;

# the workers (nobody, when the tests run as root) reach the cache
chmod 0755, $_->root for @ngx;

for (@ngx) {
    ok($_->start, 'nginx on ' . $_->port . ' starts')
        or BAIL_OUT('nginx did not start');
}

sub subscribers {
    my $out = $redis->cli('PUBSUB', 'NUMSUB', 'astro:cache:z') // '';
    return $out =~ /\n(\d+)\s*\z/ ? $1 : -1;
}

sub cache { Astro::Cache::x_cache(@_) }
sub invalidate { Astro::Cache::invalidate(@_) }
sub zone_status { Astro::Cache::zone_status($_[0], 'z') }

# -- 1. one subscription per node, two workers each

ok(wait_until(sub { subscribers() == 2 }, 3),
   'one subscriber per node on astro:cache:z')
    or diag 'subscribers: ' . subscribers();

for my $n (@ngx) {
    my @w = grep { /this worker subscribes/ } $n->error_log;
    is(scalar @w, 1, 'port ' . $n->port . ': one worker subscribes')
        or diag @w;
}

# -- 2. a class invalidated on A misses on B within 1 s

for my $n (@ngx) {
    is_deeply([map { cache($n, $_) } qw(/api/a /api/a /page/p /page/p)],
              [qw(MISS HIT MISS HIT)], 'port ' . $n->port . ': stored');
}

my ($status, $json) = invalidate($A, 'class=api');
is($status, 200, 'A: the class is invalidated');
is_deeply([@$json{qw(generation broadcast)}], [1, 'ok'],
          'A: generation 1, broadcast');

my $t0 = time;
ok(wait_until(sub { cache($B, '/api/a') eq 'MISS' }, 1, 0.05),
   'B: the class misses within 1 s');
diag sprintf('B missed after %.0f ms', (time - $t0) * 1000);
is(cache($B, '/page/p'), 'HIT', 'B: the other class still hits');
is(cache($A, '/api/a'), 'MISS', 'A misses too');
is($redis->cli('GET', 'astro:cache:z:gen:api'), 1,
   'the generation in Redis is 1');

my $zb = zone_status($B);
is_deeply([@{ $zb->{classes}{api} || {} }{qw(generation)},
           @{ $zb->{classes}{api}{invalidations} || {} }{qw(local received)}],
          [1, 0, 1], 'B: generation 1, invalidated once from elsewhere');
is(($zb->{sync} || {})->{connected}, JSON::PP::true, 'B: connected');

# -- 3. Redis away during an invalidation: B catches up within sync

is_deeply([map { cache($B, '/api/a') } 1 .. 2], [qw(HIT HIT)],
          'B: stored again');

$redis->stop;

($status, $json) = invalidate($A, 'class=api');
is($status, 200, 'A: invalidated with Redis away');
is_deeply([@$json{qw(generation broadcast)}], [2, 'failed'],
          'A: generation 2, the broadcast failed');
is(cache($A, '/api/a'), 'MISS', 'A: the class misses here at once');

# away for 2 sync: the nodes' subscriptions and circuits back off to
# their longest (sync), the case the bound below is for
sleep 2 * $SYNC;
is(cache($B, '/api/a'), 'HIT', 'B: not told yet');

# Redis comes back empty: the nodes push what they have.  Each node
# subscribes again, and its circuit lets a poll through, within sync of
# Redis's return (both backoffs are at most sync=); a poll the circuit
# refused is tried again 100 ms later.  $TOL covers that retry's phase,
# the probe's reply and a connection's setup.
ok($redis->start, 'redis on 6430 starts again');
$t0 = time;
ok(wait_until(sub { cache($B, '/api/a') eq 'MISS' }, $SYNC + $TOL, 0.02),
   "B: the class misses within sync ($SYNC s) + $TOL s of Redis's return");
diag sprintf('B missed %.0f ms after Redis came back', (time - $t0) * 1000);
is($redis->cli('GET', 'astro:cache:z:gen:api'), 2,
   'the generation in Redis is 2 again');
ok(wait_until(sub { subscribers() == 2 }, $SYNC + 1),
   'both nodes subscribed again');

# -- 4. a key invalidated on A is removed on B

is_deeply([map { cache($B, '/page/k') } 1 .. 2], [qw(MISS HIT)],
          'B: /page/k stored');
my $file = $B->root . '/cache/' . md5_hex('page:0:/page/k');
ok(-f $file, 'B: its file is there');

($status, $json) = invalidate($A, 'key=page:0:/page/k');
is($status, 200, 'A: the key is invalidated');
is($json->{broadcast}, 'ok', 'A: broadcast');
ok(wait_until(sub { !-e $file }, 1, 0.02), 'B: the file is gone within 1 s');
is_deeply([map { cache($B, '/page/k') } 1 .. 2], [qw(MISS HIT)],
          'B: /page/k misses, then is stored again');
is(cache($B, '/page/p'), 'HIT', 'B: another key still hits');

# -- 5. the holder killed: another worker takes the subscription

my ($holder) = reverse map { /(\d+)#\d+: astro_cache_zone "z": this worker sub/
                          ? $1 : () } $B->error_log;
ok($holder, "B's holder is worker $holder");
kill 'KILL', $holder;
ok(wait_until(sub {
       subscribers() == 2
       && grep { /this worker subscribes .* \(the lease of $holder\)/ }
               $B->error_log
   }, 3), 'another worker of B took the subscription over');

($status, $json) = invalidate($A, 'class=page');
ok(wait_until(sub { cache($B, '/page/p') eq 'MISS' }, 1, 0.05),
   'B: a class invalidated on A misses within 1 s again');

# -- 6. a reload: the old workers let the subscription go and exit

my @old = $A->worker_pids;
ok($A->reload, 'A reloads');
ok(!grep({ !process_gone($_) } @old), 'its old workers exited');
ok(wait_until(sub { subscribers() == 2 }, 3),
   'one subscriber per node after the reload');

is_deeply([map { cache($A, '/page/p') } 1 .. 2], [qw(MISS HIT)],
          'A: /page/p stored at the class\'s generation now');
($status, $json) = invalidate($B, 'class=page');
is($json->{broadcast}, 'ok', 'B: invalidated, broadcast');
ok(wait_until(sub { cache($A, '/page/p') eq 'MISS' }, 1, 0.05),
   'A (reloaded) misses within 1 s');

# -- 7. Redis down at start: requests flow, invalidations are local

my $C = Astro::Instance->new(name => 'cache2', port => nginx_port(182),
                             workers => 2, http => body(8447, 6431));
chmod 0755, $C->root;
ok($C->start, 'nginx with no Redis on 6431 starts');
is_deeply([map { cache($C, '/api/a') } 1 .. 2], [qw(MISS HIT)],
          'C: stores and hits');
($status, $json) = invalidate($C, 'class=api');
is_deeply([$status, @$json{qw(generation broadcast)}], [200, 1, 'failed'],
          'C: invalidated here, the broadcast failed');
is(cache($C, '/api/a'), 'MISS', 'C: the class misses');
is((zone_status($C)->{sync} || {})->{connected}, JSON::PP::false,
   'C: not connected');

for (@ngx, $C) {
    my @bad = grep { !/exited on signal 9/ } $_->bad_lines;
    is(scalar @bad, 0, 'port ' . $_->port . ': no crash, alert or crit')
        or diag @bad;
}

$_->stop for @ngx, $C;
$redis->stop;

done_testing();
