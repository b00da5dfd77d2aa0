# The rate limiter with backend=redis: every block of
# t/030-ratelimit-local.t that does not look at the local backend itself
# runs again with its zones in Redis (the same exact counts, headers,
# variables, dry runs and speed limit holds), then the blocks below, which
# only a Redis zone has.  The Redis server is the suite's
# (util/test-servers.sh, port TEST_NGINX_REDIS_PORT); the keys of a run
# carry their own prefix, so runs never see each other's counts.

use Test::Nginx::Socket 'no_plan';
use FindBin ();

require "$FindBin::Bin/lib/Astro/Blocks.pm";

no_shuffle();

$ENV{TEST_NGINX_REDIS_PORT} ||= 6390;
$ENV{TEST_NGINX_RL_PREFIX} = "astro:t032:" . time() . ":$$:";

our $Redis = '    astro_ratelimit_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT '
             . 'prefix=$TEST_NGINX_RL_PREFIX;' . "\n";

# t/030's blocks, less those about the local backend's own status output
# and its Redis-less fallback, with their zones moved to Redis

sub local_blocks {
    open my $fh, '<', "$FindBin::Bin/030-ratelimit-local.t" or die $!;
    my $text = do { local $/; <$fh> };
    close $fh;

    $text =~ s/\A.*?^__DATA__\n//ms or die "no __DATA__ in t/030";

    my @blocks = grep { /\S/ } split /^(?==== TEST)/m, $text;

    @blocks = grep { !/\A=== TEST \d+: (status:|Redis not running)/ }
              @blocks;

    for (@blocks) {
        s/\A=== TEST \d+: /=== TEST 030 on Redis: /;
        s/backend=local/backend=redis/g;
        s/^--- http_config\n/--- http_config\n$Redis/m;
    }

    return join '', @blocks;
}

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

add_block_preprocessor(\&Astro::Blocks::ratelimit_block);

spec_string(local_blocks() . do { local $/; <DATA> });

run_tests();

__DATA__

=== TEST 1: status: the Redis client's counts in JSON
--- http_config
    astro_ratelimit_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT pool=3
                          prefix=$TEST_NGINX_RL_PREFIX;
    astro_ratelimit_zone zone=st1:1m key=$remote_addr rate=2r/m
                         algorithm=sliding_window;
--- config
    location /t { astro_ratelimit zone=st1; echo ok; }
    location /astro/status { astro_status; }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /astro/status"]
--- error_code eval
[200, 200, 429, 200]
--- response_body_like eval
["ok", "ok", "429",
qr/"ratelimit":\{"redis":\{"address":"127\.0\.0\.1:\d+","circuit":"closed","consecutive_failures":0,"circuit_opened":0,"pool":3,"connections":3,"in_flight":0,"commands":3,"failed":0,"skipped":0,"noscript":0,"errors":\{"connect":0,"timeout":0,"auth":0,"protocol":0,"reply":0,"closed":0\},"rtt_us":\{"mean":\d+,"p50":\d+,"p99":\d+\}\},"zones":\{"st1":\{"rate":"2r\/m","burst":0,"algorithm":"sliding_window","backend":"redis","fail":"open","tiers":\[\],"passed":2,"delayed":0,"rejected":1,"dry_run":0,"fail_open":0,"fail_closed":0\}\}\}/]



=== TEST 2: status: the Redis client's counts in Prometheus
--- http_config
    astro_ratelimit_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT
                          prefix=$TEST_NGINX_RL_PREFIX;
    astro_ratelimit_zone zone=st2:1m key=$remote_addr rate=1r/m;
--- config
    location /t { astro_ratelimit zone=st2; echo ok; }
    location /astro/status { astro_status; }
--- request eval
["GET /t", "GET /t", "GET /astro/status?format=prometheus"]
--- error_code eval
[200, 429, 200]
--- response_body_like eval
["ok", "429",
qr/^astro_ratelimit_requests_total\{zone="st2",result="passed"\} 1\nastro_ratelimit_requests_total\{zone="st2",result="delayed"\} 0\nastro_ratelimit_requests_total\{zone="st2",result="rejected"\} 1\n.*^astro_ratelimit_redis_circuit 0\n.*^astro_ratelimit_redis_connections 2\n.*^astro_ratelimit_redis_commands_total\{outcome="answered"\} 2\nastro_ratelimit_redis_commands_total\{outcome="failed"\} 0\n.*^astro_ratelimit_redis_errors_total\{kind="timeout"\} 0\n.*^astro_ratelimit_redis_rtt_seconds_bucket\{le="\+Inf"\} 2\nastro_ratelimit_redis_rtt_seconds_sum [\d.]+\nastro_ratelimit_redis_rtt_seconds_count 2\n/ms]



