# astro_queue: when every server a request may use is at max_conns, the
# request waits, ordered by tier priority; a freed connection goes to the
# highest-priority waiter; a wait past the timeout gets 503; a full queue
# and, while critical, the tiers below critical_below are refused at once;
# a client that leaves is removed.  Concurrent clients need more than
# Test::Nginx's one request at a time: this file drives nginx itself
# (t/lib/Astro/Instance.pm), as t/033 does.
#
# Ports: nginx on TEST_NGINX_PORT + 80; its one backend, a server of the
# same nginx, on + 81, answers after 400 ms; the upstream has max_conns=1,
# so one request at a time reaches it.
#
# Timing: answers are expected within 150 ms of their computed times.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use File::Path qw(make_path);
use Astro::Instance qw(nginx_port wait_until);

my $backend = nginx_port(81);

# the fake /proc of the health zone: critical (95% CPU) or healthy
sub write_proc {
    my ($root, $busy) = @_;
    my $idle = 1000 - $busy;
    # the workers (user nobody when run as root) read them
    chmod 0755, $root;
    make_path("$root/fake/proc", { mode => 0755 });
    my %files = (
        stat => "cpu  $busy 0 0 $idle 0 0 0 0 0 0\n",
        meminfo => "MemTotal:        1000000 kB\nMemAvailable:     600000 kB\n",
        loadavg => "0.10 0.20 0.30 1/100 1\n",
    );
    for my $f (keys %files) {
        open my $fh, '>', "$root/fake/proc/$f" or die $!;
        print $fh $files{$f};
        close $fh;
    }
}

sub body {
    my ($queue, $health) = @_;
    $health //= '';
    return <<_EOC_;
    $health
    upstream q {
        astro_tier_balance;
        astro_queue $queue;
        server 127.0.0.1:$backend max_conns=1;
    }
    server {
        listen 127.0.0.1:$backend;
        location / { echo_sleep 0.4; echo "done \$http_x_tier"; }
    }
    server {
        listen 127.0.0.1:\$PORT;
        astro_tier \$http_x_tier;
        location / { proxy_pass http://q; proxy_set_header X-Tier \$http_x_tier; }
        location /astro/status { astro_status; }
    }
_EOC_
}

sub send_tier {
    my ($ngx, $tier) = @_;
    return $ngx->send_get('/', headers => { 'X-Tier' => $tier });
}

sub queue_of {
    my ($ngx) = @_;
    my $st = $ngx->status or return {};
    return $st->{modules}{tier_upstream}{upstreams}{q}{queue} || {};
}

my $ngx = Astro::Instance->new(name => 'queue', port => nginx_port(80));


# 1. the order: free first, then free, premium, basic while it is busy

ok($ngx->start(body('size=10 timeout=5s')), 'nginx starts')
    or BAIL_OUT('nginx did not start');

{
    my $t0 = time;
    my $a = send_tier($ngx, 'free');
    sleep 0.05;
    my $b = send_tier($ngx, 'free');
    sleep 0.05;
    my $c = send_tier($ngx, 'premium');
    sleep 0.05;
    my $d = send_tier($ngx, 'basic');
    sleep 0.1;

    my $q = queue_of($ngx);
    is($q->{length}, 3, 'while the server is busy, 3 wait');

    # when each answer ended: its send plus its duration
    my %done;
    # (received in the expected order: an answer that came later than
    # expected is measured late)
    for ([a => $a], [c => $c], [d => $d], [b => $b]) {
        my $res = $ngx->receive($_->[1]);
        is($res->{status}, 200, "request $_->[0]: 200");
        $done{$_->[0]} = $_->[1]{t0} + $res->{ms} / 1000 - $t0;
    }

    # a at 0.4 s, then c (premium) at 0.8, d (basic) at 1.2, b (free) 1.6
    my %want = (a => 0.4, c => 0.8, d => 1.2, b => 1.6);
    for my $k (qw(a c d b)) {
        ok(abs($done{$k} - $want{$k}) < 0.15,
           sprintf('request %s done at %.2fs (expected %.1fs)', $k,
                   $done{$k}, $want{$k}));
    }

    $q = queue_of($ngx);
    is($q->{length}, 0, 'the queue is empty again');
    is($q->{waits}, 3, 'status: 3 waited');
    is($q->{timeouts}, 0, 'status: no timeout');
}


# 2. a wait past the timeout: 503; a full queue: 503 at once; a client
#    that leaves is removed

ok($ngx->reload(body('size=1 timeout=300ms')), 'reload: size=1 timeout=300ms');

{
    my $a = send_tier($ngx, 'free');
    sleep 0.05;
    my $b = send_tier($ngx, 'free');
    sleep 0.05;
    my $t = time;
    my $c = $ngx->receive(send_tier($ngx, 'premium'));
    is($c->{status}, 503, 'the queue is full (size=1): 503');
    cmp_ok((time - $t) * 1000, '<', 100, 'at once');

    my $rb = $ngx->receive($b);
    is($rb->{status}, 503, 'a wait past timeout=300ms: 503');
    ok($rb->{ms} > 250 && $rb->{ms} < 450,
       sprintf('after %.0fms', $rb->{ms}));
    is($ngx->receive($a)->{status}, 200, 'the first one: 200');

    # a client that leaves while waiting
    $a = send_tier($ngx, 'free');
    sleep 0.05;
    $b = send_tier($ngx, 'free');
    sleep 0.05;
    is(queue_of($ngx)->{length}, 1, 'one waits');
    close $b->{sock};
    ok(wait_until(sub { queue_of($ngx)->{length} == 0 }, 1, 0.02),
       'the client left: the queue is empty');
    is($ngx->receive($a)->{status}, 200, 'the first one: 200');

    my $q = queue_of($ngx);
    is($q->{timeouts}, 1, 'status: 1 timeout');
    is($q->{refused}, 1, 'status: 1 refused (full)');
}


# 3. critical: tiers below critical_below=2 are refused at once, the others
#    wait

write_proc($ngx->root, 950);

$ngx->stop;

ok($ngx->start(body('size=10 timeout=2s critical_below=2', <<_EOC_)),
    astro_health_zone main:1m interval=100ms window=1s;
    astro_health_source root=${\ $ngx->root}/fake;
_EOC_
   'nginx starts with a critical health zone, critical_below=2');

{
    ok(wait_until(sub {
        my $st = $ngx->status;
        $st && ($st->{health}{status} // '') eq 'critical' }, 3, 0.1),
       'the health zone is critical')
        or diag explain $ngx->status->{metrics};

    my $a = send_tier($ngx, 'premium');
    sleep 0.05;
    my $t = time;
    my $free = $ngx->receive(send_tier($ngx, 'free'));
    is($free->{status}, 503, 'free (1 < 2) while full and critical: 503');
    cmp_ok((time - $t) * 1000, '<', 100, 'at once');
    my $basic = send_tier($ngx, 'basic');
    is($ngx->receive($a)->{status}, 200, 'premium: 200');
    is($ngx->receive($basic)->{status}, 200, 'basic (2) waited: 200');
}

# the health zone logs its change to critical at alert, as it should
my @bad = grep { !/astro_health_zone "main": status critical/ }
          $ngx->bad_lines;
is(scalar @bad, 0, 'no crash, alert, crit or emerg') or diag @bad;
$ngx->stop;

done_testing();
