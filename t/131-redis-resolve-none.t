# Without a `resolver` in http{}, a Redis given by host name keeps the
# address nginx -t read: the DNS is never asked, and when that Redis dies
# the requests take the fail policy (FAILOPEN here), though the name now
# points to another Redis; when it comes back on the same address the
# decisions are Redis's again.  The status shows the name and the address
# kept, no resolution.  As t/130, with no resolver.
#
# Ports: nginx on TEST_NGINX_PORT + 131, Redis on 127.0.0.1:6491 and
# 127.0.0.2:6491, the DNS on udp 127.0.0.1:6495.
#
# Timing: the circuit's backoff is 500ms: Redis back, its decisions are
# expected within about 0.5 s, asserted within 3 s.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(nginx_port have_redis);
use Astro::Resolve qw(start_pair ratelimit_body count_keys redis_decides
                      answers_for);

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $run = "t131:$$:";       # the key prefix of this run
my $PORT = 6491;

my ($first, $second, $dns) = start_pair($PORT);

my $ngx = Astro::Instance->new(name => 'resolve-none',
    port => nginx_port(131), workers => 2,
    http => ratelimit_body(port => $PORT,
                           params => "prefix=$run connect_timeout=200ms "
                                     . 'timeout=200ms backoff=500ms '
                                     . 'max_backoff=500ms'));
ok($ngx->start, 'nginx starts with Redis at localhost, no resolver')
    or BAIL_OUT('nginx');

is_deeply([map { $ngx->rl_hit('/o?k=a') } 1 .. 3],
          ['200 PASSED', '200 PASSED', '429 REJECTED'],
          'Redis at 127.0.0.1 decides: 2 pass, then 429');

# -- the name points elsewhere, the first Redis dies

$dns->set(localhost => '127.0.0.2');
$first->sigkill;

# 3 s of requests, a new key each: the fail policy decides them all
my $n = 0;
my $seen = answers_for($ngx, \$n, 'f', 3);
is_deeply($seen, { '200 FAILOPEN' => $n },
          "$n requests over 3 s: all FAILOPEN, none decided by the Redis "
          . 'the name now points to') or diag explain $seen;
is($second->cli('DBSIZE'), 0, 'the second Redis has no key');
is($dns->asked('localhost', 'A') + $dns->asked('localhost', 'AAAA'), 0,
   'the DNS was never asked');

my $r = $ngx->redis;
is_deeply($r->{resolve},
          { name => 'localhost', current => "127.0.0.1:$PORT",
            resolved => 0, failed => 0, moved => 0 },
          'the status: the address of startup kept, nothing asked')
    or diag explain $r;

# -- the first Redis back on its address: Redis decides again

ok($first->start, "redis on 127.0.0.1:$PORT starts again")
    or BAIL_OUT('no redis');
my $t0 = time;
my @last;
ok(redis_decides($ngx, \$n, 'b', 20, 10, \@last),
   'the decisions are Redis\'s again: 20 requests in a row PASSED')
    or diag explain \@last;
my $took = time - $t0;
cmp_ok($took, '<', 3, sprintf('within 3 s (took %.2f s)', $took));
cmp_ok(count_keys($first, "${run}o:b*"), '>=', 20,
       'their 20 keys (and those of earlier rounds) are in the first Redis');
is($second->cli('DBSIZE'), 0, 'still none in the second');

my @bad = $ngx->bad_lines;
is(scalar @bad, 0, 'no alert, crit, emerg or crash in the error log')
    or diag(@bad);

done_testing();
