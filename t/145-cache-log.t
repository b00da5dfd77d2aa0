# The status section "cache" against the access log where every status
# happens: STALE, UPDATING, REFRESH and REVALIDATED besides MISS and HIT
# (t/099 has none of these four).  Each class's counts by status equal
# the lines of a log_format of $astro_cache_class $astro_cache_status,
# and the X-Astro headers the clients were sent; each of the four is
# counted at least once, with the exact counts the script makes.  The
# background refreshes, which nginx does not log, are counted as
# "stored" and "refreshed".
#
# Ports: nginx on 8540, its origin on 8541.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Path qw(make_path);
use Test::More;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(sleep_into_second);
use Astro::Cache;

my ($FRONT, $ORIGIN) = (8540, 8541);

my @STATUSES = qw(hit miss expired stale updating revalidated bypass
                  refresh);

my $ngx = Astro::Cache::instance('cache-log', port => $FRONT);
my $root = $ngx->root;

# hot: fresh 3 s, refresh window 3 s, stale 2 s (as t/094);
# st: fresh 2 s, stale 4 s; rv: fresh 1 s, revalidated by a 304
my $http = Astro::Cache::origin($ORIGIN, <<"_ORIGIN_") . <<"_EOC_";
        location / {
            echo_sleep 0.2;
            echo "origin \$request_uri";
        }
        location /static/ { root $root/html; }
_ORIGIN_
    proxy_cache_path $root/cache keys_zone=c145:1m;

    astro_cache_zone z145:1m;
    astro_cache_ttl z145 hot 6s stale=2s refresh=50%;
    astro_cache_ttl z145 st 2s stale=4s;
    astro_cache_ttl z145 rv 1s;

    log_format c145 '\$astro_cache_class \$astro_cache_status';

    server {
        listen 127.0.0.1:\$PORT;
        proxy_cache c145;
        proxy_cache_key \$uri;
        proxy_cache_background_update on;

        location /h/ {
            astro_cache zone=z145 class=hot;
            access_log logs/cache.log c145;
            proxy_pass http://127.0.0.1:$ORIGIN/;
$Astro::Cache::SHOW
        }
        location /s/ {
            astro_cache zone=z145 class=st;
            access_log logs/cache.log c145;
            proxy_pass http://127.0.0.1:$ORIGIN/;
$Astro::Cache::SHOW
        }
        location /r/ {
            astro_cache zone=z145 class=rv;
            proxy_cache_revalidate on;
            access_log logs/cache.log c145;
            proxy_pass http://127.0.0.1:$ORIGIN/static/;
$Astro::Cache::SHOW
        }
        location /astro/status {
            astro_status;
        }
    }
_EOC_

make_path("$root/html/static");
open my $sf, '>', "$root/html/static/a.txt" or die "a.txt: $!";
print $sf "static a\n";
close $sf;
chmod 0755, "$root/html", "$root/html/static";

ok($ngx->start($http), 'nginx starts') or BAIL_OUT('nginx did not start');

# what the clients were told: class => status => count
my %sent;

