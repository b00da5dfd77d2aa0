# The zone "astro_tier_upstream" frees a server's record only when no
# worker that may use it is alive: a worker of an old configuration that
# still holds a request keeps its records, and a reload that finds no
# room then fails with a message naming the zone, rather than reusing
# the records under the old worker (which wrote its counts into the
# records of other servers when its request ended).
#
# An upstream of 410 servers: a record takes a page (4k), and the zone,
# which the module sizes for them (about 3.5m), holds two
# configurations' records but not three.  Configuration 1 sends a
# request to a backend that the test holds; the reload to configuration
# 2 succeeds, the one to configuration 3 (every server on
# other ports) finds the zone full and fails; once the request is over
# and its worker gone, the same reload succeeds, and the counts of every
# server are 0.
#
# Ports: nginx on TEST_NGINX_PORT + 110; the backend (this script) on
# + 111; the other servers' ports (30000 and up) are never connected to.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(nginx_port wait_until);

my $be_port = nginx_port(111);
my $N = 410;

# configuration 1: the backend, then servers that are down; the others:
# every server elsewhere
sub body {
    my ($conf) = @_;
    my $s = "    upstream u {\n        astro_tier_balance;\n"
            . "        astro_circuit;\n";
    for my $k (1 .. $N) {
        if ($conf == 1 && $k == 1) {
            $s .= "        server 127.0.0.1:$be_port max_fails=0;\n";
            next;
        }
        my $p = 30000 + $conf * 1000 + $k;
        $s .= "        server 127.0.0.1:$p down;\n";
    }
    return $s . <<'_EOC_';
    }
    server {
        listen 127.0.0.1:$PORT;
        location /astro/status { astro_status; }
        location / {
            proxy_pass http://u;
            proxy_read_timeout 60s;
        }
    }
_EOC_
}

# a reload that does not wait for the old workers given: true once the
# new configuration answers and the other old workers have gone
sub reload_but {
    my ($ngx, $body, @keep) = @_;
    my %old = map { $_ => 1 } $ngx->worker_pids;
    delete @old{@keep};
    return 0 if $ngx->signal_reload($body) != 0;
    my $gen = $ngx->{gen};
    return wait_until(sub {
        ($ngx->generation // '') eq $gen
            && !grep { $old{$_} } $ngx->worker_pids
    }, 10, 0.05) ? 1 : 0;
}

sub servers {
    my ($ngx) = @_;
    my $st = $ngx->status or return [];
    return $st->{modules}{tier_upstream}{upstreams}{u}{servers} || [];
}

my $backend = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                    LocalPort => $be_port, Listen => 8,
                                    ReuseAddr => 1, Proto => 'tcp')
    or BAIL_OUT("backend port $be_port: $!");

my $ngx = Astro::Instance->new(name => 'tier-zone-workers',
                               port => nginx_port(110));

ok($ngx->start(body(1)), 'nginx starts') or BAIL_OUT('no nginx');
my ($old) = $ngx->worker_pids;

# the request held by the backend

my $held = $ngx->send_get('/held', timeout => 60);

my $conn;
if (IO::Select->new($backend)->can_read(5)) {
    $conn = $backend->accept;
}
ok($conn, 'the backend has the request') or BAIL_OUT('no request');

my $head = '';
my $sel = IO::Select->new($conn);
while ($head !~ /\r\n\r\n/ && $sel->can_read(5)) {
    sysread($conn, $head, 4096, length $head) or last;
}
like($head, qr{\AGET /held HTTP/1\.[01]\r\n}, 'it is the held request');

my $s = servers($ngx);
is("$s->[0]{server} $s->[0]{active}", "127.0.0.1:$be_port 1",
   'the backend has 1 active request');

ok(reload_but($ngx, body(2), $old), 'reload to configuration 2');
ok(kill(0, $old), 'the old worker still runs, holding the request');

my $mark = $ngx->log_mark;
my $gen = $ngx->{gen};

is($ngx->signal_reload(body(3)), 0, 'reload to configuration 3 signalled');

my $full = 'no room in zone "astro_tier_upstream" for upstream "u": the '
           . 'records of previous configurations are in use by their '
           . 'workers; reload again once they have exited';
$full = qr/\[emerg\] .*\Q$full\E/;

ok(wait_until(sub { grep { /$full/ } $ngx->log_since($mark) }, 10, 0.05),
   'the zone is full: the reload fails, naming the zone');
sleep 0.3;
is($ngx->generation, $gen, 'configuration 2 still answers');
is(scalar(@{ servers($ngx) }), $N, 'its servers in the status');

# the request ends: the old worker writes into its own records

print {$conn} "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
              . "Connection: close\r\n\r\nheld\n";
close $conn;

my $res = $ngx->receive($held);
is("$res->{status} $res->{body}", "200 held\n", 'the held request is answered');

ok(wait_until(sub { !kill(0, $old) }, 10, 0.05), 'the old worker exits');

ok($ngx->reload(body(3)), 'then the reload to configuration 3 succeeds');

$s = servers($ngx);
is(scalar @$s, $N, "the status has the $N servers");
is($s->[0]{server}, '127.0.0.1:' . (30000 + 3 * 1000 + 1), 'the new ones');

my @counted = grep {
    $_->{active} || $_->{requests} || $_->{failures}
    || $_->{response_time_ms} || $_->{circuit} ne 'closed'
} @$s;
is(scalar @counted, 0, 'none of them has counts of another server')
    or diag explain [ @counted[0 .. ($#counted < 2 ? $#counted : 2)] ];

ok($ngx->reload(body(4)), 'a reload to configuration 4 succeeds too');
is(servers($ngx)->[0]{server}, '127.0.0.1:' . (30000 + 4 * 1000 + 1),
   'with its servers');

my @bad = grep { !/$full/ } $ngx->bad_lines;
is(scalar @bad, 0, 'no crash, alert, crit or emerg but the full zone')
    or diag @bad;
$ngx->stop;

done_testing();
