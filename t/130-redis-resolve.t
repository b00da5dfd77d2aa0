# A Redis given by host name is resolved again through the http{}
# `resolver` when a connection is made again after a failure: the Redis
# moves (the DNS answer changes, the first server is killed) and the
# decisions reach the second one, with no reload, in every worker.  The
# status counts the resolutions and shows the address in use.
#
# The name is "localhost", which the fake DNS (t/lib/Astro/Dns.pm) is
# told to answer with 127.0.0.2 (t/lib/Astro/Resolve.pm).  The file
# drives nginx, two redis-servers and the DNS itself
# (t/lib/Astro/Instance.pm), as t/033 does.
#
# Ports: nginx on TEST_NGINX_PORT + 130, Redis on 127.0.0.1:6490 and
# 127.0.0.2:6490, the DNS on udp 127.0.0.1:6495.
#
# Timing: after the kill, a worker's next connect asks the DNS (an answer
# in about a millisecond) and goes to the new address; a circuit that
# opened meanwhile waits its backoff (500ms here).  Expected within about
# 0.6 s; asserted within 3 s, for a noisy 2-vCPU machine.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(nginx_port have_redis);
use Astro::Resolve qw(start_pair ratelimit_body count_keys redis_decides);

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $run = "t130:$$:";       # the key prefix of this run
my $PORT = 6490;

my ($first, $second, $dns) = start_pair($PORT);

my $ngx = Astro::Instance->new(name => 'resolve', port => nginx_port(130),
    workers => 2,
    http => ratelimit_body(port => $PORT, resolver => 1,
                           params => "prefix=$run connect_timeout=200ms "
                                     . 'timeout=200ms backoff=500ms '
                                     . 'max_backoff=500ms'));
ok($ngx->start, 'nginx starts with Redis at localhost') or BAIL_OUT('nginx');
my $master = $ngx->master_pid;

# -- the first Redis decides

is_deeply([map { $ngx->rl_hit('/o?k=a') } 1 .. 3],
          ['200 PASSED', '200 PASSED', '429 REJECTED'],
          'Redis at 127.0.0.1 decides: 2 pass, then 429');
is($first->cli('EXISTS', "${run}o:a"), 1, 'the key is in the first Redis');
is($second->cli('DBSIZE'), 0, 'the second Redis has no key');

my $r = $ngx->redis;
is_deeply($r->{resolve},
          { name => 'localhost', current => "127.0.0.1:$PORT",
            resolved => 0, failed => 0, moved => 0 },
          'the status: the name, its address of startup, nothing asked')
    or diag explain $r;
is($dns->asked('localhost', 'A'), 0,
   'the DNS was not asked: nginx -t resolved the name, the workers '
   . 'connected there');

# -- the Redis moves: the DNS answers 127.0.0.2, the first one dies

$dns->set(localhost => '127.0.0.2');
my $mark = $ngx->log_mark;
$first->sigkill;
my $t0 = time;

# Every request of a round decided by Redis: PASSED (FAILOPEN meanwhile:
# a worker's first connect after the failure goes to the address it
# knows while the DNS answers).  20 requests reach both workers.
my ($n, @last) = (0);
my $moved = redis_decides($ngx, \$n, 'm', 20, 10, \@last);
my $took = time - $t0;
ok($moved, 'the decisions reach the second Redis: 20 requests in a row '
           . 'PASSED') or diag explain \@last;
cmp_ok($took, '<', 3, sprintf('within 3 s of the kill (took %.2f s)', $took));
diag(sprintf('moved in %.2f s, %d requests', $took, $n));

is_deeply([map { $ngx->rl_hit('/o?k=x') } 1 .. 3],
          ['200 PASSED', '200 PASSED', '429 REJECTED'],
          'Redis at 127.0.0.2 decides: 2 pass, then 429');
is($second->cli('EXISTS', "${run}o:x"), 1, 'the key is in the second Redis');

# both workers moved: 20 more decisions, all by Redis
is(scalar(grep { $_ eq '200 PASSED' }
              map { $ngx->rl_hit("/o?k=w$_") } 1 .. 20), 20,
   '20 more requests, over both workers, all PASSED');
is(count_keys($second, "${run}o:w*"), 20,
   'their 20 keys are in the second Redis');

cmp_ok($dns->asked('localhost', 'A'), '>=', 1, 'the DNS was asked');

my @notice = grep { /"localhost" is now 127\.0\.0\.2 \(was 127\.0\.0\.1\)/ }
             $ngx->log_since($mark);
ok(@notice >= 1 && @notice <= 2,
   'each worker that moved logged it once: "localhost" is now 127.0.0.2 '
   . '(was 127.0.0.1)') or diag(scalar @notice, ' lines');
like($notice[0] // '',
     qr/\[notice\].*astro_ratelimit_redis: redis localhost:$PORT:/,
     'at notice level, naming the directive and the address as written');

$r = $ngx->redis;
is($r->{resolve}{current}, "127.0.0.2:$PORT",
   'the status shows the new address');
cmp_ok($r->{resolve}{moved}, '>=', 1, 'moved >= 1');
cmp_ok($r->{resolve}{moved}, '<=', 2, 'moved <= 2 (once a worker)');
cmp_ok($r->{resolve}{resolved}, '>=', $r->{resolve}{moved},
       'resolved >= moved');
is($r->{resolve}{failed}, 0, 'no resolution failed');
is($r->{address}, "localhost:$PORT", 'the address as written');

my $prom = $ngx->get('/astro/status?format=prometheus');
like($prom->{body},
     qr/^astro_ratelimit_redis_address_changes_total [12]$/m,
     'Prometheus: astro_ratelimit_redis_address_changes_total');
like($prom->{body},
     qr/^astro_ratelimit_redis_resolutions_total\{outcome="failed"\} 0$/m,
     'Prometheus: astro_ratelimit_redis_resolutions_total{outcome="failed"}');

is($ngx->master_pid, $master, 'the same master');
is($ngx->generation, '1', 'no reload: the first configuration answers');

my @bad = $ngx->bad_lines;
is(scalar @bad, 0, 'no alert, crit, emerg or crash in the error log')
    or diag(@bad);

done_testing();
