# Hot shards: skewed traffic to a hash map over four shards (16 slots,
# fill=modulo: slot i on shard i mod 4) makes the shard of four busy
# slots hot, with its ratio, the ten hottest slots in order and a plan
# that moves three of its slots, one to each other shard; even traffic
# to a second map shows no hot shard and no plan.  Two workers: their
# slot counts meet in the zone within a second.
#
# Ports: nginx on 8470, its backends on 8471-8474.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Astro::Instance qw(wait_until);
use Astro::ShardSlots qw(near);

my ($FRONT, $BACKEND) = (8470, 8471);
my $SLOTS = 16;
my %key = Astro::ShardSlots::keys_by_slot($SLOTS);

my $http = Astro::ShardSlots::backends($BACKEND, qw(b0 b1 b2 b3)) . <<'_EOC_';
    astro_shard_zone shard108:1m;

    astro_shard_map skew strategy=hash hash=seed slots=16 fill=modulo;
    astro_shard skew s0 b0;
    astro_shard skew s1 b1;
    astro_shard skew s2 b2;
    astro_shard skew s3 b3;

    astro_shard_map even strategy=hash hash=seed slots=16 fill=modulo;
    astro_shard even e0 b0;
    astro_shard even e1 b1;
    astro_shard even e2 b2;
    astro_shard even e3 b3;

    server {
        listen 127.0.0.1:$PORT;

        location /skew {
            astro_shard_key skew $arg_uid;
            proxy_pass http://$astro_shard_upstream;
        }

        location /even {
            astro_shard_key even $arg_uid;
            proxy_pass http://$astro_shard_upstream;
        }

        location /astro/status {
            astro_status;
        }
    }
_EOC_

my $ngx = Astro::Instance->new(name => 'shard-hot', port => $FRONT,
                               workers => 2, http => $http);
ok($ngx->start, 'nginx starts') or BAIL_OUT('nginx did not start');

sub shard_status {
    my $st = $ngx->status or return undef;
    return $st->{modules}{shard};
}

# before any request: nothing recent, nothing hot

my $st = shard_status();
ok($st, 'the shard section') or BAIL_OUT('no shard section');
is($st->{maps}{skew}{recent}, 0, 'skew: nothing recent yet');
is_deeply([grep { $_->{hot} } values %{ $st->{maps}{skew}{shards} }], [],
          'skew: no hot shard yet');
is_deeply($st->{maps}{skew}{hot_slots}, [], 'skew: no hot slot yet');
is_deeply($st->{maps}{skew}{plan}{moves}, [], 'skew: no plan yet');

# skew: slots 1, 5, 9, 13 (shard s1) 20 requests each, the others 1

my %sent;
my $wrong = 0;

