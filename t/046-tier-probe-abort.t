# A half-open circuit's probe whose client leaves before the server
# answers is neither a success nor a failure: the circuit stays half-open
# (it does not close on a server that never answered) and the next request
# probes again.
#
# Ports: nginx on TEST_NGINX_PORT + 90; a backend that never answers in
# time (5 s) on + 91.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(nginx_port wait_until);

my $hang = nginx_port(91);

my $ngx = Astro::Instance->new(name => 'probe-abort', port => nginx_port(90),
                               http => <<_EOC_);
    upstream h {
        astro_tier_balance;
        astro_circuit failures=1 open=300ms;
        server 127.0.0.1:$hang max_fails=0;
    }
    server {
        listen 127.0.0.1:$hang;
        location / { echo_sleep 5; echo late; }
    }
    server {
        listen 127.0.0.1:\$PORT;
        location / { proxy_pass http://h; proxy_read_timeout 200ms; }
        location /astro/status { astro_status; }
    }
_EOC_

sub circuit {
    my $st = $ngx->status or return '';
    my $s = $st->{modules}{tier_upstream}{upstreams}{h}{servers}[0];
    return "$s->{circuit} $s->{opened} $s->{failures}";
}

ok($ngx->start, 'nginx starts') or BAIL_OUT('nginx did not start');

is($ngx->get('/')->{status}, 504, 'the server does not answer in time: 504');
is(circuit(), 'open 1 1', 'one failure opens the circuit');

sleep 0.4;

# the probe: its client leaves after 100 ms, before the 200 ms timeout
my $mark = $ngx->log_mark;
my $h = $ngx->send_get('/');
sleep 0.1;
close $h->{sock};
sleep 0.3;

is(circuit(), 'half_open 1 1',
   'the client left: still half-open, no failure, not closed');
my @log = $ngx->log_since($mark);
is(scalar(grep { /astro_circuit: .*half-open/ } @log), 1,
   'half-open is logged');
is(scalar(grep { /astro_circuit: .*closed/ } @log), 0, 'closed is not');

# the next request probes again, and fails: open for twice as long
is($ngx->get('/')->{status}, 504, 'the next probe times out: 504');
is(circuit(), 'open 2 2', 'the circuit opens again');
ok(wait_until(sub {
       grep { /astro_circuit: .*open for 600ms: a probe failed/ }
       $ngx->log_since($mark) }, 1, 0.05),
   'for 600ms, logged');

my @bad = $ngx->bad_lines;
is(scalar @bad, 0, 'no crash, alert, crit or emerg') or diag @bad;
$ngx->stop;

done_testing();
