# Metrics and transitions of the health zone, driven by files under
# astro_health_source's root.  A test is one request to /s, whose echo
# directives play a scenario: requests to this nginx itself through
# /self/ (real requests, counted by the zone), PUTs that rewrite the
# files (nginx's dav module), sleeps that let samples pass, and the
# status output.
#
# A /slow request sleeps 300 ms on nginx's monotonic timer, and the zone
# times it with the cached wall clock, to the millisecond: it reads 299 ms
# when the two clocks' millisecond ticks fall apart, so the tests accept
# 299 to 399 ms (a tolerance of 1 ms below the sleep).

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();

our $Files = <<'_EOF_';
>>> fake/proc/stat
cpu  300 0 100 600 0 0 0 0 0 0
>>> fake/proc/meminfo
MemTotal:        1000000 kB
MemAvailable:     600000 kB
>>> fake/proc/loadavg
0.10 0.20 0.30 1/100 1
_EOF_

our $Locations = <<'_EOC_';
    location /t { echo ok; }
    location /err { return 500; }
    location /slow { echo_sleep 0.3; echo slow; }
    location /self/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/;
    }
    location /fake/ {
        root $TEST_NGINX_HTML_DIR;
        dav_methods PUT;
    }
    location /astro/status { astro_status; }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("config", $block->config . $Locations);
    $block->set_value("user_files", $Files)
        unless defined $block->user_files;
    $block->set_value("request", "GET /s") unless defined $block->request;
});

run_tests();

__DATA__

=== TEST 1: figures from the files, healthy
--- http_config
    astro_health_zone main:1m interval=100ms window=1s;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;
--- config
    location /s { echo_sleep 0.3; echo_location /astro/status; }
