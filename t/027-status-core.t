# The status endpoint is the suite's (ngx_astro_module): it works without
# any astro_health_zone, here with a rate limit zone only.

use Test::Nginx::Socket 'no_plan';

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", <<'_EOC_')
    astro_ratelimit_zone zone=a:1m key=$remote_addr rate=10r/s backend=local;
_EOC_
        unless defined $block->http_config;
    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    location /t { astro_ratelimit zone=a; echo ok; }
    location /astro/status { astro_status; }
_EOC_
});

run_tests();

__DATA__

=== TEST 1: JSON: the health is unknown, the ratelimit section is there
--- request eval
["GET /t", "GET /astro/status"]
--- response_headers eval
["", "Content-Type: application/json\nCache-Control: no-store"]
--- response_body_like eval
["ok",
qr/\A\{"version":1,"nginx_version":"[\d.]+","time":\d+\.\d{3},"health":\{"status":"unknown","since":null\},"metrics":null,"history":\[\],"modules":\{"ratelimit":\{"redis":null,"zones":\{"a":\{"rate":"10r\/s","burst":0,"algorithm":"gcra","backend":"local","fail":"open","tiers":\[\],"passed":1,"delayed":0,"rejected":0,"dry_run":0,"fail_open":0,"fail_closed":0\}\}\}\}\}\n\z/]
--- no_error_log
[error]



=== TEST 2: Prometheus: astro_info, then the ratelimit metrics
--- request eval
["GET /t", "GET /astro/status?format=prometheus"]
--- response_headers eval
["", "Content-Type: text/plain; version=0.0.4; charset=utf-8"]
--- response_body_like eval
["ok",
qr/\A# HELP astro_info Versions of nginx and the status schema\.
# TYPE astro_info gauge
astro_info\{nginx_version="[\d.]+",schema="1"\} 1
# HELP astro_ratelimit_zones Configured rate limit zones
# TYPE astro_ratelimit_zones gauge
astro_ratelimit_zones 1
# HELP astro_ratelimit_requests_total Decisions of a zone by result
# TYPE astro_ratelimit_requests_total counter
astro_ratelimit_requests_total\{zone="a",result="passed"\} 1
astro_ratelimit_requests_total\{zone="a",result="delayed"\} 0
astro_ratelimit_requests_total\{zone="a",result="rejected"\} 0
astro_ratelimit_requests_total\{zone="a",result="dry_run"\} 0
astro_ratelimit_requests_total\{zone="a",result="fail_open"\} 0
astro_ratelimit_requests_total\{zone="a",result="fail_closed"\} 0
\z/]



=== TEST 3: the HTML dashboard
--- request
GET /astro/status?format=html
--- error_code: 200
--- response_headers
Content-Type: text/html; charset=utf-8
Cache-Control: no-store
--- response_body_like eval
qr/\A<!DOCTYPE html>\n.*<\/html>\n\z/s



=== TEST 4: POST is 405
--- request
POST /astro/status
hello
--- error_code: 405



=== TEST 5: an unknown format is 400
--- request
GET /astro/status?format=yaml
--- error_code: 400



=== TEST 6: the status location's format is traced at debug
--- request
GET /astro/status?format=prometheus
--- error_log
astro_status: format prometheus

