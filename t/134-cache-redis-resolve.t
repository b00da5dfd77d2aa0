# The cache's redis= shares the client and its path: given by host name,
# it is resolved again through the http{} `resolver` when its connection
# is made again after a failure.  The Redis moves (the DNS answer
# changes, the first server is killed): the node's subscription and its
# invalidations reach the second Redis, with no reload.  As t/130.
#
# Ports: nginx on TEST_NGINX_PORT + 134, Redis on 127.0.0.1:6494 and
# 127.0.0.2:6494, the DNS on udp 127.0.0.1:6495.
#
# Timing: the worker that holds the lease polls Redis every sync (1 s);
# that poll connects again, asks the DNS and moves; the subscription is
# made again after its backoff.  Expected within about 2 s of the kill,
# asserted within 6 s.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use Astro::Instance qw(nginx_port have_redis wait_until);
use Astro::Resolve qw(start_pair);

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $PORT = 6494;

my ($first, $second, $dns) = start_pair($PORT);

my $ngx = Astro::Instance->new(name => 'cache-resolve',
                               port => nginx_port(134), http => <<_EOC_);
    resolver 127.0.0.1:6495 valid=1s;
    resolver_timeout 1s;

    astro_cache_zone z:1m redis=localhost:$PORT sync=1s;
    astro_cache_ttl z api 1h;
    server {
        listen 127.0.0.1:\$PORT;
        location = /inv { astro_cache_invalidate zone=z; }
        location /astro/status { astro_status; }
    }
_EOC_
ok($ngx->start, 'nginx starts with the cache\'s Redis at localhost')
    or BAIL_OUT('nginx');

sub subscribers {
    my ($redis) = @_;
    my $out = $redis->cli('PUBSUB', 'NUMSUB', 'astro:cache:z') // '';
    return $out =~ /\n(\d+)\s*\z/ ? $1 : -1;
}

sub invalidate {
    my $res = $ngx->get('/inv?class=api', method => 'POST',
                        headers => { 'Content-Length' => 0 });
    my $json = eval { JSON::PP::decode_json($res->{body}) } || {};
    return ($res->{status}, $json);
}

ok(wait_until(sub { subscribers($first) == 1 }, 3),
   'the node subscribes on the first Redis');
my ($status, $json) = invalidate();
is_deeply([$status, @$json{qw(generation broadcast)}], [200, 1, 'ok'],
          'an invalidation: generation 1, broadcast');
is($first->cli('GET', 'astro:cache:z:gen:api'), 1,
   'the generation is in the first Redis');

# -- the Redis moves: the DNS answers 127.0.0.2, the first one dies

$dns->set(localhost => '127.0.0.2');
my $mark = $ngx->log_mark;
$first->sigkill;
my $t0 = time;

ok(wait_until(sub { subscribers($second) == 1 }, 10, 0.05),
   'the node subscribes on the second Redis');
my $took = time - $t0;
cmp_ok($took, '<', 6, sprintf('within 6 s of the kill (took %.2f s)', $took));

($status, $json) = invalidate();
is_deeply([$status, @$json{qw(generation broadcast)}], [200, 2, 'ok'],
          'an invalidation: generation 2, broadcast');
is($second->cli('GET', 'astro:cache:z:gen:api'), 2,
   'the generation is in the second Redis');

cmp_ok($dns->asked('localhost', 'A'), '>=', 1, 'the DNS was asked');
my $moved = qr/\[notice\].*astro_cache_zone:\ redis\ localhost:$PORT:
               \ "localhost"\ is\ now\ 127\.0\.0\.2\ \(was\ 127\.0\.0\.1\)/x;
is(scalar(grep { /$moved/ } $ngx->log_since($mark)), 1,
   'the move is logged once');
is($ngx->generation, '1', 'no reload: the first configuration answers');

my @bad = $ngx->bad_lines;
is(scalar @bad, 0, 'no alert, crit, emerg or crash in the error log')
    or diag(@bad);

done_testing();
