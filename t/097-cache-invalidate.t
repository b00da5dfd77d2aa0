# astro_cache_invalidate on one node: a class invalidated (its generation
# in proxy_cache_key through $astro_cache_gen: the class's next request
# misses, another class still hits), generations kept across nginx -s
# reload; a key removed (hard: the file gone, the keys zone's entries
# and size back to what they were, also when the entry was in use) or
# expired (soft: EXPIRED, or STALE with a background update, never
# MISS); 400s that change nothing, 405 for GET and HEAD.  No Redis here:
# "broadcast" is "off".
#
# This file drives nginx itself (t/lib/Astro/Instance.pm) for the reload.
# Ports: nginx on 8441, its origin on 8440, an origin that answers when
# told on 8442.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::MD5 qw(md5_hex);
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use Test::More;
use Time::HiRes qw(sleep);
use Astro::Instance qw(wait_until);

my ($ORIGIN, $FRONT, $HELD) = (8440, 8441, 8442);

my $ngx = Astro::Instance->new(name => 'cache-inv', port => $FRONT,
                               workers => 2);

# the workers write the cache in the instance's directory
chmod 0755, $ngx->root;
my $root = $ngx->root;

my $show = 'add_header X-Cache $upstream_cache_status always;';

my $http = <<_EOC_;
    log_format astro_origin '\$request_uri';

    server {
        listen 127.0.0.1:$ORIGIN;
        access_log logs/origin.log astro_origin;
        location / { return 200 "\$request_uri \$request_id\\n"; }
    }

    proxy_cache_path $root/cache levels=1:2 keys_zone=keys:1m;

    astro_cache_zone inv:1m;
    astro_cache_ttl inv api 1h;
    astro_cache_ttl inv web 1h;
    astro_cache_ttl inv k 1h;

    map \$uri \$astro_class {
        ~^/api/   api;
        default   web;
    }

    server {
        listen 127.0.0.1:\$PORT;

        proxy_cache keys;
        proxy_cache_valid 200 1h;

        location / {
            astro_cache zone=inv class=\$astro_class;
            proxy_cache_key "\$astro_class:\$astro_cache_gen:\$uri";
            proxy_pass http://127.0.0.1:$ORIGIN;
            $show
        }

        location /k/ {
            astro_cache zone=inv class=k;
            proxy_cache_key "k:\$uri";
            proxy_pass http://127.0.0.1:$ORIGIN;
            $show
        }

        location /s/ {
            astro_cache zone=inv class=k;
            proxy_cache_key "s:\$uri";
            proxy_cache_use_stale updating;
            proxy_cache_background_update on;
            proxy_pass http://127.0.0.1:$ORIGIN;
            $show
        }

        location /h/ {
            astro_cache zone=inv class=k;
            proxy_cache_key "h:\$uri";
            proxy_read_timeout 10s;
            proxy_pass http://127.0.0.1:$HELD;
            $show
        }

        location = /inv { astro_cache_invalidate zone=inv cache=keys; }
        location = /inv-soft {
            astro_cache_invalidate zone=inv cache=keys mode=soft;
        }
        location = /inv-classes { astro_cache_invalidate zone=inv; }
    }
_EOC_

# "status X-Cache" of a GET, and its body
sub seen {
    my ($path) = @_;
    my $res = $ngx->get($path);
    my $cache = $res->{headers}{'x-cache'};
    return ("$res->{status} " . (defined $cache && length $cache ? $cache
                                                                 : '-'),
            $res->{body});
}

sub status_of { (seen(@_))[0] }

# the endpoint: (status, the JSON answer decoded, the response)
sub inv {
    my ($query, %o) = @_;
    my $res = $ngx->get(($o{loc} || '/inv') . (defined $query ? "?$query"
                                                                : ''),
                        method => $o{method} || 'POST',
                        headers => { 'Content-Length' => 0 });
    my $json = eval { JSON::PP::decode_json($res->{body}) };
    return ($res->{status}, $json, $res);
}

# the keys zone's entries and size, as the endpoint tells them
sub zone_now {
    my (undef, $j) = inv('key=none');
    return "$j->{entries} $j->{size}";
}

sub file_of {
    my ($key) = @_;
    my $md5 = md5_hex($key);
    return "$root/cache/" . substr($md5, -1) . '/' . substr($md5, -3, 2)
           . "/$md5";
}

sub origin_count {
    my ($re) = @_;
    open my $fh, '<', "$root/logs/origin.log" or return 0;
    my $n = grep { $_ =~ $re } <$fh>;
    close $fh;
    return $n;
}

ok($ngx->start($http), 'nginx starts');


# --- a class ---------------------------------------------------------------

is(status_of('/api/a'), '200 MISS', 'class api: stored');
my (undef, $api0) = seen('/api/a');
is(status_of('/api/a'), '200 HIT', 'class api: served from the cache');
is(status_of('/w/b'), '200 MISS', 'class web: stored');
is(status_of('/w/b'), '200 HIT', 'class web: served from the cache');