for my $slot (0 .. $SLOTS - 1) {
    my $n = $slot % 4 == 1 ? 20 : 1;
    for (1 .. $n) {
        my $res = $ngx->get("/skew?uid=$key{$slot}");
        $wrong++ unless $res->{status} == 200
                        && ($res->{headers}{'x-backend'} // '') eq
                           'b' . $slot % 4;
    }
    $sent{'s' . $slot % 4} += $n;
}

is($wrong, 0, 'skew: 92 requests routed by slot');

# even: 4 requests to each slot

for my $slot (0 .. $SLOTS - 1) {
    for (1 .. 4) {
        my $res = $ngx->get("/even?uid=$key{$slot}");
        $wrong++ unless $res->{status} == 200;
    }
}

is($wrong, 0, 'even: 64 requests routed');

# both workers' counts flushed within a second or two

$st = wait_until(sub {
    my $s = shard_status();
    return $s && $s->{maps}{skew}{recent} == 92
           && $s->{maps}{even}{recent} == 64 ? $s : undef;
}, 5, 0.1);

ok($st, 'the recent counts reach the zone') or BAIL_OUT('no counts');

is($st->{window}, 60, 'window 60 s');
near($st->{hot_ratio}, 2, 'hot ratio threshold 2');

my $skew = $st->{maps}{skew};
my $shards = $skew->{shards};

for my $s (qw(s0 s1 s2 s3)) {
    my $want = $sent{$s};
    is($shards->{$s}{requests}, $want, "skew $s: $want requests");
    is($shards->{$s}{reads}, $want, "skew $s: all reads");
    is($shards->{$s}{writes}, 0, "skew $s: no writes");
    is($shards->{$s}{recent}, $want, "skew $s: $want recent");
    near($shards->{$s}{slot_share}, 0.25, "skew $s: slot share 0.25");
    near($shards->{$s}{request_share}, $want / 92,
         "skew $s: request share $want/92");
    near($shards->{$s}{hot_ratio}, $want / 92 / 0.25,
         "skew $s: hot ratio");
}

ok($shards->{s1}{hot}, 'skew s1 is hot');
is_deeply([sort grep { $shards->{$_}{hot} } keys %$shards], ['s1'],
          'skew: only s1 is hot');

# the ten hottest: s1's four slots (20), then slots 0, 2, 3, 4, 6, 7 (1)

is_deeply([map { "$_->{slot} $_->{shard} $_->{requests}" }
           @{ $skew->{hot_slots} }],
          ['1 s1 20', '5 s1 20', '9 s1 20', '13 s1 20',
           '0 s0 1', '2 s2 1', '3 s3 1', '4 s0 1', '6 s2 1', '7 s3 1'],
          'skew: the ten hottest slots');
near($skew->{hot_slots}[0]{share}, 20 / 92, 'skew: hottest slot share');

# the plan: even load is 23 a shard; s1's slots go one to each other
# shard, which leaves the most loaded at 24 (within 10%)

near($skew->{imbalance}, 80 / 23, 'skew: imbalance 80/23');
is_deeply([map { "$_->{slot} $_->{from}>$_->{to} $_->{requests}" }
           @{ $skew->{plan}{moves} }],
          ['1 s1>s0 20', '5 s1>s2 20', '9 s1>s3 20'],
          'skew: the plan moves three slots of s1');
near($skew->{plan}{imbalance_after}, 24 / 23, 'skew: imbalance after');

# even traffic

my $even = $st->{maps}{even};

for my $s (qw(e0 e1 e2 e3)) {
    is($even->{shards}{$s}{recent}, 16, "even $s: 16 recent");
    near($even->{shards}{$s}{hot_ratio}, 1, "even $s: ratio 1");
    ok(!$even->{shards}{$s}{hot}, "even $s: not hot");
}

is(scalar @{ $even->{hot_slots} }, 10, 'even: ten hot slots listed');
is_deeply([map { $_->{slot} } @{ $even->{hot_slots} }], [0 .. 9],
          'even: ties listed by slot');
near($even->{imbalance}, 1, 'even: imbalance 1');
is_deeply($even->{plan}{moves}, [], 'even: no plan');

# the same in Prometheus

my $res = $ngx->get('/astro/status?format=prometheus');
is($res->{status}, 200, 'prometheus 200');

my $prom = $res->{body};

for my $line (
    '# TYPE astro_shard_hot gauge',
    'astro_shard_hot{map="skew",shard="s1"} 1',
    'astro_shard_hot{map="skew",shard="s0"} 0',
    'astro_shard_hot{map="even",shard="e1"} 0',
    'astro_shard_recent_requests{map="skew",shard="s1"} 80',
    'astro_shard_slot_share{map="skew",shard="s1"} 0.25',
    'astro_shard_hot_slot_requests{map="skew",slot="13",shard="s1"} 20',
    'astro_shard_plan_move_requests{map="skew",slot="1",from="s1",to="s0"} 20',
    'astro_shard_plan_move_requests{map="skew",slot="9",from="s1",to="s3"} 20',
    'astro_shard_imbalance{map="even",when="now"} 1',
    'astro_shard_requests_total{map="skew",shard="s1"} 80')
{
    ok((grep { $_ eq $line } split /\n/, $prom), $line);
}

is(scalar(() = $prom =~ /^astro_shard_plan_move_requests\{map="even"/mg), 0,
   'prometheus: no move for even');

done_testing;
