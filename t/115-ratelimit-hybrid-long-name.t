# A hybrid zone whose Redis key is long (a zone name of 130 bytes): the
# sync pushes to the same key as the requests' exact questions (it cut
# the prefix at 128 bytes and the zone name at 126, so that the pushed
# counts went to another key, which the exact questions never saw: near
# the limit Redis then passed the limit again).
#
# Ports: nginx on 8488; Redis on 6474.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(have_redis wait_until sleep_out_of_minute_end);

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $redis = Astro::Instance::Redis->new(port => 6474);
ok($redis->start, 'redis on 6474 starts') or BAIL_OUT('no redis');

my $name = 'z' x 130;

my $ngx = Astro::Instance->new(name => 'hlong', port => 8488, workers => 1,
                               http => <<_EOC_);
    astro_ratelimit_redis 127.0.0.1:6474;
    astro_ratelimit_zone zone=$name:1m key=\$arg_k rate=10r/m
                         backend=hybrid sync=50ms exact_at=50%;
    server {
        listen 127.0.0.1:\$PORT;
        location /l { astro_ratelimit zone=$name; echo ok; }
    }
_EOC_
ok($ngx->start, 'nginx on 8488 starts') or BAIL_OUT('nginx did not start');

sub in_redis {
    my ($key) = @_;
    my $v = $redis->cli('GET', "astro:rl:$name:$key") // '';
    return $v =~ /^\d+ (\d+) (\d+)$/ ? "$1 $2" : "none ($v)";
}

sub burst {
    my ($n) = @_;
    return join ' ', map { $ngx->get('/l?k=a')->{status} } 1 .. $n;
}

sleep_out_of_minute_end(15);

is(burst(5), '200 200 200 200 200', '5 pass, decided here');
ok(wait_until(sub { in_redis('a') eq '5 0' }, 2, 0.02),
   'the sync pushed them to the zone\'s whole key') or diag in_redis('a');

is(burst(8), join(' ', (200) x 5, (429) x 3),
   'near the limit Redis counts the 5 pushed: 5 more pass, then 429');
is(in_redis('a'), '10 0', 'the key holds the 10');

my @bad = $ngx->bad_lines;
is(scalar @bad, 0, 'no alert or crash') or diag @bad;

$ngx->stop;
$redis->stop;

done_testing();
