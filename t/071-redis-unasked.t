# A server at the Redis address that sends replies nobody asked for: one
# that greets "+OK" as soon as a client connects, one that answers every
# command twice, one that says "+OK" again 200ms after its last answer, to
# a connection with no command waiting (util/fake-redis.pl, started by
# util/test-servers.sh on TEST_NGINX_FAKE_GREET_PORT, _TWICE_PORT and
# _LATE_PORT).  hiredis 0.14 aborts the process on such a reply (an
# assert); the client closes the connection first and counts a protocol
# error, the requests are decided by the fail policy, and no worker dies.
#
# A block's error_log patterns must match in the lines of each of its
# requests: those about the connections are checked in blocks of one
# request, whose lines begin with nginx's start.

use Test::Nginx::Socket 'no_plan';

no_shuffle();

$ENV{TEST_NGINX_FAKE_GREET_PORT} ||= 6420;
$ENV{TEST_NGINX_FAKE_TWICE_PORT} ||= 6421;
$ENV{TEST_NGINX_FAKE_LATE_PORT} ||= 6422;

log_level('debug');

run_tests();

__DATA__

=== TEST 1: a server that greets unasked: the connection is closed before hiredis sees it
--- http_config
    astro_ratelimit_redis 127.0.0.1:$TEST_NGINX_FAKE_GREET_PORT timeout=200ms;
    astro_ratelimit_zone zone=ga:1m key=$remote_addr rate=1r/m burst=2
                         algorithm=gcra fail=open;
--- config
    location /t {
        astro_ratelimit zone=ga;
        add_header X-RL $astro_ratelimit_status always;
        echo ok;
    }
--- request
GET /t
--- error_code: 200
--- response_headers
X-RL: FAILOPEN
--- error_log eval
[qr/astro_redis: connection #\d+: (?:data|a reply) with no command waiting/,
qr/\[error\].*redis 127\.0\.0\.1:\d+: (?:bad reply: (?:data|a reply) with no command waiting|unexpected reply of type 5)/]
--- no_error_log
exited on signal
[alert]



=== TEST 2: a server that greets unasked: fail=open decides, failures counted, no worker dies
--- http_config
    astro_ratelimit_redis 127.0.0.1:$TEST_NGINX_FAKE_GREET_PORT timeout=200ms;
    astro_ratelimit_zone zone=gb:1m key=$remote_addr rate=1r/m burst=2
                         algorithm=gcra fail=open;
--- config
    location /t {
        astro_ratelimit zone=gb;
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



=== TEST 3: a server that answers twice: the connection is closed before hiredis sees it
--- http_config
    astro_ratelimit_redis 127.0.0.1:$TEST_NGINX_FAKE_TWICE_PORT timeout=200ms;
    astro_ratelimit_zone zone=ta:1m key=$remote_addr rate=1r/m burst=2
                         algorithm=gcra fail=open;
--- config
    location /t {
        astro_ratelimit zone=ta;
        add_header X-RL $astro_ratelimit_status always;
        echo ok;
    }
--- request
GET /t
--- error_code: 200
--- response_headers
X-RL: FAILOPEN
--- error_log eval
[qr/astro_redis: connection #\d+: (?:data|a reply) with no command waiting/,
qr/\[error\].*redis 127\.0\.0\.1:\d+: (?:bad reply: (?:data|a reply) with no command waiting|unexpected reply of type 5)/]
--- no_error_log
exited on signal
[alert]



=== TEST 4: a server that answers twice: fail=open decides, failures counted, no worker dies
--- http_config
    astro_ratelimit_redis 127.0.0.1:$TEST_NGINX_FAKE_TWICE_PORT timeout=200ms;
    astro_ratelimit_zone zone=tb:1m key=$remote_addr rate=1r/m burst=2
                         algorithm=gcra fail=open;
--- config
    location /t {
        astro_ratelimit zone=tb;
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



=== TEST 5: a server that speaks to an idle connection: the connection is closed before hiredis sees it
--- http_config
    astro_ratelimit_redis 127.0.0.1:$TEST_NGINX_FAKE_LATE_PORT timeout=200ms;
    astro_ratelimit_zone zone=la:1m key=$remote_addr rate=1r/m burst=2
                         algorithm=gcra fail=open;
--- config
    location /t {
        astro_ratelimit zone=la;
        add_header X-RL $astro_ratelimit_status always;
        echo ok;
    }
--- request
GET /t
--- error_code: 200
--- response_headers
X-RL: FAILOPEN
--- wait: 0.5
--- error_log eval
[qr/astro_redis: connection #\d+: data with no command waiting/,
qr/\[error\].*redis 127\.0\.0\.1:\d+: (?:bad reply: (?:data|a reply) with no command waiting|unexpected reply of type 5)/]
--- no_error_log
exited on signal
[alert]



=== TEST 6: a server that speaks to an idle connection: fail=open decides, failures counted, no worker dies
--- http_config
    astro_ratelimit_redis 127.0.0.1:$TEST_NGINX_FAKE_LATE_PORT timeout=200ms;
    astro_ratelimit_zone zone=lb:1m key=$remote_addr rate=1r/m burst=2
                         algorithm=gcra fail=open;
--- config
    location /t {
        astro_ratelimit zone=lb;
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
