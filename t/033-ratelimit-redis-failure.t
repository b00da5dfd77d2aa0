# The rate limiter's Redis backend when Redis fails: killed, paused,
# restarted, refusing our password, not running, or a server that is not
# Redis.  Test::Nginx cannot kill or pause a server in the middle of a
# block, so this file drives nginx and private redis-servers itself
# (t/lib/Astro/Instance.pm), with TEST_NGINX_BINARY and
# TEST_NGINX_LOAD_MODULES as the Socket tests do.
#
# Ports: nginx on TEST_NGINX_PORT + 60..69, Redis (and the fake ones) on
# 6400..6409.
#
# Timing: the machine may be a noisy 2-vCPU VM.  A request that waits for
# a Redis timeout T is expected in [T - 20ms, T + 60ms] (nginx's timer
# starts when the request is read, a little after the client sent it, and
# fires on the event loop's next turn); one that must not wait is
# expected under 50ms, against a timeout of 300ms or 500ms, so that the
# difference cannot be mistaken (such requests take about 1ms; with both
# CPUs busy with other work one took 20ms).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(nginx_port have_redis wait_until sleep_into_second);

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $run = "t033:$$:";       # the key prefix of this run

# An http{} body: the Redis directive's parameters, then the zones and
# their locations.  Every zone is keyed on $arg_k; /ping has no limit.
sub body {
    my ($redis, @zones) = @_;
    my $zones = join '', map { "    astro_ratelimit_zone $_->[0];\n" } @zones;
    my $locs = join '', map {
        "        location = /$_->[1] { astro_ratelimit $_->[2]; echo ok; }\n"
    } @zones;
    return <<_EOC_;
    astro_ratelimit_redis $redis;
$zones
    server {
        listen 127.0.0.1:\$PORT;
        add_header X-RL \$astro_ratelimit_status always;
        add_header X-Remaining \$astro_ratelimit_remaining always;
$locs
        location = /ping { echo pong; }
        location /astro/status { astro_status; }
    }
_EOC_
}

# the requests' answers, "status X-RL" each, and the slowest one in ms
sub hits {
    my ($ngx, @paths) = @_;
    my (@out, $max);
    $max = 0;
    for (@paths) {
        my $res = $ngx->get($_);
        push @out, "$res->{status} " . ($res->{headers}{'x-rl'} // '-');
        $max = $res->{ms} if $res->{ms} > $max;
    }
    return (\@out, $max);
}

sub count_lines {
    my ($re, @lines) = @_;
    return scalar grep { /$re/ } @lines;
}

# nothing must listen where a test wants no Redis
sub port_free {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 1);
    return !$s;
}


###########################################################################
# 1. Redis killed, restarted; paused until the circuit opens; fail=closed
#    with dry_run (7).  timeout=300ms, max_fails=3, backoff=1500ms.
###########################################################################

