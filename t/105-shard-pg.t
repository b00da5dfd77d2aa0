# The shard map in PostgreSQL: one nginx, its map "users" (hash, 4 slots)
# and "orders" (list, listen=off) read from a PostgreSQL of this file's
# own (t/lib/Astro/Pg.pm).  PostgreSQL down at start: the nginx.conf map
# routes and the status says stale with the error; up: its map in force; a
# change with NOTIFY routed within 1 s; with listen=off within refresh=;
# a map with a defect refused, logged once, the previous one routing;
# PostgreSQL going down: the last good map routes, stale with the error
# (never the password), a reload keeps the map and its version; back:
# what changed meanwhile (its NOTIFY lost) is caught up.  The test drives
# nginx itself (t/lib/Astro/Instance.pm), as t/098 does.
#
# Ports: nginx on 8470, its backends on 8460-8463, PostgreSQL on 6450.
#
# Keys: with hash=seed and 4 slots, the id "0".."3" is in slot 0..3 (the
# hash of a one-character id is its code: 48..51).

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

my $pg = Astro::Pg->new(port => 6450);
my $PW = 'sekret-pw-105';
my $CONNINFO = "hostaddr=127.0.0.1 port=6450 dbname=astro "
               . "user=astro_nginx password=$PW";

my $backends = Astro::ShardSlots::backends(8460, qw(up1 up2 up3 up4));

my $http = <<_EOC_;
$backends
    astro_shard_map users strategy=hash hash=seed slots=4
                    "postgres=$CONNINFO" refresh=30s timeout=1s;
    astro_shard users s1 up1;
    astro_shard users s2 up2;

    astro_shard_map orders strategy=list "postgres=$CONNINFO"
                    listen=off refresh=1s timeout=1s;
    astro_shard orders o1 up1 default;

    server {
        listen 127.0.0.1:\$PORT;
        location /u {
            astro_shard_key users \$arg_id;
            proxy_pass http://\$astro_shard_upstream;
            add_header X-Version \$astro_shard_version always;
        }
        location /o {
            astro_shard_key orders \$arg_ct;
            proxy_pass http://\$astro_shard_upstream;
            add_header X-Version \$astro_shard_version always;
        }
        location /astro/status { astro_status; }
    }
_EOC_

my $ngx = Astro::Instance->new(name => 'shard-pg', port => 8470,
                               workers => 2, http => $http);

# "status X-Backend X-Version"; its map's status; seconds until 4
# requests in a row say what is wanted (undef after the timeout)
sub route { Astro::Pg::route($ngx, @_) }
sub map_status { Astro::Pg::map_status($ngx, @_) }
sub seen_within { Astro::Pg::seen_within($ngx, @_) }

sub log_count {
    my ($re) = @_;
    return scalar(my @l = grep { $_ =~ $re } $ngx->error_log);
}

ok($ngx->start, 'nginx starts without PostgreSQL')
    or BAIL_OUT('nginx did not start');


# --- PostgreSQL down at start: the nginx.conf map -------------------------

# modulo over s1, s2: slot 1 is s2's
is(route('/u?id=1'), '200 up2 0', 'postgres down at start: nginx.conf map');
is(route('/u?id=2'), '200 up1 0', 'postgres down at start: slot 2 on s1');
is(route('/o?ct=book'), '200 up1 0', 'list map: the default of nginx.conf');

ok(wait_until(sub { map_status('users')->{stale} }, 3),
   'the map is stale while postgres is down');
like(map_status('users')->{error} // '', qr/^connect: .*6450/,
     'with the connection error');
is(map_status('users')->{source}, 'conf', 'source: nginx.conf');


# --- up: its map in force ---------------------------------------------------

ok($pg->start, 'postgres on 6450 starts') or BAIL_OUT('no postgres');
ok(defined $pg->psql(Astro::Pg::ddl()
                     . "CREATE ROLE astro_nginx LOGIN;\n"
                     . "GRANT SELECT ON ALL TABLES IN SCHEMA public "
                     . "TO astro_nginx;"),
   'the shard tables and the reader') or BAIL_OUT('no tables');

my @users = (shards => [['s1', 'up1'], ['s2', 'up2'], ['s3', 'up3']]);
ok($pg->put_map('users', @users,
                entries => [[0, 1, undef, 's1'], [1, 2, undef, 's3'],
                            [2, 4, undef, 's2']]), 'users version 1');
ok($pg->put_map('orders',
                shards => [['o1', 'up1', undef, 1, 1], ['o2', 'up2']],
                entries => [[undef, undef, 'book', 'o2']]),
   'orders version 1');

# the backoff grew to at most 5 s while postgres was down
ok(defined seen_within('/u?id=1', '200 up3 1', 8), 'postgres up: its map');
is(route('/u?id=0'), '200 up1 1', 'slot 0 on s1');
is(route('/u?id=3'), '200 up2 1', 'slot 3 on s2');
ok(defined seen_within('/o?ct=book', '200 up2 1', 3), 'orders: its map');
is(route('/o?ct=film'), '200 up1 1', 'orders: the default shard');

ok(wait_until(sub { my $m = map_status('users');
                    !$m->{stale} && $m->{listening} }, 3),
   'not stale, listening');
