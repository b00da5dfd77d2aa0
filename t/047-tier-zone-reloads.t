# Many reloads that change every server of many upstreams: the zone
# "astro_tier_upstream" frees the records no recent configuration uses
# when it needs the room, so that no reload fails for want of it (20
# upstreams of 9 servers; each reload moves every server to new ports).
#
# Ports: nginx on TEST_NGINX_PORT + 95; the servers' ports are never
# connected to.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Astro::Instance qw(nginx_port);

sub body {
    my ($base) = @_;
    my $s = '';
    for my $u (1 .. 20) {
        $s .= "    upstream u$u {\n        astro_tier_balance;\n"
              . "        astro_circuit;\n"
              . "        astro_queue size=5 timeout=1s;\n";
        for my $k (1 .. 9) {
            my $p = $base + $u * 10 + $k;
            $s .= "        server 127.0.0.1:$p max_conns=1;\n";
        }
        $s .= "    }\n";
    }
    return $s . <<'_EOC_';
    server {
        listen 127.0.0.1:$PORT;
        location /astro/status { astro_status; }
        location / { proxy_pass http://u1; }
    }
_EOC_
}

my $ngx = Astro::Instance->new(name => 'tier-zone', port => nginx_port(95));

ok($ngx->start(body(20000)), 'nginx starts') or BAIL_OUT('no nginx');

for my $i (1 .. 8) {
    ok($ngx->reload(body(20000 + $i * 300)),
       "reload $i: every server on other ports");
}

ok($ngx->reload(body(20000 + 8 * 300)), 'reload the running configuration');

my $st = $ngx->status;
my $servers = $st->{modules}{tier_upstream}{upstreams}{u3}{servers} || [];
is(scalar @$servers, 9, 'the status has the 9 servers of u3');
is($servers->[0]{server}, '127.0.0.1:' . (20000 + 8 * 300 + 31),
   'the current ones');

my @bad = $ngx->bad_lines;
is(scalar @bad, 0, 'no crash, alert, crit or emerg') or diag @bad;
$ngx->stop;

done_testing();