my ($st, $j) = inv('class=api');
is($st, 200, 'class invalidation: 200');
is_deeply($j, { invalidated => 'class', class => 'api', generation => 1,
                broadcast => 'off' },
          'class invalidation: the answer');

my ($s, $api1) = seen('/api/a');
is($s, '200 MISS', 'class api: the next request misses');
isnt($api1, $api0, 'class api: with a new answer of the origin');
is(status_of('/api/a'), '200 HIT', 'class api: stored again');
is(status_of('/w/b'), '200 HIT', 'class web: still served from the cache');
is(origin_count(qr{^/api/a$}), 2, 'the origin asked twice for /api/a');
is(origin_count(qr{^/w/b$}), 1, 'and once for /w/b');

# PURGE too
($st, $j) = inv('class=web', method => 'PURGE');
is($st, 200, 'PURGE: 200');
is($j->{generation}, 1, 'PURGE: class web at generation 1');
is(status_of('/w/b'), '200 MISS', 'class web: the next request misses');


# --- the generations across a reload ---------------------------------------

ok($ngx->reload($http), 'nginx -s reload');

# the entry of generation 0 is in the cache still: a generation back at 0
# would be served it
($s, my $after) = seen('/api/a');
is($s, '200 HIT', 'after the reload: class api hits');
is($after, $api1, 'the entry of generation 1, not of 0');

($st, $j) = inv('class=api');
is($j->{generation}, 2, 'after the reload: the next generation is 2');
is(status_of('/api/a'), '200 MISS', 'and class api misses');


# --- a key, hard -----------------------------------------------------------

my $before = zone_now();
like($before, qr/^\d+ \d+$/, "the keys zone's entries and size: $before");

is(status_of('/k/a'), '200 MISS', 'key: stored');
is(status_of('/k/a'), '200 HIT', 'key: served from the cache');
ok(-f file_of('k:/k/a'), 'key: its file');

my $stored = zone_now();
my ($e0, $s0) = split ' ', $before;
my ($e1, $s1) = split ' ', $stored;
is($e1, $e0 + 1, 'the keys zone: one entry more');
cmp_ok($s1, '>', $s0, 'the keys zone: larger');

my $mark = $ngx->log_mark;

($st, $j) = inv('key=k:/k/a');
is($st, 200, 'hard: 200');
is_deeply($j, { invalidated => 'key', key => 'k:/k/a', mode => 'hard',
                found => JSON::PP::true, in_use => JSON::PP::false,
                removed => JSON::PP::true, cache => 'keys',
                entries => $e0, size => $s0, broadcast => 'off' },
          "hard: the answer, the keys zone's entries and size as before")
    or diag explain $j;
ok(!-e file_of('k:/k/a'), 'hard: the file is gone');
is(status_of('/k/a'), '200 MISS', 'hard: the next request misses');
is(status_of('/k/a'), '200 HIT', 'hard: and stores it again');
is(zone_now(), $stored, 'the keys zone: as when it was first stored');

($st, $j) = inv('key=k:/k/none');
is_deeply([@$j{qw(found in_use removed)}],
          [JSON::PP::false, JSON::PP::false, JSON::PP::false],
          'hard: a key of no entry is not found');

# the same entry twice: the second finds nothing; its file gone already
# (ENOENT) is no error either
($st, $j) = inv('key=k:/k/a');
ok($j->{removed}, 'hard: removed');
unlink file_of('k:/k/a');
($st, $j) = inv('key=k:/k/a');
ok(!$j->{found}, 'hard, again: not found');

my @crit = grep { /\[(?:crit|alert|emerg)\]/ } $ngx->log_since($mark);
is(scalar @crit, 0, 'no crit, alert or emerg line') or diag @crit;

# an entry in use: a request waits on its origin while it is removed;
# the node stays to it and its store lands after, counted once
my $listen = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$HELD",
                                   Listen => 5, ReuseAddr => 1)
    or BAIL_OUT("listen on $HELD: $!");

my $held_before = zone_now();
my $h = $ngx->send_get('/h/x');
my $sel = IO::Select->new($listen);
ok($sel->can_read(5), 'in use: the front asks the held origin');
my $conn = $listen->accept;

($st, $j) = inv('key=h:/h/x');
is_deeply([@$j{qw(found in_use removed)}],
          [JSON::PP::true, JSON::PP::true, JSON::PP::false],
          'in use: found, in use, left to its request');

print {$conn} "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nheld\n";
close $conn;
my $res = $ngx->receive($h);
is("$res->{status} $res->{headers}{'x-cache'} $res->{body}",
   "200 MISS held\n", 'in use: its request has its answer');
