# astro_tier_balance: the strategies' choices, tier groups and fallbacks,
# backup and down servers, keepalive, and the status counts.  The
# backends are server blocks of the same nginx on unix sockets, each
# answering its name (b1..b4); some are slow (echo_sleep) or fail (502).

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();

# four backends b1..b4 on unix sockets, and a status location
add_block_preprocessor(sub {
    my $block = shift;
    my $http = $block->http_config // '';
    my $backends = join '', map { <<_EOC_ } 1 .. 4;
    server {
        listen unix:\$TEST_NGINX_HTML_DIR/b$_.sock;
        location / { return 200 "b$_\\n"; }
        location /slow { echo_sleep 0.3; echo "b$_"; }
        location /fail { return 502; }
        location /conn { return 200 "b$_ \$connection\\n"; }
    }
_EOC_
    $block->set_value('http_config', $http . $backends);
});

run_tests();

__DATA__

=== TEST 1: round_robin: nginx's smooth weighted order, weights 3 1 1 1
--- http_config
    upstream u1 {
        astro_tier_balance strategy=round_robin;
        server unix:$TEST_NGINX_HTML_DIR/b1.sock weight=3;
        server unix:$TEST_NGINX_HTML_DIR/b2.sock;
        server unix:$TEST_NGINX_HTML_DIR/b3.sock;
        server unix:$TEST_NGINX_HTML_DIR/b4.sock;
    }
