# astro_cache inherited: set at http level it applies in a location with
# none of its own; set at server level it overrides http's there; a
# location's own, and an outer location's for a nested one, win;
# "astro_cache off;" in a location turns an inherited one off (nginx
# alone then, which stores nothing without proxy_cache_valid, and
# nothing is counted).  No proxy_cache_valid anywhere: a TTL seen is the
# module's.
#
# Ports: nginx on 8542, its origin on 8543.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Astro::Cache;

my ($FRONT, $ORIGIN) = (8542, 8543);

my $show = $Astro::Cache::SHOW;

my $ngx = Astro::Cache::instance('cache-inherit', port => $FRONT);
my $root = $ngx->root;

# server "a" inherits http's astro_cache (class long); server "b" has
# its own (class short)
my $http = Astro::Cache::origin($ORIGIN, <<'_ORIGIN_') . <<"_EOC_";
        location / { return 200 "origin $request_uri\n"; }
_ORIGIN_
    proxy_cache_path $root/cache keys_zone=c145i:1m;

    astro_cache_zone z145i:1m;
    astro_cache_ttl z145i long 1h;
    astro_cache_ttl z145i short 2s;
    astro_cache_ttl z145i mid 60s;

    astro_cache zone=z145i class=long;

    server {
        listen 127.0.0.1:\$PORT;
        server_name a;
        proxy_cache c145i;
        proxy_cache_key \$host\$uri;

        location /inh/ {
            proxy_pass http://127.0.0.1:$ORIGIN/;
$show
        }
        location /off/ {
            astro_cache off;
            proxy_pass http://127.0.0.1:$ORIGIN/;
$show
        }
        location /outer/ {
            astro_cache zone=z145i class=mid;

            location /outer/in/ {
                proxy_pass http://127.0.0.1:$ORIGIN/;
$show
            }
        }
        location /astro/status {
            astro_status;
        }
    }

    server {
        listen 127.0.0.1:\$PORT;
        server_name b;
        proxy_cache c145i;
        proxy_cache_key \$host\$uri;
        astro_cache zone=z145i class=short;

        location /inh/ {
            proxy_pass http://127.0.0.1:$ORIGIN/;
$show
        }
        location /off/ {
            astro_cache off;
            proxy_pass http://127.0.0.1:$ORIGIN/;
$show
        }
        location /own/ {
            astro_cache zone=z145i class=mid;
            proxy_pass http://127.0.0.1:$ORIGIN/;
$show
        }
    }
_EOC_

ok($ngx->start($http), 'nginx starts') or BAIL_OUT('nginx did not start');

sub seen {
    my ($host, $path) = @_;
    my $res = $ngx->get($path, headers => { Host => $host });
    return Astro::Cache::show($res) . ' ' . ($res->{headers}{'x-class'}
                                             // '-');
}

my $n = sub { Astro::Cache::origin_count($ngx, $_[0]) };

# http level, in server a's location
is(seen('a', '/inh/1'), '200 MISS MISS 3600 long',
   'http level: class long in a location without astro_cache');
is(seen('a', '/inh/1'), '200 HIT HIT - long', 'stored: a hit');

# astro_cache off over http's
is(seen('a', '/off/2'), '200 MISS - - -', 'off over http level: nginx alone');
is(seen('a', '/off/2'), '200 MISS - - -', 'which stores nothing');
is($n->(qr{^/2 }), 2, 'off: the origin asked twice');

# an outer location's, in a nested one
is(seen('a', '/outer/in/3'), '200 MISS MISS 60 mid',
   'the outer location\'s astro_cache in a nested one');

# server level over http's
is(seen('b', '/inh/4'), '200 MISS MISS 2 short',
   'server level: class short over http\'s long');
is(seen('b', '/inh/4'), '200 HIT HIT - short', 'stored: a hit');

# astro_cache off over the server's
is(seen('b', '/off/5'), '200 MISS - - -',
   'off over server level: nginx alone');
is(seen('b', '/off/5'), '200 MISS - - -', 'which stores nothing');
is($n->(qr{^/5 }), 2, 'off: the origin asked twice');

# a location's own over the server's
is(seen('b', '/own/6'), '200 MISS MISS 60 mid',
   'a location\'s own over the server\'s');

# the status: only the locations with astro_cache counted
my $classes = $ngx->status->{modules}{cache}{zones}{z145i}{classes};
is(join(' ', map {
       my $r = $classes->{$_}{requests};
       "$_=" . join('/', map { $r->{$_} // 'none' } qw(miss hit))
              . "/$classes->{$_}{stored}"
   } qw(long short mid default)),
   'long=1/1/1 short=1/1/1 mid=2/0/2 default=0/0/0',
   'miss/hit/stored by class: the off locations not counted');

is_deeply([$ngx->bad_lines], [], 'no crit, alert or crash in the error log');

$ngx->stop;

done_testing();
