# The tier balancer's state is kept over a reload: an open circuit stays
# open, and the counts go on, also when the upstream gains a server (a new
# record takes over the state of the servers it keeps).
#
# Ports: nginx on TEST_NGINX_PORT + 85; backends on + 86 (fails: 502),
# + 87 and + 88 (answer).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(nginx_port wait_until);

my ($bad, $ok, $new) = map { nginx_port($_) } 86 .. 88;

sub body {
    my ($extra) = @_;
    $extra //= '';
    return <<_EOC_;
    upstream r {
        zone r 64k;
        astro_tier_balance;
        astro_circuit failures=2 open=60s;
        server 127.0.0.1:$bad max_fails=0;
        server 127.0.0.1:$ok max_fails=0;
        $extra
    }
    server { listen 127.0.0.1:$bad; return 502; }
    server { listen 127.0.0.1:$ok; return 200 "ok\\n"; }
    server { listen 127.0.0.1:$new; return 200 "new\\n"; }
    server {
        listen 127.0.0.1:\$PORT;
        location / {
            proxy_pass http://r;
            proxy_next_upstream error timeout http_502;
        }
        location /astro/status { astro_status; }
    }
_EOC_
}

sub server_state {
    my ($ngx, $port) = @_;
    my $st = $ngx->status or return {};
    for my $s (@{ $st->{modules}{tier_upstream}{upstreams}{r}{servers} }) {
        return $s if $s->{server} eq "127.0.0.1:$port";
    }
    return {};
}

my $ngx = Astro::Instance->new(name => 'tier-reload', port => nginx_port(85),
                               workers => 2);

ok($ngx->start(body()), 'nginx starts') or BAIL_OUT('nginx did not start');

for (1 .. 6) {
    is($ngx->get('/')->{body}, "ok\n", "request $_: answered by the good one");
}

my $s = server_state($ngx, $bad);
is($s->{circuit}, 'open', 'two failures: the circuit is open');
is($s->{failures}, 2, 'status: 2 failures');
is($s->{opened}, 1, 'status: opened once');

ok($ngx->reload(body()), 'reload, the same servers');

$s = server_state($ngx, $bad);
is($s->{circuit}, 'open', 'after the reload: still open');
is("$s->{failures} $s->{opened}", '2 1', 'and the counts are kept');
is(server_state($ngx, $ok)->{requests}, 6, 'the good one\'s 6 requests too');

for (1 .. 4) {
    $ngx->get('/');
}
is(server_state($ngx, $bad)->{requests}, 2,
   'the open circuit still keeps requests away');

ok($ngx->reload(body("server 127.0.0.1:$new max_fails=0;")),
   'reload with a server more');

$s = server_state($ngx, $bad);
is("$s->{circuit} $s->{failures} $s->{opened}", 'open 2 1',
   'the kept server keeps its open circuit');
is(server_state($ngx, $ok)->{requests}, 10, 'and its counts');
is(server_state($ngx, $new)->{requests}, 0, 'the new one starts at 0');

my %seen;
$seen{ $ngx->get('/')->{body} }++ for 1 .. 6;
is_deeply(\%seen, { "ok\n" => 3, "new\n" => 3 },
          'requests go to the good and the new server only');

my @bad = $ngx->bad_lines;
is(scalar @bad, 0, 'no crash, alert, crit or emerg') or diag @bad;
$ngx->stop;

done_testing();
