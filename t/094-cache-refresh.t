# Refresh-ahead: refresh=50% of a 6 s TTL stores an entry fresh for 3 s;
# the next 3 s are its refresh window, where the first request is served
# the entry and starts one background refresh (REFRESH) and the others
# are served it too (UPDATING, or HIT once it is refreshed): 50
# concurrent clients then cause exactly one origin request and no MISS.
# An entry past its refresh window, in its stale= window, is STALE; an
# idle one expires.  The client whose request starts the refresh is told
# to close its connection (nginx keeps it until the refresh ends: its next
# request there would wait on the origin); the others keep theirs.  While the health zone is critical, entries are
# stored whole: no refresh window, no REFRESH.
#
# Ports: nginx on 8430, its origin on 8431 (t/lib/Astro/Cache.pm).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(sleep_into_second);
use Astro::Cache;

my $show = $Astro::Cache::SHOW;
my $o = $Astro::Cache::ORIGIN;

my $ngx = Astro::Cache::instance('cache-refresh');
my $root = $ngx->root;

my $http = Astro::Cache::health_conf($root)
           . Astro::Cache::origin($o, <<'_EOC_') . <<"_EOC_";
        location / {
            echo_sleep 0.3;
            echo "origin $request_uri";
        }
_EOC_
    proxy_cache_path $root/cache keys_zone=c:1m;

    astro_cache_zone pol:1m;
    astro_cache_ttl pol hot 6s stale=2s refresh=50%;

    server {
        listen 127.0.0.1:\$PORT;
        proxy_cache c;
        proxy_cache_key \$uri;
        proxy_cache_background_update on;
$Astro::Cache::HEALTH_LOCATION
        location /c/ {
            astro_cache zone=pol class=hot;
            proxy_pass http://127.0.0.1:$o/;
$show
        }
        location /nobg/ {
            astro_cache zone=pol class=hot;
            proxy_cache_background_update off;
            proxy_pass http://127.0.0.1:$o/;
$show
        }
    }
_EOC_

Astro::Cache::health_files($ngx);

ok($ngx->start($http), 'nginx starts') or BAIL_OUT('nginx did not start');
ok(Astro::Cache::wait_health($ngx, 'healthy'), 'healthy');

my $n = sub { Astro::Cache::origin_count($ngx, $_[0]) };

# stored in second S: fresh until S + 3, the refresh window S + 4 to
# S + 6, the stale window S + 7 and S + 8, expired from S + 9
sleep_into_second(0.05);
my $s = int(time);

for my $p (qw(hot late idle)) {
    is(Astro::Cache::seen($ngx, "/c/$p"), '200 MISS MISS 6',
       "$p: a miss, stored for 6 s");
}

is(Astro::Cache::seen($ngx, '/c/ka'), '200 MISS MISS 6', 'ka: stored');
my $ska = int(time);
is(Astro::Cache::seen($ngx, '/c/hot'), '200 HIT HIT -', 'hot: a hit');

sleep($s + 4.05 - time);