--- response_body_like eval
qr!"status":"healthy".*"metrics":\{"cpu":40,"cpu_source":"host","memory":40,"memory_source":"host","load":\[0\.1,0\.2,0\.3\]!s
--- no_error_log
astro_health_zone "main": status



=== TEST 2: CPU over the degraded threshold, logged once at warn with its figures
--- http_config
    astro_health_zone main:1m interval=100ms window=1s;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;
--- config
    location /s { echo_sleep 0.5; echo_location /astro/status; }
--- user_files
>>> fake/proc/stat
cpu  700 0 50 250 0 0 0 0 0 0
>>> fake/proc/meminfo
MemTotal:        1000000 kB
MemAvailable:     600000 kB
>>> fake/proc/loadavg
0.10 0.20 0.30 1/100 1
--- response_body_like eval
qr!"status":"degraded","since":\d+,"transitions":1,!s
--- grep_error_log eval
qr/\[\w+\] .*astro_health_zone "main": status \w+/
--- grep_error_log_out eval
qr/\A\[warn\] [^\n]*astro_health_zone "main": status degraded\n\z/
--- error_log
astro_health_zone "main": status degraded (was healthy): cpu 75.0%, memory 40.0%, error_rate 0.0%, latency 0ms; over the limit: cpu 75.0 > 70.0



=== TEST 3: memory over the critical threshold, logged at alert
--- http_config
    astro_health_zone main:1m interval=100ms window=1s;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;
--- config
    location /s { echo_sleep 0.3; echo_location /astro/status; }
--- user_files
>>> fake/proc/stat
cpu  300 0 100 600 0 0 0 0 0 0
>>> fake/proc/meminfo
MemTotal:        1000000 kB
MemFree:           10000 kB
MemAvailable:      50000 kB
>>> fake/proc/loadavg
0.10 0.20 0.30 1/100 1
--- response_body_like eval
qr!"status":"critical".*"memory":95,!s
--- error_log
[alert]
status critical (was healthy): cpu 40.0%, memory 95.0%, error_rate 0.0%, latency 0ms; over the limit: memory 95.0 > 90.0



=== TEST 4: the error rate over the window: 3 of 4 responses are 5xx
--- http_config
    astro_health_zone main:1m interval=100ms window=5s;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;
--- config
    location /s {
        echo_sleep 0.2;
        echo_location /self/err;
        echo_location /self/err;
        echo_location /self/err;
        echo_location /self/t;
        echo_sleep 0.3;
        echo_location /astro/status;
    }
--- response_body_like eval
qr!"status":"critical".*"requests":4,"request_rate":\d+(\.\d+)?,"error_rate":75,!s
--- error_log eval
qr/status critical \(was healthy\): cpu 40\.0%, memory 40\.0%, error_rate (?:100|75)\.0%, latency 0ms; over the limit: error_rate (?:100|75)\.0 > 50\.0/



=== TEST 5: slow responses: the response time's EWMA over the degraded latency
--- http_config
    astro_health_zone main:1m interval=100ms window=5s;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;
    astro_health_threshold degraded latency=250ms;
--- config
    location /s {
        echo_location /self/slow;
        echo_location /self/slow;
        echo_sleep 0.3;
        echo_location /astro/status;
    }
--- response_body_like eval
qr!"status":"degraded".*"response_time_ms":\{"ewma":(?:299|3\d\d)(\.\d+)?,"p50":375,"p95":\d+!s
--- error_log eval
qr/status degraded \(was healthy\): .* latency (?:299|3\d\d)ms; over the limit: latency (?:299|3\d\d)\.\d > 250\.0/



=== TEST 6: thresholds set by astro_health_threshold, and off
--- http_config
    astro_health_zone main:1m interval=100ms window=1s;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;
    astro_health_threshold degraded cpu=off memory=30%;
    astro_health_threshold critical cpu=off;
--- config
    location /s { echo_sleep 0.3; echo_location /astro/status; }
--- user_files
>>> fake/proc/stat
cpu  990 0 0 10 0 0 0 0 0 0
>>> fake/proc/meminfo
MemTotal:        1000000 kB
MemAvailable:     600000 kB
>>> fake/proc/loadavg
0.10 0.20 0.30 1/100 1
--- response_body_like eval
qr!"status":"degraded".*"thresholds":\{"degraded":\{"cpu":null,"memory":30,"error_rate":20,"latency_ms":2000\},"critical":\{"cpu":null,"memory":90,!s
--- error_log
over the limit: memory 40.0 > 30.0



=== TEST 7: hysteresis: critical at once, healthy only after 3 better samples
--- http_config
    astro_health_zone main:1m interval=100ms window=1s;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;
--- config
    location /s {
        echo_sleep 0.3;
        echo_location /astro/status;
        echo;
        echo_subrequest PUT /self/fake/proc/stat -b 'cpu  960 0 0 1040 0 0 0 0 0 0';
        echo_location /astro/status;
        echo;
        echo_sleep 0.6;
        echo_location /astro/status;
    }
--- user_files
>>> fake/proc/stat
cpu  950 0 0 50 0 0 0 0 0 0
>>> fake/proc/meminfo
MemTotal:        1000000 kB
MemAvailable:     600000 kB
>>> fake/proc/loadavg
0.10 0.20 0.30 1/100 1
--- response_body_like eval
qr!\A\{[^\n]*"health":\{"zone":"main","status":"critical","since":\d+,"transitions":1,[^\n]*\n\n\{[^\n]*"status":"critical","since":\d+,"transitions":1,[^\n]*\n\n\{[^\n]*"status":"healthy","since":\d+,"transitions":2,[^\n]*"history":\[\{"time":\d+,"status":"critical","cpu":95,!s
--- grep_error_log eval
qr/\[\w+\] .*astro_health_zone "main": status \w+ \(was \w+\)/
--- grep_error_log_out eval
qr/\A\[alert\] [^\n]*status critical \(was healthy\)\n\[notice\] [^\n]*status healthy \(was critical\)\n\z/



=== TEST 8: cgroup v2 limits: the container's own memory and CPU
--- http_config
    astro_health_zone main:1m interval=100ms window=1s;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;
    astro_health_recover 10;
--- config
    location /s {
        echo_sleep 0.3;
        echo_location /astro/status;
        echo;
        echo_subrequest PUT /self/fake/sys/fs/cgroup/astro.slice/cpu.stat -b 'usage_usec 10000000';
        echo_sleep 0.3;
        echo_location /astro/status;
    }
--- user_files
>>> fake/proc/stat
cpu  300 0 100 600 0 0 0 0 0 0
>>> fake/proc/meminfo
MemTotal:        1000000 kB
MemAvailable:     600000 kB
>>> fake/proc/loadavg
0.10 0.20 0.30 1/100 1
>>> fake/proc/self/cgroup
0::/astro.slice
>>> fake/sys/fs/cgroup/astro.slice/cpu.max
50000 100000
>>> fake/sys/fs/cgroup/astro.slice/cpu.stat
usage_usec 1000
user_usec 800
system_usec 200
>>> fake/sys/fs/cgroup/astro.slice/memory.max
1000000
>>> fake/sys/fs/cgroup/astro.slice/memory.current
800000
--- response_body_like eval
qr!\A\{[^\n]*"status":"degraded"[^\n]*"metrics":\{"cpu":0,"cpu_source":"cgroup","memory":80,"memory_source":"cgroup",[^\n]*\n\n\{[^\n]*"status":"critical"[^\n]*"cpu_source":"cgroup","memory":80,"memory_source":"cgroup",!s
--- error_log
status degraded (was healthy): cpu 0.0%, memory 80.0%
status critical (was degraded): cpu 100.0%



=== TEST 9: a missing file is logged once, and the others still count
--- http_config
    astro_health_zone main:1m interval=100ms window=1s;
    astro_health_source root=$TEST_NGINX_HTML_DIR/nowhere;
--- config
    location /s { echo_sleep 0.5; echo_location /astro/status; }
--- response_body_like eval
qr!"status":"healthy".*"cpu":0,!s
--- grep_error_log eval
qr/cannot read "[^"]+"/
--- grep_error_log_out eval
qr/\Acannot read "[^"]+nowhere\/proc\/stat"\ncannot read "[^"]+nowhere\/proc\/meminfo"\ncannot read "[^"]+nowhere\/proc\/loadavg"\n\z/



=== TEST 10: the real /proc of this machine
--- http_config
    astro_health_zone main:1m interval=100ms window=1s;
--- config
    location /s { echo_sleep 0.3; echo_location /astro/status; }
--- response_body_like eval
qr!"metrics":\{"cpu":\d+(\.\d+)?,"cpu_source":"\w+","memory":\d+(\.\d+)?,!s
--- no_error_log
cannot read



=== TEST 11: an idle window forgets the EWMA
--- http_config
    astro_health_zone main:1m interval=100ms window=1s;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;
--- config
    location /s {
        echo_location /self/slow;
        echo_sleep 0.3;
        echo_location /astro/status;
        echo;
        echo_sleep 1.3;
        echo_location /astro/status;
    }
--- response_body_like eval
qr!\{[^\n]*"response_time_ms":\{"ewma":(?:299|3\d\d)(\.\d+)?,[^\n]*\n\n\{[^\n]*"request_rate":0,"error_rate":0,"response_time_ms":\{"ewma":0,"p50":0,"p95":0,"p99":0,"ewma_raw":0\}!s
--- timeout: 5



=== TEST 12: hysteresis, sample by sample: two better samples stay critical, the third recovers
--- http_config
    astro_health_zone main:1m interval=100ms window=1s;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;
--- config
    location /s {
        echo_sleep 0.3;
        echo_subrequest PUT /self/fake/proc/stat -b 'cpu  960 0 0 1040 0 0 0 0 0 0';
        echo_sleep 0.6;
        echo_location /astro/status;
    }
--- user_files
>>> fake/proc/stat
cpu  950 0 0 50 0 0 0 0 0 0
>>> fake/proc/meminfo
MemTotal:        1000000 kB
MemAvailable:     600000 kB
>>> fake/proc/loadavg
0.10 0.20 0.30 1/100 1
--- response_body_like eval
qr!"status":"critical","cpu":95,[^}]*\},\{"time":\d+,"status":"critical","cpu":1,[^}]*\},\{"time":\d+,"status":"critical","cpu":48,[^}]*\},\{"time":\d+,"status":"healthy","cpu":48,!s



=== TEST 13: a figure equal to its limit does not exceed it (CPU exactly 70%)
--- http_config
    astro_health_zone main:1m interval=100ms window=1s;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;
--- config
    location /s { echo_sleep 0.3; echo_location /astro/status; }
--- user_files
>>> fake/proc/stat
cpu  600 0 100 300 0 0 0 0 0 0
>>> fake/proc/meminfo
MemTotal:        1000000 kB
MemAvailable:     250000 kB
>>> fake/proc/loadavg
0.10 0.20 0.30 1/100 1
--- response_body_like eval
qr!"status":"healthy".*"metrics":\{"cpu":70,"cpu_source":"host","memory":75,!s
--- no_error_log
astro_health_zone "main": status
