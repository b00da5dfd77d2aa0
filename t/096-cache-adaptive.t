# astro_cache_adaptive: TTLs scaled by the health zone's status when an
# entry is stored (degraded=2: twice, critical=4: four times, capped at
# max_ttl), new entries not admitted while memory is critical; admit=;
# churn: a class invalidated more than N times in a period gets its TTL
# multiplied by shrink until the rate falls.  The health zone reads a
# fake /proc the test writes.  The status shows each: the zone's factor,
# the class's ttl_applied, not_admitted by admit= and by memory.
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
        location /astro/status {
            astro_status;
        }
    }
_EOC_

Astro::Cache::health_files($ngx);

ok($ngx->start($http), 'nginx starts') or BAIL_OUT('nginx did not start');
ok(Astro::Cache::wait_health($ngx, 'healthy'), 'healthy');

my $n = sub { Astro::Cache::origin_count($ngx, $_[0]) };

# the status: the zone pol's factor, the ttl_applied of its class c and
# of the zone flat's class c, the not_admitted of pol's c
my $st = sub {
    my $z = $ngx->status->{modules}{cache}{zones};
    my $na = $z->{pol}{classes}{c}{not_admitted};
    return sprintf 'factor %s/%s ttl_applied %s/%s not_admitted %s/%s',
        map { $_ // 'none' } $z->{pol}{factor}, $z->{flat}{factor},
                             $z->{pol}{classes}{c}{ttl_applied},
                             $z->{flat}{classes}{c}{ttl_applied},
                             $na->{admit}, $na->{memory};
};

is(Astro::Cache::seen($ngx, '/a/h?admit=1'), '200 MISS MISS 10',
   'healthy: 10 s');
is($st->(), 'factor 1/1 ttl_applied 10/0 not_admitted 0/0',
   'status healthy: factor 1, 10 s applied');

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
is($st->(), 'factor 1/1 ttl_applied 10/0 not_admitted 6/0',
   'status: 6 not admitted by admit=');

# --- churn ------------------------------------------------------------------

# a failing endpoint fails the checks: no SKIP
my $inv = $ngx->get('/inv?class=ch', method => 'POST');
is($inv->{status}, 200, 'the class ch invalidated');

is(Astro::Cache::seen($ngx, '/ch/1'), '200 MISS MISS 10',
   'one invalidation: 10 s');

is(join(' ', map { $ngx->get('/inv?class=ch', method => 'POST')->{status} }
                 1 .. 2),
   '200 200', 'two more invalidations');

is(Astro::Cache::seen($ngx, '/ch/2'), '200 MISS MISS 5',
   'three invalidations in 3 s, over 2: 5 s (shrink=0.5)');
is(Astro::Cache::seen($ngx, '/a/churn?admit=1'), '200 MISS MISS 10',
   'another class keeps its TTL');

# the rate falls: none in the last period
sleep(6.1);

is(Astro::Cache::seen($ngx, '/ch/3'), '200 MISS MISS 10',
   'two periods later: 10 s again');

# --- the health factor ------------------------------------------------

Astro::Cache::health_files($ngx, busy => 800);
ok(Astro::Cache::wait_health($ngx, 'degraded'), 'degraded');

is(Astro::Cache::seen($ngx, '/a/d?admit=1'), '200 MISS MISS 20',
   'degraded: 10 s x 2');
is(Astro::Cache::seen($ngx, '/flat/d'), '200 MISS MISS 10',
   'a zone not adaptive: 10 s');
is($st->(), 'factor 2/1 ttl_applied 20/10 not_admitted 6/0',
   'status degraded: factor 2, 20 s applied; flat: 1, 10 s');

Astro::Cache::health_files($ngx, busy => 950);
ok(Astro::Cache::wait_health($ngx, 'critical'), 'critical');

is(Astro::Cache::seen($ngx, '/a/c?admit=1'), '200 MISS MISS 30',
   'critical: 10 s x 4, capped at max_ttl=30s');
is(Astro::Cache::seen($ngx, '/a/c?admit=1'), '200 HIT HIT -', 'a hit');
is($st->(), 'factor 4/1 ttl_applied 30/10 not_admitted 6/0',
   'status critical: factor 4, 30 s applied (max_ttl)');

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
is($st->(), 'factor 4/1 ttl_applied 30/10 not_admitted 6/2',
   'status memory critical: 2 not admitted for memory');

Astro::Cache::health_files($ngx);
ok(Astro::Cache::wait_health($ngx, 'healthy', '40.0'), 'healthy again');

is(Astro::Cache::seen($ngx, '/a/m?admit=1'), '200 MISS MISS 10',
   'memory back: admitted, 10 s');
is(Astro::Cache::seen($ngx, '/a/m?admit=1'), '200 HIT HIT -', 'a hit');
is($st->(), 'factor 1/1 ttl_applied 10/10 not_admitted 6/2',
   'status healthy again: factor 1, 10 s applied');

my $prom = $ngx->get('/astro/status?format=prometheus')->{body};
my %sample = $prom =~ /^(astro_cache_\S+) (\S+)$/mg;
is(join(' ', map {
       $sample{"astro_cache_not_admitted_total{zone=\"pol\",class=\"c\","
               . "reason=\"$_\"}"} // 'none'
   } qw(admit memory)),
   '6 2', 'astro_cache_not_admitted_total: admit 6, memory 2');

is(join('', grep { !/astro_health_zone "health": status/ } $ngx->bad_lines),
   '', 'no other alert, crit or emerg');

done_testing();
