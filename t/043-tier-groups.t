# Tier groups and fallbacks: each tier goes to its own servers; when its
# group has no usable server, to the groups of the tiers it falls back to
# (astro_tier_fallback, or by default the next lower tier, then the next
# higher); adaptive keeps lower tiers to their own group while critical.
# The tier comes from the X-Tier header (astro_tier $http_x_tier).

use Test::Nginx::Socket 'no_plan';
use FindBin ();
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);

require "$FindBin::Bin/lib/Astro/Blocks.pm";

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();

our $KEY = '0123456789abcdef0123456789abcdef';

# an HS256 token with this payload, signed with $KEY (or another key)
sub token {
    my ($payload, $key) = @_;
    my $s = encode_base64url('{"alg":"HS256","typ":"JWT"}') . '.'
            . encode_base64url($payload);
    return "$s." . encode_base64url(hmac_sha256($s, $key // $KEY));
}

our $Critical = Astro::Blocks::fake_proc(950);
our $Healthy = Astro::Blocks::fake_proc(100);

add_block_preprocessor(sub {
    my $block = shift;
    my $http = $block->http_config // '';
    my $backends = join '', map { <<_EOC_ } 1 .. 4;
    server {
        listen unix:\$TEST_NGINX_HTML_DIR/b$_.sock;
        location / { return 200 "b$_\\n"; }
    }
_EOC_
    $block->set_value('http_config', $http . $backends);
});

run_tests();

__DATA__

=== TEST 1: each tier to its group; an undeclared tier is the lowest
--- http_config
    upstream g1 {
        astro_tier_balance;
        astro_tier_group premium 1;
        astro_tier_group basic 2;
        astro_tier_group free 3 4;
        server unix:$TEST_NGINX_HTML_DIR/b1.sock;
        server unix:$TEST_NGINX_HTML_DIR/b2.sock;
        server unix:$TEST_NGINX_HTML_DIR/b3.sock;
        server unix:$TEST_NGINX_HTML_DIR/b4.sock;
    }
--- config
    astro_tier $http_x_tier;
    location /p { proxy_pass http://g1/; }
    location /astro/status { astro_status; }
--- request eval
["GET /p", "GET /p", "GET /p", "GET /p", "GET /p", "GET /p",
 "GET /astro/status?format=json"]
--- more_headers eval
["X-Tier: premium", "X-Tier: premium", "X-Tier: basic", "X-Tier: free",
 "X-Tier: free", "X-Tier: gold", ""]
--- response_body_like eval
["^b1\n\$", "^b1\n\$", "^b2\n\$", "^b3\n\$", "^b4\n\$", "^b3\n\$",
 '"tiers":\{"premium":\{"requests":2,"fallbacks":0,"refused":0\},"basic":\{"requests":1,"fallbacks":0,"refused":0\},"free":\{"requests":3,"fallbacks":0,"refused":0\}\}']



=== TEST 2: the default fallback: premium's server down, then basic's
--- http_config
    upstream g2 {
        astro_tier_balance;
        astro_tier_group premium 1;
        astro_tier_group basic 2;
        astro_tier_group free 3;
        server unix:$TEST_NGINX_HTML_DIR/b1.sock down;
        server unix:$TEST_NGINX_HTML_DIR/b2.sock;
        server unix:$TEST_NGINX_HTML_DIR/b3.sock;
    }
    upstream g2b {
        astro_tier_balance;
        astro_tier_group premium 1;
        astro_tier_group basic 2;
        astro_tier_group free 3;
        server unix:$TEST_NGINX_HTML_DIR/b1.sock down;
        server unix:$TEST_NGINX_HTML_DIR/b2.sock down;
        server unix:$TEST_NGINX_HTML_DIR/b3.sock;
    }
    upstream g2c {
        astro_tier_balance;
        astro_tier_group premium 1;
        astro_tier_group basic 2;
        astro_tier_group free 3;
        server unix:$TEST_NGINX_HTML_DIR/b1.sock;
        server unix:$TEST_NGINX_HTML_DIR/b2.sock;
        server unix:$TEST_NGINX_HTML_DIR/b3.sock down;
    }
--- config
    astro_tier $http_x_tier;
    location /p { proxy_pass http://g2/; }
    location /q { proxy_pass http://g2b/; }
    location /r { proxy_pass http://g2c/; }
--- request eval
["GET /p", "GET /q", "GET /r"]
--- more_headers eval
["X-Tier: premium", "X-Tier: premium", "X-Tier: free"]
--- response_body eval
["b2\n", "b3\n", "b2\n"]



=== TEST 3: astro_tier_fallback: premium to free first; then free's own
--- http_config
    upstream g3 {
        astro_tier_balance;
        astro_tier_group premium 1;
        astro_tier_group basic 2;
        astro_tier_group free 3;
        astro_tier_fallback premium free;
        server unix:$TEST_NGINX_HTML_DIR/b1.sock down;
        server unix:$TEST_NGINX_HTML_DIR/b2.sock;
        server unix:$TEST_NGINX_HTML_DIR/b3.sock;
    }
    upstream g3b {
        astro_tier_balance;
        astro_tier_group premium 1;
        astro_tier_group basic 2;
        astro_tier_group free 3;
        astro_tier_fallback premium free;
        server unix:$TEST_NGINX_HTML_DIR/b1.sock down;
        server unix:$TEST_NGINX_HTML_DIR/b2.sock;
        server unix:$TEST_NGINX_HTML_DIR/b3.sock down;
    }
--- config
    astro_tier $http_x_tier;
    location /p { proxy_pass http://g3/; }
    location /q { proxy_pass http://g3b/; }
    location /astro/status { astro_status; }
--- request eval
["GET /p", "GET /p", "GET /q", "GET /astro/status?format=json"]
--- more_headers eval
["X-Tier: premium", "X-Tier: premium", "X-Tier: premium", ""]
--- response_body_like eval
["^b3\n\$", "^b3\n\$", "^b2\n\$",
 '"g3":\{.*"premium":\{"requests":2,"fallbacks":2,"refused":0\}.*"g3b":\{.*"premium":\{"requests":1,"fallbacks":1,"refused":0\}']



=== TEST 4: adaptive, critical: basic keeps to its own group, premium not
--- user_files eval: $::Critical
--- http_config
    astro_health_zone main:1m interval=100ms window=1s;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;
    upstream g4 {
        astro_tier_balance strategy=adaptive;
        astro_tier_group premium 1;
        astro_tier_group basic 2;
        astro_tier_group free 3;
        server unix:$TEST_NGINX_HTML_DIR/b1.sock down;
        server unix:$TEST_NGINX_HTML_DIR/b2.sock down;
        server unix:$TEST_NGINX_HTML_DIR/b3.sock;
    }
--- config
    astro_tier $http_x_tier;
    location /p { proxy_pass http://g4/; }
    location /wait { echo_sleep 0.3; echo waited; }
--- request eval
["GET /wait", "GET /p", "GET /p", "GET /p"]
--- more_headers eval
["", "X-Tier: basic", "X-Tier: premium", "X-Tier: free"]
--- error_code eval
[200, 502, 200, 200]
--- response_body_like eval
["waited", "502 Bad Gateway", "^b3\n\$", "^b3\n\$"]



=== TEST 5: adaptive, healthy: basic falls back as usual
--- user_files eval: $::Healthy
--- http_config
    astro_health_zone main:1m interval=100ms window=1s;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;
    upstream g5 {
        astro_tier_balance strategy=adaptive;
        astro_tier_group premium 1;
        astro_tier_group basic 2;
        astro_tier_group free 3;
        server unix:$TEST_NGINX_HTML_DIR/b1.sock down;
        server unix:$TEST_NGINX_HTML_DIR/b2.sock down;
        server unix:$TEST_NGINX_HTML_DIR/b3.sock;
    }
--- config
    astro_tier $http_x_tier;
    location /p { proxy_pass http://g5/; }
    location /wait { echo_sleep 0.3; echo waited; }
--- request eval
["GET /wait", "GET /p"]
--- more_headers eval
["", "X-Tier: basic"]
--- error_code eval
[200, 200]
--- response_body_like eval
["waited", "^b3\n\$"]



=== TEST 6: a JWT's tier routes; a token that does not verify: the lowest
--- http_config
    upstream g6 {
        astro_tier_balance;
        astro_tier_group premium 1;
        astro_tier_group basic 2;
        astro_tier_group free 3;
        server unix:$TEST_NGINX_HTML_DIR/b1.sock;
        server unix:$TEST_NGINX_HTML_DIR/b2.sock;
        server unix:$TEST_NGINX_HTML_DIR/b3.sock;
    }
--- config
    astro_tier_jwt $http_authorization key=$TEST_NGINX_HTML_DIR/jwt.key;
    location /p {
        proxy_pass http://g6/;
        add_header X-Tier "$astro_tier $astro_tier_reason";
    }
--- user_files eval
">>> jwt.key\n$::KEY\n"
--- request eval
["GET /p", "GET /p", "GET /p", "GET /p"]
--- more_headers eval
["Authorization: Bearer " . main::token('{"tier":"premium","exp":' . (time() + 300) . '}'),
 "Authorization: Bearer " . main::token('{"tier":"basic"}'),
 "Authorization: Bearer " . main::token('{"tier":"premium"}', 'another key, 32 bytes long......'),
 "Authorization: Bearer " . main::token('{"tier":"premium","exp":' . (time() - 300) . '}')]
--- response_body eval
["b1\n", "b2\n", "b3\n", "b3\n"]
--- response_headers eval
["X-Tier: premium jwt", "X-Tier: basic jwt", "X-Tier: free bad_signature",
 "X-Tier: free expired"]
