# Two nginx instances share their limits through Redis: what both pass
# together is the limit, exactly; a reload keeps the counts, which live
# in Redis, and the zone's status counts, which live in shared memory;
# a tier's rate holds across the instances.  Test::Nginx runs one nginx
# and cannot reload in the middle of a block, so this file drives nginx
# and a private redis-server itself (t/lib/Astro/Instance.pm), with
# TEST_NGINX_BINARY and TEST_NGINX_LOAD_MODULES as the Socket tests do.
#
# Ports: nginx on TEST_NGINX_PORT + 70 and + 71, Redis on 6410.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(nginx_port have_redis sleep_out_of_minute_end);

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $run = "t034:$$:";       # the key prefix of this run

my $redis = Astro::Instance::Redis->new(port => 6410);
ok($redis->start, 'redis on 6410 starts') or BAIL_OUT('no redis');

# the same configuration for both, two workers each
my $body = <<_EOC_;
    astro_ratelimit_redis 127.0.0.1:6410 prefix=$run;
    astro_ratelimit_zone zone=sw:1m key=\$arg_k rate=20r/m
                         algorithm=sliding_window;
    astro_ratelimit_zone zone=g:1m key=\$arg_k rate=10r/m burst=4;
    # GCRA: 1 + burst pass at once; premium 7, the others 3
    astro_ratelimit_zone zone=t:1m key=\$arg_k rate=1r/m burst=2
                         tier=\$http_x_tier;
    astro_ratelimit_tier t premium rate=1r/m burst=6;
    server {
        listen 127.0.0.1:\$PORT;
        add_header X-RL \$astro_ratelimit_status always;
        add_header X-Tier "[\$astro_ratelimit_tier]" always;
        location = /sw { astro_ratelimit zone=sw; echo ok; }
        location = /g { astro_ratelimit zone=g; echo ok; }
        location = /t { astro_ratelimit zone=t; echo ok; }
        location /astro/status { astro_status; }
    }
_EOC_

my @ngx = map {
    Astro::Instance->new(name => "shared$_", port => nginx_port(70 + $_),
                         workers => 2, http => $body)
} 0 .. 1;

for (@ngx) {
    ok($_->start, 'nginx on ' . $_->port . ' starts')
        or BAIL_OUT('nginx did not start');
}