{
    my $T = 300;
    my $redis = Astro::Instance::Redis->new(port => 6400);
    ok($redis->start, 'redis on 6400 starts') or BAIL_OUT('no redis');

    my $ngx = Astro::Instance->new(name => 'fail1', port => nginx_port(60),
        http => body("127.0.0.1:6400 prefix=$run connect_timeout=${T}ms "
                     . "timeout=${T}ms max_fails=3 backoff=1500ms "
                     . "max_backoff=1500ms",
            # fail=open: 5 pass (1 + burst 4) in Redis, or locally
            ['zone=o:1m key=$arg_k rate=1r/m burst=4 fail=open', 'o',
             'zone=o'],
            ['zone=c:1m key=$arg_k rate=100r/m fail=closed', 'c', 'zone=c'],
            ['zone=d:1m key=$arg_k rate=100r/m fail=closed', 'd',
             'zone=d dry_run'],
            # NOSCRIPT (6): 3 pass (1 + burst 2)
            ['zone=n:1m key=$arg_k rate=1r/m burst=2', 'n', 'zone=n']));
    ok($ngx->start, 'nginx starts') or BAIL_OUT('nginx did not start');

    # -- Redis up: Redis decides

    is_deeply([map { $ngx->rl_hit('/o?k=a') } 1 .. 2],
              ['200 PASSED', '200 PASSED'], 'Redis up: PASSED');
    is($redis->cli('EXISTS', "${run}o:a"), 1,
       "the key ${run}o:a is in Redis");

    # -- Redis killed: the fail policy decides, at once

    $redis->sigkill;
    my $mark = $ngx->log_mark;

    my ($answers, $slowest) = hits($ngx, map { '/o?k=b' } 1 .. 7);
    is_deeply($answers,
              [('200 FAILOPEN') x 5, ('429 REJECTED') x 2],
              'Redis killed: fail=open decides in the zone\'s memory, '
              . '5 pass (FAILOPEN) then REJECTED');
    cmp_ok($slowest, '<', $T + 60,
           "and each answer comes within timeout + 60ms");

    ($answers, $slowest) = hits($ngx, map { '/c?k=b' } 1 .. 3);
    is_deeply($answers, [('503 FAILCLOSED') x 3],
              'fail=closed answers 503 FAILCLOSED');
    cmp_ok($slowest, '<', $T + 60, 'within timeout + 60ms');

    # 7. fail=closed with dry_run refuses nothing
    my $res = $ngx->get('/d?k=b');
    is($res->{status}, 200, 'dry_run on a fail=closed zone: 200');
    is($res->{body}, "ok\n", 'with the content');
    is($res->{headers}{'x-rl'}, 'DRY_RUN', '$astro_ratelimit_status DRY_RUN');

    my $rl = $ngx->ratelimit;
    my $r = $rl->{redis};
    is_deeply([@{ $rl->{zones}{o} }{qw(passed rejected fail_open
                                       fail_closed)}],
              [7, 2, 7, 0],
              'zone o counts 7 passed (2 in Redis, 5 failing open), '
              . '2 rejected, 7 decided failing open');
    is_deeply([@{ $rl->{zones}{c} }{qw(passed rejected fail_closed)}],
              [0, 0, 3], 'zone c counts 3 fail_closed');
    is_deeply([@{ $rl->{zones}{d} }{qw(passed dry_run fail_closed)}],
              [0, 1, 1], 'zone d counts its dry run as dry_run and '
              . 'fail_closed');
    cmp_ok($r->{errors}{closed} + $r->{errors}{connect}, '>=', 1,
           'the status counts the lost connection')
        or diag explain $r;

    my @log = $ngx->log_since($mark);
    ok(count_lines(qr/\[error\].*astro_ratelimit_redis: redis 127\.0\.0\.1:6400: (?:connection lost: |connect failed: Connection refused)/, @log),
       'the error log tells the connection is lost or refused')
        or diag @log;
    is(count_lines(qr/dry run: zone "d" would refuse the request: no answer from Redis/, @log),
       1, 'the dry run logs what it would have done');

    # A refused connect is seen asynchronously: the commands queued on the
    # connection being made fail; requests that come while the connection
    # waits to be made again (100ms, 200ms...) are decided at once and
    # counted as skipped.  After max_fails=3 failed commands the circuit
    # opens: drive requests until it does.
    my ($opened, @waits);
    my $t0 = time;
    for my $n (1 .. 100) {
        my $res = $ngx->get("/o?k=w$n");
        push @waits, $res->{ms};
        $r = $ngx->redis;
        $opened = $r->{circuit} eq 'open' and last;
        sleep 0.05;
    }
    my $open_seen = time;
    ok($opened, sprintf('the circuit opens after max_fails failed commands '
                        . '(%.1fs of requests)', time - $t0))
        or diag explain $r;
    cmp_ok($r->{failed}, '>=', 3, "after $r->{failed} failed commands");
    is($r->{circuit_opened}, 1, 'it opened once');
    ok(!grep({ $_ >= $T + 60 } @waits),
       sprintf('each of the %d requests within timeout + 60ms', scalar @waits));
    ($answers, $slowest) = hits($ngx, map { "/o?k=x$_" } 1 .. 5);
    is_deeply($answers, [('200 FAILOPEN') x 5], 'the circuit open: FAILOPEN');
    cmp_ok($slowest, '<', 50, 'at once: each under 50ms');
    is(count_lines(qr/\[error\].*redis 127\.0\.0\.1:6400: circuit open after 3 failed commands, Redis is not asked for 1500ms/,
                   $ngx->log_since($mark)),
       1, 'the error log tells the circuit opened');

    # -- Redis restarted on the same port: Redis decides again, no reload

    ok($redis->start, 'redis restarts on 6400');
    my $i = 0;
    my $back = wait_until(sub { $ngx->rl_hit('/o?k=poll' . $i++)
                                eq '200 PASSED' }, 5, 0.05);
    my $back_after = time - $open_seen;
    ok($back, 'Redis decides again (backoff 1.5s, reconnect delay up to '
       . '1.5s: 5s allowed)');
    # the circuit opened at most ~0.1s before it was seen open
    cmp_ok($back_after, '>=', 1.4,
           sprintf('not before the backoff is over: %.2fs after the '
                   . 'circuit was seen open', $back_after));
    is($ngx->rl_hit('/o?k=c'), '200 PASSED', 'a new key: PASSED');
    is($redis->cli('EXISTS', "${run}o:c"), 1, 'and its key is in Redis');
    is($ngx->redis->{circuit}, 'closed', 'the circuit is closed');

    # -- Redis paused: the first max_fails requests wait for the timeout,
    #    then the circuit opens and they are decided at once

    my $before = $ngx->redis;
    $redis->pause;
    $mark = $ngx->log_mark;

    my @slow;
    for my $n (1 .. 3) {
        my $res = $ngx->get("/o?k=s$n");
        push @slow, [$res->{status}, $res->{headers}{'x-rl'} // '-',
                     $res->{ms}];
    }
    my $opened_at = time;
    is_deeply([map { "$_->[0] $_->[1]" } @slow], [('200 FAILOPEN') x 3],
              'Redis paused: the 3 first requests FAILOPEN');
    for my $n (0 .. 2) {
        my $ms = $slow[$n][2];
        ok($ms >= $T - 20 && $ms < $T + 60,
           sprintf('request %d waited the timeout: %.0fms in [%d, %d)',
                   $n + 1, $ms, $T - 20, $T + 60));
    }

    my $open = $ngx->redis;
    is($open->{circuit}, 'open', 'the circuit opened after max_fails=3')
        or diag explain $open;
    is($open->{circuit_opened} - ($before->{circuit_opened} // 0), 1,
       'once');
    cmp_ok($open->{errors}{timeout} - $before->{errors}{timeout}, '>=', 3,
           'the status counts the timeouts');
    is($open->{failed} - $before->{failed}, 3, 'and 3 failed commands');
    is(count_lines(qr/\[error\].*redis 127\.0\.0\.1:6400: circuit open after 3 failed commands, Redis is not asked for 1500ms/,
                   $ngx->log_since($mark)),
       1, 'the error log tells the circuit opened');
    cmp_ok(count_lines(qr/\[error\].*redis 127\.0\.0\.1:6400: no reply in time, connection closed/,
                       $ngx->log_since($mark)),
           '>=', 1, 'and that Redis did not answer');

    my @fast;
    for my $n (1 .. 5) {
        my $res = $ngx->get("/o?k=f$n");
        push @fast, ["$res->{status} " . ($res->{headers}{'x-rl'} // '-'),
                     $res->{ms}];
    }
    is_deeply([map { $_->[0] } @fast], [('200 FAILOPEN') x 5],
              'the circuit open: FAILOPEN');
    my @ms = map { $_->[1] } @fast;
    ok(!grep({ $_ >= 50 } @ms),
       'at once: each under 50ms (timeout is 300ms): '
       . join(', ', map { sprintf '%.1f', $_ } @ms));
    is($ngx->redis->{skipped} - $open->{skipped}, 5,
       'the 5 are counted as skipped: Redis was not asked');

    # Redis killed while paused and started again: the circuit stays
    # open until the backoff is over, then one request probes
    $redis->sigkill;
    ok($redis->start, 'redis restarts on 6400');
    my $left = $opened_at + 1.5 - time;
    SKIP: {
        skip 'the restart took longer than the backoff', 1
            if $left < 0.3;
        is($ngx->rl_hit('/o?k=early'), '200 FAILOPEN',
           'Redis up but the backoff not over: still FAILOPEN');
    }
    $mark = $ngx->log_mark;
    sleep($opened_at + 1.5 + 0.1 - time) if $opened_at + 1.6 > time;
    is($ngx->rl_hit('/o?k=probe'), '200 PASSED',
       'after the backoff the first request probes Redis: PASSED');
    is($redis->cli('EXISTS', "${run}o:probe"), 1,
       'its key is in Redis');
    is($ngx->redis->{circuit}, 'closed', 'the circuit is closed again');
    is(count_lines(qr/\[notice\].*redis 127\.0\.0\.1:6400: answers again, circuit closed/,
                   $ngx->log_since($mark)),
       1, 'and the error log tells it');

    # -- 6. NOSCRIPT: Redis forgot the scripts, the decisions stay exact

    my $ns = $ngx->redis->{noscript};
    is_deeply([map { $ngx->rl_hit('/n?k=ns') } 1 .. 2],
              ['200 PASSED', '200 PASSED'], 'NOSCRIPT: 2 of 3 pass');
    is($redis->cli('SCRIPT', 'FLUSH'), 'OK', 'SCRIPT FLUSH');
    is_deeply([map { $ngx->rl_hit('/n?k=ns') } 1 .. 3],
              ['200 PASSED', '429 REJECTED', '429 REJECTED'],
              'after SCRIPT FLUSH: the third passes, then REJECTED');
    $rl = $ngx->ratelimit;
    cmp_ok($rl->{redis}{noscript} - $ns, '>=', 1,
           'the status counts the NOSCRIPT');
    is_deeply([@{ $rl->{zones}{n} }{qw(passed rejected fail_open)}],
              [3, 2, 0], 'zone n: 3 passed, 2 rejected, none failing open');
    is($ngx->get('/n?k=ns2')->{headers}{'x-remaining'}, 2,
       'a new key: 2 remain');

    my @bad = $ngx->bad_lines;
    is(scalar @bad, 0, 'no crash, alert, crit or emerg') or diag @bad;
    $ngx->stop;
    $redis->stop;
}


###########################################################################
# 2. Redis paused (SIGSTOP), one worker, timeout=500ms: a request waiting
#    for Redis does not hold the worker
###########################################################################

{
    my $T = 500;
    my $redis = Astro::Instance::Redis->new(port => 6401);
    ok($redis->start, 'redis on 6401 starts') or BAIL_OUT('no redis');

    my $ngx = Astro::Instance->new(name => 'fail2', port => nginx_port(61),
        workers => 1,
        http => body("127.0.0.1:6401 prefix=$run timeout=${T}ms",
            ['zone=o:1m key=$arg_k rate=100r/m', 'o', 'zone=o']));
    ok($ngx->start, 'nginx with one worker starts')
        or BAIL_OUT('nginx did not start');

    is($ngx->rl_hit('/o?k=a'), '200 PASSED', 'Redis up: PASSED');

    $redis->pause;

    my $pending = $ngx->send_get('/o?k=a');
    sleep 0.05;                     # the request waits for Redis now
    my $ping = $ngx->get('/ping');
    is($ping->{body}, "pong\n", 'while it waits, /ping answers');
    cmp_ok($ping->{ms}, '<', 50, sprintf('in under 50ms (%.1fms)',
                                         $ping->{ms}));
    my $res = $ngx->receive($pending);
    is("$res->{status} " . ($res->{headers}{'x-rl'} // '-'), '200 FAILOPEN',
       'the limited request FAILOPEN');
    ok($res->{ms} >= $T - 20 && $res->{ms} < $T + 60,
       sprintf('after the timeout: %.0fms in [%d, %d)', $res->{ms},
               $T - 20, $T + 60));

    # a client that leaves while its request waits for Redis: the request
    # ends at once (499), the reply that comes later finds no requester
    my $mark = $ngx->log_mark;
    my $gone = $ngx->send_get('/o?k=gone');
    sleep 0.1;
    close $gone->{sock};
    ok(wait_until(sub { join('', $ngx->log_since($mark))
                        =~ /client prematurely closed connection/ }, 2, 0.05),
       'a client that leaves while waiting: its request ends');
    sleep 0.5;                      # its command times out meanwhile

    $redis->resume;
    # the connection that timed out is made again at once
    ok(wait_until(sub { $ngx->rl_hit('/o?k=a') eq '200 PASSED' }, 3, 0.1),
       'Redis resumed: PASSED again');
    # the waiting requests' two, and maybe the setup commands of a
    # connection made again while Redis was paused
    cmp_ok($ngx->redis->{errors}{timeout}, '>=', 2,
           'the status counts the timeouts, one of the client that left');
    is($ngx->ratelimit->{zones}{o}{fail_open}, 1,
       'the request of the client that left was not decided');

    my @bad = $ngx->bad_lines;
    is(scalar @bad, 0, 'no crash, alert, crit or emerg') or diag @bad;
    $ngx->stop;
    $redis->stop;
}


###########################################################################
# 3. A wrong password.  max_fails is high so that the circuit does not
#    open; a connection whose AUTH failed is made again after a backoff
#    (100ms, 200ms, ...), not for every request.
###########################################################################

{
    my $redis = Astro::Instance::Redis->new(port => 6402,
                                            password => 'right-one');
    ok($redis->start, 'redis on 6402 with a password starts')
        or BAIL_OUT('no redis');

    my $ngx = Astro::Instance->new(name => 'fail3', port => nginx_port(62),
        http => body("127.0.0.1:6402 prefix=$run password=wrong-one "
                     . "max_fails=100000",
            ['zone=o:1m key=$arg_k rate=100r/m', 'o', 'zone=o']));
    ok($ngx->start, 'nginx starts with a wrong Redis password')
        or BAIL_OUT('nginx did not start');
    is($ngx->get('/ping')->{body}, "pong\n", 'and serves');

    # 15 requests within one second of the clock: one line
    sleep_into_second(0.05);
    my $mark = $ngx->log_mark;
    my $t0 = time;
    my ($answers) = hits($ngx, map { "/o?k=p$_" } 1 .. 15);
    my $took = time - $t0;
    is_deeply($answers, [('200 FAILOPEN') x 15], '15 requests FAILOPEN');
    my @log = $ngx->log_since($mark);
    my $re = qr/\[error\].*astro_ratelimit_redis: redis 127\.0\.0\.1:6402: AUTH failed: WRONGPASS/;
  SKIP: {
        skip sprintf('the 15 requests took %.2fs, across a second', $took), 1
            if int($t0) != int($t0 + $took);
        is(count_lines($re, @log), 1,
           'one "AUTH failed" line for them (one a second)')
            or diag @log;
    }

    # the next second: the connections are made again, after a backoff,
    # and the line tells how many failures it did not log
    sleep_into_second(0.05);
    $mark = $ngx->log_mark;
    my @more = map { $ngx->rl_hit("/o?k=q$_") } 1 .. 10;
    is_deeply(\@more, [('200 FAILOPEN') x 10], 'the next second: FAILOPEN');
    @log = $ngx->log_since($mark);
    my @auth = grep { /$re/ } @log;
    cmp_ok(scalar @auth, '<=', 1, 'at most one "AUTH failed" line')
        or diag @log;

    my $r = $ngx->redis;
    cmp_ok($r->{errors}{auth}, '>=', 2, 'status: errors.auth counts them '
           . "($r->{errors}{auth})");
    cmp_ok($r->{errors}{auth}, '<', 25,
           'fewer AUTH failures than requests: reconnects back off');
    is($r->{circuit}, 'closed', 'the circuit stays closed (max_fails=100000)');

    my @bad = $ngx->bad_lines;
    is(scalar @bad, 0, 'no crash, alert, crit or emerg') or diag @bad;
    $ngx->stop;
    $redis->stop;
}


###########################################################################
# 4. No Redis at all when nginx starts.  max_backoff=100ms: a connection
#    is tried again every 100ms.
###########################################################################

{
    ok(port_free(6403), 'nothing listens on 6403')
        or BAIL_OUT('port 6403 is taken');

    my $ngx = Astro::Instance->new(name => 'fail4', port => nginx_port(63),
        http => body("127.0.0.1:6403 prefix=$run max_backoff=100ms",
            ['zone=o:1m key=$arg_k rate=1r/m burst=2', 'o', 'zone=o']));
    ok($ngx->start, 'nginx starts while Redis does not run')
        or BAIL_OUT('nginx did not start');

    is_deeply([map { $ngx->rl_hit('/o?k=a') } 1 .. 4],
              ['200 FAILOPEN', '200 FAILOPEN', '200 FAILOPEN',
               '429 REJECTED'],
              'FAILOPEN, the local limits hold (3 pass)');

    # 20 requests 40ms apart, in one second of the clock
    sleep_into_second(0.05);
    my $before = $ngx->redis;
    my $mark = $ngx->log_mark;
    my $t0 = time;
    my @answers;
    for (1 .. 20) {
        push @answers, $ngx->rl_hit("/o?k=m$_");
        sleep 0.04;
    }
    my $took = time - $t0;
    is_deeply(\@answers, [('200 FAILOPEN') x 20], '20 more FAILOPEN');
    my $after = $ngx->redis;
    my $errors = $after->{errors}{connect} - $before->{errors}{connect};
    my @log = $ngx->log_since($mark);
    my $lines = count_lines(qr/\[error\].*astro_ratelimit_redis: redis 127\.0\.0\.1:6403: connect failed: Connection refused/, @log);
    cmp_ok($errors, '>=', 5, "the status counts the refused connects "
                             . "($errors)");
  SKIP: {
        skip sprintf('the requests took %.2fs, across a second', $took), 1
            if int($t0) != int($t0 + $took);
        is($lines, 1, "but one line is logged for the $errors")
            or diag @log;
    }
    cmp_ok($lines, '<=', 2, 'at most one line a second');

    # the next line (the circuit may be open for its backoff: up to 2s)
    # tells how many were not logged
    $mark = $ngx->log_mark;
    my $next;
    for (1 .. 50) {
        $ngx->rl_hit("/o?k=n$_");
        ($next) = grep { /connect failed/ } $ngx->log_since($mark);
        last if $next;
        sleep 0.04;
    }
    my ($more) = ($next // '') =~ /\(and (\d+) more since the last report\)/;
    cmp_ok($more // 0, '>=', $errors - 2,
           'the next line counts the failures not logged '
           . '(' . ($more // 'none') . ')') or diag $next;

    my @bad = $ngx->bad_lines;
    is(scalar @bad, 0, 'no crash, alert, crit or emerg') or diag @bad;
    $ngx->stop;
}


###########################################################################
# 5. A server that is not Redis: "+OK" to every command (the script's
#    EVALSHA gets a status reply), "hello" (not the protocol), an error
#    reply to every command, or two integers that no GCRA decision of
#    1r/m leaves (a remainder of 49,999 for a count of 1)
###########################################################################

for my $case (['+OK', "+OK\r\n", 6404, 64, 'protocol',
               qr/unexpected reply of type 5/],
              ['hello', "hello\r\n", 6405, 65, 'protocol',
               qr/bad reply: Protocol error/],
              ['-ERR', "-ERR not today\r\n", 6406, 66, 'reply',
               # one line a second per kind: SCRIPT LOAD's comes first
               qr/(?:SCRIPT LOAD failed|error reply): ERR not today/],
              ['state', "*2\r\n:0\r\n:99999\r\n", 6407, 67, 'protocol',
               qr/unexpected reply for 1 of 1 keys/]) {
    my ($name, $reply, $rport, $offset, $kind, $re) = @$case;

    my $fake = Astro::Instance::Garbage->new(port => $rport,
                                             reply => $reply);
    ok($fake->start, "a server answering \"$name\" on $rport")
        or BAIL_OUT("cannot listen on $rport");

    my $ngx = Astro::Instance->new(name => "fail5$name",
        port => nginx_port($offset),
        http => body("127.0.0.1:$rport prefix=$run max_fails=100000",
            ['zone=o:1m key=$arg_k rate=1r/m burst=2', 'o', 'zone=o']));
    ok($ngx->start, 'nginx starts') or BAIL_OUT('nginx did not start');
    my @pids = $ngx->worker_pids;

    my ($answers, $slowest) = hits($ngx, map { '/o?k=g' } 1 .. 4);
    is_deeply($answers,
              ['200 FAILOPEN', '200 FAILOPEN', '200 FAILOPEN',
               '429 REJECTED'],
              "\"$name\": FAILOPEN, the local limits hold");
    cmp_ok($slowest, '<', 50 + 60, 'each within timeout (50ms) + 60ms');

    my $r = $ngx->redis;
    cmp_ok($r->{errors}{$kind}, '>=', 1,
           "status: errors.$kind ($r->{errors}{$kind})");
    my @log = $ngx->error_log;
    cmp_ok(count_lines(qr/\[error\].*astro_ratelimit_redis: redis 127\.0\.0\.1:$rport: $re/, @log),
           '>=', 1, "the error log tells: $re") or diag @log;

    my @bad = $ngx->bad_lines;
    is(scalar @bad, 0, 'no crash, alert, crit or emerg') or diag @bad;
    is_deeply([$ngx->worker_pids], \@pids, 'the same worker runs');
    $ngx->stop;
    $fake->stop;
}



###########################################################################
# 8. The right password of an ACL user, and a database: AUTH user pass
#    and SELECT go ahead of the first command; the keys are in that
#    database
###########################################################################

{
    my $redis = Astro::Instance::Redis->new(port => 6407,
                                            password => 'admin-pass');
    ok($redis->start, 'redis on 6407 with a password starts')
        or BAIL_OUT('no redis');
    # the rules docs/ratelimit.md gives, with this run's prefix
    is($redis->cli('ACL', 'SETUSER', 'astro', 'on', '>astro-pass',
                   "~${run}*", '+evalsha', '+eval', '+script|load', '+mget',
                   '+set', '+time', '+select'),
       'OK', 'an ACL user "astro" with the documented rules');

    my $ngx = Astro::Instance->new(name => 'fail8', port => nginx_port(67),
        http => body("127.0.0.1:6407 prefix=$run user=astro "
                     . "password=astro-pass db=3",
            ['zone=o:1m key=$arg_k rate=2r/m burst=1', 'o', 'zone=o']));
    ok($ngx->start, 'nginx starts') or BAIL_OUT('nginx did not start');

    is_deeply([map { $ngx->rl_hit('/o?k=acl') } 1 .. 3],
              ['200 PASSED', '200 PASSED', '429 REJECTED'],
              'Redis decides: 2 pass, then REJECTED');
    is($redis->cli('-n', 3, 'EXISTS', "${run}o:acl"), '1',
       "the key \"${run}o:acl\" is in database 3");
    is($redis->cli('-n', 0, 'EXISTS', "${run}o:acl"), '0',
       'and not in database 0');
    my $r = $ngx->redis;
    is($r->{commands}, 3, 'status: 3 commands answered');
    is($r->{errors}{auth} + $r->{errors}{reply}, 0, 'no AUTH or SELECT error');
    is($ngx->ratelimit->{zones}{o}{fail_open}, 0, 'nothing decided locally');

    my @bad = $ngx->bad_lines;
    is(scalar @bad, 0, 'no crash, alert, crit or emerg') or diag @bad;
    $ngx->stop;
    $redis->stop;
}


###########################################################################
# 9. pool=1, one worker, hold=1000ms: while the connection has a call in
#    flight, the decisions of later requests wait for its reply and go out
#    together; each waits at most its own timeout (connect_timeout more
#    when it goes out on a connection being made).
###########################################################################

{
    my ($T, $CT) = (500, 50);
    my $redis = Astro::Instance::Redis->new(port => 6408);
    ok($redis->start, 'redis on 6408 starts') or BAIL_OUT('no redis');

    my $ngx = Astro::Instance->new(name => 'fail9', port => nginx_port(68),
        workers => 1,
        http => body("127.0.0.1:6408 prefix=$run pool=1 timeout=${T}ms "
                     . "connect_timeout=${CT}ms max_fails=100 hold=1000ms",
            ['zone=o:1m key=$arg_k rate=100r/m', 'o', 'zone=o']));
    ok($ngx->start, 'nginx with one worker starts')
        or BAIL_OUT('nginx did not start');

    is($ngx->rl_hit('/o?k=warm'), '200 PASSED', 'Redis up: PASSED');

    # Redis paused for 200ms: the first request's call waits in Redis's
    # socket, the next ten are read in turns of their own and wait for its
    # reply
    $redis->cli('CONFIG', 'RESETSTAT');
    $redis->pause;
    my $first = $ngx->send_get('/o?k=h0');
    sleep 0.05;
    my @held = map { my $h = $ngx->send_get("/o?k=h$_"); sleep 0.005; $h }
               1 .. 10;
    sleep 0.15;
    $redis->resume;
    my @res = map { $ngx->receive($_) } $first, @held;
    is_deeply([map { "$_->{status} " . ($_->{headers}{'x-rl'} // '-') }
               @res], [('200 PASSED') x 11],
              'Redis paused 200ms: 11 requests, all decided by Redis');
    my ($calls) = ($redis->cli('INFO', 'commandstats') // '')
                  =~ /cmdstat_evalsha:calls=(\d+)/;
    is($calls, 2, 'in 2 calls: the first request\'s, then the ten that '
                  . 'waited for its reply, together');

    # Redis paused past the timeout: requests sent at 0, 150 and 300ms.
    # The first times out at T and its connection is closed; the two that
    # waited go out on a new connection, with the time they had left (plus
    # connect_timeout): none waits T more.
    $redis->pause;
    my @t = map { my $h = $ngx->send_get("/o?k=d$_"); sleep 0.15; $h }
            0 .. 2;
    @res = map { $ngx->receive($_) } @t;
    is_deeply([map { "$_->{status} " . ($_->{headers}{'x-rl'} // '-') }
               @res], [('200 FAILOPEN') x 3],
              'Redis paused past the timeout: 3 FAILOPEN');
    my @ms = map { sprintf '%.0f', $_->{ms} } @res;
    ok($res[0]{ms} >= $T - 20 && $res[0]{ms} < $T + 60,
       "the first after the timeout: $ms[0]ms in [@{[$T - 20]}, "
       . "@{[$T + 60]})");
    ok(!grep({ $_->{ms} >= $T + $CT + 60 } @res),
       "none after timeout + connect_timeout + 60ms (@ms ms)");
    $redis->resume;

    ok(wait_until(sub { $ngx->rl_hit('/o?k=a') eq '200 PASSED' }, 3, 0.1),
       'Redis resumed: PASSED again');

    my @bad = $ngx->bad_lines;
    is(scalar @bad, 0, 'no crash, alert, crit or emerg') or diag @bad;
    $ngx->stop;
    $redis->stop;
}


###########################################################################
# 10. pool=2, one worker, hold=100ms: while a call of a script is in
#     flight, the decisions of later requests wait for its reply, at most
#     100ms after it left (then they go out, on the idle connection), and
#     a whole batch (32) goes out at once; a call of the other script does
#     not hold them.  Redis is paused: nothing is answered meanwhile.
###########################################################################

{
    my $redis = Astro::Instance::Redis->new(port => 6409);
    ok($redis->start, 'redis on 6409 starts') or BAIL_OUT('no redis');

    my $ngx = Astro::Instance->new(name => 'fail10', port => nginx_port(69),
        workers => 1,
        http => body("127.0.0.1:6409 prefix=$run pool=2 timeout=1000ms "
                     . "max_fails=100 hold=100ms",
            ['zone=p:1m key=$arg_k rate=100r/m', 'p', 'zone=p'],
            ['zone=w:1m key=$arg_k rate=100r/m algorithm=sliding_window',
             'w', 'zone=w']));
    ok($ngx->start, 'nginx with one worker starts')
        or BAIL_OUT('nginx did not start');

    ok(wait_until(sub { $ngx->rl_hit('/p?k=warm') eq '200 PASSED'
                        && $ngx->rl_hit('/w?k=warm') eq '200 PASSED'
                        && ($ngx->redis->{connections} // 0) == 2 },
                  3, 0.1),
       'Redis up: PASSED, both connections made');

    my $inflight = sub { $ngx->redis->{in_flight} // -1 };
    my $calls = sub {
        my ($n) = ($redis->cli('INFO', 'commandstats') // '')
                  =~ /cmdstat_evalsha:calls=(\d+)/;
        return $n // 0;
    };

    # a call of the other script in flight does not hold a decision, even
    # one that comes within the hold of its own script's last call
    is($ngx->rl_hit('/w?k=w1'), '200 PASSED', 'a sliding window decision');
    $redis->pause;
    my @h = ($ngx->send_get('/p?k=g0'));
    sleep 0.01;
    push @h, $ngx->send_get('/w?k=w0');
    sleep 0.03;
    is($inflight->(), 2, 'with a GCRA call in flight, the sliding window '
                         . 'decision goes out at once');
    $redis->resume;
    is(scalar(grep { $_->{status} == 200
                     && ($_->{headers}{'x-rl'} // '') eq 'PASSED' }
              map { $ngx->receive($_) } @h),
       2, 'Redis resumed: both decided by Redis');

    # ten requests 20 to 40ms after the first one's call left wait for
    # it; at 100ms they go out together although Redis has not answered
    $redis->cli('CONFIG', 'RESETSTAT');
    $redis->pause;
    my $t0 = time;
    @h = ($ngx->send_get('/p?k=s0'));
    sleep 0.02;
    push @h, map { my $h = $ngx->send_get("/p?k=s$_"); sleep 0.002; $h }
             1 .. 10;
    sleep 0.06 - (time - $t0) if time - $t0 < 0.06;
    my $early = $inflight->();
    sleep 0.2 - (time - $t0) if time - $t0 < 0.2;
    my $late = $inflight->();
    is($early, 1, 'at 60ms: 1 decision in flight, 10 wait for its reply');
    is($late, 11, 'at 200ms: the 10 went out without a reply (hold=100ms)');

    $redis->resume;
    my @res = map { $ngx->receive($_) } @h;
    is(scalar(grep { $_->{status} == 200
                     && ($_->{headers}{'x-rl'} // '') eq 'PASSED' } @res),
       11, 'Redis resumed: 11 requests, all decided by Redis');
    is($calls->(), 2, 'in 2 calls: the first, then the ten together');

    # 40 more behind one in flight: 32 go out at once, 8 wait
    $redis->cli('CONFIG', 'RESETSTAT');
    $redis->pause;
    $t0 = time;
    @h = ($ngx->send_get('/p?k=f0'));
    sleep 0.02;
    push @h, map { $ngx->send_get("/p?k=f$_") } 1 .. 40;
    my $sent = time - $t0;
    sleep 0.08 - (time - $t0) if time - $t0 < 0.08;
    $early = $inflight->();
    sleep 0.3 - (time - $t0) if time - $t0 < 0.3;
    $late = $inflight->();
    SKIP: {
        skip "the 40 requests took ${sent}s to send", 1 if $sent > 0.07;
        is($early, 33, 'at 80ms: 33 decisions in flight (a whole batch '
                       . 'went out), 8 wait');
    }
    is($late, 41, 'at 300ms: all 41 in flight');
    $redis->resume;
    @res = map { $ngx->receive($_) } @h;
    is(scalar(grep { $_->{status} == 200
                     && ($_->{headers}{'x-rl'} // '') eq 'PASSED' } @res),
       41, 'Redis resumed: 41 requests, all decided by Redis');
    is($calls->(), 3, 'in 3 calls: 1, 32 and 8 decisions');

    my @bad = $ngx->bad_lines;
    is(scalar @bad, 0, 'no crash, alert, crit or emerg') or diag @bad;
    $ngx->stop;
    $redis->stop;
}

done_testing();