my $m = map_status('users');
is("$m->{source} $m->{version}", 'postgres 1', 'status: postgres, version 1');
my $o = map_status('orders');
ok(exists $o->{listening} && !$o->{listening}, 'orders: listen=off');


# --- a change with NOTIFY: within 1 s ------------------------------------

ok($pg->put_map('users', @users, shards => [['s1', 'up1'], ['s2', 'up2'],
                                            ['s4', 'up4']],
                entries => [[0, 1, undef, 's1'], [1, 2, undef, 's4'],
                            [2, 4, undef, 's2']]), 'users version 2');
my $t = seen_within('/u?id=1', '200 up4 2', 3);
ok(defined $t && $t < 1, 'NOTIFY: the change routed within 1 s')
    or diag('after ' . ($t // 'more than 3') . ' s');
ok(map_status('users')->{notifies} >= 1, 'the notification counted');


# --- listen=off: within refresh (1 s, 0.3 s more for the request) --------

ok($pg->put_map('orders',
                shards => [['o1', 'up1', undef, 1, 1], ['o2', 'up2'],
                           ['o3', 'up3']],
                entries => [[undef, undef, 'book', 'o3']]),
   'orders version 2');
$t = seen_within('/o?ct=book', '200 up3 2', 3);
ok(defined $t && $t < 1.3, 'listen=off: the change routed within refresh')
    or diag('after ' . ($t // 'more than 3') . ' s');


# --- a map with a defect: refused, logged once, the previous one routes ---

ok($pg->put_map('users', shards => [['s1', 'up1'], ['s2', 'nowhere']],
                entries => [[0, 4, undef, 's1']]),
   'users version 3: an upstream nginx.conf does not have');
ok(wait_until(sub { map_status('users')->{refused} }, 3), 'refused');
like(map_status('users')->{error} // '',
     qr/version 3 refused: unknown upstream "nowhere"/, 'the error');
ok(map_status('users')->{stale}, 'stale');
is(route('/u?id=1'), '200 up4 2', 'version 2 routes');

# more notifications: the version is read again, the map not
for (1 .. 3) {
    $pg->psql("NOTIFY astro_shard, 'users'");
    sleep 0.2;
}
sleep 0.5;
is(log_count(qr/\[error\].*"users": version 3 in postgres refused: (?x)
               unknown\ upstream\ "nowhere"/), 1, 'logged once');
is(map_status('users')->{refused}, 1, 'counted once');

ok($pg->put_map('users', @users,
                entries => [[0, 2, undef, 's1'], [1, 4, undef, 's2']]),
   'users version 4: overlapping slots');
ok(wait_until(sub { map_status('users')->{refused} == 2 }, 3),
   'refused too');
is(log_count(qr/\[error\].*"users": version 4 in postgres refused/), 1,
   'logged once');
is(route('/u?id=1'), '200 up4 2', 'version 2 routes still');

ok($pg->put_map('users', @users,
                entries => [[0, 2, undef, 's1'], [2, 4, undef, 's2']]),
   'users version 5: good');
ok(defined seen_within('/u?id=1', '200 up1 5', 2), 'version 5 routes');
ok(wait_until(sub { !map_status('users')->{stale} }, 2), 'not stale');


# --- going down: the last good map, stale; a reload keeps it ---------------

ok(defined $pg->psql('ALTER ROLE astro_nginx NOLOGIN'),
   'nginx may not connect again');
ok($pg->stop, 'postgres stops');

my $mark = $ngx->log_mark;
is(route('/u?id=1'), '200 up1 5', 'postgres down: the last good map');
ok(wait_until(sub { map_status('users')->{stale} }, 3), 'stale');
like(map_status('users')->{error} // '', qr/./, 'with the error');
is(route('/u?id=3'), '200 up2 5', 'routing goes on');

ok($ngx->reload, 'nginx -s reload');
is(route('/u?id=1'), '200 up1 5', 'after the reload: version 5 routes');
$m = map_status('users');
is("$m->{source} $m->{version}", 'postgres 5', 'status: postgres, version 5');


# --- back: catches up on what changed while it was away ------------------

ok($pg->start, 'postgres starts again');
ok(wait_until(sub { (map_status('users')->{error} // '')
                        =~ /not permitted to log in/ }, 8),
   'nginx cannot log in yet');

ok($pg->put_map('users', @users,
                entries => [[0, 1, undef, 's1'], [1, 4, undef, 's2']]),
   'users version 6, its NOTIFY lost');
is(route('/u?id=1'), '200 up1 5', 'version 5 routes until nginx is back');

ok(defined $pg->psql('ALTER ROLE astro_nginx LOGIN'), 'nginx may connect');
ok(defined seen_within('/u?id=1', '200 up2 6', 7),
   'caught up after the backoff (at most 5 s)');
ok(wait_until(sub { my $m = map_status('users');
                    !$m->{stale} && $m->{listening} }, 2),
   'not stale, listening');


# --- never the password --------------------------------------------------

is(scalar(grep { /\Q$PW\E/ } $ngx->error_log), 0, 'no password in the log');
my $st = $ngx->get('/astro/status?format=json');
unlike($st->{body}, qr/\Q$PW\E/, 'nor in the status');
is(scalar($ngx->bad_lines), 0, 'no crash, no alert')
    or diag($ngx->bad_lines);

done_testing();
