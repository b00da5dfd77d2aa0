# The variables of ngx_astro_health_module.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();

our $Files = <<'_EOF_';
>>> fake/proc/stat
cpu  735 0 0 265 0 0 0 0 0 0
>>> fake/proc/meminfo
MemTotal:        1000000 kB
MemAvailable:     387500 kB
>>> fake/proc/loadavg
0.10 0.20 0.30 1/100 1
_EOF_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("user_files", $Files) unless defined $block->user_files;
    $block->set_value("http_config", <<'_EOC_' . ($block->http_config // ''));
    astro_health_zone main:1m interval=100ms window=1s;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;
_EOC_
});

run_tests();

__DATA__

=== TEST 1: the status and the figures
--- config
    location /t {
        echo_sleep 0.3;
        echo "$astro_health $astro_health_cpu $astro_health_memory $astro_health_error_rate $astro_health_latency";
    }
--- request
GET /t
--- response_body
degraded 73.5 61.3 0.0 0.0



=== TEST 2: in a map and in if
--- http_config
    map $astro_health $astro_busy {
        healthy   no;
        default   yes;
    }
--- config
    location /t {
        echo_sleep 0.3;
        echo_exec /check;
    }
    location /check {
        if ($astro_health = degraded) {
            add_header X-Busy $astro_busy always;
            return 503;
        }
        return 200;
    }
--- request
GET /t
--- error_code: 503
--- response_headers
X-Busy: yes



=== TEST 3: in log_format
--- http_config
    log_format health '$request_uri $astro_health cpu=$astro_health_cpu';
--- config
    access_log logs/error.log health;
    location /t { echo_sleep 0.3; echo ok; }
--- request
GET /t
--- error_log
/t degraded cpu=73.5
