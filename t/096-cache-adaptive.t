# astro_cache_adaptive: TTLs scaled by the health zone's status when an
# entry is stored (degraded=2: twice, critical=4: four times, capped at
# max_ttl), new entries not admitted while memory is critical; admit=;
# churn: a class invalidated more than N times in a period gets its TTL
# multiplied by shrink until the rate falls.  The health zone reads a
# fake /proc the test writes.
#
# Ports: nginx on 8430, its origin on 8431 (t/lib/Astro/Cache.pm).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);
use Astro::Cache;

my $show = $Astro::Cache::SHOW;
my $o = $Astro::Cache::ORIGIN;

my $ngx = Astro::Cache::instance('cache-adaptive');
my $root = $ngx->root;

my $http = Astro::Cache::health_conf($root)
           . Astro::Cache::origin($o, <<'_EOC_') . <<"_EOC_";
        location / { return 200 "origin $request_uri\n"; }
_EOC_
    proxy_cache_path $root/cache keys_zone=c:1m;

    astro_cache_zone pol:1m;
    astro_cache_ttl pol c 10s;
    astro_cache_ttl pol ch 10s;
    astro_cache_adaptive pol degraded=2 critical=4 max_ttl=30s
                             churn=2/3s shrink=0.5;

    astro_cache_zone flat:1m;
    astro_cache_ttl flat c 10s;

    server {
        listen 127.0.0.1:\$PORT;
        proxy_cache c;
        proxy_cache_key \$uri\$is_args\$args;
$Astro::Cache::HEALTH_LOCATION
        location /a/ {
            astro_cache zone=pol class=c admit=\$arg_admit;
            proxy_pass http://127.0.0.1:$o/;
$show
        }
        location /ch/ {
            astro_cache zone=pol class=ch;
            proxy_pass http://127.0.0.1:$o/;
$show
        }
        location /flat/ {
            astro_cache zone=flat class=c;
            proxy_pass http://127.0.0.1:$o/;
$show
        }
        location = /inv {
            astro_cache_invalidate zone=pol;
        }
    }
_EOC_

Astro::Cache::health_files($ngx);

ok($ngx->start($http), 'nginx starts') or BAIL_OUT('nginx did not start');
ok(Astro::Cache::wait_health($ngx, 'healthy'), 'healthy');

my $n = sub { Astro::Cache::origin_count($ngx, $_[0]) };

is(Astro::Cache::seen($ngx, '/a/h?admit=1'), '200 MISS MISS 10',
   'healthy: 10 s');

# --- admit= --------------------------------------------------------------

for my $v ('off', '0', '') {
    my $p = "/a/adm?admit=$v";
    is(Astro::Cache::seen($ngx, $p), '200 MISS MISS -',
       "admit \"$v\": not stored");
    is(Astro::Cache::seen($ngx, $p), '200 MISS MISS -',
       "admit \"$v\": asked again");
}
is($n->(qr{^/adm\?}), 6, 'not admitted: the origin asked each time');
is(Astro::Cache::seen($ngx, '/a/adm?admit=yes'), '200 MISS MISS 10',
   'admit "yes": stored');
is(Astro::Cache::seen($ngx, '/a/adm?admit=yes'), '200 HIT HIT -', 'a hit');

# --- churn ------------------------------------------------------------------

SKIP: {
    my $res = $ngx->get('/inv?class=ch', method => 'POST');
    skip "astro_cache_invalidate answers $res->{status}: pending", 4
        unless $res->{status} == 200;

    is(Astro::Cache::seen($ngx, '/ch/1'), '200 MISS MISS 10',
       'one invalidation: 10 s');

    $ngx->get('/inv?class=ch', method => 'POST') for 1 .. 2;

    is(Astro::Cache::seen($ngx, '/ch/2'), '200 MISS MISS 5',
       'three invalidations in 3 s, over 2: 5 s (shrink=0.5)');
    is(Astro::Cache::seen($ngx, '/a/churn?admit=1'), '200 MISS MISS 10',
       'another class keeps its TTL');

    # the rate falls: none in the last period
    sleep(6.1);

    is(Astro::Cache::seen($ngx, '/ch/3'), '200 MISS MISS 10',
       'two periods later: 10 s again');
}

# --- the health factor ------------------------------------------------

Astro::Cache::health_files($ngx, busy => 800);
ok(Astro::Cache::wait_health($ngx, 'degraded'), 'degraded');

is(Astro::Cache::seen($ngx, '/a/d?admit=1'), '200 MISS MISS 20',
   'degraded: 10 s x 2');
is(Astro::Cache::seen($ngx, '/flat/d'), '200 MISS MISS 10',
   'a zone not adaptive: 10 s');

Astro::Cache::health_files($ngx, busy => 950);
ok(Astro::Cache::wait_health($ngx, 'critical'), 'critical');

is(Astro::Cache::seen($ngx, '/a/c?admit=1'), '200 MISS MISS 30',
   'critical: 10 s x 4, capped at max_ttl=30s');
is(Astro::Cache::seen($ngx, '/a/c?admit=1'), '200 HIT HIT -', 'a hit');

# --- critical memory: not admitted ----------------------------------------

Astro::Cache::health_files($ngx, available => 50000);
ok(Astro::Cache::wait_health($ngx, 'critical', '95.0'), 'memory critical');

is(Astro::Cache::seen($ngx, '/a/m?admit=1'), '200 MISS MISS -',
   'memory critical: not admitted');
is(Astro::Cache::seen($ngx, '/a/m?admit=1'), '200 MISS MISS -',
   'asked again');
is($n->(qr{^/m\?}), 2, 'the origin asked twice');
is(Astro::Cache::seen($ngx, '/a/h?admit=1'), '200 HIT HIT -',
   'an entry stored before is still served');
is(Astro::Cache::seen($ngx, '/flat/m'), '200 MISS MISS 10',
   'a zone not adaptive still stores');

Astro::Cache::health_files($ngx);
ok(Astro::Cache::wait_health($ngx, 'healthy', '40.0'), 'healthy again');

is(Astro::Cache::seen($ngx, '/a/m?admit=1'), '200 MISS MISS 10',
   'memory back: admitted, 10 s');
is(Astro::Cache::seen($ngx, '/a/m?admit=1'), '200 HIT HIT -', 'a hit');

is(join('', grep { !/astro_health_zone "health": status/ } $ngx->bad_lines),
   '', 'no other alert, crit or emerg');

done_testing();
