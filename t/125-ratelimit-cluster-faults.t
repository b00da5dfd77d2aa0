# A Redis Cluster's faults, as docs/ratelimit.md (Redis Cluster) promises
# to meet them:
# - the slot map is read again after a MOVED at most once a second: a
#   MOVED more than a second after the last read reads it at once, a
#   second MOVED within that second does not, the map is read a second
#   after the last read instead;
# - a call is redirected once: ASK then MOVED, or MOVED then MOVED, and
#   the call's decisions take the fail policy, without a loop and without
#   counting against the master's circuit;
# - CLUSTERDOWN (a master killed with cluster-require-full-coverage yes,
#   the others having marked it failed): the call's decisions take the
#   fail policy, cluster.clusterdown counts each call, and the circuit of
#   the master that answered is not counted.
#
# The cluster: t/lib/Astro/Cluster.pm on 6540-6542 (buses 16540-16542);
# nginx on TEST_NGINX_PORT + 74, one worker (one map).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(nginx_port have_redis wait_until sleep_into_second
                       sleep_out_of_minute_end);
use Astro::Cluster;

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $run = "t125:$$:";

my $cl = Astro::Cluster->new(ports => [6540, 6541, 6542]);
ok($cl->start, 'a cluster of three masters on 6540-6542')
    or BAIL_OUT('no cluster');

my $seeds = $cl->seeds;

my $ngx = Astro::Instance->new(name => 't125', port => nginx_port(74),
    http => <<_EOC_);
    astro_ratelimit_redis cluster=$seeds prefix=$run timeout=500ms
                          max_fails=2 backoff=10s max_backoff=10s;
    astro_ratelimit_zone zone=a:1m key=\$arg_k rate=5r/m
                         algorithm=sliding_window fail=open;
    astro_ratelimit_zone zone=c:1m key=\$arg_k rate=5r/m
                         algorithm=sliding_window fail=closed;

    server {
        listen 127.0.0.1:\$PORT;
        add_header X-RL \$astro_ratelimit_status always;
        location = /a { astro_ratelimit zone=a; echo ok; }
        location = /c { astro_ratelimit zone=c; echo ok; }
        location /astro/status { astro_status; }
    }
_EOC_
ok($ngx->start, 'nginx starts') or BAIL_OUT('nginx did not start');