# n requests of $path, to both instances in turn, the first to $ngx[0]:
# "status X-RL" each
sub alternate {
    my ($n, $path, %o) = @_;
    return [map {
        my $res = $ngx[$_ % 2]->get($path, %o);
        "$res->{status} " . ($res->{headers}{'x-rl'} // '-')
    } 0 .. $n - 1];
}

sub zone_counts {
    my ($ngx, $zone) = @_;
    my $z = $ngx->ratelimit->{zones}{$zone};
    return [@$z{qw(passed rejected fail_open fail_closed)}];
}

sub remaining {
    my ($ngx, $path) = @_;
    my $res = $ngx->get($path);
    return "$res->{status} " . ($res->{headers}{'ratelimit-remaining'}
                                // '-');
}

# The sliding window weighs the previous minute's count: its requests
# and the reload below stay in one minute.
sleep_out_of_minute_end(10);
my $t0 = time;

# -- 1. both instances, one limit

is_deeply(alternate(30, '/sw?k=a'),
          [('200 PASSED') x 20, ('429 REJECTED') x 10],
          'sliding window 20r/m: the two instances pass 20 together');
is_deeply([map { zone_counts($_, 'sw') } @ngx],
          [[10, 5, 0, 0], [10, 5, 0, 0]],
          'each counts its half: 10 passed, 5 rejected');

is_deeply(alternate(10, '/g?k=a'),
          [('200 PASSED') x 5, ('429 REJECTED') x 5],
          'GCRA 10r/m burst=4: the two instances pass 5 together');
is_deeply([map { zone_counts($_, 'g') } @ngx],
          [[3, 2, 0, 0], [2, 3, 0, 0]],
          'counted where they were decided');

is($redis->cli('EXISTS', "${run}sw:a"), 1, "the key ${run}sw:a is in Redis");
is($redis->cli('EXISTS', "${run}g:a"), 1, "the key ${run}g:a is in Redis");

# -- 2. a reload keeps the counts: in Redis, and the zone's in memory

is_deeply([map { remaining($ngx[$_ % 2], '/sw?k=r') } 0 .. 7],
          ['200 19', '200 18', '200 17', '200 16',
           '200 15', '200 14', '200 13', '200 12'],
          'sliding window, key r: 8 pass, 12 remain');
is_deeply([map { remaining($ngx[$_ % 2], '/g?k=r') } 0 .. 2],
          ['200 4', '200 3', '200 2'], 'GCRA, key r: 3 pass, 2 remain');

my $before = $ngx[0]->ratelimit;
my $g1 = $ngx[1]->generation;
ok($ngx[0]->reload, 'nginx on ' . $ngx[0]->port . ' reloads');
is($ngx[1]->generation, $g1, 'the other one did not');
my $after = $ngx[0]->ratelimit;

for my $zone (qw(sw g t)) {
    is_deeply($after->{zones}{$zone}, $before->{zones}{$zone},
              "zone $zone: the status counts survive the reload");
}
is($after->{redis}{commands}, $before->{redis}{commands},
   'the Redis client\'s counts survive it too: '
   . "$before->{redis}{commands} commands");

is_deeply([map { remaining($ngx[$_ % 2], '/sw?k=r') } 0 .. 12],
          ['200 11', '200 10', '200 9', '200 8', '200 7', '200 6',
           '200 5', '200 4', '200 3', '200 2', '200 1', '200 0', '429 0'],
          'sliding window: the count goes on after the reload, '
          . '12 more pass');
is_deeply([map { remaining($ngx[$_ % 2], '/g?k=r') } 0 .. 2],
          ['200 1', '200 0', '429 0'],
          'GCRA: the count goes on after the reload, 2 more pass');

my $now = $ngx[0]->ratelimit->{zones};
is_deeply([@{ $now->{sw} }{qw(passed rejected)}], [10 + 4 + 6, 5 + 1],
          'and the reloaded one counts on from its old counts');
is_deeply([@{ $now->{g} }{qw(passed rejected)}], [3 + 2 + 1, 2 + 0 + 1],
          'in both zones');

is(int(time / 60), int($t0 / 60),
   'the sliding window part ran in one minute of the clock');

# -- 3. a tier across both instances

is_deeply(alternate(10, '/t?k=p', headers => { 'X-Tier' => 'premium' }),
          [('200 PASSED') x 7, ('429 REJECTED') x 3],
          'tier premium (burst=6): 7 pass across both');
is_deeply(alternate(6, '/t?k=f'),
          [('200 PASSED') x 3, ('429 REJECTED') x 3],
          'no tier (burst=2): 3 pass across both');
is_deeply(alternate(6, '/t?k=o', headers => { 'X-Tier' => 'other' }),
          [('200 PASSED') x 3, ('429 REJECTED') x 3],
          'an unknown tier has the zone\'s rate');
is($ngx[1]->get('/t?k=p', headers => { 'X-Tier' => 'premium' })
       ->{headers}{'x-tier'}, '[premium]',
   '$astro_ratelimit_tier is the tier');

is_deeply([map { [@{ $_->ratelimit->{zones}{t} }{qw(passed rejected)}] }
           @ngx],
          [[4 + 2 + 2, 1 + 1 + 1], [3 + 1 + 1, 2 + 2 + 2 + 1]],
          'the instances count what they decided');

for (@ngx) {
    my $rl = $_->ratelimit;
    my $r = $rl->{redis};
    is_deeply([@$r{qw(circuit failed skipped)}], ['closed', 0, 0],
              'port ' . $_->port . ': Redis answered every command');
    my $decisions = 0;
    $decisions += $_->{passed} + $_->{rejected} for values %{ $rl->{zones} };
    is($r->{commands}, $decisions,
       "one command per decision: $decisions");
    my @bad = $_->bad_lines;
    is(scalar @bad, 0, 'no crash, alert, crit or emerg') or diag @bad;
}

$_->stop for @ngx;
$redis->stop;

done_testing();
