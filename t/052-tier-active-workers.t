# A server's requests in flight ("active" in the status) are counted by
# worker slot in the zone "astro_tier_upstream": a worker killed while its
# requests wait for a server does not leave them counted.  The worker
# that the master starts in its place gives them back when it starts; a
# worker of an old configuration, which nobody replaces, has them given
# back when the status is read and finds it gone.
#
# The backend is a socket of this script that never accepts: the kernel
# takes the connections, nginx sends its requests and waits for answers
# that never come.
#
# Ports: nginx on TEST_NGINX_PORT + 116, the backend on + 117.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(nginx_port wait_until process_gone);

my $be_port = nginx_port(117);

my $be = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                               LocalPort => $be_port, Proto => 'tcp',
                               Listen => 64, ReuseAddr => 1)
    or BAIL_OUT("cannot listen on $be_port: $!");

my $body = <<_EOC_;
    upstream s {
        astro_tier_balance;
        server 127.0.0.1:$be_port max_fails=0;
    }
    server {
        listen 127.0.0.1:\$PORT;
        location /astro/status { astro_status; }
        location / {
            proxy_pass http://s;
            proxy_read_timeout 60s;
        }
    }
_EOC_

my $ngx = Astro::Instance->new(name => 'tier-active-workers',
                               port => nginx_port(116));

sub active {
    my $st = $ngx->status or return -1;
    my $s = $st->{modules}{tier_upstream}{upstreams}{s}{servers} or return -1;
    return $s->[0]{active} // -1;
}

sub given_back {
    my ($pid, $n, $mark) = @_;
    my $line = "astro_tier_upstream: process $pid is gone: $n requests in "
               . "flight no longer counted";
    return grep { /\[notice\] .*\Q$line\E/ } $ngx->log_since($mark);
}

ok($ngx->start($body), 'nginx starts') or BAIL_OUT('no nginx');
is(active(), 0, 'no request in flight');

# --- a worker killed: the master starts another in its slot -------------

my @held = map { $ngx->hold('/slow') } 1 .. 3;
ok(wait_until(sub { active() == 3 }, 5, 0.05),
   'three requests wait for the backend: 3 active');

my ($w1) = $ngx->worker_pids;
my $mark = $ngx->log_mark;
kill 'KILL', $w1;
ok(process_gone($w1), 'the worker is killed');
ok(wait_until(sub { my @w = $ngx->worker_pids; @w == 1 && $w[0] != $w1 },
              10, 0.05),
   'the master starts another one');
close $_ for @held;

is(active(), 0, 'status: its 3 requests are no longer active');
ok(scalar(given_back($w1, 3, $mark)), 'the new worker says so');

# --- a worker of an old configuration killed: nobody replaces it --------

@held = map { $ngx->hold('/slow') } 1 .. 2;
ok(wait_until(sub { active() == 2 }, 5, 0.05), 'two requests: 2 active');

# until the old worker has closed its listening socket (it logs
# "gracefully shutting down" first), it accepts new connections too
my ($old) = $ngx->worker_pids;
$mark = $ngx->log_mark;
ok($ngx->signal_reload == 0, 'reload');
ok(wait_until(sub { my @w = $ngx->worker_pids;
                    @w == 2 && ($ngx->generation // '') eq $ngx->{gen}
                    && grep { /gracefully shutting down/ }
                            $ngx->log_since($mark) },
              10, 0.05),
   'the old worker stays for its requests, and stops accepting');

my @new = ($ngx->hold('/slow'));
ok(wait_until(sub { active() == 3 }, 5, 0.05),
   'a request to the new worker: 3 active, of two configurations');

$mark = $ngx->log_mark;
kill 'KILL', $old;
ok(process_gone($old), 'the old worker is killed');
close $_ for @held;
is(scalar($ngx->worker_pids), 1, 'and not replaced');

ok(wait_until(sub { active() == 1 }, 5, 0.05),
   'status: only the new worker\'s request is active');
ok(scalar(given_back($old, 2, $mark)),
   'the worker that read the status says so');

close $_ for @new;
ok(wait_until(sub { active() == 0 }, 5, 0.05),
   'its client gone, no request is active');
like($ngx->get('/astro/status?format=prometheus')->{body},
     qr/^astro_tier_upstream_server_active\{upstream="s",server="127\.0\.0\.1:$be_port"\} 0$/m,
     'Prometheus: 0 active');

my @bad = grep { !/worker process (?:$w1|$old) exited on signal 9/ }
          $ngx->bad_lines;
is(scalar @bad, 0, 'no crash, alert, crit or emerg but the kills')
    or diag @bad;
$ngx->stop;

done_testing();
