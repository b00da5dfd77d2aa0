# stale_if_error: an expired entry is served (STALE) while its origin
# fails, within stale_if_error of its expiry, without any
# proxy_cache_use_stale: the entry's stored error window does it.  Past
# the window, or in a class without one, the client gets the 502.
#
# Ports: nginx on 8430, its origin, an nginx of its own, on 8432
# (t/lib/Astro/Cache.pm).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(sleep_into_second);
use Astro::Cache;

my $show = $Astro::Cache::SHOW;
my $o = $Astro::Cache::ORIGIN2;

my $origin = Astro::Cache::instance('cache-origin', port => $o);
ok($origin->start(<<'_EOC_'), 'the origin starts')
    server {
        listen 127.0.0.1:$PORT;
        location / { return 200 "origin $request_uri\n"; }
    }
_EOC_
    or BAIL_OUT('the origin did not start');

my $ngx = Astro::Cache::instance('cache-stale-error');
my $root = $ngx->root;

ok($ngx->start(<<"_EOC_"), 'nginx starts') or BAIL_OUT('nginx did not start');
    proxy_cache_path $root/cache keys_zone=c:1m;

    astro_cache_zone pol:1m;
    astro_cache_ttl pol err 2s stale_if_error=5s;
    astro_cache_ttl pol plain 2s;

    server {
        listen 127.0.0.1:\$PORT;
        proxy_cache c;
        proxy_cache_key \$uri;
        proxy_connect_timeout 1s;

        location /err/ {
            astro_cache zone=pol class=err;
            proxy_pass http://127.0.0.1:$o/;
$show
        }
        location /plain/ {
            astro_cache zone=pol class=plain;
            proxy_pass http://127.0.0.1:$o/;
$show
        }
    }
_EOC_

# stored in second S: fresh until S + 2, servable on error until S + 7
sleep_into_second(0.05);
my $s = int(time);

is(Astro::Cache::seen($ngx, '/err/a'), '200 MISS MISS 2', 'err: stored');
is(Astro::Cache::seen($ngx, '/plain/a'), '200 MISS MISS 2', 'plain: stored');

$origin->stop;

sleep($s + 3.05 - time);

my $res = $ngx->get('/err/a');
is(Astro::Cache::show($res), '200 STALE STALE -',
   'origin down, expired, in stale_if_error: STALE');
is($res->{body}, "origin /a\n", 'the stored body');

$res = $ngx->get('/plain/a');
is($res->{status}, 502, 'plain: no error window, 502');
is($res->{headers}{'x-cache'}, 'EXPIRED', 'plain: EXPIRED');

sleep($s + 6.05 - time);

is(Astro::Cache::seen($ngx, '/err/a'), '200 STALE STALE -',
   'still STALE at the end of the window');

sleep($s + 8.05 - time);

$res = $ngx->get('/err/a');
is($res->{status}, 502, 'past stale_if_error: 502');
is($res->{headers}{'x-cache'}, 'EXPIRED', 'EXPIRED');

is(join('', $ngx->bad_lines), '', 'no alert, crit or emerg');

done_testing();
