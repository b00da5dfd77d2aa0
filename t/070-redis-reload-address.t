# The Redis client's shared state (its circuit and counts) belongs to the
# directive and the address: a reload to a new Redis while the old one is
# down starts with a closed circuit, and the old workers, still failing
# against the old address with the requests they hold, do not open the
# new workers' circuit; a reload that keeps the address keeps the state.
# Test::Nginx::Socket cannot reload in the middle of a block, so this file
# drives nginx and a private redis-server itself (t/lib/Astro/Instance.pm),
# with TEST_NGINX_BINARY and TEST_NGINX_LOAD_MODULES as the Socket tests
# do.
#
# Ports: nginx on TEST_NGINX_PORT + 70, the new Redis on 6423, nothing on
# 6424 (the old address).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(nginx_port have_redis wait_until);

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $run = "t070:$$:";       # the key prefix of this run
my ($NEW, $OLD) = (6423, 6424);

# one failed command opens the circuit for a minute: the whole test
sub body {
    my ($port, $more) = @_;
    $more //= '';
    return <<_EOC_;
    astro_ratelimit_redis 127.0.0.1:$port prefix=$run connect_timeout=200ms
                          timeout=200ms max_fails=1 backoff=60s
                          max_backoff=60s $more;
    astro_ratelimit_zone zone=o:1m key=\$arg_k rate=1r/m burst=1
                         algorithm=gcra fail=open;
    server {
        listen 127.0.0.1:\$PORT;
        add_header X-RL \$astro_ratelimit_status always;
        location = /o { astro_ratelimit zone=o; echo ok; }
        location /astro/status { astro_status; }
    }
_EOC_
}

# the rest of a held request: "status X-RL" of its answer
sub finish {
    my ($s) = @_;
    print {$s} "\r\n";
    my ($buf, $sel, $end) = ('', IO::Select->new($s), time + 5);
    while ($sel->can_read($end - time)) {
        sysread($s, $buf, 65536, length $buf) or last;
    }
    close $s;
    my ($status) = $buf =~ /\AHTTP\/1\.\d (\d{3})/;
    my ($rl) = $buf =~ /^X-RL: (\S+)/mi;
    return ($status // 0) . ' ' . ($rl // '-');
}

my $dead = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $OLD,
                                 Proto => 'tcp', Timeout => 1);
BAIL_OUT("something listens on $OLD, which must be free") if $dead;

my $redis = Astro::Instance::Redis->new(port => $NEW);
ok($redis->start, "redis on $NEW starts") or BAIL_OUT('no redis');

my $ngx = Astro::Instance->new(name => 'redis-addr', port => nginx_port(70),
                               workers => 2, http => body($OLD));
ok($ngx->start, "nginx starts with Redis at $OLD, where nothing listens")
    or BAIL_OUT('nginx did not start');

my $before = $ngx->redis;
is($before->{address}, "127.0.0.1:$OLD", 'the status shows the old address');
is($before->{circuit}, 'closed', 'its circuit is closed: nothing asked yet');

# two requests held by the old workers, past the reload
my @held = map { $ngx->hold("/o?k=held$_", partial => 1) } 1 .. 2;
ok(!grep({ !defined } @held), 'two requests are held')
    or BAIL_OUT('cannot connect to nginx');
sleep 0.5;

# Until an old worker has closed its listening socket (it logs "gracefully
# shutting down" first), it accepts new connections too.
my $mark = $ngx->log_mark;
is($ngx->signal_reload(body($NEW)), 0, "reload to Redis at $NEW");
ok(wait_until(sub {
       grep({ /gracefully shutting down/ } $ngx->log_since($mark)) >= 2
   }, 10, 0.05), 'the 2 old workers stop accepting');
ok(wait_until(sub { ($ngx->generation // '') eq '2' }, 10, 0.05),
   'the new configuration answers');

# the old workers decide the held requests: the old Redis fails them
is_deeply([map { finish($_) } @held], [('200 FAILOPEN') x 2],
          'the old workers fail against the old address: FAILOPEN');

# the new workers ask the new Redis
is_deeply([map { $ngx->rl_hit('/o?k=new') } 1 .. 3],
          ['200 PASSED', '200 PASSED', '429 REJECTED'],
          'the new workers\' requests are decided by Redis: 2 pass, '
          . 'then 429');
is($redis->cli('EXISTS', "${run}o:new"), 1, "the key ${run}o:new is in Redis");

my $r = $ngx->redis;
is($r->{address}, "127.0.0.1:$NEW", 'the status shows the new address');
is_deeply([@$r{qw(circuit circuit_opened failed commands)}],
          ['closed', 0, 0, 3],
          'with its own state: circuit closed, never opened, 0 failed, '
          . '3 answered')
    or diag explain $r;

# the old workers go once their requests are done
ok(wait_until(sub { scalar(() = $ngx->worker_pids) == 2 }, 10, 0.05),
   'the old workers exit');

# a reload that keeps the address keeps the state
ok($ngx->reload(body($NEW, 'pool=3')),
   'reload with the same address (pool=3)');
$r = $ngx->redis;
is_deeply([@$r{qw(address circuit pool failed commands)}],
          ["127.0.0.1:$NEW", 'closed', 3, 0, 3],
          'the state is kept: the 3 answered decisions are still counted')
    or diag explain $r;
is($ngx->rl_hit('/o?k=new'), '429 REJECTED', 'the key is still limited');

my @bad = $ngx->bad_lines;
is(scalar @bad, 0, 'no alert, crit, emerg or crash in the error log')
    or diag(@bad);

done_testing();
