# proxy_cache_revalidate: an expired entry revalidated by a 304 gets its
# class's TTL again (REVALIDATED, then HIT), or it would be revalidated
# on every request.  A 304 that carries its own expiry wins in every
# origin= mode: nginx takes it over what the filter set (a limit).
#
# Ports: nginx on 8430, its origin on 8431 (t/lib/Astro/Cache.pm).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Path qw(make_path);
use Test::More;
use Time::HiRes qw(sleep);
use Astro::Instance qw(sleep_into_second);
use Astro::Cache;

my $show = $Astro::Cache::SHOW;
my $o = $Astro::Cache::ORIGIN;

# static files: ETag and Last-Modified, a 304 to If-None-Match
my $http = Astro::Cache::origin($o, <<'_EOC_') . <<"_EOC_";
        location /static/ { root $PREFIX/html; }
        location /static-cc/ {
            alias $PREFIX/html/static/;
            expires 10s;
        }
_EOC_
    proxy_cache_path \$PREFIX/cache keys_zone=c:1m;
    proxy_cache_revalidate on;

    astro_cache_zone pol:1m;
    astro_cache_ttl pol short 2s;

    server {
        listen 127.0.0.1:\$PORT;
        proxy_cache c;
        proxy_cache_key \$uri;

        location /r/ {
            astro_cache zone=pol class=short;
            proxy_pass http://127.0.0.1:$o/static/;
$show
        }
        location /cc/ {
            astro_cache zone=pol class=short origin=override;
            proxy_pass http://127.0.0.1:$o/static-cc/;
$show
        }
    }
_EOC_

my $ngx = Astro::Cache::instance('cache-revalidate');
my $root = $ngx->root;
$http =~ s/\$PREFIX/$root/g;

make_path("$root/html/static");
for my $f (qw(a.txt b.txt)) {
    open my $fh, '>', "$root/html/static/$f" or die "$f: $!";
    print $fh "static $f\n";
    close $fh;
}
chmod 0755, "$root/html", "$root/html/static";

ok($ngx->start($http), 'nginx starts') or BAIL_OUT('nginx did not start');

my $n = sub { Astro::Cache::origin_count($ngx, $_[0]) };

sleep_into_second(0.1);

is(Astro::Cache::seen($ngx, '/r/a.txt'), '200 MISS MISS 2', 'stored 2 s');
is(Astro::Cache::seen($ngx, '/cc/b.txt'), '200 MISS MISS 2',
   'override: 2 s over max-age=10');
is(Astro::Cache::seen($ngx, '/r/a.txt'), '200 HIT HIT -', 'a hit');

sleep(3.1);

is(Astro::Cache::seen($ngx, '/r/a.txt'), '200 REVALIDATED REVALIDATED 2',
   'expired: revalidated, valid 2 s again');
is($n->(qr{^/static/a\.txt 304}), 1, 'the origin answered 304');
is(Astro::Cache::seen($ngx, '/r/a.txt'), '200 HIT HIT -',
   'then a hit, not another revalidation');
is($n->(qr{^/static/a\.txt }), 2, 'the origin asked twice in all');

# the 304's max-age=10 wins over the class's 2 s
is(Astro::Cache::seen($ngx, '/cc/b.txt'), '200 REVALIDATED REVALIDATED 2',
   'override: revalidated');

sleep(3.1);

is(Astro::Cache::seen($ngx, '/r/a.txt'), '200 REVALIDATED REVALIDATED 2',
   'expired again after 2 s: revalidated');
is($n->(qr{^/static/a\.txt 304}), 2, 'a second 304');
is(Astro::Cache::seen($ngx, '/cc/b.txt'), '200 HIT HIT -',
   "the 304's own expiry (10 s) was kept");

is(join('', $ngx->bad_lines), '', 'no alert, crit or emerg');

done_testing();
