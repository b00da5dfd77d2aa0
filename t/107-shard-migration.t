# Migration routing: the states of a slot range (hash map) and of a value
# (list map) set in PostgreSQL, applied per request by access (GET and
# HEAD read, other methods write; access=write makes every request a
# write):
#   stable     reads owner,  writes owner
#   copying    reads owner,  writes owner
#   reads_new  reads target, writes owner
#   frozen     reads target, writes refused: 503 with Retry-After
#   switched   reads target, writes target
# First a map with every state at once, then one slot walked through
# them, each step an operator's change with NOTIFY.
#
# Ports: nginx on 8473, its backends on 8460-8461 (Astro::ShardSlots); PostgreSQL on 6452.
# Keys: with hash=seed and 5 slots, a one-digit id's slot is its code
# (48 for "0") mod 5: "2" is in slot 0, "3" in 1, "4" in 2, "0" in 3,
# "1" in 4.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(wait_until);
use Astro::Pg;
use Astro::ShardSlots;

plan skip_all => 'no PostgreSQL server (postgresql)'
    unless Astro::Pg::have_pg();

my $pg = Astro::Pg->new(port => 6452);
ok($pg->start, 'postgres on 6452 starts') or BAIL_OUT('no postgres');
ok(defined $pg->psql(Astro::Pg::ddl()), 'the shard tables')
    or BAIL_OUT('no tables');

my @STATES = qw(stable copying reads_new frozen switched);
my %ID = (0 => '2', 1 => '3', 2 => '4', 3 => '0', 4 => '1');

# every state once: slot k (hash) and value v_k (list) in $STATES[k],
# from the owner s1 (up1) to the target s2 (up2)
sub target { my ($state) = @_; return $state eq 'stable' ? undef : 's2' }

ok($pg->put_map('users', shards => [['s1', 'up1'], ['s2', 'up2']],
                entries => [map { [$_, $_ + 1, undef, 's1',
                                   target($STATES[$_]), $STATES[$_]] }
                            0 .. 4]),
   'users: a slot in each state');
ok($pg->put_map('ct', shards => [['s1', 'up1', undef, 1, 1], ['s2', 'up2']],
                entries => [map { [undef, undef, "v$_", 's1',
                                   target($STATES[$_]), $STATES[$_]] }
                            0 .. 4]),
   'ct: a value in each state');

my $backends = Astro::ShardSlots::backends(8460, qw(up1 up2));
my $conninfo = 'hostaddr=127.0.0.1 port=6452 dbname=astro user=postgres';

my $ngx = Astro::Instance->new(name => 'shard-migration', port => 8473,
                               workers => 2, http => <<_EOC_);
$backends
    astro_shard_map users strategy=hash hash=seed slots=5
                    "postgres=$conninfo" refresh=30s timeout=1s;
    astro_shard_map ct strategy=list "postgres=$conninfo" refresh=30s;

    server {
        listen 127.0.0.1:\$PORT;
        location /u {
            astro_shard_key users \$arg_id;
            proxy_pass http://\$astro_shard_upstream;
            add_header X-State \$astro_shard_state always;
            add_header X-Version \$astro_shard_version always;
        }
        location /w {
            astro_shard_key users \$arg_id access=write;
            proxy_pass http://\$astro_shard_upstream;
            add_header X-State \$astro_shard_state always;
        }
        location /c {
            astro_shard_key ct \$arg_v;
            proxy_pass http://\$astro_shard_upstream;
            add_header X-State \$astro_shard_state always;
            add_header X-Version \$astro_shard_version always;
        }
    }
_EOC_

ok($ngx->start, 'nginx starts') or BAIL_OUT('no nginx');

# "status X-Backend" of a request, and " retry" when it has Retry-After
sub hit {
    my ($method, $path) = @_;
    my $res = $ngx->get($path, method => $method,
                        headers => { 'Content-Length' => 0 });
    my $retry = $res->{headers}{'retry-after'};
    return "$res->{status} " . ($res->{headers}{'x-backend'} // '-')
           . (defined $retry && $retry =~ /^\d+$/ ? ' retry' : '');
}

my %READ = (stable => '200 up1', copying => '200 up1', reads_new => '200 up2',
            frozen => '200 up2', switched => '200 up2');
my %WRITE = (stable => '200 up1', copying => '200 up1', reads_new => '200 up1',
             frozen => '503 - retry', switched => '200 up2');

ok(wait_until(sub {
    ($ngx->get('/u?id=2')->{headers}{'x-version'} // '') eq '1'
        && ($ngx->get('/c?v=v0')->{headers}{'x-version'} // '') eq '1'
}, 5), 'both maps read from postgres');


# --- every state at once --------------------------------------------------

for my $k (0 .. 4) {
    my $state = $STATES[$k];
    my $id = $ID{$k};

    is($ngx->get("/u?id=$id")->{headers}{'x-state'}, $state,
       "hash slot $k: \$astro_shard_state $state");
    is(hit('GET', "/u?id=$id"), $READ{$state}, "hash $state: GET");
    is(hit('HEAD', "/u?id=$id"), $READ{$state}, "hash $state: HEAD reads");
    is(hit('POST', "/u?id=$id"), $WRITE{$state}, "hash $state: POST");
    is(hit('DELETE', "/u?id=$id"), $WRITE{$state}, "hash $state: DELETE");
    is(hit('GET', "/w?id=$id"), $WRITE{$state},
       "hash $state: GET with access=write");

    is(hit('GET', "/c?v=v$k"), $READ{$state}, "list $state: GET");
    is(hit('POST', "/c?v=v$k"), $WRITE{$state}, "list $state: POST");
}

is(hit('POST', '/c?v=other'), '200 up1', 'list: the default shard');


# --- one slot walked through the states ------------------------------------

# slot 0 (id "2"): from s1 to s2, then s2 its owner
my @walk = (['copying', 's1', 's2'], ['reads_new', 's1', 's2'],
            ['frozen', 's1', 's2'], ['switched', 's1', 's2'],
            ['stable', 's2', undef]);
my $version = 1;

for my $step (@walk) {
    my ($state, $owner, $target) = @$step;
    my $read = $state eq 'stable' ? '200 up2' : $READ{$state};
    my $write = $state eq 'stable' ? '200 up2' : $WRITE{$state};
    $version++;

    ok($pg->put_map('users', shards => [['s1', 'up1'], ['s2', 'up2']],
                    entries => [[0, 1, undef, $owner, $target, $state],
                                [1, 5, undef, 's1']]),
       "slot 0: $state");
    my $t0 = time;
    ok(wait_until(sub {
        ($ngx->get('/u?id=2')->{headers}{'x-version'} // '') eq $version
            && ($ngx->get('/u?id=2')->{headers}{'x-version'} // '')
               eq $version
    }, 3, 0.02) && time - $t0 < 1, "version $version within 1 s");
    is(hit('GET', '/u?id=2'), $read, "slot 0 $state: GET");
    is(hit('PUT', '/u?id=2'), $write, "slot 0 $state: PUT");
    is(hit('GET', '/u?id=3'), '200 up1', 'slot 1 stays on s1');
}

is(scalar($ngx->bad_lines), 0, 'no crash, no alert') or diag($ngx->bad_lines);

done_testing();