=== TEST 3: a local and a Redis zone on one location: all must pass
--- http_config
    astro_ratelimit_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT
                          prefix=$TEST_NGINX_RL_PREFIX;
    astro_ratelimit_zone zone=m3r:1m key=$remote_addr rate=3r/m
                         algorithm=sliding_window;
    astro_ratelimit_zone zone=m3l:1m key=$remote_addr rate=2r/m
                         algorithm=sliding_window backend=local;
--- config
    location /t {
        astro_ratelimit zone=m3r;
        astro_ratelimit zone=m3l;
        add_header X-RL "$astro_ratelimit_status $astro_ratelimit_remaining"
                   always;
        echo ok;
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- error_code eval
[200, 200, 429, 429]
--- response_headers eval
[{"X-RL" => "PASSED 1", "RateLimit-Limit" => "2"},
 {"X-RL" => "PASSED 0", "RateLimit-Limit" => "2"},
 {"X-RL" => "REJECTED 0", "RateLimit-Limit" => "2"},
 {"X-RL" => "REJECTED 0", "RateLimit-Limit" => "3"}]



=== TEST 4: fail=closed with a Redis that answers is not refused
--- http_config
    astro_ratelimit_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT
                          prefix=$TEST_NGINX_RL_PREFIX;
    astro_ratelimit_zone zone=fc4:1m key=$remote_addr rate=1r/m
                         fail=closed;
--- config
    location /t {
        astro_ratelimit zone=fc4;
        add_header X-RL $astro_ratelimit_status always;
        echo ok;
    }
--- request eval
["GET /t", "GET /t"]
--- error_code eval
[200, 429]
--- response_headers eval
[{"X-RL" => "PASSED"}, {"X-RL" => "REJECTED"}]



=== TEST 5: Redis refusing connections: fail=closed answers 503 FAILCLOSED
--- http_config
    astro_ratelimit_redis 127.0.0.1:1 prefix=$TEST_NGINX_RL_PREFIX;
    astro_ratelimit_zone zone=fc5:1m key=$remote_addr rate=100r/m
                         fail=closed;
--- config
    location /t {
        astro_ratelimit zone=fc5;
        add_header X-RL $astro_ratelimit_status always;
        echo ok;
    }
    location /astro/status { astro_status; }
--- request eval
["GET /t", "GET /t", "GET /astro/status"]
--- error_code eval
[503, 503, 200]
--- response_headers eval
[{"X-RL" => "FAILCLOSED"}, {"X-RL" => "FAILCLOSED"}, {}]
--- response_body_like eval
["503", "503",
qr/"fc5":\{.*"passed":0,"delayed":0,"rejected":0,"dry_run":0,"fail_open":0,"fail_closed":2\}/]



=== TEST 6: speed limit on a Redis zone, multiplied while degraded
--- user_files eval: Astro::Blocks::fake_proc(800)
--- http_config
    astro_health_zone h6:1m interval=100ms window=1s;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;
    astro_ratelimit_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT
                          prefix=$TEST_NGINX_RL_PREFIX;
    astro_ratelimit_zone zone=s6:1m key=$remote_addr rate=100r/m
                         algorithm=sliding_window;
--- config
    location /wait { echo_sleep 0.3; echo waited; }
    location /t {
        astro_speedlimit zone=s6 after=1 delay=100ms degraded=3 critical=5;
        add_header X-RL "$astro_ratelimit_status $astro_health"
                   always;
        add_header X-Time $request_time always;
        echo ok;
    }
--- request eval
["GET /wait", "GET /t", "GET /t"]
--- error_code eval
[200, 200, 200]
--- response_headers_like eval
["",
 "X-RL: PASSED degraded\nX-Time: 0\\.0[0-4]\\d",
 "X-RL: DELAYED degraded\nX-Time: 0\\.(29\\d|3[0-4]\\d)"]
--- timeout: 5



=== TEST 7: speed limit on a Redis zone, multiplied while critical
--- user_files eval: Astro::Blocks::fake_proc(950)
--- http_config
    astro_health_zone h7:1m interval=100ms window=1s;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;
    astro_ratelimit_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT
                          prefix=$TEST_NGINX_RL_PREFIX;
    astro_ratelimit_zone zone=s7:1m key=$remote_addr rate=100r/m
                         algorithm=sliding_window;
--- config
    location /wait { echo_sleep 0.3; echo waited; }
    location /t {
        astro_speedlimit zone=s7 after=1 delay=100ms max_delay=150ms
                         degraded=3 critical=4.5;
        add_header X-RL "$astro_ratelimit_status $astro_health"
                   always;
        add_header X-Time $request_time always;
        echo ok;
    }
--- request eval
["GET /wait", "GET /t", "GET /t", "GET /t"]
--- error_code eval
[200, 200, 200, 200]
--- response_headers_like eval
["",
 "X-RL: PASSED critical\nX-Time: 0\\.0[0-4]\\d",
 "X-RL: DELAYED critical\nX-Time: 0\\.(4[4-9]\\d)",
 "X-RL: DELAYED critical\nX-Time: 0\\.(6[7-9]\\d|7[01]\\d)"]
--- timeout: 5
