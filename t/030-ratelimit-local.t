# Rate and speed limits with backend=local: the decisions in shared
# memory, the headers, the variables, dry runs, the speed limit's holds
# and the status counts.  Every block uses its own zone names, so that a
# zone kept over a reload never carries counts into the next block.

use Test::Nginx::Socket 'no_plan';
use FindBin ();

require "$FindBin::Bin/lib/Astro/Blocks.pm";

no_shuffle();

add_block_preprocessor(\&Astro::Blocks::ratelimit_block);

run_tests();

__DATA__

=== TEST 1: sliding window: 150 requests at 100r/m pass exactly 100
--- http_config
    astro_ratelimit_zone zone=sw1:1m key=$remote_addr rate=100r/m
                         algorithm=sliding_window backend=local;
--- config
    location /t {
        astro_ratelimit zone=sw1;
        add_header X-RL $astro_ratelimit_status always;
        echo ok;
    }
--- request eval
[map { "GET /t" } 1..150]
--- error_code eval
[(200) x 100, (429) x 50]
--- response_headers eval
[(map { "X-RL: PASSED" } 1..100), (map { "X-RL: REJECTED" } 1..50)]



=== TEST 2: GCRA: rate=10r/s burst=5 passes burst + 1, then refuses
--- http_config
    astro_ratelimit_zone zone=g2:1m key=$remote_addr rate=10r/s burst=5
                         backend=local;
--- config
    location /t { astro_ratelimit zone=g2; echo $astro_ratelimit_status; }
    location /s {
        echo_location /self/t;
        echo_location /self/t;
        echo_location /self/t;
        echo_location /self/t;
        echo_location /self/t;
        echo_location /self/t;
        echo_location /self/t;
        echo_location /self/t;
    }
--- request
GET /s
--- response_body_like eval
qr{^(PASSED\n){6}(<html>.*?429.*?</html>\r?\n){2}$}s
--- timeout: 5



=== TEST 3: GCRA: the same, spread over separate requests at 10r/m
--- http_config
    astro_ratelimit_zone zone=g2m:1m key=$remote_addr rate=10r/m burst=5
                         backend=local;
--- config
    location /t { astro_ratelimit zone=g2m; echo ok; }
--- request eval
[map { "GET /t" } 1..8]
--- error_code eval
[(200) x 6, 429, 429]



=== TEST 4: GCRA: one more passes after the emission interval
--- http_config
    astro_ratelimit_zone zone=g3:1m key=$remote_addr rate=5r/s burst=1
                         backend=local;
--- config
    location /t { astro_ratelimit zone=g3; echo ok; }
    location /s {
        echo_location /self/t;
        echo_location /self/t;
        echo_location /self/t;
        echo_sleep 0.25;
        echo_location /self/t;
        echo_location /self/t;
    }
--- request
GET /s
--- response_body_like eval
qr{^ok\nok\n<html>.*?429.*?</html>\r?\nok\n<html>.*?429.*?</html>\r?\n$}s
--- timeout: 5



=== TEST 5: tiers: the tier= variable selects the tier's rate
--- http_config
    astro_ratelimit_zone zone=t4:1m key=$http_x_user rate=2r/m
                         algorithm=sliding_window backend=local
                         tier=$http_x_tier;
    astro_ratelimit_tier t4 premium rate=4r/m;
--- config
    location /t {
        astro_ratelimit zone=t4;
        add_header X-Tier "[$astro_ratelimit_tier]" always;
        echo ok;
    }
--- request eval
[map { "GET /t" } 1..10]
--- more_headers eval
[(map { "X-User: free\nX-Tier: free" } 1..3),
 (map { "X-User: prem\nX-Tier: premium" } 1..5),
 (map { "X-User: other" } 1..2)]
--- error_code eval
[200, 200, 429, 200, 200, 200, 200, 429, 200, 200]
--- response_headers eval
["X-Tier: []", "X-Tier: []", "X-Tier: []",
 "X-Tier: [premium]", "X-Tier: [premium]", "X-Tier: [premium]",
 "X-Tier: [premium]", "X-Tier: [premium]", "X-Tier: []", "X-Tier: []"]



=== TEST 6: headers on: limit, remaining, reset; Retry-After when refused
--- http_config
    astro_ratelimit_zone zone=h5:1m key=$remote_addr rate=1r/m burst=2
                         backend=local;
