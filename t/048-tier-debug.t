# The tier module's debug lines (error_log ... debug, as the tests run):
# a request's tier and why, the balancer's choice and why, and the
# queue's decisions.  A line is matched to its end, or to the ", client: "
# that nginx adds to the lines above debug.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

# the backends of the "app" upstreams, on unix sockets: b and c answer
add_block_preprocessor(sub {
    my $block = shift;
    my $http = $block->http_config // '';
    return if $http !~ /upstream app/;
    $block->set_value('http_config', $http . <<'_EOC_');
    server {
        listen unix:$TEST_NGINX_HTML_DIR/b.sock;
        location / { return 200 "b\n"; }
    }
    server {
        listen unix:$TEST_NGINX_HTML_DIR/c.sock;
        location / { return 200 "c\n"; }
    }
_EOC_
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a tier from a variable
--- config
    location /t {
        astro_tier $http_x_tier;
        return 200 "$astro_tier\n";
    }
--- more_headers
X-Tier: premium
--- request
GET /t
--- response_body
premium
--- grep_error_log eval
qr/astro_tier: .*?(?=, client: |$)/
--- grep_error_log_out
astro_tier: "$http_x_tier" is "premium"
astro_tier: tier "premium", reason "variable", user ""



=== TEST 2: an unknown tier in the variable: the lowest
--- config
    location /t {
        astro_tier $http_x_tier;
        return 200 "$astro_tier\n";
    }
--- more_headers
X-Tier: gold
--- request
GET /t
--- response_body
free
--- grep_error_log eval
qr/astro_tier: .*?(?=, client: |$)/
--- grep_error_log_out
astro_tier: "$http_x_tier" is "gold"
astro_tier: tier "free", reason "unknown_tier", user ""



=== TEST 3: a token that is not one: the lowest tier, and why
--- config
    location /t {
        astro_tier_jwt $http_authorization key=../html/jwt.key;
        return 200 "$astro_tier\n";
    }
--- user_files
>>> jwt.key
0123456789abcdef0123456789abcdef
--- more_headers
Authorization: Bearer not.a.token
--- request
GET /t
--- response_body
free
--- grep_error_log eval
qr/astro_tier(?:_jwt)?: .*?(?=, client: |$)/
--- grep_error_log_out
astro_tier_jwt: token refused (malformed), lowest tier
astro_tier: tier "free", reason "malformed", user ""



=== TEST 4: a peer chosen: the tier's group has no live server, a fallback
--- http_config
    upstream app {
        astro_tier_balance;
        astro_tier_group premium 1;
        server unix:$TEST_NGINX_HTML_DIR/a.sock down;
        server unix:$TEST_NGINX_HTML_DIR/b.sock;
    }
--- config
    location /t {
        astro_tier $http_x_tier;
        proxy_pass http://app;
    }
--- more_headers
X-Tier: premium
--- request
GET /t
--- response_body
b
--- grep_error_log eval
qr/astro_tier_balance: .*?(?=, client: |$)/
--- grep_error_log_out eval
qr!^astro_tier_balance: upstream "app", tier "premium", strategy round_robin, tries 1
astro_tier_balance: group of tier "premium", 0 usable
astro_tier_balance: group of tier "basic", 1 usable
astro_tier_balance: tier "premium" falls back to the group of tier "basic"
astro_tier_balance: peer unix:\S+/b\.sock, the only candidate
astro_tier_balance: free peer unix:\S+/b\.sock: answered
$!



=== TEST 5: least_conn among two servers
--- http_config
    upstream app {
        astro_tier_balance strategy=least_conn;
        server unix:$TEST_NGINX_HTML_DIR/b.sock;
        server unix:$TEST_NGINX_HTML_DIR/c.sock;
    }
--- config
    location /t {
        proxy_pass http://app;
    }
--- request
GET /t
--- response_body
b
--- grep_error_log eval
qr/astro_tier_balance: .*?(?=, client: |$)/
--- grep_error_log_out eval
qr!^astro_tier_balance: upstream "app", tier "free", strategy least_conn, tries 2
astro_tier_balance: group of tier "free", 2 usable
astro_tier_balance: peer unix:\S+/b\.sock, least connections, ties by round robin
astro_tier_balance: free peer unix:\S+/b\.sock: answered
$!



=== TEST 6: the queue: one admitted at once, one that waits and times out
The first request holds the one connection (max_conns=1) to /back, which
asks nginx again for /t as tier basic: that one waits, until its timeout.
--- http_config
    upstream q {
        zone q 64k;
        astro_tier_balance;
        astro_queue size=10 timeout=300ms;
        server 127.0.0.1:$TEST_NGINX_SERVER_PORT max_conns=1;
    }
--- config
    location /t {
        astro_tier $http_x_tier;
        proxy_pass http://q/back;
    }
    location /back {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/t;
        proxy_set_header X-Tier basic;
    }
--- more_headers
X-Tier: premium
--- request
GET /t
--- error_code: 503
--- grep_error_log eval
qr/astro_queue: .*?(?=, client: |$)/
--- grep_error_log_out
astro_queue: upstream "q": tier "premium" admitted at once
astro_queue: the server is taken, the place freed
astro_queue: upstream "q": tier "basic" waits, position 1 of 1
astro_queue: upstream "q": a request of tier "basic" waited 300ms for a server, 503
--- timeout: 5
