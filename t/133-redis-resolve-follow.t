# The pool follows: while the first Redis still runs, the name moves to
# the second.  Nothing is asked while nothing fails; an answer that still
# holds the address in use moves nothing; once one connection fails and
# the answer names another address, the worker's other connections, idle,
# are closed and made again there.  As t/130, one worker, pool=3.
#
# Ports: nginx on TEST_NGINX_PORT + 133, Redis on 127.0.0.1:6493 and
# 127.0.0.2:6493, the DNS on udp 127.0.0.1:6495.
#
# Timing: the connections are expected on the second Redis within a few
# milliseconds of the answer; asserted within 2 s.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(nginx_port have_redis wait_until);
use Astro::Resolve qw(start_pair ratelimit_body count_keys);

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $run = "t133:$$:";       # the key prefix of this run
my $PORT = 6493;

my ($first, $second, $dns) = start_pair($PORT);

my $ngx = Astro::Instance->new(name => 'resolve-follow',
    port => nginx_port(133),
    http => ratelimit_body(port => $PORT, resolver => 1,
                           params => "prefix=$run pool=3 "
                                     . 'connect_timeout=200ms timeout=200ms'));
ok($ngx->start, 'nginx starts with Redis at localhost') or BAIL_OUT('nginx');

# nginx's connections to a Redis: its clients but the one asking
sub ours {
    my ($redis) = @_;
    my $list = $redis->cli('CLIENT', 'LIST') // '';
    return grep { !/ cmd=client/ } grep { /\S/ } split /\n/, $list;
}

is_deeply([map { $ngx->rl_hit('/o?k=a') } 1 .. 3],
          ['200 PASSED', '200 PASSED', '429 REJECTED'],
          'Redis at 127.0.0.1 decides: 2 pass, then 429');
is(scalar(ours($first)), 3, 'the pool\'s 3 connections are on the first');

# -- the name moves while nothing fails: nothing is asked

$dns->set(localhost => '127.0.0.2');
is_deeply([map { $ngx->rl_hit("/o?k=n$_") } 1 .. 5], [('200 PASSED') x 5],
          'the name moved, nothing failed: 5 requests PASSED');
is(count_keys($first, "${run}o:n*"), 5, 'in the first Redis');
is($dns->asked('localhost', 'A'), 0, 'the DNS was not asked');

# -- one connection fails; the answer holds the address in use

$dns->set(localhost => '127.0.0.3', '127.0.0.1');
my ($victim) = ours($first);
my ($id) = $victim =~ /\bid=(\d+)/;
is($first->cli('CLIENT', 'KILL', 'ID', $id), 1, "connection id=$id killed");

my $n = 0;
ok(wait_until(sub {
       $n++;
       $ngx->rl_hit("/o?k=r$n");
       ($ngx->redis->{resolve}{resolved} // 0) >= 1;
   }, 3, 0.05), 'the worker asked the DNS again');
is($dns->asked('localhost', 'A'), 1, 'once');
is(scalar(ours($first)), 3, 'the answer has 127.0.0.1: the 3 connections '
                            . 'stay on the first');
is($ngx->redis->{resolve}{moved}, 0, 'moved 0');

# -- one connection fails; the answer is the second Redis

sleep 2.1;                  # the answer cached (valid=1s, to the second)
                            # is gone
$dns->set(localhost => '127.0.0.2');
($victim) = ours($first);
($id) = $victim =~ /\bid=(\d+)/;
my $mark = $ngx->log_mark;
is($first->cli('CLIENT', 'KILL', 'ID', $id), 1, "connection id=$id killed");

my $t0 = time;
ok(wait_until(sub {
       $n++;
       $ngx->rl_hit("/o?k=r$n");
       ours($first) == 0 && ours($second) == 3;
   }, 5, 0.05), 'the pool follows: its 3 connections on the second Redis, '
   . 'none on the first, which still runs')
    or diag(scalar(ours($first)), ' on the first, ', scalar(ours($second)),
            ' on the second');
my $took = time - $t0;
cmp_ok($took, '<', 2, sprintf('within 2 s (took %.2f s)', $took));

is_deeply([map { $ngx->rl_hit('/o?k=x') } 1 .. 3],
          ['200 PASSED', '200 PASSED', '429 REJECTED'],
          'Redis at 127.0.0.2 decides: 2 pass, then 429');
is($second->cli('EXISTS', "${run}o:x"), 1, 'the key is in the second Redis');
is($first->cli('EXISTS', "${run}o:x"), 0, 'not in the first');

my $r = $ngx->redis;
is_deeply([@{ $r->{resolve} }{qw(current resolved moved failed)}],
          ["127.0.0.2:$PORT", 2, 1, 0],
          'the status: at 127.0.0.2, 2 answers, 1 move, no failure')
    or diag explain $r;
is($r->{failed}, 0, 'no decision failed');

is(scalar(grep { /"localhost" is now 127\.0\.0\.2 \(was 127\.0\.0\.1\)/ }
          $ngx->log_since($mark)), 1, 'the move is logged once');

my @bad = $ngx->bad_lines;
is(scalar @bad, 0, 'no alert, crit, emerg or crash in the error log')
    or diag(@bad);

done_testing();
