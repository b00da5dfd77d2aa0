# The status section "cache" against an access log: after a scripted mix
# of requests (misses, hits, an expiry, a bypass, responses never stored,
# a class invalidation), each class's counts by status equal the lines
# of a log_format of $upstream_cache_status and $astro_cache_status, and
# the Prometheus output parses, with the section's names and types.
#
# Ports: nginx on 8451, its origin on 8450.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);
use Astro::Instance;
use Astro::Cache;

my ($FRONT, $ORIGIN) = (8451, 8450);

my @STATUSES = qw(hit miss expired stale updating revalidated bypass
                  refresh);

my $ngx = Astro::Cache::instance('cache-status', port => $FRONT);
my $root = $ngx->root;

my $http = Astro::Cache::origin($ORIGIN, <<'_ORIGIN_') . <<_EOC_;
        location / { return 200 "$uri\n"; }
        location /c/cookie/ {
            add_header Set-Cookie "a=b";
            return 200 "$uri\n";
        }
_ORIGIN_
    proxy_cache_path $root/cache keys_zone=c099:1m;

    astro_cache_zone z099:1m;
    astro_cache_ttl z099 short 2s;
    astro_cache_ttl z099 long 1h;

    map \$uri \$c099_class {
        ~^/c/short/  short;
        ~^/c/long/   long;
        default      default;
    }

    log_format c099 '\$astro_cache_class \$upstream_cache_status '
                    '\$astro_cache_status';

    server {
        listen 127.0.0.1:\$PORT;

        location /c/ {
            proxy_cache c099;
            proxy_cache_key \$astro_cache_gen:\$uri;
            proxy_cache_bypass \$arg_nocache;
            proxy_ignore_headers Set-Cookie;
            astro_cache zone=z099 class=\$c099_class;
            access_log logs/cache.log c099;
$Astro::Cache::SHOW
            proxy_pass http://127.0.0.1:$ORIGIN;
        }

        location = /inv {
            astro_cache_invalidate zone=z099;
        }

        location /astro/status {
            astro_status;
        }
    }
_EOC_

ok($ngx->start($http), 'nginx starts') or BAIL_OUT('nginx did not start');

# the mix: [path, the "status X-Cache X-Astro X-TTL" expected]

my @mix = (
    ['/c/long/a',           '200 MISS MISS 3600'],
    ['/c/long/a',           '200 HIT HIT -'],
    ['/c/long/a',           '200 HIT HIT -'],
    ['/c/long/b',           '200 MISS MISS 3600'],
    ['/c/long/a?nocache=1', '200 BYPASS BYPASS 3600'],
    ['/c/short/x',          '200 MISS MISS 2'],
    ['/c/short/x',          '200 HIT HIT -'],
    ['/c/d/y',              '200 MISS MISS 300'],
    ['/c/d/y',              '200 HIT HIT -'],
    ['/c/cookie/z',         '200 MISS MISS -'],
    ['/c/cookie/z',         '200 MISS MISS -'],
);

for my $m (@mix) {
    is(Astro::Cache::seen($ngx, $m->[0]), $m->[1], $m->[0]);
}

# the short class's TTL runs out: EXPIRED, then stored again

sleep 3.2;

is(Astro::Cache::seen($ngx, '/c/short/x'), '200 EXPIRED EXPIRED 2',
   '/c/short/x after its TTL');
is(Astro::Cache::seen($ngx, '/c/short/x'), '200 HIT HIT -',
   '/c/short/x stored again');

my $res = $ngx->get('/inv?class=long', method => 'POST');
is($res->{status}, 200, 'the class long invalidated');
like($res->{body}, qr/"generation":1\b/, 'its generation 1');

is(Astro::Cache::seen($ngx, '/c/long/a'), '200 MISS MISS 3600',
   '/c/long/a after the invalidation');
is(Astro::Cache::seen($ngx, '/c/long/b'), '200 MISS MISS 3600',
   '/c/long/b after the invalidation');
is(Astro::Cache::seen($ngx, '/c/short/x'), '200 HIT HIT -',
   'the class short still hits');

# the access log, by class and status

my (%log_up, %log_astro, $lines);

open my $fh, '<', "$root/logs/cache.log" or die "cache.log: $!";

while (my $line = <$fh>) {
    my ($class, $up, $astro) = split ' ', $line;
    $lines++;
    $log_up{$class}{lc $up}++;
    $log_astro{$class}{lc $astro}++;
}

close $fh;

is($lines, @mix + 5, 'a log line a request');

my $cache = $ngx->status->{modules}{cache};

ok($cache->{enforcing}, 'enforcing');

my $classes = $cache->{zones}{z099}{classes};

is_deeply([sort keys %$classes], [qw(default long short)],
          'the classes of the zone');

