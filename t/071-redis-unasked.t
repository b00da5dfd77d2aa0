# A server at the Redis address that sends replies nobody asked for: one
# that greets "+OK" as soon as a client connects, one that answers every
# command twice, one that says "+OK" again 200ms after its last answer, to
# a connection with no command waiting (util/fake-redis.pl, started by
# util/test-servers.sh on TEST_NGINX_FAKE_GREET_PORT, _TWICE_PORT and
# _LATE_PORT).  hiredis 0.14 aborts the process on such a reply (an
# assert); the client closes the connection first and counts a protocol
# error, the requests are decided by the fail policy, and no worker dies.
#
# The two blocks of __DATA__ run against each server.  A block's
# error_log patterns must match in the lines of each of its requests:
# those about the connections are checked in the block of one request,
# whose lines begin with nginx's start.

use Test::Nginx::Socket 'no_plan';

no_shuffle();

$ENV{TEST_NGINX_FAKE_GREET_PORT} ||= 6420;
$ENV{TEST_NGINX_FAKE_TWICE_PORT} ||= 6421;
$ENV{TEST_NGINX_FAKE_LATE_PORT} ||= 6422;

log_level('debug');

# name, port variable, what the client sees first, and how long the
# first block waits for it after its request: the late server speaks
# 200ms after its last answer, to an idle connection
my @servers = (
    ['a server that greets unasked', 'GREET', '(?:data|a reply)', 0],
    ['a server that answers twice', 'TWICE', '(?:data|a reply)', 0],
    ['a server that speaks to an idle connection', 'LATE', 'data', 0.5],
);

my $template = do { local $/; <DATA> };
my ($spec, $n) = ('', 0);

for my $s (@servers) {
    my ($what, $port, $seen, $wait) = @$s;
    my $z = lc $port;
    (my $blocks = $template) =~ s/\@(\w+)\@/
        { N1 => $n + 1, N2 => $n + 2, WHAT => $what, PORT => $port,
          Z => $z, SEEN => $seen,
          WAIT => $wait ? "--- wait: $wait\n" : '' }->{$1}/ge;
    $spec .= $blocks;
    $n += 2;
}

spec_string($spec);

run_tests();

__DATA__

=== TEST @N1@: @WHAT@: the connection is closed before hiredis sees it
--- http_config
    astro_ratelimit_redis 127.0.0.1:$TEST_NGINX_FAKE_@PORT@_PORT timeout=200ms;
    astro_ratelimit_zone zone=@Z@a:1m key=$remote_addr rate=1r/m burst=2
                         algorithm=gcra fail=open;
--- config
    location /t {
        astro_ratelimit zone=@Z@a;
        add_header X-RL $astro_ratelimit_status always;
        echo ok;
    }
--- request
GET /t
--- error_code: 200
--- response_headers
X-RL: FAILOPEN
@WAIT@--- error_log eval
[qr/astro_redis: connection #\d+: @SEEN@ with no command waiting/,
qr/\[error\].*redis 127\.0\.0\.1:\d+: (?:bad reply: (?:data|a reply) with no command waiting|unexpected reply of type 5)/]
--- no_error_log
exited on signal
[alert]



=== TEST @N2@: @WHAT@: fail=open decides, failures counted, no worker dies
--- http_config
    astro_ratelimit_redis 127.0.0.1:$TEST_NGINX_FAKE_@PORT@_PORT timeout=200ms;
    astro_ratelimit_zone zone=@Z@b:1m key=$remote_addr rate=1r/m burst=2
                         algorithm=gcra fail=open;
--- config
    location /t {
        astro_ratelimit zone=@Z@b;
        add_header X-RL $astro_ratelimit_status always;
        echo ok;
    }
    location /astro/status { astro_status; }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /astro/status?format=json"]
--- error_code eval
[200, 200, 200, 429, 200]
--- response_headers eval
[{"X-RL" => "FAILOPEN"}, {"X-RL" => "FAILOPEN"}, {"X-RL" => "FAILOPEN"},
 {"X-RL" => "REJECTED"}, {}]
--- response_body_like eval
["ok", "ok", "ok", "429",
qr/"redis":\{"address":"127\.0\.0\.1:\d+",.*"failed":[1-9]\d*,.*"errors":\{[^}]*"protocol":[1-9]\d*,/]
--- no_error_log
exited on signal
[alert]



