package Astro::TierQueue;

# The tier queue's tests with workers killed (t/050, t/053): one upstream
# "q" of one backend of max_conns=2 with a queue, behind a front whose
# location / proxies to it; a POST that holds its place; the queue's
# status.
#
#   my $ngx = Astro::Instance->new(name => ..., port => ...);
#   $ngx->start(Astro::TierQueue::conf($backend_port, '2s'));
#   my @held = map { Astro::TierQueue::hold($ngx) } 1 .. 2;
#   Astro::TierQueue::queue($ngx)->{reserved}

use strict;
use warnings;

# the http{} body: the queue's timeout $timeout
sub conf {
    my ($be, $timeout) = @_;
    return <<_EOC_;
    upstream q {
        zone q 64k;
        astro_tier_balance;
        astro_queue size=10 timeout=$timeout;
        server 127.0.0.1:$be max_conns=2;
    }
    server {
        listen 127.0.0.1:$be;
        location / { return 200 "ok\\n"; }
    }
    server {
        listen 127.0.0.1:\$PORT;
        location /astro/status { astro_status; }
        location / { proxy_pass http://q; }
    }
_EOC_
}

# the queue's status: length, reserved, ...
sub queue {
    my ($ngx) = @_;
    my $st = $ngx->status or return {};
    return $st->{modules}{tier_upstream}{upstreams}{q}{queue} || {};
}

# a POST whose body does not come: it holds its place while nginx waits
# for the body
sub hold {
    my ($ngx) = @_;
    return $ngx->hold('/held', method => 'POST',
                      headers => { 'Content-Length' => 10 });
}

1;
