# A hybrid zone on a Redis Cluster: the sync's pushes and the exact
# decisions near the limit go, through the same client, to the master of
# each key's slot.  Three keys, one on each master, 30 requests each
# against 20 a minute: exactly 20 pass (local below exact_at, Redis's
# above), and each master holds its key's count of 20 after the sync.
#
# Ports: the cluster on 6480-6482 (as t/120, one file at a time), nginx
# on TEST_NGINX_PORT + 73.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Astro::Instance qw(nginx_port have_redis wait_until
                       sleep_out_of_minute_end);
use Astro::Cluster;

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $run = "t124:$$:";

my $cl = Astro::Cluster->new(ports => [6480, 6481, 6482]);
ok($cl->start, 'a cluster of three masters on 6480-6482')
    or BAIL_OUT('no cluster');

my $seeds = $cl->seeds;

my $ngx = Astro::Instance->new(name => 't124', port => nginx_port(73),
    workers => 2, http => <<_EOC_);
    astro_ratelimit_redis cluster=$seeds prefix=$run timeout=500ms;
    astro_ratelimit_zone zone=h:1m key=\$arg_k rate=20r/m
                         backend=hybrid sync=100ms exact_at=80%;

    server {
        listen 127.0.0.1:\$PORT;
        add_header X-RL \$astro_ratelimit_status always;
        location = /h { astro_ratelimit zone=h; echo ok; }
        location /astro/status { astro_status; }
    }
_EOC_
ok($ngx->start, 'nginx starts') or BAIL_OUT('nginx did not start');

sleep_out_of_minute_end(10);

# master => a key of zone h whose Redis key it holds
my %key = $cl->key_per_master("${run}h:");
is(scalar keys %key, 3, 'keys of zone h on each of the three masters');

for my $m (0 .. 2) {
    my @st = map { $ngx->rl_hit("/h?k=$key{$m}") } 1 .. 30;
    is(scalar(grep { /^200 / } @st), 20, "key $key{$m} (master $m): 20 pass");
    is(scalar(grep { /^429 / } @st), 10, "key $key{$m} (master $m): 10 refused");
}

my $hy = sub { $ngx->ratelimit->{zones}{h}{hybrid} || {} };

for my $m (0 .. 2) {
    my $rk = "${run}h:$key{$m}";
    ok(wait_until(sub {
        (($cl->cli($m, 'GET', $rk) // '') =~ /^\d+ (\d+) \d+$/)[0] // -1
            == 20 }, 2, 0.05),
       "master $m holds $rk with a count of 20")
        or diag $cl->cli($m, 'GET', $rk);
    is_deeply($cl->keys_of($m, "${run}*"), [$rk],
              "master $m holds only its key");
}

my $h = $hy->();
cmp_ok($h->{decisions}{exact}, '>=', 1, 'some decisions were Redis\'s')
    or diag explain $h;
cmp_ok($h->{decisions}{local}, '>=', 3 * 15, 'most below exact_at were local')
    or diag explain $h;
is($h->{decisions}{fail}, 0, 'none by the fail policy');
is($h->{keys_failed}, 0, 'no push failed');

done_testing();
