# The astro_status location: formats, methods, and its schema.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();

our $HttpConfig = <<'_EOC_';
    astro_health_zone main:1m interval=100ms window=1s history=20;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;
_EOC_

our $UserFiles = <<'_EOF_';
>>> fake/proc/stat
cpu  600 0 200 200 0 0 0 0 0 0
cpu0 600 0 200 200 0 0 0 0 0 0
>>> fake/proc/meminfo
MemTotal:        1000000 kB
MemFree:          100000 kB
MemAvailable:     600000 kB
>>> fake/proc/loadavg
1.50 0.75 0.25 2/100 12345
_EOF_

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value("http_config", $HttpConfig);
    }

    if (!defined $block->user_files) {
        $block->set_value("user_files", $UserFiles);
    }

    if (!defined $block->config) {
        $block->set_value("config", <<'_EOC_');
    location /t { echo_sleep 0.3; echo ok; }
    location /wait { echo_sleep 0.25; echo waited; }
    location /astro/status { astro_status; }
_EOC_
    }
});

run_tests();

__DATA__

=== TEST 1: JSON is the default, with the documented top-level keys
--- request eval
["GET /t", "GET /wait", "GET /astro/status"]
--- response_headers eval
["", "", "Content-Type: application/json\nCache-Control: no-store"]
--- response_body_like eval
["ok", "waited",
qr/\A\{"version":1,"nginx_version":"[\d.]+","time":\d+\.\d{3},"health":\{"zone":"main","status":"degraded","since":\d+,"transitions":1,"samples":\d+,"interval_ms":100,"window_ms":1000,"recover":3,"thresholds":\{"degraded":\{"cpu":70,"memory":75,"error_rate":20,"latency_ms":2000\},"critical":\{"cpu":90,"memory":90,"error_rate":50,"latency_ms":null\}\}\},"metrics":\{"cpu":80,"cpu_source":"host","memory":40,"memory_source":"host","load":\[1\.5,0\.75,0\.25\],"requests":2,"request_rate":\d+(\.\d+)?,"error_rate":0,"response_time_ms":\{"ewma":[23]\d\d(\.\d+)?,"p50":\d+(\.\d+)?,"p95":\d+(\.\d+)?,"p99":\d+(\.\d+)?,"ewma_raw":[23]\d\d(\.\d+)?\},"active_connections":\d+,"errors":0,"refused":\{"shed":0,"ratelimit":0,"queue":0,"limit_req":0,"limit_conn":0\},"held_ms":0\},"history":\[\{"time":\d+,"status":"degraded","cpu":80,"memory":40,"load":1\.5,/]
--- no_error_log
[error]



=== TEST 2: ?format=json, the modules section
--- request
GET /astro/status?format=json
--- response_body_like eval
qr!"modules":\{"health":\{"zone":"main","size":1048576,"history":20,"shed":\{"critical":0,"degraded":0\}\}\}\}$!s



=== TEST 3: the Prometheus text format
--- request
GET /astro/status?format=prometheus
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- response_body_like eval
qr/\A# HELP astro_info [^\n]+
# TYPE astro_info gauge
astro_info\{nginx_version="[\d.]+",schema="1"\} 1
# HELP astro_health_status [^\n]+
# TYPE astro_health_status gauge
astro_health_status\{status="healthy"\} 0
astro_health_status\{status="degraded"\} 1
astro_health_status\{status="critical"\} 0
.*
# TYPE astro_cpu_usage_ratio gauge
astro_cpu_usage_ratio 0\.8
.*
# TYPE astro_memory_usage_ratio gauge
astro_memory_usage_ratio 0\.4
.*
astro_load_average\{period="15m"\} 0\.25
.*
# TYPE astro_response_time_seconds histogram
astro_response_time_seconds_bucket\{le="0\.001"\} 0
.*
astro_response_time_seconds_bucket\{le="\+Inf"\} 0
astro_response_time_seconds_sum 0
astro_response_time_seconds_count 0
.*
astro_shed_total\{reason="degraded"\} 0
\z/s



=== TEST 4: every Prometheus sample has HELP and TYPE lines and the astro_ prefix
--- request
GET /astro/status?format=prometheus
--- response_body_like eval
qr/\A(?:# HELP astro_(\w+) [^\n]+\n# TYPE astro_\1 (?:gauge|counter|histogram)\n(?:astro_\1(?:_bucket|_sum|_count)?(?:\{[^}\n]*\})? [0-9.e+-]+\n)+)+\z/



=== TEST 5: the HTML dashboard is self-contained
--- request
GET /astro/status?format=html
--- response_headers
Content-Type: text/html; charset=utf-8
--- response_body_like eval
qr/\A(?![\s\S]*(?:src|href)\s*=\s*["']?(?:https?:)?\/\/)(?![\s\S]*\@import)(?![\s\S]*url\(\s*["']?(?:https?:)?\/\/)<!DOCTYPE html>[\s\S]*<\/html>\s*\z/



=== TEST 6: HEAD answers the headers only
--- request
HEAD /astro/status
--- response_headers
Content-Type: application/json
--- response_body_like eval
qr/\A\z/



=== TEST 7: POST is 405
--- request
POST /astro/status
hello
--- error_code: 405



=== TEST 8: an unknown format is 400
--- request
GET /astro/status?format=xml
--- error_code: 400



=== TEST 9: the status location without a health zone
--- http_config
--- config
    location /astro/status { astro_status; }
--- request
GET /astro/status
--- response_body_like eval
qr!\A\{"version":1,"nginx_version":"[\d.]+","time":\d+\.\d{3},"health":\{"status":"unknown","since":null\},"metrics":null,"history":\[\],"modules":\{\}\}$!s



=== TEST 10: the status location's own requests are not counted
--- request eval
["GET /astro/status", "GET /astro/status", "GET /t", "GET /astro/status"]
--- response_body_like eval
[".", ".", "ok", qr/"requests":1,/]



=== TEST 11: a fast response lands in the first histogram bucket
--- config
    location /fast { return 200 "fast\n"; }
    location /astro/status { astro_status; }
--- request eval
["GET /fast", "GET /astro/status?format=prometheus"]
--- error_code eval
[200, 200]
--- response_body_like eval
["fast", qr/astro_response_time_seconds_bucket\{le="0\.001"\} 1\n.*astro_response_time_seconds_count 1\n.*\nastro_requests_total 1\n/s]
