# The Redis client's debug lines (error_log ... debug; nginx built
# --with-debug, as Debian's and the sanitizer build are): a batch sent
# and its reply, against the suite's Redis (util/test-servers.sh, port
# TEST_NGINX_REDIS_PORT); the circuit opening and refusing against a
# Redis whose SELECT fails (db 1000 of 16), so that every command on a
# new connection fails: the request's decision fails and opens the
# circuit, then the request asks the server itself for /inner, whose
# decision the open circuit refuses.

use Test::Nginx::Socket 'no_plan';

no_shuffle();

$ENV{TEST_NGINX_REDIS_PORT} ||= 6390;
$ENV{TEST_NGINX_RL_PREFIX} = "astro:t036:" . time() . ":$$:";

log_level('debug');

run_tests();

__DATA__

=== TEST 1: a decision's key, its batch sent and the reply
--- http_config
    astro_ratelimit_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT pool=1
                          prefix=$TEST_NGINX_RL_PREFIX;
    astro_ratelimit_zone zone=d1:1m key=$remote_addr rate=10r/m;
--- config
    location /t {
        astro_ratelimit zone=d1;
        add_header X-RL $astro_ratelimit_status always;
        echo ok;
    }
--- request
GET /t
--- error_code: 200
--- response_headers
X-RL: PASSED
--- grep_error_log eval
qr/astro_redis: (key|EVALSHA|EVAL |reply|no reply|circuit)[^\n]*/
--- grep_error_log_out eval
qr/^astro_redis: key "astro:t036:\S+:d1:127\.0\.0\.1" waits for a batch of script ([0-9a-f]{8})
astro_redis: EVALSHA of 1 keys, script \1, sent on connection #0
astro_redis: reply of 1 keys in \d+us on connection #0
\z/
--- no_error_log
[error]



=== TEST 2: the circuit opens after max_fails=1, then refuses at once
--- http_config
    astro_ratelimit_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT pool=1 db=1000
                          max_fails=1 backoff=10s
                          prefix=$TEST_NGINX_RL_PREFIX;
    astro_ratelimit_zone zone=d2:1m key=$remote_addr rate=100r/s
                         burst=10;
--- config
    location /t {
        astro_ratelimit zone=d2;
        add_header X-Outer $astro_ratelimit_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/inner;
    }
    location /inner {
        astro_ratelimit zone=d2;
        add_header X-Inner $astro_ratelimit_status always;
        echo ok;
    }
--- request
GET /t
--- error_code: 200
--- response_headers
X-Outer: FAILOPEN
X-Inner: FAILOPEN
--- grep_error_log eval
qr/astro_redis: (EVALSHA|EVAL |reply|no reply|circuit)[^\n]*/
--- grep_error_log_out eval
qr/^astro_redis: EVALSHA of 1 keys, script [0-9a-f]{8}, sent on connection #0
astro_redis: no reply of 1 keys on connection #0 \(reply\)
astro_redis: circuit open, 1 failed commands in a row
astro_redis: circuit open, command refused
\z/
--- error_log eval
[qr/\[error\].*redis 127\.0\.0\.1:\d+: SELECT 1000 failed: ERR DB index is out of range/,
qr/\[error\].*redis 127\.0\.0\.1:\d+: circuit open after 1 failed commands, Redis is not asked for 10000ms/]