--- config
    location /p { proxy_pass http://u1/; }
--- request eval
[map { "GET /p" } 1 .. 24]
--- response_body eval
[map { ("b1\n", "b2\n", "b1\n", "b3\n", "b4\n", "b1\n") } 1 .. 4]



=== TEST 2: round_robin: the same order as nginx's own round robin
--- http_config
    upstream plain2 {
        server unix:$TEST_NGINX_HTML_DIR/b1.sock weight=3;
        server unix:$TEST_NGINX_HTML_DIR/b2.sock;
        server unix:$TEST_NGINX_HTML_DIR/b3.sock;
        server unix:$TEST_NGINX_HTML_DIR/b4.sock;
    }
--- config
    location /p { proxy_pass http://plain2/; }
--- request eval
[map { "GET /p" } 1 .. 24]
--- response_body eval
[map { ("b1\n", "b2\n", "b1\n", "b3\n", "b4\n", "b1\n") } 1 .. 4]



=== TEST 3: a down server is never chosen, a backup one only when all are out
--- http_config
    upstream u3 {
        astro_tier_balance;
        server unix:$TEST_NGINX_HTML_DIR/b1.sock down;
        server unix:$TEST_NGINX_HTML_DIR/b2.sock;
        server unix:$TEST_NGINX_HTML_DIR/b3.sock;
        server unix:$TEST_NGINX_HTML_DIR/b4.sock backup;
    }
    upstream u3b {
        astro_tier_balance;
        server unix:$TEST_NGINX_HTML_DIR/b1.sock down;
        server unix:$TEST_NGINX_HTML_DIR/b4.sock backup;
    }
--- config
    location /p { proxy_pass http://u3/; }
    location /q { proxy_pass http://u3b/; }
--- request eval
[(map { "GET /p" } 1 .. 6), "GET /q", "GET /q"]
--- response_body eval
[(map { ("b2\n", "b3\n") } 1 .. 3), "b4\n", "b4\n"]



=== TEST 4: least_conn: requests 50 ms apart avoid a server busy for 300 ms
--- http_config
    server {
        listen unix:$TEST_NGINX_HTML_DIR/slow4.sock;
        location / { echo_sleep 0.3; echo "slow"; }
    }
    upstream u4 {
        astro_tier_balance strategy=least_conn;
        server unix:$TEST_NGINX_HTML_DIR/slow4.sock;
        server unix:$TEST_NGINX_HTML_DIR/b2.sock;
    }
--- config
    location /p { proxy_pass http://u4/; }
    location = /drive {
        echo_location_async /p;
        echo_sleep 0.05;
        echo_location_async /p;
        echo_sleep 0.05;
        echo_location_async /p;
        echo_sleep 0.05;
        echo_location_async /p;
        echo_sleep 0.05;
        echo_location_async /p;
    }
--- request
GET /drive
--- response_body
slow
b2
b2
b2
b2
--- timeout: 5



=== TEST 5: round_robin, for comparison: alternates whatever the load
--- http_config
    server {
        listen unix:$TEST_NGINX_HTML_DIR/slow5.sock;
        location / { echo_sleep 0.3; echo "slow"; }
    }
    upstream u5 {
        astro_tier_balance strategy=round_robin;
        server unix:$TEST_NGINX_HTML_DIR/slow5.sock;
        server unix:$TEST_NGINX_HTML_DIR/b2.sock;
    }
--- config
    location /p { proxy_pass http://u5/; }
    location = /drive {
        echo_location_async /p;
        echo_sleep 0.05;
        echo_location_async /p;
        echo_sleep 0.05;
        echo_location_async /p;
        echo_sleep 0.05;
        echo_location_async /p;
        echo_sleep 0.05;
        echo_location_async /p;
    }
--- request
GET /drive
--- response_body
slow
b2
slow
b2
slow
--- timeout: 5



=== TEST 6: response_time: after one slow answer, a 300 ms server is avoided
--- http_config
    server {
        listen unix:$TEST_NGINX_HTML_DIR/slow6.sock;
        location / { echo_sleep 0.3; echo "slow"; }
    }
    upstream u6rt {
        astro_tier_balance strategy=response_time;
        server unix:$TEST_NGINX_HTML_DIR/slow6.sock;
        server unix:$TEST_NGINX_HTML_DIR/b2.sock;
    }
--- config
    location /p { proxy_pass http://u6rt/; }
    location = /drive {
        echo_location /p; echo_location /p; echo_location /p;
        echo_location /p; echo_location /p; echo_location /p;
        echo_location /p; echo_location /p; echo_location /p;
        echo_location /p; echo_location /p; echo_location /p;
        echo_location /p; echo_location /p; echo_location /p;
        echo_location /p; echo_location /p; echo_location /p;
        echo_location /p; echo_location /p;
    }
--- request
GET /drive
--- response_body_like chomp
^(?=(?:[^\n]*\n){20}$)(?:b2\n)*slow\n(?:b2\n)*$
--- timeout: 10



=== TEST 7: ip_hash: one client stays on one server
--- http_config
    upstream u6 {
        astro_tier_balance strategy=ip_hash;
        server unix:$TEST_NGINX_HTML_DIR/b1.sock;
        server unix:$TEST_NGINX_HTML_DIR/b2.sock;
        server unix:$TEST_NGINX_HTML_DIR/b3.sock;
        server unix:$TEST_NGINX_HTML_DIR/b4.sock;
    }
--- config
    location /p { proxy_pass http://u6/; }
    location = /drive {
        echo_location /p;
        echo_location /p;
        echo_location /p;
        echo_location /p;
        echo_location /p;
        echo_location /p;
        echo_location /p;
        echo_location /p;
    }
--- request
GET /drive
--- response_body_like chomp
^(b\d\n)\1{7}$



=== TEST 8: keepalive after astro_tier_balance: connections are reused
--- http_config
    upstream u7 {
        astro_tier_balance;
        server unix:$TEST_NGINX_HTML_DIR/b1.sock;
        server unix:$TEST_NGINX_HTML_DIR/b2.sock;
        keepalive 4;
    }
--- config
    location /p {
        proxy_pass http://u7/conn;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }
    location = /drive {
        echo_location /p;
        echo_location /p;
        echo_location /p;
        echo_location /p;
        echo_location /p;
        echo_location /p;
    }
--- request
GET /drive
--- response_body_like chomp
^b1 (\d+)\nb2 (\d+)\nb1 \1\nb2 \2\nb1 \1\nb2 \2\n$



=== TEST 9: max_fails / fail_timeout as nginx: a server that failed once is left out
--- http_config
    server {
        listen unix:$TEST_NGINX_HTML_DIR/bad9.sock;
        location / { return 502; }
    }
    upstream u9 {
        astro_tier_balance;
        server unix:$TEST_NGINX_HTML_DIR/bad9.sock max_fails=1 fail_timeout=30s;
        server unix:$TEST_NGINX_HTML_DIR/b2.sock;
    }
--- config
    location /p {
        proxy_pass http://u9/;
        proxy_next_upstream error timeout http_502;
    }
    location /astro/status { astro_status; }
--- request eval
["GET /p", "GET /p", "GET /p", "GET /p", "GET /astro/status?format=prometheus"]
--- response_body_like eval
["^b2\n\$", "^b2\n\$", "^b2\n\$", "^b2\n\$",
 qr{astro_tier_upstream_server_requests_total\{upstream="u9",server="unix:[^"]*/bad9\.sock"\} 1\n.*astro_tier_upstream_server_requests_total\{upstream="u9",server="unix:[^"]*/b2\.sock"\} 4\n.*astro_tier_upstream_server_failures_total\{upstream="u9",server="unix:[^"]*/bad9\.sock"\} 1\n.*astro_tier_upstream_tier_requests_total\{upstream="u9",tier="free"\} 4\n}s]