for my $class (qw(default long short)) {
    my %want = map { $_ => $log_up{$class}{$_} // 0 } @STATUSES;
    my %astro = map { $_ => $log_astro{$class}{$_} // 0 } @STATUSES;

    is_deeply($classes->{$class}{requests}, \%want,
              "$class: the counts are the log's \$upstream_cache_status");
    is_deeply($classes->{$class}{requests}, \%astro,
              "$class: and its \$astro_cache_status");
}

# what the mix is, so that a count lost by both the log and the status
# shows too

is(join(' ', map { "$_=$classes->{long}{requests}{$_}" } qw(hit miss bypass)),
   'hit=2 miss=4 bypass=1', 'long: 2 hits, 4 misses, 1 bypass');
is(join(' ', map { "$_=$classes->{short}{requests}{$_}" }
                 qw(hit miss expired)),
   'hit=3 miss=1 expired=1', 'short: 3 hits, 1 miss, 1 expired');
is(join(' ', map { "$_=$classes->{default}{requests}{$_}" } qw(hit miss)),
   'hit=1 miss=3', 'default: 1 hit, 3 misses');

is($classes->{long}{stored}, 5, 'long: 5 stores (the bypass stores too)');
is($classes->{short}{stored}, 2, 'short: 2 stores');
is($classes->{default}{stored}, 1, 'default: 1 store');
is($classes->{default}{never_cacheable}, 2,
   'default: Set-Cookie never stored, twice');
is_deeply($classes->{long}{invalidations}, { local => 1, received => 0 },
          'long: one invalidation made here');
is("$classes->{long}{generation} $classes->{short}{generation}", '1 0',
   'the generations');
is("$classes->{long}{ttl_applied} $classes->{short}{ttl_applied}",
   '3600 2', 'the TTLs applied');
is($classes->{long}{policy}{ttl}, 3600, 'the TTL configured');
is($cache->{zones}{z099}{sync}, undef, 'no Redis: no sync state');

# Prometheus: every sample of a metric with # TYPE, names and types

$res = $ngx->get('/astro/status?format=prometheus');
is($res->{status}, 200, 'Prometheus output');

my (%type, %sample, @bad);

for my $line (split /\n/, $res->{body}) {
    if ($line =~ /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/) {
        push @bad, "TYPE twice: $line" if $type{$1};
        $type{$1} = $2;
        next;
    }

    next if $line =~ /^# HELP \S+ .+$/;

    if ($line =~ m{^([a-zA-Z_:][a-zA-Z0-9_:]*)
                   (\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})?
                   \x20(-?[0-9.e+]+|NaN|[+-]Inf)$}x)
    {
        my ($name, $labels, $v) = ($1, $2 // '', $3);
        (my $base = $name) =~ s/_(?:bucket|sum|count)$//;
        push @bad, "no TYPE before: $line"
            unless $type{$name} || $type{$base};
        $sample{"$name$labels"} = $v;
        next;
    }

    push @bad, "not the text format: $line";
}

is_deeply(\@bad, [], 'every line parses');

my %cache_types = map { $_ => $type{$_} } grep { /^astro_cache_/ } keys %type;

is_deeply(\%cache_types, {
    astro_cache_requests_total => 'counter',
    astro_cache_stored_total => 'counter',
    astro_cache_refreshed_total => 'counter',
    astro_cache_not_admitted_total => 'counter',
    astro_cache_never_cacheable_total => 'counter',
    astro_cache_invalidations_total => 'counter',
    astro_cache_key_invalidations_total => 'counter',
    astro_cache_ttl_seconds => 'gauge',
    astro_cache_ttl_applied_seconds => 'gauge',
    astro_cache_generation => 'gauge',
    astro_cache_redis_connected => 'gauge',
    astro_cache_sync_lag_seconds => 'gauge',
    astro_cache_broadcast_failed_total => 'counter',
    astro_cache_pending_lost_total => 'counter',
}, 'the section\'s metrics and their types');

my @mistyped = grep { $type{$_} eq 'counter' && !/_total$/ } keys %type;
is_deeply(\@mistyped, [], 'counters end in _total');

for my $class (qw(default long short)) {
    my @got = map {
        $sample{"astro_cache_requests_total{zone=\"z099\",class=\"$class\","
                . "status=\"$_\"}"} // 'none'
    } @STATUSES;
    is_deeply(\@got, [map { $classes->{$class}{requests}{$_} } @STATUSES],
              "$class: the samples are the JSON's counts");
}

is($sample{'astro_cache_invalidations_total{zone="z099",class="long",'
           . 'origin="local"}'}, 1, 'the invalidation sample');
is($sample{'astro_cache_generation{zone="z099",class="long"}'}, 1,
   'the generation sample');
is($sample{'astro_cache_ttl_seconds{zone="z099",class="short"}'}, 2,
   'the TTL sample');
is($sample{'astro_cache_never_cacheable_total{zone="z099",'
           . 'class="default"}'}, 2, 'the never-cacheable sample');

is_deeply([$ngx->bad_lines], [], 'no crit, alert or crash in the error log');

$ngx->stop;

done_testing();
