# The debug lines of ngx_astro_health_module: the sampler's figures and
# decision, shedding's decision and why, what the other modules tell of a
# request (a refusal, a hold), the log phase's counting.  A request's
# time is read on the wall clock and a hold's on the monotonic one: a
# request held 200 ms may read 199 ms, the clocks' ticks apart.

use Test::Nginx::Socket 'no_plan';
use FindBin ();

require "$FindBin::Bin/lib/Astro/Blocks.pm";

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();
log_level('debug');

our $Critical = Astro::Blocks::fake_proc(950);
our $Degraded = Astro::Blocks::fake_proc(800);
our $Healthy = Astro::Blocks::fake_proc(100);

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", <<'_EOC_' . ($block->http_config // ''));
    astro_health_zone main:1m interval=100ms window=1s;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;
_EOC_
    $block->set_value("config", $block->config . <<'_EOC_');
    location /wait { astro_shed off; echo_sleep 0.3; echo waited; }
    location /s {
        astro_shed off;
        echo_sleep 0.3;
        echo_location /self/t p=$arg_p;
        echo_location /self/t p=$arg_q;
    }
    location /self/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/;
    }
_EOC_
});

run_tests();

__DATA__

=== TEST 1: the sampler: a sample's figures, and the status it decides
--- user_files eval: $::Degraded
--- config
--- request
GET /wait
--- error_log
astro_health: zone "main" sample: cpu 80.0%, memory 40.0%, load 0.10, requests 0.0/s, error_rate 0.0%, latency 0.0ms, p95 0.0ms
astro_health: zone "main" raw degraded, status degraded (was healthy), held 0 of 3



=== TEST 2: the sampler: a healthy sample keeps the status
--- user_files eval: $::Healthy
--- config
--- request
GET /wait
--- error_log
astro_health: zone "main" raw healthy, status healthy (was healthy), held 0 of 3



=== TEST 3: critical: refused below critical_below, passed above; a refusal is no error
--- user_files eval: $::Critical
--- config
    astro_shed priority=$arg_p;
    location /t { echo ok; }
--- request
GET /s?p=1&q=3
--- response_body_like eval
qr/\A<html>.*503 Service Temporarily Unavailable.*\nok\n\z/s
--- error_log eval
["astro_shed: priority 1, status critical: refused, below critical_below",
 "astro_shed: priority 3, status critical: passed, not below the limits",
 qr/astro_health: counted \d+ms, held 0ms, status 503, error 0, refused by shed$/]



=== TEST 4: shedding when degraded: degraded_share decides
--- user_files eval: $::Degraded
--- config
    astro_shed priority=$arg_p degraded_share=50%;
    location /t { echo ok; }
--- request
GET /s?p=1&q=1
--- response_body_like eval
qr/\Aok\n<html>.*503 Service Temporarily Unavailable/s
--- error_log
astro_shed: priority 1, status degraded: passed by degraded_share
astro_shed: priority 1, status degraded: refused by degraded_share



=== TEST 5: shedding when healthy
--- user_files eval: $::Healthy
--- config
    astro_shed priority=$arg_p;
    location /t { echo ok; }
--- request
GET /s?p=1&q=1
--- response_body
ok
ok
--- error_log
astro_shed: status healthy: passed



=== TEST 6: the log phase counts a response, and whether it is an error
--- user_files eval: $::Healthy
--- config
    location /busy { return 500; }
--- request
GET /busy
--- error_code: 500
--- error_log eval
qr/astro_health: counted \d+ms, held 0ms, status 500, error 1, refused by none$/




=== TEST 7: a refusal by the rate limiter: marked, and no error
--- user_files eval: $::Healthy
--- http_config
    astro_ratelimit_zone zone=r7:1m key=$remote_addr rate=1r/m
                         backend=local;
--- config
    location /t { astro_ratelimit zone=r7; astro_ratelimit_status 503;
                  echo ok; }
--- request
GET /s
--- response_body_like eval
qr/\Aok\n<html>.*503 Service Temporarily Unavailable/s
--- error_log eval
["astro_health: refused by ratelimit, no error",
 qr/astro_health: counted \d+ms, held 0ms, status 503, error 0, refused by ratelimit$/]



=== TEST 8: nginx's limit_req: its refusal found in the request
--- user_files eval: $::Healthy
--- http_config
    limit_req_zone $binary_remote_addr zone=lr8:1m rate=1r/m;
--- config
    location /t { limit_req zone=lr8; echo ok; }
--- request
GET /s
--- response_body_like eval
qr/\Aok\n<html>.*503 Service Temporarily Unavailable/s
--- error_log eval
qr/astro_health: counted \d+ms, held 0ms, status 503, error 0, refused by limit_req$/



=== TEST 9: a speed limit's hold: held, released, and left out
--- user_files eval: $::Healthy
--- http_config
    astro_ratelimit_zone zone=s9:1m key=$remote_addr rate=10r/m
                         algorithm=sliding_window backend=local;
--- config
    location /t { astro_speedlimit zone=s9 after=0 delay=200ms; echo ok; }
--- request
GET /s
--- response_body
ok
ok
--- error_log eval
["astro_health: the request is held",
 qr/astro_health: the request goes on after 2\d\dms held, 2\d\dms in all$/,
 qr/astro_health: counted (?:199|2\d\d)ms, held 2\d\dms, status 200, error 0, refused by none$/]
