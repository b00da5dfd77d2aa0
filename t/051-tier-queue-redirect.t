# One astro_queue place a request: an internal redirect (here try_files
# to a named location) keeps the place the request took before it and
# takes no second one; a subrequest (here a mirror) neither takes a
# place nor gives back its main request's when it gets its server.
#
# Ports: nginx on TEST_NGINX_PORT + 114, its slow backend on + 115.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Astro::Instance qw(nginx_port wait_until);

my $slow = nginx_port(115);

my $body = <<_EOC_;
    upstream r {
        zone r 64k;
        astro_tier_balance;
        astro_queue size=10 timeout=1s;
        server 127.0.0.1:$slow max_conns=2;
    }
    upstream m {
        zone m 64k;
        astro_tier_balance;
        astro_queue size=10 timeout=5s;
        server 127.0.0.1:$slow max_conns=2;
    }
    server {
        listen 127.0.0.1:$slow;
        location / { echo_sleep 2; echo "slow \$request_method"; }
    }
    server {
        listen 127.0.0.1:\$PORT;
        location /astro/status { astro_status; }

        # the place is taken before try_files, which redirects
        location /t {
            root /astro-nonexistent;
            try_files /nothing \@r;
            proxy_pass http://r;
        }
        location \@r { proxy_pass http://r; }

        # and given back when try_files redirects where none is needed
        location /s {
            root /astro-nonexistent;
            try_files /nothing \@static;
            proxy_pass http://r;
        }
        location \@static { echo_sleep 1; echo static; }

        location /m {
            mirror /mirror;
            mirror_request_body off;
            proxy_pass http://m;
        }
        location = /mirror {
            internal;
            proxy_pass http://m;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }
        location /b { proxy_pass http://m; }
    }
_EOC_

my $ngx = Astro::Instance->new(name => 'tier-queue-redirect',
                               port => nginx_port(114));

sub upstream {
    my ($name) = @_;
    my $st = $ngx->status or return {};
    return $st->{modules}{tier_upstream}{upstreams}{$name} || {};
}

sub active {
    my ($name) = @_;
    my $s = upstream($name)->{servers} or return -1;
    return $s->[0]{active};
}

ok($ngx->start($body), 'nginx starts') or BAIL_OUT('no nginx');

# --- an internal redirect ----------------------------------------------

my $t1 = $ngx->send_get('/t');
ok(wait_until(sub { active('r') == 1 }, 5), 'a redirected request is sent');
is(upstream('r')->{queue}{reserved}, 0,
   'and its place is taken: none is left reserved');

my $t2 = $ngx->get('/t');
is("$t2->{status} $t2->{body}", "200 slow GET\n",
   'the second connection goes to another redirected request');
my $res = $ngx->receive($t1);
is("$res->{status} $res->{body}", "200 slow GET\n", 'so does the first');

my $q = upstream('r')->{queue};
is("$q->{reserved} $q->{waits} $q->{timeouts}", '0 0 0',
   'status: no place reserved, nobody waited');

my $s = $ngx->send_get('/s');
sleep 0.5;
is(upstream('r')->{queue}{reserved}, 0,
   'a request redirected to a location without the queue has no place');
$res = $ngx->receive($s);
is("$res->{status} $res->{body}", "200 static\n", 'it is answered there');

# --- a subrequest ------------------------------------------------------

# a POST whose body comes later: it holds its place meanwhile, and its
# mirror goes to the upstream at once
my $a = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ngx->port,
                              Proto => 'tcp', Timeout => 5)
    or die "connect: $!";
$a->autoflush(1);
my $a_t0 = time;
print {$a} "POST /m HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
           . "Connection: close\r\n\r\n";

ok(wait_until(sub { active('m') == 1 }, 5), 'the mirror is sent');
is(upstream('m')->{queue}{reserved}, 1,
   'and the main request keeps its place');

# the mirror's connection and the POST's place: another request waits
my $b = $ngx->send_get('/b', timeout => 10);
ok(wait_until(sub { (upstream('m')->{queue}{length} // 0) == 1 }, 1),
   'another request waits');

print {$a} "body\n";
$res = $ngx->receive({ sock => $a, t0 => $a_t0, timeout => 10 });
is("$res->{status} $res->{body}", "200 slow POST\n",
   'the POST gets its body, then its server');

$res = $ngx->receive($b);
is("$res->{status} $res->{body}", "200 slow GET\n",
   'the other one gets a server once the mirror is done');

$q = upstream('m')->{queue};
is("$q->{reserved} $q->{length} $q->{waits} $q->{timeouts}", '0 0 1 0',
   'status: no place reserved, one request waited');

my @bad = $ngx->bad_lines;
is(scalar @bad, 0, 'no crash, alert, crit or emerg') or diag @bad;
$ngx->stop;

done_testing();