# 50 clients at once in the refresh window
my @h = map { $ngx->send_get('/c/hot', timeout => 5) } 1 .. 50;
my %count;
for my $h (@h) {
    my $res = $ngx->receive($h);
    my $st = $res->{status} . ' ' . ($res->{headers}{'x-astro'} // '-');
    $count{$st}++;
}

my $summary = join ', ', map { "$_: $count{$_}" } sort keys %count;
is($count{'200 REFRESH'}, 1, "one REFRESH ($summary)");
is(($count{'200 UPDATING'} // 0) + ($count{'200 HIT'} // 0), 49,
   '49 served the entry, UPDATING or HIT');
ok(!grep({ /MISS|EXPIRED|STALE/ } keys %count), 'no MISS, EXPIRED, STALE');
is(Astro::Cache::origin_count_settled($ngx, qr{^/hot }, 2), 2,
   'exactly one origin request for the 50');

is(Astro::Cache::seen($ngx, '/c/hot'), '200 HIT HIT -',
   'refreshed: a hit');

# keep-alive connections in the refresh window of /c/ka: the request
# that starts the refresh is answered Connection: close; one served the
# entry during the refresh keeps its connection, and its next request
# there is answered at once, not after the origin's 0.3 s
sleep($ska + 4.05 - time) if $ska + 4.05 > time;
my $ka = ka_get(undef, '/c/ka');
is("$ka->{seen} $ka->{connection}", '200 REFRESH close',
   'the request starting the refresh: REFRESH, Connection: close');
ok($ka->{ms} < 150, "answered without waiting ($ka->{ms} ms < 150)");

my $k1 = ka_get(undef, '/c/ka');
my $k2 = ka_get($k1->{sock}, '/c/ka');
is("$k1->{seen} $k1->{connection}", '200 UPDATING keep-alive',
   'during the refresh: UPDATING, the connection kept');
like($k2->{seen}, qr/^200 (UPDATING|HIT)$/, 'its next request: served');
ok($k1->{ms} + $k2->{ms} < 150,
   "both answered without waiting ($k1->{ms} + $k2->{ms} ms < 150)");
close $_ for grep { $_ } map { $_->{sock} } $ka, $k1;
is(Astro::Cache::origin_count_settled($ngx, qr{^/ka }, 2), 2,
   'ka: one refresh');

sleep($s + 7.05 - time);

is(Astro::Cache::seen($ngx, '/c/late'), '200 STALE STALE -',
   'late: past the refresh window, in stale=: STALE, not REFRESH');
is(Astro::Cache::origin_count_settled($ngx, qr{^/late }, 2), 2,
   'late: refreshed in the background');

sleep($s + 9.05 - time);

is(Astro::Cache::seen($ngx, '/c/idle'), '200 EXPIRED EXPIRED 6',
   'idle: expired after its TTL and stale window');
is($n->(qr{^/idle }), 2, 'idle: asked again');

# --- paused while critical ---------------------------------------------------

Astro::Cache::health_files($ngx, busy => 950);
ok(Astro::Cache::wait_health($ngx, 'critical'), 'critical');

sleep_into_second(0.05);
$s = int(time);

is(Astro::Cache::seen($ngx, '/c/crit'), '200 MISS MISS 6',
   'critical: stored for 6 s');

sleep($s + 4.05 - time);

is(Astro::Cache::seen($ngx, '/c/crit'), '200 HIT HIT -',
   'critical: no refresh window, still fresh after 3 s');
is($n->(qr{^/crit }), 1, 'crit: asked once');

# --- refresh= without proxy_cache_background_update --------------------------

is(Astro::Cache::seen($ngx, '/nobg/x'), '200 MISS MISS 6', 'nobg stored');
my $warn = 'class "hot" has refresh= but proxy_cache_background_update '
           . 'is off';
ok(scalar(grep { /\[warn\]/ && index($_, $warn) >= 0 } $ngx->error_log),
   'a warning: refresh= needs proxy_cache_background_update');

# the health zone's changes of status are alerts
is(join('', grep { !/astro_health_zone "health": status/ } $ngx->bad_lines),
   '', 'no other alert, crit or emerg');

done_testing();

# A GET on a keep-alive connection ($sock, or a new one): {seen (status
# and X-Astro), connection (the header), ms, sock}.
sub ka_get {
    my ($sock, $path) = @_;
    my $t0 = time;
    $sock //= IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                    PeerPort => $ngx->port, Proto => 'tcp',
                                    Timeout => 5)
        or return { seen => "connect: $!", connection => '', ms => 0 };
    $sock->autoflush(1);
    print {$sock} "GET $path HTTP/1.1\r\nHost: localhost\r\n"
                  . "Connection: keep-alive\r\n\r\n";
    my ($buf, $sel) = ('', IO::Select->new($sock));
    until ($buf =~ /\r\n\r\n/
           && ($buf =~ /\r\n0\r\n\r\n\z/
               || $buf =~ /Content-Length: (\d+)\r\n.*?\r\n\r\n(.*)\z/si
                  && length($2) >= $1))
    {
        last if !$sel->can_read($t0 + 5 - time)
                || !sysread($sock, $buf, 65536, length $buf);
    }
    my %h;
    $h{ lc $1 } = $2 while $buf =~ /^([\w-]+): *([^\r\n]*)/mg;
    my ($st) = $buf =~ /\AHTTP\/1\.1 (\d{3})/;
    return { seen => ($st // 0) . ' ' . ($h{'x-astro'} // '-'),
             connection => $h{connection} // '-',
             ms => int((time - $t0) * 1000), sock => $sock };
}