is(status_of('/h/x'), '200 HIT', 'in use: its store landed after');

($st, $j) = inv('key=h:/h/x');
ok($j->{removed}, 'in use no more: removed');
is("$j->{entries} $j->{size}", $held_before,
   'the keys zone: as before the request');
close $listen;


# --- a key, soft -----------------------------------------------------------

is(status_of('/k/b'), '200 MISS', 'soft: stored');
my (undef, $b0) = seen('/k/b');
my $soft_before = zone_now();

($st, $j) = inv('key=k:/k/b', loc => '/inv-soft');
is($st, 200, 'soft: 200');
is_deeply($j, { invalidated => 'key', key => 'k:/k/b', mode => 'soft',
                found => JSON::PP::true, in_use => JSON::PP::false,
                expired => JSON::PP::true, cache => 'keys',
                entries => (split ' ', $soft_before)[0],
                size => (split ' ', $soft_before)[1], broadcast => 'off' },
          'soft: the answer, the keys zone unchanged')
    or diag explain $j;
ok(-f file_of('k:/k/b'), 'soft: the file stays');

($s, my $b1) = seen('/k/b');
is($s, '200 EXPIRED', 'soft: the next request finds it expired');
isnt($b1, $b0, 'soft: and has a new answer of the origin');
is(status_of('/k/b'), '200 HIT', 'soft: stored again');

# mode= of the request over the directive's; with stale updating and a
# background update, the stale answer at once, the refresh behind
is(status_of('/s/c'), '200 MISS', 'soft, stale: stored');
my (undef, $c0) = seen('/s/c');

($st, $j) = inv('key=s:/s/c&mode=soft');
is("$j->{mode} $j->{expired}", 'soft 1', 'mode=soft over the directive');

($s, my $c1) = seen('/s/c');
is($s, '200 STALE', 'soft, stale: the next request is served stale');
is($c1, $c0, 'soft, stale: the stored answer');
ok(wait_until(sub { origin_count(qr{^/s/c$}) == 2 }, 5),
   'soft, stale: refreshed in the background');
sleep 0.3;
($s, my $c2) = seen('/s/c');
is($s, '200 HIT', 'soft, stale: then a hit');
isnt($c2, $c0, 'soft, stale: of the refreshed answer');


# --- bad requests change nothing -------------------------------------------

(undef, $j) = inv('class=web');
my $web_gen = $j->{generation};
is(status_of('/w/b'), '200 MISS', 'class web stored at its generation');
is(status_of('/k/a'), '200 MISS', 'key stored again');
my $zone = zone_now();

my @bad = (
    [undef, 'no class or key'],
    ['', 'no class or key'],
    ['class=nope', 'unknown class'],
    ['class=web&key=k:/k/a', 'both class and key'],
    ['class=web&class=api', 'class given twice'],
    ['class=a%2Fb', 'invalid class'],
    ['class=' . ('a' x 65), 'class too long'],
    ['class=web&mode=soft', 'mode applies to a key only'],
    ['key=', 'empty key'],
    ['key=k:/k/a%zz', 'bad escape in key'],
    ['key=k:/k/a%0A', 'control byte in key'],
    ['key=' . ('k' x 4097), 'key too long'],
    ['key=k:/k/a&mode=later', 'mode must be soft or hard'],
    ['key=k:/k/a&x=1', 'unknown argument'],
);

for my $b (@bad) {
    my ($q, $error) = @$b;
    ($st, $j, $res) = inv($q);
    is("$st $res->{headers}{'content-type'}", '400 application/json',
       '400: ' . ($q // '(none)'));
    is_deeply($j, { error => $error }, "400: $error");
}

($st, $j) = inv('key=k:/k/a', loc => '/inv-classes');
is_deeply([$st, $j], [400, { error => 'no cache= for keys here' }],
          '400: a key where no cache= is');

for my $m (qw(GET HEAD)) {
    ($st, $j, $res) = inv('class=web', method => $m);
    is("$st $res->{headers}{allow}", '405 POST, PURGE', "$m: 405 and Allow");
}
is_deeply((inv('class=web', method => 'GET'))[1],
          { error => 'method not allowed' }, 'GET: the answer');

is(status_of('/w/b'), '200 HIT', 'class web: still served from the cache');
is(status_of('/k/a'), '200 HIT', 'key: still served from the cache');
is(zone_now(), $zone, 'the keys zone: unchanged');
(undef, $j) = inv('class=web');
is($j->{generation}, $web_gen + 1, 'class web: its generation went on by one');

# a key's JSON escaped
($st, $j) = inv('key=k:/k/%22q%5C');
is($j->{key}, 'k:/k/"q\\', 'a key with a quote and a backslash, escaped');

my @lines = $ngx->bad_lines;
is(scalar @lines, 0, 'no crash, crit, alert or emerg in the error log')
    or diag @lines;

done_testing();