sub count_res {
    my ($class, $res) = @_;
    $sent{$class}{ lc($res->{headers}{'x-astro'} // '-') }++;
    return Astro::Cache::show($res);
}

sub seen {
    my ($class, $path) = @_;
    return count_res($class, $ngx->get($path));
}

# $n clients at once: "STATUS: count" of their X-Astro, sorted
sub burst {
    my ($class, $path, $n) = @_;
    my @h = map { $ngx->send_get($path) } 1 .. $n;
    my %c;
    for my $h (@h) {
        my $res = $ngx->receive($h);
        count_res($class, $res);
        $c{"$res->{status} " . ($res->{headers}{'x-astro'} // '-')}++;
    }
    return join ', ', map { "$_: $c{$_}" } sort keys %c;
}

# stored in second S: hot fresh until S + 3, its refresh window S + 4
# to S + 6, its stale window S + 7 and S + 8; st fresh until S + 2,
# stale S + 3 to S + 6; rv fresh until S + 1
sleep_into_second(0.05);
my $s = int(time);

is(seen('hot', '/h/a'), '200 MISS MISS 6', 'hot a: stored 6 s');
is(seen('hot', '/h/b'), '200 MISS MISS 6', 'hot b: stored 6 s');
is(seen('st', '/s/x'), '200 MISS MISS 2', 'st x: stored 2 s');
is(seen('rv', '/r/a.txt'), '200 MISS MISS 1', 'rv a: stored 1 s');
is(seen('hot', '/h/a'), '200 HIT HIT -', 'hot a: a hit');
is(int(time), $s, 'the stores in one second');

# st x in its stale window: one STALE that refreshes it in the
# background, the others UPDATING while the origin takes 0.2 s
sleep($s + 3.05 - time);

is(burst('st', '/s/x', 5), '200 STALE: 1, 200 UPDATING: 4',
   'st x stale: 1 STALE, 4 UPDATING');
is(Astro::Cache::origin_count_settled($ngx, qr{^/x }, 2), 2,
   'st x: one background refresh');

is(seen('rv', '/r/a.txt'), '200 REVALIDATED REVALIDATED 1',
   'rv a expired: revalidated by a 304');
is(Astro::Cache::origin_count($ngx, qr{^/static/a\.txt 304}), 1,
   'the origin answered 304');
is(seen('rv', '/r/a.txt'), '200 HIT HIT -', 'rv a: then a hit');

# hot a in its refresh window: one REFRESH, the others UPDATING
sleep($s + 4.05 - time);

is(burst('hot', '/h/a', 5), '200 REFRESH: 1, 200 UPDATING: 4',
   'hot a in its refresh window: 1 REFRESH, 4 UPDATING');
is(Astro::Cache::origin_count_settled($ngx, qr{^/a }, 2), 2,
   'hot a: one background refresh');
is(seen('hot', '/h/a'), '200 HIT HIT -', 'hot a refreshed: a hit');

# hot b past its refresh window, in its stale window: STALE
sleep($s + 7.05 - time);

is(seen('hot', '/h/b'), '200 STALE STALE -', 'hot b: STALE');
is(Astro::Cache::origin_count_settled($ngx, qr{^/b }, 2), 2,
   'hot b: one background refresh');

# --- the log, the headers and the status ------------------------------------

my (%log, $lines);

open my $fh, '<', "$root/logs/cache.log" or die "cache.log: $!";

while (my $line = <$fh>) {
    my ($class, $st) = split ' ', $line;
    $lines++;
    $log{$class}{lc $st}++;
}

close $fh;

is($lines, 19, 'a log line a request (the refreshes are not logged)');

my $classes = $ngx->status->{modules}{cache}{zones}{z145}{classes};

for my $class (qw(hot st rv)) {
    my %want_log = map { $_ => $log{$class}{$_} // 0 } @STATUSES;
    my %want_sent = map { $_ => $sent{$class}{$_} // 0 } @STATUSES;

    is_deeply($classes->{$class}{requests}, \%want_log,
              "$class: the counts are the log's \$astro_cache_status");
    is_deeply($classes->{$class}{requests}, \%want_sent,
              "$class: and the clients' X-Astro");
}

# what the script made, so that a count lost by the log and the status
# alike shows too
my %want = (
    hot => 'hit=2 miss=2 stale=1 updating=4 revalidated=0 refresh=1',
    st  => 'hit=0 miss=1 stale=1 updating=4 revalidated=0 refresh=0',
    rv  => 'hit=1 miss=1 stale=0 updating=0 revalidated=1 refresh=0',
);

for my $class (qw(hot st rv)) {
    is(join(' ', map { "$_=$classes->{$class}{requests}{$_}" }
                     qw(hit miss stale updating revalidated refresh)),
       $want{$class}, "$class: $want{$class}");
}

# stores: the misses and the background refreshes (a revalidation is
# not a store)
is(join(' ', map { "$_=$classes->{$_}{stored}/$classes->{$_}{refreshed}" }
                 qw(hot st rv)),
   'hot=4/2 st=2/1 rv=1/0', 'stored/refreshed: the refreshes counted');

# Prometheus has them too
my $prom = $ngx->get('/astro/status?format=prometheus')->{body};
my %sample = $prom =~ /^(astro_cache_\S+) (\S+)$/mg;

is(join(' ', map {
       $sample{"astro_cache_refreshed_total{zone=\"z145\",class=\"$_\"}"}
       // 'none'
   } qw(hot st rv)),
   '2 1 0', 'astro_cache_refreshed_total');
is(join(' ', map {
       $sample{"astro_cache_requests_total{zone=\"z145\",class=\"hot\","
               . "status=\"$_\"}"} // 'none'
   } qw(stale updating refresh)),
   '1 4 1', 'astro_cache_requests_total of hot: stale updating refresh');

is_deeply([$ngx->bad_lines], [], 'no crit, alert or crash in the error log');

$ngx->stop;

done_testing();
