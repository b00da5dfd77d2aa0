# The worker that holds a map's PostgreSQL connection: one worker of the
# node holds it (the lease in the zone); killed with SIGKILL, another
# takes over within the lease (3 s) and follows the next change; a
# stalled PostgreSQL (SIGSTOP of all its processes) adds no latency to
# requests: 20 requests during the stall each answer within 50 ms (they
# take about 1 ms; the holder's query times out meanwhile, timeout=1s),
# and after SIGCONT the holder recovers and follows a change.
#
# Ports: nginx on 8471 (3 workers) and 8472 (1 worker: every request on
# the holder), their backends on 8460-8463 and 8464-8467; PostgreSQL on
# 6451.  Keys: with hash=seed and 4 slots, the id "1" is in slot 1.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(wait_until process_gone);
use Astro::Pg;
use Astro::ShardSlots;

plan skip_all => 'no PostgreSQL server (postgresql)'
    unless Astro::Pg::have_pg();

my $pg = Astro::Pg->new(port => 6451);
ok($pg->start, 'postgres on 6451 starts') or BAIL_OUT('no postgres');
ok(defined $pg->psql(Astro::Pg::ddl()), 'the shard tables')
    or BAIL_OUT('no tables');

my @shards = (shards => [['s1', 'up1'], ['s2', 'up2'], ['s3', 'up3'],
                         ['s4', 'up4']]);

# slot 1 on the shard given, the others on s1
sub slot1 {
    my ($shard) = @_;
    return (@shards, entries => [[0, 1, undef, 's1'], [1, 2, undef, $shard],
                                 [2, 4, undef, 's1']]);
}

ok($pg->put_map('users', slot1('s3')), 'version 1: slot 1 on s3');

sub http {
    my ($base, $refresh) = @_;
    my $backends = Astro::ShardSlots::backends($base, qw(up1 up2 up3 up4));
    my $conninfo = 'hostaddr=127.0.0.1 port=6451 dbname=astro user=postgres';
    return <<_EOC_;
$backends
    astro_shard_map users strategy=hash hash=seed slots=4
                    "postgres=$conninfo" refresh=$refresh timeout=1s;
    astro_shard users s1 up1;

    server {
        listen 127.0.0.1:\$PORT;
        location /u {
            astro_shard_key users \$arg_id;
            proxy_pass http://\$astro_shard_upstream;
            add_header X-Version \$astro_shard_version always;
        }
        location /astro/status { astro_status; }
    }
_EOC_
}

# seconds until 6 requests in a row (any worker) for id 1 say $want, or
# undef; the map's status
sub seen_within {
    my ($ngx, $want, $timeout) = @_;
    return Astro::Pg::seen_within($ngx, '/u?id=1', $want, $timeout, 6);
}

sub map_status { Astro::Pg::map_status($_[0], 'users') }

# [pid, pid of the lease before] of the lines saying a worker took it
sub takers {
    my ($ngx) = @_;
    my $re = qr/\[info\] (\d+)#\d+: .*"users": /
             . qr/this worker reads postgres \(the lease of (\d+)\)/;
    return map { /$re/ ? [$1, $2] : () } $ngx->error_log;
}


# --- the holder killed: another takes over --------------------------------

my $A = Astro::Instance->new(name => 'shard-workers', port => 8471,
                             workers => 3, http => http(8460, '30s'));
ok($A->start, 'nginx with 3 workers starts') or BAIL_OUT('no nginx');

ok(defined seen_within($A, '200 up3 1', 3), 'version 1 routes');

my @takers = takers($A);
is(scalar @takers, 1, 'one worker took the lease');
my $holder = $takers[0][0] // 0;
ok((grep { $_ == $holder } $A->worker_pids), "the holder $holder is a worker")
    or BAIL_OUT('no holder to kill');

kill 'KILL', $holder;
my $t0 = time;
ok(wait_until(sub { grep { $_->[1] == $holder } takers($A) }, 5, 0.02),
   'another worker takes the lease');
my $took = time - $t0;
ok($took < 3, 'within the lease (3 s)') or diag("after $took s");
my ($new) = map { $_->[0] } grep { $_->[1] == $holder } takers($A);
isnt($new, $holder, "worker $new holds it");

ok($pg->put_map('users', slot1('s4')), 'version 2: slot 1 on s4');
my $t = seen_within($A, '200 up4 2', 3);
ok(defined $t && $t < 1, 'the new holder follows the change within 1 s')
    or diag('after ' . ($t // 'more than 3') . ' s');
ok(map_status($A)->{connects} >= 2, 'connected twice');


# --- a stalled PostgreSQL: no latency --------------------------------------

my $B = Astro::Instance->new(name => 'shard-stall', port => 8472,
                             workers => 1, http => http(8464, '500ms'));
ok($B->start, 'nginx with 1 worker starts') or BAIL_OUT('no nginx');
ok(defined seen_within($B, '200 up4 2', 3), 'version 2 routes');

ok($pg->pause, 'postgres stopped (SIGSTOP)');
my @ms;
my @seen;
for (1 .. 20) {
    my $res = $B->get('/u?id=1', timeout => 2);
    push @ms, $res->{ms};
    push @seen, "$res->{status} " . ($res->{headers}{'x-backend'} // '-');
    sleep 0.15;
}
my @slow = grep { $_ >= 50 } @ms;
is(scalar @slow, 0, '20 requests during the stall, each within 50 ms')
    or diag(join ' ', map { sprintf '%.1f', $_ } @ms);
is(scalar(grep { $_ eq '200 up4' } @seen), 20, 'all routed on version 2');
ok(wait_until(sub { (map_status($B)->{error} // '') =~ /timed out/ }, 3),
   'the holder\'s query timed out') or diag(map_status($B)->{error});
ok(map_status($B)->{stale}, 'stale');

ok($pg->resume, 'postgres goes on (SIGCONT)');
ok(wait_until(sub { my $m = map_status($B);
                    !$m->{stale} && $m->{listening} }, 7),
   'it recovers (after a backoff of at most 5 s)');
ok($pg->put_map('users', slot1('s2')), 'version 3: slot 1 on s2');
$t = seen_within($B, '200 up2 3', 3);
ok(defined $t && $t < 1, 'and follows the change within 1 s')
    or diag('after ' . ($t // 'more than 3') . ' s');
ok(defined seen_within($A, '200 up2 3', 7), 'the other node too');

for ($A, $B) {
    is(scalar(grep { !/exited on signal 9/ } $_->bad_lines), 0,
       'no crash, no alert (but the kill)')
        or diag($_->bad_lines);
}

done_testing();
