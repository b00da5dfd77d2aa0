# astro_queue's places are counted by worker slot in the zone: a worker
# killed while its requests hold places does not keep them.  The worker
# that the master starts in its place gives them back when it starts; a
# worker of an old configuration, which nobody replaces, has its places
# given back by the next worker that finds no room.
#
# A place is held from the queue's admission until the balancer gives
# the request its server: here two POSTs whose bodies never come hold
# the two places of a server with max_conns=2.
#
# Ports: nginx on TEST_NGINX_PORT + 112, its backend on + 113.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Astro::TierQueue ();
use Astro::Instance qw(nginx_port wait_until process_gone);

my $be = nginx_port(113);

my $body = Astro::TierQueue::conf($be, '2s');

my $ngx = Astro::Instance->new(name => 'tier-queue-workers',
                               port => nginx_port(112));

sub queue { Astro::TierQueue::queue($ngx) }

# a POST whose body does not come: it holds its place while nginx
# waits for the body
sub post_unsent_body { Astro::TierQueue::hold($ngx) }

ok($ngx->start($body), 'nginx starts') or BAIL_OUT('no nginx');

# --- a worker killed: the master starts another in its slot -------------

my @held = map { post_unsent_body() } 1 .. 2;
ok(wait_until(sub { (queue()->{reserved} // -1) == 2 }, 5),
   'two requests waiting for their bodies hold the two places');

my $res = $ngx->get('/');
is($res->{status}, 503, 'no room: a request waits, then gets 503');

my ($w1) = $ngx->worker_pids;
my $mark = $ngx->log_mark;
kill 'KILL', $w1;
ok(process_gone($w1), 'the worker is killed');
ok(wait_until(sub { my @w = $ngx->worker_pids; @w == 1 && $w[0] != $w1 },
              10, 0.05),
   'the master starts another one');
close $_ for @held;

sub given_back {
    my ($pid, $mark) = @_;
    my $line = "astro_queue: process $pid is gone: 2 places given back";
    return grep { /\[notice\] .*\Q$line\E/ } $ngx->log_since($mark);
}

ok(wait_until(sub { given_back($w1, $mark) }, 5, 0.05),
   'the new worker gives the two places back, and says so');
is(queue()->{reserved}, 0, 'status: no place reserved');
is(queue()->{length}, 0, 'status: nobody waits');

$res = $ngx->get('/');
is("$res->{status} $res->{body}", "200 ok\n", 'a request is admitted again');
cmp_ok($res->{ms}, '<', 500, 'at once');

# --- a worker of an old configuration killed: nobody replaces it --------

@held = map { post_unsent_body() } 1 .. 2;
ok(wait_until(sub { (queue()->{reserved} // -1) == 2 }, 5),
   'two requests hold the two places again');

my ($old) = $ngx->worker_pids;
ok($ngx->signal_reload == 0, 'reload');
ok(wait_until(sub { my @w = $ngx->worker_pids;
                    @w == 2 && ($ngx->generation // '') eq $ngx->{gen} },
              10, 0.05),
   'the old worker stays for its requests');

$res = $ngx->get('/');
is($res->{status}, 503, 'the new worker finds no room either');

$mark = $ngx->log_mark;
kill 'KILL', $old;
ok(process_gone($old), 'the old worker is killed');
close $_ for @held;
is(scalar($ngx->worker_pids), 1, 'and not replaced');

# places are looked for at most once a second, on the first refusal
sleep 1.1;

$res = $ngx->get('/');
is("$res->{status} $res->{body}", "200 ok\n",
   'a request finds the places of the old worker given back');
cmp_ok($res->{ms}, '<', 500, 'at once');
ok(scalar(given_back($old, $mark)),
   'the worker that gave them back says so');
is(queue()->{reserved}, 0, 'status: no place reserved');
like($ngx->get('/astro/status?format=prometheus')->{body},
     qr/^astro_tier_upstream_queue_reserved\{upstream="q"\} 0$/m,
     'Prometheus: no place reserved');

my @bad = grep { !/worker process (?:$w1|$old) exited on signal 9/ }
          $ngx->bad_lines;
is(scalar @bad, 0, 'no crash, alert, crit or emerg but the kills')
    or diag @bad;
$ngx->stop;

done_testing();