--- config
    location /t {
        astro_ratelimit zone=h5;
        add_header X-Left $astro_ratelimit_remaining always;
        echo ok;
    }
--- request eval
[map { "GET /t" } 1..4]
--- error_code eval
[200, 200, 200, 429]
--- response_headers eval
["RateLimit-Limit: 3\nRateLimit-Remaining: 2\nRateLimit-Reset: 60\nX-Left: 2\n!Retry-After",
 "RateLimit-Limit: 3\nRateLimit-Remaining: 1\nRateLimit-Reset: 120\nX-Left: 1",
 "RateLimit-Limit: 3\nRateLimit-Remaining: 0\nRateLimit-Reset: 180\nX-Left: 0",
 "RateLimit-Limit: 3\nRateLimit-Remaining: 0\nRateLimit-Reset: 180\nRetry-After: 60\nX-Left: 0"]



=== TEST 7: headers on, sliding window: reset is when the window empties
--- http_config
    astro_ratelimit_zone zone=h6:1m key=$remote_addr rate=2r/m
                         algorithm=sliding_window backend=local;
--- config
    location /t { astro_ratelimit zone=h6; echo ok; }
--- request eval
[map { "GET /t" } 1..3]
--- error_code eval
[200, 200, 429]
--- response_headers_like eval
["RateLimit-Limit: 2\nRateLimit-Remaining: 1\nRateLimit-Reset: (6[1-9]|[7-9]\\d|1[01]\\d|120)",
 "RateLimit-Remaining: 0",
 "RateLimit-Remaining: 0\nRetry-After: ([1-9]|[1-9]\\d|1[01]\\d|120)"]



=== TEST 8: headers draft: RateLimit-Policy and RateLimit
--- http_config
    astro_ratelimit_zone zone=h7:1m key=$remote_addr rate=1r/m burst=2
                         backend=local;
--- config
    astro_ratelimit_headers draft;
    location /t { astro_ratelimit zone=h7; echo ok; }
--- request eval
[map { "GET /t" } 1..4]
--- error_code eval
[200, 200, 200, 429]
--- response_headers eval
["RateLimit-Policy: 3;w=180\nRateLimit: limit=3, remaining=2, reset=60\n!RateLimit-Limit\n!Retry-After",
 "RateLimit: limit=3, remaining=1, reset=120",
 "RateLimit: limit=3, remaining=0, reset=180",
 "RateLimit-Policy: 3;w=180\nRateLimit: limit=3, remaining=0, reset=180\nRetry-After: 60"]



=== TEST 9: headers off: only Retry-After, and a custom status
--- http_config
    astro_ratelimit_zone zone=h8:1m key=$remote_addr rate=1r/m
                         backend=local;
--- config
    astro_ratelimit_headers off;
    astro_ratelimit_status 503;
    location /t { astro_ratelimit zone=h8; echo ok; }
--- request eval
["GET /t", "GET /t"]
--- error_code eval
[200, 503]
--- response_headers eval
["!RateLimit-Limit\n!RateLimit\n!Retry-After",
 "!RateLimit-Limit\n!RateLimit\nRetry-After: 60"]



=== TEST 10: dry_run passes, marks DRY_RUN and logs at info
--- http_config
    astro_ratelimit_zone zone=d9:1m key=$remote_addr rate=1r/m
                         backend=local;
--- config
    location /t { astro_ratelimit zone=d9 dry_run; echo $astro_ratelimit_status; }
    location /s {
        echo_location /self/t;
        echo_location /self/t;
        echo_location /self/t;
    }
--- request
GET /s
--- response_body
PASSED
DRY_RUN
DRY_RUN
--- error_log
astro_ratelimit: dry run: zone "d9" would reject the request, retry after
--- no_error_log
[error]



=== TEST 11: dry_run: every response passes, the variable says so
--- http_config
    astro_ratelimit_zone zone=d10:1m key=$remote_addr rate=1r/m
                         backend=local;
--- config
    location /t {
        astro_ratelimit zone=d10 dry_run;
        add_header X-RL $astro_ratelimit_status always;
        echo ok;
    }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["X-RL: PASSED\n!RateLimit-Limit", "X-RL: DRY_RUN\n!Retry-After",
 "X-RL: DRY_RUN"]



=== TEST 12: several zones on one location: all must pass
--- http_config
    astro_ratelimit_zone zone=m11a:1m key=$remote_addr rate=5r/m
                         algorithm=sliding_window backend=local;
    astro_ratelimit_zone zone=m11b:1m key=$remote_addr rate=2r/m
                         algorithm=sliding_window backend=local;
