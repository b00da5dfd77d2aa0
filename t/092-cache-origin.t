# The origin's headers against a class, in each origin= mode: respect
# (the origin's expiry wins), override (the class's), min (the shorter);
# against X-Accel-Expires, Cache-Control max-age and Expires, with the
# origin's precedence among them kept (X-Accel-Expires first).  And what
# is never stored, whatever proxy_ignore_headers says: Set-Cookie,
# Cache-Control private or no-store, Vary: *.  What the origin makes
# uncacheable (Cache-Control no-cache or max-age=0, X-Accel-Expires: 0,
# an Expires past) stays so in every mode, override included.
#
# Ports: nginx on 8430, its origin on 8431 (t/lib/Astro/Cache.pm).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use POSIX qw(strftime);
use Test::More;
use Astro::Cache;

my $show = $Astro::Cache::SHOW;
my $o = $Astro::Cache::ORIGIN;

# An Expires 30 s from when the configuration is written: its TTL is
# 30 s less the time the requests take, checked within 25..30.
my $expires = strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime(time + 30));

my $origin = <<"_EOC_";
        location /xae/ {
            add_header X-Accel-Expires 7;
            return 200 "xae\\n";
        }
        location /cc/ {
            add_header Cache-Control "public, max-age=8";
            return 200 "cc\\n";
        }
        location /exp/ {
            add_header Expires "$expires";
            return 200 "exp\\n";
        }
        location /both/ {
            add_header X-Accel-Expires 7;
            add_header Cache-Control "max-age=100";
            return 200 "both\\n";
        }
        location /none/ { return 200 "none\\n"; }
        location /cookie/ {
            add_header Set-Cookie "s=1";
            return 200 "cookie\\n";
        }
        location /private/ {
            add_header Cache-Control "private, max-age=100";
            return 200 "private\\n";
        }
        location /nostore/ {
            add_header Cache-Control "no-store";
            return 200 "nostore\\n";
        }
        location /vary/ {
            add_header Vary "*";
            return 200 "vary\\n";
        }
        location /nocache/ {
            add_header Cache-Control "no-cache";
            return 200 "nocache\\n";
        }
        location /maxage0/ {
            add_header Cache-Control "max-age=0";
            return 200 "maxage0\\n";
        }
        location /xae0/ {
            add_header X-Accel-Expires 0;
            return 200 "xae0\\n";
        }
        location /past/ {
            add_header Expires "Thu, 01 Jan 1970 00:00:01 GMT";
            return 200 "past\\n";
        }
_EOC_

my $front = '';

for my $mode (qw(respect override min)) {
    $front .= <<"_EOC_";
        location /$mode/ {
            astro_cache zone=pol class=\$arg_c origin=$mode;
            proxy_pass http://127.0.0.1:$o/;
$show
        }
_EOC_
}

my $http = Astro::Cache::origin($o, $origin) . <<"_EOC_";
    proxy_cache_path \$PREFIX/cache keys_zone=c:1m;

    astro_cache_zone pol:1m;
    astro_cache_ttl pol long 60s;
    astro_cache_ttl pol short 5s;

    server {
        listen 127.0.0.1:\$PORT;
        proxy_cache c;
        proxy_cache_key \$uri\$is_args\$args;

$front

        # what nginx would store, ignoring the headers, were it not for
        # the module
        location /ignore/ {
            astro_cache zone=pol class=long;
            proxy_ignore_headers Set-Cookie Cache-Control Vary Expires
                                 X-Accel-Expires;
            proxy_cache_valid 200 60s;
            proxy_pass http://127.0.0.1:$o/;
$show
        }
        location /plain/ {
            astro_cache zone=pol class=long;
            proxy_pass http://127.0.0.1:$o/;
$show
        }
    }
_EOC_

my $ngx = Astro::Cache::instance('cache-origin');
$http =~ s/\$PREFIX/$ngx->root/ge;

ok($ngx->start($http), 'nginx starts') or BAIL_OUT('nginx did not start');

sub ttl {
    my ($path) = @_;
    my $res = $ngx->get($path);
    return Astro::Cache::show($res) =~ /^200 MISS MISS (\S+)$/ ? $1
           : Astro::Cache::show($res);
}

# mode => class => [xae, cc, both, none]; Expires apart (a range)
my %want = (
    respect  => { long => [7, 8, 7, 60], short => [7, 8, 7, 5] },
    override => { long => [60, 60, 60, 60], short => [5, 5, 5, 5] },
    min      => { long => [7, 8, 7, 60], short => [5, 5, 5, 5] },
);

for my $mode (qw(respect override min)) {
    for my $class (qw(long short)) {
        my @w = @{ $want{$mode}{$class} };
        my $i = 0;
        for my $h (qw(xae cc both none)) {
            is(ttl("/$mode/$h/?c=$class"), $w[$i++],
               "origin=$mode, class $class, $h");
        }

        my $t = ttl("/$mode/exp/?c=$class");
        if ($mode eq 'override' || ($mode eq 'min' && $class eq 'short')) {
            is($t, $class eq 'long' ? 60 : 5,
               "origin=$mode, class $class, Expires");
        } else {
            ok($t =~ /^\d+$/ && $t >= 25 && $t <= 30,
               "origin=$mode, class $class, Expires: $t in 25..30");
        }
    }
}

# the entries are stored as told: a hit each
is(Astro::Cache::seen($ngx, '/min/xae/?c=long'), '200 HIT HIT -',
   'stored: a hit');
is(Astro::Cache::origin_count($ngx, qr{^/xae/\?c=long }), 3,
   'xae?c=long asked once per mode');

# --- never stored ------------------------------------------------------------

for my $h (qw(cookie private nostore vary)) {
    for my $loc (qw(plain ignore)) {
        is(Astro::Cache::seen($ngx, "/$loc/$h/"), '200 MISS MISS -',
           "$loc: $h, not stored");
        is(Astro::Cache::seen($ngx, "/$loc/$h/"), '200 MISS MISS -',
           "$loc: $h, asked again");
    }
    is(Astro::Cache::origin_count($ngx, qr{^/$h/ }), 4,
       "$h: the origin asked each time");
}

# --- uncacheable by the origin, in every origin= mode ------------------------

# docs/cache.md: a response the origin makes uncacheable for nginx stays
# so; a module can keep a response out, not put one in (override too)
for my $h (qw(nocache maxage0 xae0 past)) {
    for my $mode (qw(respect override min)) {
        is(Astro::Cache::seen($ngx, "/$mode/$h/?c=long"), '200 MISS MISS -',
           "origin=$mode: $h, not stored");
        is(Astro::Cache::seen($ngx, "/$mode/$h/?c=long"), '200 MISS MISS -',
           "origin=$mode: $h, asked again");
    }
    is(Astro::Cache::origin_count($ngx, qr{^/$h/\?c=long }), 6,
       "$h: the origin asked each time");
}

# the control: what /ignore/ stores otherwise
is(Astro::Cache::seen($ngx, '/ignore/none/'), '200 MISS MISS 60',
   'ignore: a plain response is stored');
is(Astro::Cache::seen($ngx, '/ignore/none/'), '200 HIT HIT -', 'a hit');

is(join('', $ngx->bad_lines), '', 'no alert, crit or emerg');

done_testing();
