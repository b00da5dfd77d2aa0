# A resolution that fails keeps the address known: the DNS says the name
# does not exist (NXDOMAIN), or does not answer at all.  Either way the
# failure is logged as a warning and counted, the requests take the fail
# policy while Redis is down, and Redis back on its address decides again
# at once: the connect never waits for the DNS.  A worker that exits
# (a reload) does not wait for a question still out either.  As t/130.
#
# Ports: nginx on TEST_NGINX_PORT + 132, Redis on 127.0.0.1:6492 (and
# 127.0.0.2:6492, never asked), the DNS on udp 127.0.0.1:6495 (stopped
# for the second part).
#
# Timing: resolver_timeout is 5 s, so that waiting for the DNS would be
# seen: Redis back, its decisions are expected within the circuit's
# backoff (500ms), asserted within 3 s; the old worker of a reload is
# expected gone at once, asserted within 2.5 s.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(nginx_port have_redis wait_until);
use Astro::Resolve qw(start_pair ratelimit_body redis_decides answers_for);

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $run = "t132:$$:";       # the key prefix of this run
my $PORT = 6492;

my ($redis, $second, $dns) = start_pair($PORT);

my $ngx = Astro::Instance->new(name => 'resolve-fails',
    port => nginx_port(132),
    http => ratelimit_body(port => $PORT, resolver => 1,
                           resolver_timeout => '5s',
                           params => "prefix=$run connect_timeout=200ms "
                                     . 'timeout=200ms backoff=500ms '
                                     . 'max_backoff=500ms'));
ok($ngx->start, 'nginx starts with Redis at localhost') or BAIL_OUT('nginx');

is_deeply([map { $ngx->rl_hit('/o?k=a') } 1 .. 3],
          ['200 PASSED', '200 PASSED', '429 REJECTED'],
          'Redis decides: 2 pass, then 429');

my $n = 0;

# Redis started again: the seconds until 10 requests in a row are its
sub back {
    ok($redis->start, "redis on 127.0.0.1:$PORT starts again")
        or BAIL_OUT('no redis');
    my $t0 = time;
    my @last;
    ok(redis_decides($ngx, \$n, 'b', 10, 10, \@last),
       'Redis decides again: 10 requests in a row PASSED')
        or diag explain \@last;
    return time - $t0;
}

###########################################################################
# 1. NXDOMAIN
###########################################################################

$dns->set('localhost');
my $mark = $ngx->log_mark;
$redis->sigkill;

my $seen = answers_for($ngx, \$n, 'f', 1);
is_deeply([keys %$seen], ['200 FAILOPEN'],
          'Redis killed, the name unknown: FAILOPEN') or diag explain $seen;
ok(wait_until(sub { ($ngx->redis->{resolve}{failed} // 0) >= 1 }, 3),
   'the status counts the failed resolution');
cmp_ok($dns->asked('localhost', 'A'), '>=', 1, 'the DNS was asked');

my $warn = qr/\[warn\].*astro_ratelimit_redis:\ redis\ localhost:$PORT:
              \ "localhost"\ could\ not\ be\ resolved
              \ \(3:\ Host\ not\ found\),\ 127\.0\.0\.1\ is\ kept/x;
my @warn = grep { /$warn/ } $ngx->log_since($mark);
ok(@warn >= 1, 'a warning: "localhost" could not be resolved (3: Host not '
               . 'found), 127.0.0.1 is kept');

my $took = back();
cmp_ok($took, '<', 3, sprintf('within 3 s (took %.2f s)', $took));

my $r = $ngx->redis;
is($r->{resolve}{current}, "127.0.0.1:$PORT", 'the address is kept');
is($r->{resolve}{moved}, 0, 'moved 0');

###########################################################################
# 2. No answer: the connect does not wait for it
###########################################################################

$dns->stop;
sleep 2.1;                  # the NXDOMAIN cached (valid=1s, to the second)
                            # is gone
$redis->sigkill;

$seen = answers_for($ngx, \$n, 'f', 0.5);
is_deeply([keys %$seen], ['200 FAILOPEN'],
          'Redis killed, the DNS silent: FAILOPEN') or diag explain $seen;

$took = back();
cmp_ok($took, '<', 3, sprintf('within 3 s, less than resolver_timeout '
                              . '(took %.2f s)', $took));
is($ngx->redis->{resolve}{current}, "127.0.0.1:$PORT",
   'the address is kept');

# the question is still out (5 s): the old worker does not wait for it
my @old = $ngx->worker_pids;
my $t0 = time;
ok($ngx->reload(undef, 10), 'reload');
$took = time - $t0;
cmp_ok($took, '<', 2.5,
       sprintf('the old worker exits at once (took %.2f s)', $took));

is_deeply([map { $ngx->rl_hit('/o?k=c') } 1 .. 3],
          ['200 PASSED', '200 PASSED', '429 REJECTED'],
          'the new worker asks Redis: 2 pass, then 429');

is($second->cli('DBSIZE'), 0, 'the Redis at 127.0.0.2 was never asked');

my @bad = $ngx->bad_lines;
is(scalar @bad, 0, 'no alert, crit, emerg or crash in the error log')
    or diag(@bad);

done_testing();