ok(wait_until(sub { ($ngx->redis->{cluster}{slots} // 0) == 16384 }, 3,
              0.05), 'the first map read: 16384 slots');

sleep_out_of_minute_end(25);

sub cluster { $ngx->redis->{cluster} || {} }
sub masters { map { $_->{address} => $_ } @{ $ngx->redis->{masters} || [] } }

# hash tags of master 0's slots, each of a slot of its own
my (@tags, %seen);
for my $n (1 .. 2000) {
    my $slot = $cl->slot_of("s$n");
    next if $seen{$slot}++ || $cl->master_of("s$n") != 0;
    push @tags, "s$n";
    last if @tags == 6;
}
is(scalar @tags, 6, 'six slots of master 0');
my @slots = map { $cl->slot_of($_) } @tags;

# -- the map after a MOVED: at once, then not again within the second

sleep 1.1;      # the first map is more than a second old

my $c = cluster();
my $maps = $c->{maps};
$cl->move_slot($slots[0], 0, 1);
is($ngx->rl_hit("/a?k={$tags[0]}x"), '200 PASSED',
   "slot $slots[0] moved to master 1: its key passes");
is(cluster()->{moved} - $c->{moved}, 1, 'status: one MOVED');
ok(wait_until(sub { cluster()->{maps} == $maps + 1 }, 0.3, 0.01),
   'the map is read at once (the last read is more than a second old)');
my $t1 = time;

$cl->move_slot($slots[1], 0, 1);
is($ngx->rl_hit("/a?k={$tags[1]}x"), '200 PASSED',
   "slot $slots[1] moved too: its key passes");
is(cluster()->{moved} - $c->{moved}, 2, 'status: a second MOVED');
sleep 0.1;
is(cluster()->{maps}, $maps + 1,
   'the map is not read again within the second of the last read');
cmp_ok(time - $t1, '<', 0.8, 'that checked within the second');

ok(wait_until(sub { cluster()->{maps} == $maps + 2 }, 2, 0.01),
   'it is read once the second is over');
my $after = time - $t1;
ok($after >= 0.8 && $after < 1.3,
   sprintf('about a second after the last read: %.2f s in [0.8, 1.3)',
           $after));
sleep 0.2;
is(cluster()->{maps}, $maps + 2, 'once');
my %m = masters();
is($m{'127.0.0.1:6541'}{slots}, 5462 + 2,
   'status: master 1 has both slots in the map');

sleep 1.1;

$cl->move_slot($slots[2], 0, 1);
is($ngx->rl_hit("/a?k={$tags[2]}x"), '200 PASSED',
   "slot $slots[2] moved, more than a second later: its key passes");
ok(wait_until(sub { cluster()->{maps} == $maps + 3 }, 0.3, 0.01),
   'the map is read at once again');

# -- ASK then MOVED: master 0 migrates slot 3 to master 1, which does not
#    import it: a key master 0 has not is asked of master 1, which
#    answers MOVED back to master 0

# (an error is logged at most once a second and kind for each master)
sleep_into_second(0.05);
$c = cluster();
my %m0 = masters();
my $mark = $ngx->log_mark;
$cl->cli(0, 'CLUSTER', 'SETSLOT', $slots[3], 'MIGRATING', $cl->id(1));
my $res = $ngx->get("/a?k={$tags[3]}x", timeout => 3);
is("$res->{status} " . ($res->{headers}{'x-rl'} // '-'), '200 FAILOPEN',
   "ASK, then MOVED: the fail policy");
cmp_ok($res->{ms}, '<', 400, 'at once, not after the timeout');
my $now = cluster();
is_deeply([$now->{ask} - $c->{ask}, $now->{moved} - $c->{moved}], [1, 1],
          'status: one ASK, one MOVED');
my @lines = $ngx->log_since($mark);
is(scalar(grep { /\[error\].*redis 127\.0\.0\.1:6541: error reply: (?x)
                   MOVED\ $slots[3]\ 127\.0\.0\.1:6540/ } @lines),
   1, 'the error log names the second redirect, once');
%m = masters();
is($m{'127.0.0.1:6541'}{errors}{reply} - $m0{'127.0.0.1:6541'}{errors}{reply},
   1, 'status: one error reply of master 1');
is($m{'127.0.0.1:6541'}{failed} - $m0{'127.0.0.1:6541'}{failed}, 1,
   'status: its decision failed');
is($m{'127.0.0.1:6541'}{consecutive_failures}, 0,
   'not counted against master 1\'s circuit');
is($m{'127.0.0.1:6541'}{circuit}, 'closed', 'its circuit closed');
is_deeply($cl->keys_of(1, "${run}a:{$tags[3]}*"), [],
          'its key not written on master 1');
$cl->cli(0, 'CLUSTER', 'SETSLOT', $slots[3], 'STABLE');
is($ngx->rl_hit("/a?k={$tags[3]}x"), '200 PASSED',
   'the slot stable again: Redis decides');

# -- MOVED then MOVED: master 0 alone takes slot 4 as master 1's, master
#    1 has it as master 0's

sleep_into_second(0.05);
$c = cluster();
%m0 = masters();
$mark = $ngx->log_mark;
is($cl->cli(0, 'CLUSTER', 'SETSLOT', $slots[4], 'NODE', $cl->id(1)), 'OK',
   "master 0 alone gives slot $slots[4] to master 1");
$res = $ngx->get("/c?k={$tags[4]}x", timeout => 3);
is("$res->{status} " . ($res->{headers}{'x-rl'} // '-'), '503 FAILCLOSED',
   'MOVED, then MOVED: the fail policy (fail=closed)');
cmp_ok($res->{ms}, '<', 400, 'at once, not after the timeout');
$now = cluster();
is_deeply([$now->{ask} - $c->{ask}, $now->{moved} - $c->{moved}], [0, 2],
          'status: two MOVED');
@lines = $ngx->log_since($mark);
is(scalar(grep { /\[error\].*redis 127\.0\.0\.1:6541: error reply: (?x)
                   MOVED\ $slots[4]\ 127\.0\.0\.1:6540/ } @lines),
   1, 'the error log names the second redirect, once');
is(scalar(grep { /error reply: MOVED/ } @lines), 1, 'and no other');
%m = masters();
is_deeply([map { $m{"127.0.0.1:$_"}{errors}{reply}
                 - $m0{"127.0.0.1:$_"}{errors}{reply} } 6540, 6541],
          [0, 1], 'status: one error reply, of master 1');
is_deeply([map { $m{"127.0.0.1:$_"}{consecutive_failures} } 6540, 6541],
          [0, 0], 'not counted against the circuits');

# -- CLUSTERDOWN: master 2 killed with full coverage required; once
#    masters 0 and 1 have marked it failed, they answer CLUSTERDOWN

for my $i (0 .. 2) {
    $cl->cli($i, 'CONFIG', 'SET', 'cluster-require-full-coverage', 'yes');
}
$cl->kill(2);
ok(wait_until(sub {
       ($cl->cli(0, 'CLUSTER', 'INFO') // '') =~ /cluster_state:fail/
           && ($cl->cli(1, 'CLUSTER', 'INFO') // '') =~ /cluster_state:fail/
   }, 15, 0.1), 'master 2 killed: the cluster\'s state is fail');

# keys of masters 0 and 1 (zones a and c) in slots nginx's map has there
my %key = (0 => "{$tags[5]}y");
for my $n (1 .. 2000) {
    next unless $cl->master_of("s$n") == 1;
    $key{1} = "{s$n}y";
    last;
}

sleep_into_second(0.05);
$c = cluster();
%m = masters();
$mark = $ngx->log_mark;
my @st = map { $ngx->rl_hit("/a?k=$key{0}") } 1 .. 3;
push @st, $ngx->rl_hit("/c?k=$key{0}");
push @st, $ngx->rl_hit("/a?k=$key{1}");
is_deeply(\@st, [('200 FAILOPEN') x 3, '503 FAILCLOSED', '200 FAILOPEN'],
          'CLUSTERDOWN: the fail policy (fail=open, fail=closed)');
$now = cluster();
is($now->{clusterdown} - $c->{clusterdown}, 5,
   'status: cluster.clusterdown counts the 5 calls');
my %m2 = masters();
is_deeply([map { $m2{"127.0.0.1:$_"}{failed} - $m{"127.0.0.1:$_"}{failed},
                 $m2{"127.0.0.1:$_"}{errors}{reply}
                 - $m{"127.0.0.1:$_"}{errors}{reply} } 6540, 6541],
          [4, 4, 1, 1],
          'status: master 0\'s 4 decisions failed, master 1\'s one, '
          . 'each an error reply');
is_deeply([map { @{ $m2{"127.0.0.1:$_"} }{qw(consecutive_failures circuit)} }
               6540, 6541],
          [0, 'closed', 0, 'closed'],
          'masters 0 and 1: not counted against their circuits (max_fails=2)');
is($m2{'127.0.0.1:6540'}{circuit_opened}, $m{'127.0.0.1:6540'}{circuit_opened},
   'master 0\'s circuit never opened');
@lines = $ngx->log_since($mark);
is(scalar(grep { /\[error\].*redis 127\.0\.0\.1:6540: error reply: (?x)
                   CLUSTERDOWN\ The\ cluster\ is\ down/ } @lines),
   1, 'the error log names master 0 and CLUSTERDOWN (once a second)');
is(scalar(grep { /circuit open/ } @lines), 0, 'no circuit opened');

is_deeply([$ngx->bad_lines], [], 'no crash, alert or emerg in the log');
$ngx->stop;

# -- a failure mid-batch: one master (FakeNode) with every slot, one
#    connection; a request of two zones, two keys of two slots: two calls
#    pipelined.  The key "refuse..." is refused, "cut..." closes the
#    connection unanswered (after the replies before it), "mute..." is
#    never answered (timeout).

my $fake = FakeNode->new(port => 6542);
ok($fake->start, 'a fake master on 6542') or BAIL_OUT('no fake master');

my $ngx2 = Astro::Instance->new(name => 't125b', port => nginx_port(75),
    http => <<_EOC_);
    astro_ratelimit_redis cluster=127.0.0.1:6542 prefix=$run timeout=300ms
                          pool=1 max_fails=5;
    astro_ratelimit_zone zone=a:1m key=\$arg_a rate=5r/m
                         algorithm=sliding_window fail=open;
    astro_ratelimit_zone zone=b:1m key=\$arg_b rate=5r/m
                         algorithm=sliding_window fail=open;

    server {
        listen 127.0.0.1:\$PORT;
        add_header X-RL \$astro_ratelimit_status always;
        location = /ab { astro_ratelimit zone=a; astro_ratelimit zone=b;
                         echo ok; }
        location /astro/status { astro_status; }
    }
_EOC_
ok($ngx2->start, 'nginx starts on the fake master')
    or BAIL_OUT('nginx did not start');
ok(wait_until(sub {
       ((($ngx2->ratelimit || {})->{redis} || {})->{cluster}{slots} // 0)
           == 16384
   }, 3, 0.05), 'its map: every slot on the fake master');

# two keys of different slots, a's first
sub two_slots {
    my ($x, $y) = @_;
    for my $n (1 .. 100) {
        return ("$x$n", "$y$n")
            if $cl->slot_of("${run}a:$x$n") != $cl->slot_of("${run}b:$y$n");
    }
}

for my $how (qw(cut mute)) {
    my ($ka, $kb) = two_slots('refuse', $how);
    my %m = map { $_->{address} => $_ } @{ $ngx2->redis->{masters} };
    my $before = $m{'127.0.0.1:6542'};
    my $res = $ngx2->get("/ab?a=$ka&b=$kb");
    is("$res->{status} " . ($res->{headers}{'x-rl'} // '-'), '429 REJECTED',
       "$how: zone a's key refused by the reply that came, zone b's by "
       . 'the fail policy');
    my ($lo, $hi) = $how eq 'cut' ? (0, 250) : (280, 700);
    ok($res->{ms} >= $lo && $res->{ms} < $hi,
       sprintf('%s: answered after %.0f ms, in [%d, %d): %s', $how,
               $res->{ms}, $lo, $hi,
               $how eq 'cut' ? 'at once' : 'the timeout (300ms)'));
    ok(scalar(grep { /^read: .*EVALSHA\($run\S+\) EVALSHA\($run\S+\)/ }
              $fake->log), "$how: the two calls came in one read");
    %m = map { $_->{address} => $_ } @{ $ngx2->redis->{masters} };
    my $now = $m{'127.0.0.1:6542'};
    is_deeply([$now->{commands} - $before->{commands},
               $now->{failed} - $before->{failed}],
              [1, 1], "$how: status: 1 decision answered, 1 failed");
}
my $z = ($ngx2->ratelimit || {})->{zones};
is_deeply([@{ $z->{a} }{qw(rejected fail_open)}], [2, 0],
          'zone a: 2 refused by Redis, none by the fail policy (zone b, '
          . 'read after a zone that refuses, counts nothing)');
my %m3 = map { $_->{address} => $_ } @{ $ngx2->redis->{masters} };
is_deeply([@{ $m3{'127.0.0.1:6542'}{errors} }{qw(closed timeout)}], [1, 1],
          'status: the connection closed once, a timeout once');

is_deeply([$ngx2->bad_lines], [], 'no crash, alert or emerg in the log');

done_testing();


# A fake cluster master: CLUSTER SLOTS gives it every slot; EVALSHA and
# EVAL answer as the sliding window script does, each key's count 1 and
# passed, or 5 and refused for a key with "refuse" in it.  A call with a
# key with "cut" in it closes the connection unanswered, after the
# replies to the commands read before it; one with "mute" leaves the
# connection answering nothing more.  Everything else: +OK.  Its log
# ("read: ..." for each read's commands) is a file.
package FakeNode;

# Astro::Instance's fake Redis with a _serve of its own: its start,
# cleanup and command parser
use parent -norequire, 'Astro::Instance::Garbage';

use IO::Select;
use Time::HiRes qw(time);
use POSIX qw(_exit);
use File::Temp qw(tempdir);

sub new {
    my ($class, %o) = @_;
    my $dir = tempdir("astro-fake-$o{port}-XXXXXX", TMPDIR => 1,
                      CLEANUP => 1);
    return bless { port => $o{port}, log => "$dir/fake.log" }, $class;
}

sub log {
    my ($self) = @_;
    open my $fh, '<', $self->{log} or return ();
    return <$fh>;
}

sub _serve {
    my ($self, $listen) = @_;
    my $sel = IO::Select->new($listen);
    my (%buf, %mute);
    my $command = \&Astro::Instance::Garbage::_command;
    $SIG{TERM} = sub { _exit(0) };
    open my $log, '>>', $self->{log} or _exit(1);
    $log->autoflush(1);
    while (1) {
        for my $fh ($sel->can_read) {
            if ($fh == $listen) {
                my $c = $listen->accept or next;
                $sel->add($c);
                $buf{fileno $c} = '';
                next;
            }
            my $fd = fileno $fh;
            my $n = sysread($fh, $buf{$fd}, 65536, length $buf{$fd});
            if (!$n) {
                delete $buf{$fd};
                delete $mute{$fd};
                $sel->remove($fh);
                close $fh;
                next;
            }
            next if $mute{$fd};
            my ($out, $cut, @seen) = ('', 0);
            while (my $argv = $command->(\$buf{$fd})) {
                my $cmd = uc $argv->[0];
                my @keys = $cmd =~ /^EVAL/
                           ? @$argv[3 .. 2 + $argv->[2]] : ();
                push @seen, @keys ? "$cmd(@keys)" : $cmd;
                if (grep { /cut/ } @keys) {
                    $cut = 1;
                    last;
                }
                if (grep { /mute/ } @keys) {
                    $mute{$fd} = 1;
                    last;
                }
                $out .= _reply($self, $argv, @keys);
            }
            # the rest of what was read, for the log
            while (my $argv = $command->(\$buf{$fd})) {
                my $cmd = uc $argv->[0];
                push @seen, $cmd =~ /^EVAL/
                    ? "$cmd(@$argv[3 .. 2 + $argv->[2]])" : $cmd;
            }
            print $log "read: @seen\n";
            syswrite($fh, $out) if length $out;
            if ($cut) {
                $sel->remove($fh);
                delete $buf{$fd};
                close $fh;
            }
        }
    }
}

sub _reply {
    my ($self, $argv, @keys) = @_;
    my $cmd = uc $argv->[0];
    if ($cmd eq 'CLUSTER' && uc($argv->[1] // '') eq 'SLOTS') {
        return "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n\$9\r\n127.0.0.1\r\n"
               . ":$self->{port}\r\n";
    }
    return "+OK\r\n" unless @keys;
    my $now = int(time * 1e6);
    return '*' . (1 + 2 * @keys) . "\r\n:$now\r\n"
           . join '', map { /refuse/ ? ":10\r\n:0\r\n" : ":3\r\n:0\r\n" }
                          @keys;
}
