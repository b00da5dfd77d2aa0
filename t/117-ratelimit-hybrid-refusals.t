# A hybrid zone's refusal by Redis, kept: near the limit Redis decides
# and refuses; the requests that follow are refused here (cached) without
# asking Redis, until the time Redis said the next request would pass,
# not merely until the window moves; then the key is asked of Redis
# again (exact), which lets it pass.
#
# rate=2r/s: the refusal comes with the second's 2 counted, and the next
# request passes 0.5 s into the next second (the previous second's 2
# weigh 1 there).  So 0.15 s into the next second the refusal is still
# kept, 0.65 s into it Redis is asked again.
#
# GCRA (leases of tokens; a refusal kept as in exact mode): rate=2r/s
# without burst, a token each 0.5 s: the second request is refused by
# Redis, those that follow within 0.5 s of the first are refused here,
# and one 0.65 s after it is asked of Redis again, and passes.
#
# Ports: Redis on 6543; nginx on TEST_NGINX_PORT + 118.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(nginx_port have_redis sleep_into_second);

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $redis = Astro::Instance::Redis->new(port => 6543);
ok($redis->start, 'redis on 6543 starts') or BAIL_OUT('no redis');

my $ngx = Astro::Instance->new(name => 't117', port => nginx_port(118),
    http => <<_EOC_);
    astro_ratelimit_redis 127.0.0.1:6543 timeout=300ms;
    astro_ratelimit_zone zone=r:1m key=\$arg_k rate=2r/s backend=hybrid
                         sync=100ms exact_at=50%;
    astro_ratelimit_zone zone=g:1m key=\$arg_k rate=2r/s algorithm=gcra
                         backend=hybrid sync=100ms;
    server {
        listen 127.0.0.1:\$PORT;
        add_header X-RL \$astro_ratelimit_status always;
        location /r { astro_ratelimit zone=r; echo ok; }
        location /g { astro_ratelimit zone=g; echo ok; }
        location /astro/status { astro_status; }
    }
_EOC_
ok($ngx->start, 'nginx starts') or BAIL_OUT('nginx did not start');

sub decisions {
    my ($zone) = @_;
    my $z = ($ngx->ratelimit || {})->{zones}{$zone || 'r'} || {};
    my $d = ($z->{hybrid} || {})->{decisions} || {};
    return join ' ', map { "$_=" . ($d->{$_} // '-') }
                     qw(local exact cached fail);
}

# -- in one second: 1 here, 2 by Redis (the second refused), then kept

sleep_into_second(0.05);
my $second = int time;
my @st = map { $ngx->rl_hit('/r?k=a') } 1 .. 5;
is(int time, $second, 'the 5 requests in one second') or BAIL_OUT('slow');
is_deeply(\@st, ['200 PASSED', '200 PASSED', ('429 REJECTED') x 3],
          '2 pass, then refused');
is(decisions(), 'local=1 exact=2 cached=2 fail=0',
   '1 decided here, 2 by Redis (1 refused), 2 refusals kept');

# -- the window moved, Redis's retry time not passed: still kept

sleep_into_second(0.15);
$second = int time;
is($ngx->rl_hit('/r?k=a'), '429 REJECTED',
   '0.15 s into the next second: refused');
is(decisions(), 'local=1 exact=2 cached=3 fail=0',
   'by the refusal kept, Redis not asked');

# -- Redis's retry time passed: Redis is asked again, and lets it pass

sleep(0.65 - (time - $second)) if time - $second < 0.65;
is(int time, $second, 'still in that second') or BAIL_OUT('slow');
is($ngx->rl_hit('/r?k=a'), '200 PASSED',
   '0.65 s into that second: passes');
is(decisions(), 'local=1 exact=3 cached=3 fail=0',
   'decided by Redis: exact grows, cached does not');

# -- GCRA: refused by Redis, kept until Redis's retry time

sleep_into_second(0.05);
my $t0 = time;
@st = map { $ngx->rl_hit('/g?k=a') } 1 .. 4;
my $took = time - $t0;
cmp_ok($took, '<', 0.4, sprintf('GCRA: 4 requests in %.3f s', $took))
    or BAIL_OUT('slow');
is_deeply(\@st, ['200 PASSED', ('429 REJECTED') x 3], 'GCRA: 1 passes');
is(decisions('g'), 'local=0 exact=2 cached=2 fail=0',
   'GCRA: 2 asked of Redis (the second refused), 2 refusals kept');
sleep(0.65 - (time - $t0));
is($ngx->rl_hit('/g?k=a'), '200 PASSED', 'GCRA: 0.65 s later: passes');
is(decisions('g'), 'local=0 exact=3 cached=2 fail=0',
   'GCRA: decided by Redis: exact grows, cached does not');

is_deeply([$ngx->bad_lines], [], 'no crash, alert or emerg in the log');

$ngx->stop;
$redis->stop;

done_testing();
