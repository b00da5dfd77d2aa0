# The TTL of a class, with no proxy_cache_valid: stored for the class's
# TTL, served from the cache, asked again once it expired (nginx says
# EXPIRED: the entry is still in its keys zone); a class chosen by the
# origin's Content-Type; status= and the default class; the default
# status list (301 stored, 302 and 500 not).
#
# Ports: nginx on 8430, its origin on 8431 (t/lib/Astro/Cache.pm).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);
use Astro::Instance qw(sleep_into_second);
use Astro::Cache;

my $show = $Astro::Cache::SHOW;
my $o = $Astro::Cache::ORIGIN;

my $http = Astro::Cache::origin($o, <<'_EOC_') . <<"_EOC_";
        location /plain/ { return 200 "plain \$request_uri\\n"; }
        location /json/ {
            default_type application/json;
            return 200 "{}\\n";
        }
        location /html/ {
            default_type text/html;
            return 200 "<p>\\n";
        }
        location /missing/ { return 404; }
        location /moved/ { return 301 /elsewhere; }
        location /found/ { return 302 /elsewhere; }
        location /failed/ { return 500; }
_EOC_
    proxy_cache_path \$PREFIX/cache keys_zone=c:1m;

    astro_cache_zone pol:1m;
    astro_cache_ttl pol short 2s;
    astro_cache_ttl pol json 1s;
    astro_cache_ttl pol html 60s;
    astro_cache_ttl pol ok 60s status=200;
    astro_cache_ttl pol codes 60s status=302 500;

    map \$upstream_http_content_type \$astro_by_type {
        ~json   json;
        default html;
    }

    server {
        listen 127.0.0.1:\$PORT;
        proxy_cache c;
        proxy_cache_key \$uri;

        location /short/ {
            astro_cache zone=pol class=short;
            proxy_pass http://127.0.0.1:$o/plain/;
$show
        }
        location /default/ {
            astro_cache zone=pol;
            proxy_pass http://127.0.0.1:$o/plain/;
$show
        }
        location /type/ {
            astro_cache zone=pol class=\$astro_by_type;
            proxy_pass http://127.0.0.1:$o/;
$show
        }
        location /ok/ {
            astro_cache zone=pol class=ok;
            proxy_pass http://127.0.0.1:$o/missing/;
$show
        }
        location /any/ {
            astro_cache zone=pol;
            proxy_pass http://127.0.0.1:$o/missing/;
$show
        }
        location /any-code/ {
            astro_cache zone=pol;
            proxy_pass http://127.0.0.1:$o/;
$show
        }
        location /codes/ {
            astro_cache zone=pol class=codes;
            proxy_pass http://127.0.0.1:$o/;
$show
        }
        location /off/ {
            astro_cache off;
            proxy_pass http://127.0.0.1:$o/plain/;
$show
        }
    }
_EOC_

my $ngx = Astro::Cache::instance('cache-ttl');
$http =~ s/\$PREFIX/$ngx->root/ge;

ok($ngx->start($http), 'nginx starts') or BAIL_OUT('nginx did not start');

my $n = sub { Astro::Cache::origin_count($ngx, $_[0]) };

# --- the class's TTL ---------------------------------------------------------

sleep_into_second(0.1);

is(Astro::Cache::seen($ngx, '/short/a'), '200 MISS MISS 2',
   'short: a miss, stored for 2 s');
is(Astro::Cache::seen($ngx, '/short/a'), '200 HIT HIT -', 'then a hit');
is($n->(qr{^/plain/a }), 1, 'the origin asked once');

# stored at second S for 2 s: fresh while the clock shows S + 2

sleep(3.1);

is(Astro::Cache::seen($ngx, '/short/a'), '200 EXPIRED EXPIRED 2',
   'after 2 s: expired, asked again, stored again');
is($n->(qr{^/plain/a }), 2, 'the origin asked twice');
is(Astro::Cache::seen($ngx, '/short/a'), '200 HIT HIT -', 'a hit again');

# --- the default class: 5 minutes ------------------------------------------

is(Astro::Cache::seen($ngx, '/default/b'), '200 MISS MISS 300',
   'no class: "default", 300 s');
my $res = $ngx->get('/default/b');
is($res->{headers}{'x-class'}, 'default', '$astro_cache_class default');
is(Astro::Cache::show($res), '200 HIT HIT -', 'a hit');

# --- the class by the origin's Content-Type ----------------------------------

sleep_into_second(0.1);

$res = $ngx->get('/type/json/c');
is(Astro::Cache::show($res), '200 MISS MISS 1', 'application/json: 1 s');
is($res->{headers}{'x-class'}, 'json', 'class json');

$res = $ngx->get('/type/html/c');
is(Astro::Cache::show($res), '200 MISS MISS 60', 'text/html: 60 s');
is($res->{headers}{'x-class'}, 'html', 'class html');

$res = $ngx->get('/type/json/c');
is(Astro::Cache::show($res), '200 HIT HIT -', 'json: a hit');
is($res->{headers}{'x-class'}, 'json', 'of class json, by the cached type');

sleep(2.1);

is(Astro::Cache::seen($ngx, '/type/json/c'), '200 EXPIRED EXPIRED 1',
   'json expired after 1 s');
is(Astro::Cache::seen($ngx, '/type/html/c'), '200 HIT HIT -',
   'html still a hit');
is($n->(qr{^/json/c }), 2, 'json asked twice');
is($n->(qr{^/html/c }), 1, 'html asked once');

# --- status= ---------------------------------------------------------------

is(Astro::Cache::seen($ngx, '/ok/d'), '404 MISS MISS -',
   'status=200: a 404 is not of the class');
is(Astro::Cache::seen($ngx, '/ok/d'), '404 MISS MISS -', 'nor stored');
is($n->(qr{^/missing/d }), 2, 'the origin asked twice');

is(Astro::Cache::seen($ngx, '/any/e'), '404 MISS MISS 300',
   'the default list has 404');
is(Astro::Cache::seen($ngx, '/any/e'), '404 HIT HIT -', 'stored');

# the default list (200 203 204 206 301 404 410): a 301 is stored, a 302
# and a 500 are not (no proxy_cache_valid: nothing else stores them)
is(Astro::Cache::seen($ngx, '/any-code/moved/g'), '301 MISS MISS 300',
   'the default list has 301');
is(Astro::Cache::seen($ngx, '/any-code/moved/g'), '301 HIT HIT -', 'stored');

for my $c (['found', 302], ['failed', 500]) {
    my ($p, $code) = @$c;
    is(Astro::Cache::seen($ngx, "/any-code/$p/h"), "$code MISS MISS -",
       "the default list has no $code");
    is(Astro::Cache::seen($ngx, "/any-code/$p/h"), "$code MISS MISS -",
       "a $code not stored");
    is($n->(qr{^/$p/h }), 2, "$code: the origin asked twice");

    # the control: a class whose status= has it stores it
    is(Astro::Cache::seen($ngx, "/codes/$p/i"), "$code MISS MISS 60",
       "status=302 500: a $code stored 60 s");
    is(Astro::Cache::seen($ngx, "/codes/$p/i"), "$code HIT HIT -",
       "status=302 500: a $code hit");
}

# --- astro_cache off: nginx's own (no proxy_cache_valid: nothing stored) ----

is(Astro::Cache::seen($ngx, '/off/f'), '200 MISS - -', 'off: nginx alone');
is(Astro::Cache::seen($ngx, '/off/f'), '200 MISS - -', 'which stores nothing');

is(join('', $ngx->bad_lines), '', 'no alert, crit or emerg');

done_testing();
