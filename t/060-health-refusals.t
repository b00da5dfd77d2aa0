# Refusals by policy are no errors of the health zone (issue 15, defect
# 2): astro_ratelimit's (at 503, and fail=closed), astro_queue's (a full
# queue, a wait past its timeout), nginx's limit_req and limit_conn.  They
# leave the error rate at 0 and are counted apart, while 500s, a failed
# upstream's 502s and an upstream's 500s in the same run still count.
#
# A test is one request to /s, whose echo directives send the requests
# through /self/, a proxy to this nginx: every one is a request of its
# own, counted by the zone.  The figures are exact: the window (60 s)
# holds the whole run, and the status is read after a sample.

use Test::Nginx::Socket 'no_plan';
use FindBin ();

require "$FindBin::Bin/lib/Astro/Blocks.pm";

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();

our $Files = Astro::Blocks::fake_proc(100);

our $HttpConfig = <<'_EOC_';
    astro_health_zone main:1m interval=100ms window=60s;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;

    astro_ratelimit_redis 127.0.0.1:1;
    astro_ratelimit_zone zone=rl:1m key=$remote_addr rate=1r/m
                         backend=local;
    astro_ratelimit_zone zone=fc:1m key=$remote_addr rate=100r/m
                         fail=closed;
    limit_req_zone $binary_remote_addr zone=lr:1m rate=1r/m;
    limit_conn_zone $server_name zone=lc:1m;

    # the queue's server is this nginx; one request at a time
    upstream q {
        astro_tier_balance;
        astro_queue size=1 timeout=200ms;
        server 127.0.0.1:$TEST_NGINX_SERVER_PORT max_conns=1;
    }
_EOC_

# The locations refused by policy answer through an error_page, which
# redirects: the refusal is still one.
our $Locations = <<'_EOC_';
    error_page 503 @refused;
    location @refused { return 503 "refused\n"; }

    location /rl { astro_ratelimit zone=rl; astro_ratelimit_status 503;
                   echo ok; }
    location /fc { astro_ratelimit zone=fc; echo ok; }
    location /lr { limit_req zone=lr; echo ok; }
    location /lc { limit_conn lc 1; echo_sleep 0.5; echo ok; }
    location /q { proxy_pass http://q/slow; }
    location /slow { echo_sleep 0.5; echo slow; }

    location /t { echo ok; }
    location /err { return 500; }
    location /bad { proxy_pass http://127.0.0.1:1/; }
    location /up { proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/err; }

    location /self/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/;
    }
    location /astro/status { astro_status; }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", $HttpConfig);
    $block->set_value("config", $block->config . $Locations);
    $block->set_value("user_files", $Files);
    $block->set_value("request", "GET /s");
    $block->set_value("timeout", 30);
});

# n times an echo directive to /self/$what
sub echoes {
    my ($n, $directive, $what) = @_;
    return "        $directive /self/$what;\n" x $n;
}

run_tests();

__DATA__

=== TEST 1: 1000 refusals by astro_ratelimit at 503 and 1000 by limit_req, with fail=closed, limit_conn and the queue: error rate 0; then 500s and 502s count
--- config eval
"    location /s {\n"
# limit_conn: 1 of 4 at once passes; the queue: 1 of 4 gets the
# server, 1 waits past its timeout, 2 find the queue full
. main::echoes(4, 'echo_location_async', 'lc')
. main::echoes(4, 'echo_location_async', 'q')
. main::echoes(1001, 'echo_location', 'rl')
. main::echoes(1001, 'echo_location', 'lr')
. main::echoes(3, 'echo_location', 'fc')
. "        echo_sleep 0.8;\n"
. "        echo_location /astro/status;\n"
. "        echo;\n"
# 2 500s, 2 502s, 2 500s from the upstream (4 responses), 7 200s
. main::echoes(2, 'echo_location', 'err')
. main::echoes(2, 'echo_location', 'bad')
. main::echoes(2, 'echo_location', 'up')
. main::echoes(7, 'echo_location', 't')
. "        echo_sleep 0.3;\n"
. "        echo_location /astro/status;\n"
. "    }\n"
--- response_body_like eval
qr/\A(?:ok\n|refused\n|slow\n)+\{[^\n]*"health":\{"zone":"main","status":"healthy",[^\n]*"metrics":\{[^\n]*"requests":2014,"request_rate":[\d.]+,"error_rate":0,"response_time_ms":\{[^}]*\},"active_connections":\d+,"errors":0,"refused":\{"shed":0,"ratelimit":1003,"queue":3,"limit_req":1000,"limit_conn":3\},"held_ms":\d+\},[^\n]*\n\n.*?\n\{[^\n]*"metrics":\{[^\n]*"requests":2029,"request_rate":[\d.]+,"error_rate":40,"response_time_ms":\{[^}]*\},"active_connections":\d+,"errors":8,"refused":\{"shed":0,"ratelimit":1003,"queue":3,"limit_req":1000,"limit_conn":3\},"held_ms":\d+\},[^\n]*\n\z/s
--- no_error_log
astro_health_zone "main": status critical