--- config
    location /t {
        astro_ratelimit zone=m11a;
        astro_ratelimit zone=m11b;
        echo ok;
    }
    location /u { astro_ratelimit zone=m11a; echo ok; }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /u", "GET /u", "GET /u"]
--- error_code eval
[200, 200, 429, 200, 200, 429]
--- response_headers eval
["RateLimit-Limit: 2\nRateLimit-Remaining: 1",
 "RateLimit-Limit: 2\nRateLimit-Remaining: 0",
 "RateLimit-Limit: 2\nRateLimit-Remaining: 0",
 "RateLimit-Limit: 5\nRateLimit-Remaining: 1",
 "RateLimit-Limit: 5\nRateLimit-Remaining: 0",
 "RateLimit-Limit: 5\nRateLimit-Remaining: 0"]



=== TEST 13: an empty key is not limited
--- http_config
    astro_ratelimit_zone zone=e12:1m key=$http_x_user rate=1r/m
                         backend=local;
--- config
    location /t {
        astro_ratelimit zone=e12;
        add_header X-RL $astro_ratelimit_status always;
        echo ok;
    }
--- request eval
[map { "GET /t" } 1..5]
--- error_code eval
[200, 200, 200, 200, 200]
--- response_headers eval
[map { "X-RL: PASSED\n!RateLimit-Limit" } 1..5]



=== TEST 14: huge keys (200 bytes) are limited per key, hashed
--- http_config
    astro_ratelimit_zone zone=k13:1m key=$http_x_key rate=1r/m
                         backend=local;
--- config
    location /t { astro_ratelimit zone=k13; echo ok; }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["X-Key: " . ("a" x 200), "X-Key: " . ("a" x 200),
 "X-Key: " . ("a" x 199) . "b", "X-Key: " . ("a" x 199) . "b"]
--- error_code eval
[200, 429, 200, 429]



=== TEST 15: speed limit: requests after "after" are held, capped
--- http_config
    astro_ratelimit_zone zone=s14:1m key=$remote_addr rate=100r/m
                         algorithm=sliding_window backend=local;
--- config
    location /t {
        astro_speedlimit zone=s14 after=2 delay=200ms max_delay=300ms;
        add_header X-RL $astro_ratelimit_status always;
        add_header X-Time $request_time always;
        echo ok;
    }
--- request eval
[map { "GET /t" } 1..5]
--- error_code eval
[200, 200, 200, 200, 200]
--- response_headers_like eval
["X-RL: PASSED\nX-Time: 0\\.0[0-4]\\d",
 "X-RL: PASSED\nX-Time: 0\\.0[0-4]\\d",
 "X-RL: DELAYED\nX-Time: 0\\.(19\\d|2[0-4]\\d)",
 "X-RL: DELAYED\nX-Time: 0\\.(29\\d|3[0-4]\\d)",
 "X-RL: DELAYED\nX-Time: 0\\.(29\\d|3[0-4]\\d)"]
--- timeout: 5



=== TEST 16: speed limit and rate limit on one zone count a request once
--- http_config
    astro_ratelimit_zone zone=s15:1m key=$remote_addr rate=4r/m
                         algorithm=sliding_window backend=local;
--- config
    location /t {
        astro_ratelimit zone=s15;
        astro_speedlimit zone=s15 after=2 delay=100ms;
        add_header X-RL $astro_ratelimit_status always;
        add_header X-Time $request_time always;
        echo ok;
    }
--- request eval
[map { "GET /t" } 1..5]
--- error_code eval
[200, 200, 200, 200, 429]
--- response_headers_like eval
["X-RL: PASSED\nX-Time: 0\\.0[0-4]\\d",
 "X-RL: PASSED\nX-Time: 0\\.0[0-4]\\d",
 "X-RL: DELAYED\nX-Time: 0\\.(09\\d|1[0-4]\\d)",
 "X-RL: DELAYED\nX-Time: 0\\.(19\\d|2[0-4]\\d)",
 "X-RL: REJECTED\nX-Time: 0\\.0[0-4]\\d"]
--- timeout: 5



=== TEST 17: error_page after a refusal: counted once, the variable kept
--- http_config
    astro_ratelimit_zone zone=e17:1m key=$remote_addr rate=1r/m
                         backend=local;
