# Load shedding by priority: astro_shed.

use Test::Nginx::Socket 'no_plan';
use FindBin ();

require "$FindBin::Bin/lib/Astro/Blocks.pm";

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();

our $Critical = Astro::Blocks::fake_proc(950);
our $Degraded = Astro::Blocks::fake_proc(800);
our $Healthy = Astro::Blocks::fake_proc(100);

our $HttpConfig = <<'_EOC_';
    astro_health_zone main:1m interval=100ms window=1s;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", $HttpConfig)
        unless defined $block->http_config;
    $block->set_value("config", $block->config . <<'_EOC_');
    location /wait { astro_shed off; echo_sleep 0.3; echo waited; }
    location /astro/status { astro_status; }
_EOC_
});

run_tests();

__DATA__

=== TEST 1: critical: priorities below critical_below are refused with Retry-After
--- user_files eval: $::Critical
--- config
    astro_shed priority=$arg_p;
    location /t { echo "ok $arg_p"; }
--- request eval
["GET /wait", "GET /t?p=1", "GET /t?p=3", "GET /t?p=2", "GET /t", "GET /t?p=high"]
--- error_code eval
[200, 503, 200, 200, 503, 503]
--- response_headers eval
["", "Retry-After: 30", "!Retry-After", "!Retry-After", "Retry-After: 30", "Retry-After: 30"]
--- response_body_like eval
["waited", "503 Service Temporarily Unavailable", "ok 3", "ok 2", "503", "503"]



=== TEST 2: the status location is never shed, and counts the refusals
--- user_files eval: $::Critical
--- config
    location /t { astro_shed priority=$arg_p; echo "ok"; }
    location /s { echo_sleep 0.3; echo_location /astro/status; }
--- request eval
["GET /wait", "GET /t?p=1", "GET /t?p=1", "GET /astro/status", "GET /astro/status?format=prometheus"]
--- error_code eval
[200, 503, 503, 200, 200]
--- response_body_like eval
["waited", "503", "503",
qr/"status":"critical".*"requests":3,"request_rate":[\d.]+,"error_rate":0,.*"modules":\{"health":\{"zone":"main","size":1048576,"history":300,"shed":\{"critical":2,"degraded":0\}\}\}\}/,
qr/astro_shed_total\{reason="critical"\} 2\nastro_shed_total\{reason="degraded"\} 0\n/]



=== TEST 3: astro_shed applies to the status location's server, not to the status location
--- user_files eval: $::Critical
--- config
    astro_shed priority=$arg_p;
--- request eval
["GET /wait", "GET /astro/status?p=0"]
--- error_code eval
[200, 200]
--- response_body_like eval
["waited", qr/"shed":\{"critical":0,"degraded":0\}/]



=== TEST 4: degraded: exactly degraded_share of the low priorities are refused
--- user_files eval: $::Degraded
--- config
    astro_shed priority=$arg_p degraded_below=2 degraded_share=50%;
    location /t { echo ok; }
--- request eval
["GET /wait",
"GET /t?p=1", "GET /t?p=1", "GET /t?p=1", "GET /t?p=1", "GET /t?p=1",
"GET /t?p=1", "GET /t?p=1", "GET /t?p=1", "GET /t?p=1", "GET /t?p=1",
"GET /t?p=2", "GET /t?p=2", "GET /astro/status"]
--- error_code eval
[200, 200, 503, 200, 503, 200, 503, 200, 503, 200, 503, 200, 200, 200]
--- response_body_like eval
["waited", "ok", "503", "ok", "503", "ok", "503", "ok", "503", "ok", "503",
"ok", "ok", qr/"status":"degraded".*"shed":\{"critical":0,"degraded":5\}/]



=== TEST 5: degraded_share 25%: one in four
--- user_files eval: $::Degraded
--- config
    astro_shed priority=$arg_p degraded_share=25%;
    location /t { echo ok; }
--- request eval
["GET /wait", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t",
"GET /t", "GET /t"]
--- error_code eval
[200, 200, 200, 200, 503, 200, 200, 200, 503]



=== TEST 6: critical also sheds the degraded share between the two limits
--- user_files eval: $::Critical
--- config
    astro_shed priority=$arg_p critical_below=2 degraded_below=3 degraded_share=100%;
    location /t { echo ok; }
--- request eval
["GET /wait", "GET /t?p=1", "GET /t?p=2", "GET /t?p=3", "GET /astro/status"]
--- error_code eval
[200, 503, 503, 200, 200]
--- response_body_like eval
["waited", "503", "503", "ok", qr/"shed":\{"critical":1,"degraded":1\}/]



=== TEST 7: status= and retry_after= change the refusal
--- user_files eval: $::Critical
--- config
    astro_shed priority=$arg_p status=429 retry_after=2m;
    location /t { echo ok; }
--- request eval
["GET /wait", "GET /t?p=0"]
--- error_code eval
[200, 429]
--- response_headers eval
["", "Retry-After: 120"]



=== TEST 8: astro_shed off in a location, and a location's own priority variable
--- user_files eval: $::Critical
--- config
    astro_shed priority=$arg_p;
    location /open { astro_shed off; echo open; }
    location /vip { astro_shed priority=$http_x_prio critical_below=5; echo vip; }
--- request eval
["GET /wait", "GET /open?p=0", "GET /vip?p=9", "GET /vip"]
--- more_headers eval
["", "", "", "X-Prio: 5"]
--- error_code eval
[200, 200, 503, 200]



=== TEST 9: healthy: nothing is shed
--- user_files eval: $::Healthy
--- config
    astro_shed priority=$arg_p degraded_share=100%;
    location /t { echo ok; }
--- request eval
["GET /wait", "GET /t?p=0", "GET /t?p=0", "GET /astro/status"]
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
["waited", "ok", "ok", qr/"status":"healthy".*"shed":\{"critical":0,"degraded":0\}/]



=== TEST 10: a refusal is logged at info with the status and the priority
--- user_files eval: $::Critical
--- config
    astro_shed priority=$arg_p;
    location /s { astro_shed off; echo_sleep 0.3; echo_location /self/t?p=1; }
    location /t { echo ok; }
    location /self/ { proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/; }
--- request
GET /s
--- response_body_like eval
qr!503 Service Temporarily Unavailable!s
--- error_log
astro_shed: refused, status critical, priority 1



=== TEST 11: shedding comes before "return", and a rewritten request is judged once
--- user_files eval: $::Degraded
--- config
    astro_shed priority=$arg_p degraded_share=50%;
    location /r { rewrite ^ /t2 last; }
    location /t2 { return 200 "t2\n"; }
--- request eval
["GET /wait", "GET /r?p=1", "GET /r?p=1", "GET /r?p=1", "GET /r?p=1", "GET /t2?p=1", "GET /t2?p=1"]
--- error_code eval
[200, 200, 503, 200, 503, 200, 503]



=== TEST 12: a refusal answered by an error_page is still no backend error
--- user_files eval: $::Critical
--- config
    astro_shed priority=$arg_p;
    error_page 503 /busy;
    location /t { echo ok; }
    location = /busy { astro_shed off; return 503 "busy\n"; }
--- request eval
["GET /wait", "GET /t?p=1", "GET /t?p=1", "GET /astro/status?format=prometheus"]
--- error_code eval
[200, 503, 503, 200]
--- response_body_like eval
["waited", "busy", "busy", qr/astro_responses_5xx_total 0\n.*astro_shed_total\{reason="critical"\} 2\n/s]