--- config
    location /t {
        astro_ratelimit zone=e17;
        error_page 429 = /limited;
        echo ok;
    }
    location /limited {
        astro_ratelimit zone=e17;
        echo "limited $astro_ratelimit_status";
    }
--- request eval
["GET /t", "GET /t"]
--- error_code eval
[200, 200]
--- response_body eval
["ok\n", "limited REJECTED\n"]



=== TEST 18: status: per zone counts in JSON and Prometheus
--- http_config
    astro_ratelimit_zone zone=c16:1m key=$remote_addr rate=1r/m
                         algorithm=sliding_window backend=local;
    astro_ratelimit_zone zone=c16d:1m key=$remote_addr rate=1r/m
                         backend=local;
--- config
    location /t { astro_ratelimit zone=c16; echo ok; }
    location /d { astro_ratelimit zone=c16d dry_run; echo ok; }
    location /sl {
        astro_speedlimit zone=c16 after=0 delay=1ms;
        echo ok;
    }
    location /astro/status { astro_status; }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /d", "GET /d", "GET /astro/status",
 "GET /astro/status?format=prometheus"]
--- error_code eval
[200, 429, 429, 200, 200, 200, 200]
--- response_body_like eval
["ok", "429", "429", "ok", "ok",
qr/"ratelimit":\{"redis":null,"zones":\{"c16":\{"rate":"1r\/m","burst":0,"algorithm":"sliding_window","backend":"local","fail":"open","tiers":\[\],"passed":1,"delayed":0,"rejected":2,"dry_run":0,"fail_open":0,"fail_closed":0\},"c16d":\{"rate":"1r\/m",.*"passed":1,"delayed":0,"rejected":0,"dry_run":1,"fail_open":0,"fail_closed":0\}\}\}/,
qr/astro_ratelimit_zones 2\n.*astro_ratelimit_requests_total\{zone="c16",result="passed"\} 1\nastro_ratelimit_requests_total\{zone="c16",result="delayed"\} 0\nastro_ratelimit_requests_total\{zone="c16",result="rejected"\} 2\n.*astro_ratelimit_requests_total\{zone="c16d",result="dry_run"\} 1\n/s]



=== TEST 19: Redis not running: fail=open decides in the zone's memory
--- http_config
    astro_ratelimit_redis 127.0.0.1:1;
    astro_ratelimit_zone zone=r17:1m key=$remote_addr rate=1r/m;
    astro_ratelimit_zone zone=l17:1m key=$remote_addr rate=1r/m
                         backend=local;
--- config
    location /t {
        astro_ratelimit zone=r17;
        add_header X-Status $astro_ratelimit_status always;
        echo ok;
    }
    location /astro/status { astro_status; }
--- request eval
["GET /t", "GET /t", "GET /astro/status"]
--- error_code eval
[200, 429, 200]
--- response_headers eval
[{"X-Status" => "FAILOPEN"}, {"X-Status" => "REJECTED"}, {}]
--- response_body_like eval
["ok", "429",
qr/"r17":\{"rate":"1r\/m",.*"passed":1,"delayed":0,"rejected":1,"dry_run":0,"fail_open":2,"fail_closed":0\},"l17":\{/]



=== TEST 20: a client that leaves while held is noticed and let go
--- http_config
    astro_ratelimit_zone zone=s18:1m key=$remote_addr rate=100r/m
                         algorithm=sliding_window backend=local;
--- config
    location /t {
        astro_speedlimit zone=s18 after=0 delay=5s;
        echo ok;
    }
    location /s {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/t;
        proxy_read_timeout 200ms;
    }
--- request
GET /s
--- error_code: 504
--- wait: 0.2
--- error_log
client prematurely closed connection
--- timeout: 3



=== TEST 21: a speed limit on a limited zone: an empty key is not held
--- http_config
    astro_ratelimit_zone zone=s21:1m key=$http_x_user rate=100r/m
                         algorithm=sliding_window backend=local;
--- config
    location /t {
        astro_ratelimit zone=s21;
        astro_speedlimit zone=s21 after=0 delay=300ms;
        add_header X-RL $astro_ratelimit_status always;
        add_header X-Time $request_time always;
        echo ok;
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["", "X-User: u"]
--- error_code eval
[200, 200]
--- response_headers_like eval
["X-RL: PASSED\nX-Time: 0\\.0[0-4]\\d",
 "X-RL: DELAYED\nX-Time: 0\\.(29\\d|3[0-4]\\d)"]
--- timeout: 5
