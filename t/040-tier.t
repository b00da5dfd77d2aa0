# Trusted subscription tiers: astro_tiers, astro_tier (a trusted variable),
# astro_tier_jwt (an HS256 JSON Web Token) and their variables.  Every
# token is minted here when the block runs, with exp and nbf relative to
# time(), so the tests do not rot; the key file is written by the block.

use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);

$ENV{TEST_NGINX_SERVER_ROOT} ||= server_root();
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

our $KEY = '0123456789abcdef0123456789abcdef';    # 32 bytes, 256 bits

# jwt($header, $payload[, $key]): "header.payload.signature"
sub jwt {
    my ($h, $p, $key) = @_;
    my $s = encode_base64url($h) . '.' . encode_base64url($p);
    return "$s." . encode_base64url(hmac_sha256($s, defined $key ? $key
                                                                 : $KEY));
}

# hs($payload[, $key]): a token with the usual header
sub hs { return jwt('{"alg":"HS256","typ":"JWT"}', @_) }

# exp or nbf this many seconds from now
sub at { return time() + $_[0] }

my $show = 'return 200 "$astro_tier $astro_tier_priority '
           . '$astro_tier_reason [$astro_user]\n";';

my $jwt_config = <<"_EOC_";
    location /t {
        astro_tier_jwt \$http_authorization
                       key=\$TEST_NGINX_HTML_DIR/jwt.key;
        $show
    }
    location /strict {
        astro_tier_jwt \$http_authorization
                       key=\$TEST_NGINX_HTML_DIR/jwt.key leeway=0;
        $show
    }
    location /cookie {
        astro_tier_jwt \$cookie_token key=\$TEST_NGINX_HTML_DIR/jwt.key
                       claim=plan user_claim=email;
        $show
    }
_EOC_

# A block without config gets the three JWT locations; without
# user_files, the key (with the newline "echo" writes, which is
# dropped); "--- token" becomes an Authorization header.

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->config) {
        $block->set_value('config', $jwt_config);
    }

    if (!defined $block->user_files) {
        $block->set_value('user_files', ">>> jwt.key\n$KEY\n");
    }

    if (!defined $block->request) {
        $block->set_value('request', 'GET /t');
    }

    my $token = $block->token;

    # "--- token_claims": a payload whose NOW-15 or NOW+15 are times from
    # when the block runs (Test::Nginx evaluates "eval" sections when it
    # reads the file, too early for a window of seconds)
    my $claims = $block->token_claims;

    if (defined $claims) {
        chomp $claims;
        $claims =~ s/\bNOW([+-]\d+)\b/time() + $1/ge;
        $token = hs($claims);
    }

    if (defined $token) {
        $block->set_value('more_headers', "Authorization: Bearer $token");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: no source: the lowest of the default tiers, reason "none"
--- config
    location /t {
        return 200 "$astro_tier $astro_tier_priority $astro_tier_reason [$astro_user]\n";
    }
--- response_body
free 1 none []



=== TEST 2: astro_tier: declared tiers; undeclared, wrong case or absent give the lowest
--- config
    location /t {
        astro_tier $http_x_tier;
        return 200 "$astro_tier $astro_tier_priority $astro_tier_reason [$astro_user]\n";
    }
--- request eval
[map { "GET /t" } 1..6]
--- more_headers eval
["X-Tier: premium", "X-Tier: basic", "X-Tier: free", "X-Tier: gold",
 "X-Tier: Premium", "X-Other: premium"]
--- response_body eval
["premium 3 variable []\n", "basic 2 variable []\n", "free 1 variable []\n",
 "free 1 unknown_tier []\n", "free 1 unknown_tier []\n",
 "free 1 no_tier []\n"]



=== TEST 3: astro_tier from a map
--- http_config
    map $http_x_plan $plan {
        default  free;
        gold     premium;
        silver   basic;
        bogus    nothing;
    }
--- config
    location /t {
        astro_tier $plan;
        return 200 "$astro_tier $astro_tier_priority $astro_tier_reason\n";
    }
--- request eval
[map { "GET /t" } 1..4]
--- more_headers eval
["X-Plan: gold", "X-Plan: silver", "X-Plan: x", "X-Plan: bogus"]
--- response_body eval
["premium 3 variable\n", "basic 2 variable\n", "free 1 variable\n",
 "free 1 unknown_tier\n"]



=== TEST 4: astro_tiers: custom tiers; the lowest priority is the default, wherever declared
--- http_config
    astro_tiers bronze=2 gold=10 silver=5;
--- config
    location /t {
        astro_tier $http_x_tier;
        return 200 "$astro_tier $astro_tier_priority $astro_tier_reason\n";
    }
    location /none {
        return 200 "$astro_tier $astro_tier_priority $astro_tier_reason\n";
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /none"]
--- more_headers eval
["X-Tier: gold", "X-Tier: silver", "X-Tier: bronze", "X-Tier: premium",
 "X-Other: 1", "X-Tier: gold"]
--- response_body eval
["gold 10 variable\n", "silver 5 variable\n", "bronze 2 variable\n",
 "bronze 2 unknown_tier\n", "bronze 2 no_tier\n", "bronze 2 none\n"]



=== TEST 5: astro_tiers: a single tier
--- http_config
    astro_tiers everyone=7;
--- config
    location /t {
        astro_tier $http_x_tier;
        return 200 "$astro_tier $astro_tier_priority $astro_tier_reason\n";
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["X-Tier: everyone", "X-Tier: premium"]
--- response_body eval
["everyone 7 variable\n", "everyone 7 unknown_tier\n"]



=== TEST 6: inheritance: http to location, location overrides
--- http_config
    astro_tier $http_x_a;
--- config
    location /http {
        return 200 "$astro_tier $astro_tier_reason\n";
    }
    location /loc {
        astro_tier $http_x_c;
        return 200 "$astro_tier $astro_tier_reason\n";
    }
    location /jwt {
        astro_tier_jwt $http_authorization key=$TEST_NGINX_HTML_DIR/jwt.key;
        return 200 "$astro_tier $astro_tier_reason\n";
    }
--- request eval
["GET /http", "GET /loc", "GET /jwt"]
--- more_headers
X-A: premium
X-C: basic
--- response_body eval
["premium variable\n", "basic variable\n", "free no_token\n"]



=== TEST 7: inheritance: http, then server, then location
--- http_config
    astro_tier $http_x_a;
--- config
    astro_tier $http_x_b;
    location /srv {
        return 200 "$astro_tier $astro_tier_reason\n";
    }
    location /loc {
        astro_tier $http_x_c;
        return 200 "$astro_tier $astro_tier_reason\n";
    }
    location /nested {
        location /nested/inner {
            return 200 "$astro_tier $astro_tier_reason\n";
        }
    }
--- request eval
["GET /srv", "GET /loc", "GET /nested/inner", "GET /srv"]
--- more_headers eval
["X-A: premium\nX-B: basic\nX-C: free",
 "X-A: premium\nX-B: basic\nX-C: premium",
 "X-A: premium\nX-B: basic",
 "X-A: premium"]
--- response_body eval
["basic variable\n", "premium variable\n", "basic variable\n",
 "free no_tier\n"]



=== TEST 8: jwt: a valid token gives its tier and user
--- token eval
main::hs(sprintf '{"tier":"premium","sub":"alice","exp":%d}', main::at(3600))
--- response_body
premium 3 jwt [alice]



=== TEST 9: jwt: the scheme in any case; several tiers and users
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Authorization: bearer "
     . main::hs(sprintf '{"tier":"basic","sub":"bob","exp":%d}',
                main::at(600)),
 "Authorization: BEARER "
     . main::hs('{"tier":"free","sub":"carol"}'),
 "Authorization: "
     . main::hs(sprintf '{"sub":"dave","tier":"premium","iat":%d,'
                . '"nbf":%d,"exp":%d,"roles":["x"]}',
                main::at(-10), main::at(-10), main::at(60)),
 "Authorization: Bearer "
     . main::jwt('{"alg":"HS256","kid":"one","typ":"whatever"}',
                 '{"tier":"basic","sub":"eve"}')]
--- response_body eval
["basic 2 jwt [bob]\n", "free 1 jwt [carol]\n", "premium 3 jwt [dave]\n",
 "basic 2 jwt [eve]\n"]



=== TEST 10: jwt: a numeric user claim, and none
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer " . main::hs('{"tier":"basic","sub":12345}'),
 "Authorization: Bearer " . main::hs('{"tier":"basic"}')]
--- response_body eval
["basic 2 jwt [12345]\n", "basic 2 jwt []\n"]



=== TEST 11: jwt: a raw token in a cookie, other claim names
--- request
GET /cookie
--- more_headers eval
"Cookie: a=b; token="
    . main::hs(sprintf '{"tier":"free","plan":"basic","sub":"x",'
               . '"email":"a@example.com","exp":%d}', main::at(60))
    . "; c=d"
--- response_body
basic 2 jwt [a@example.com]



=== TEST 12: jwt: a token of custom tiers
--- http_config
    astro_tiers gold=10 silver=5 bronze=2;
--- token eval
main::hs('{"tier":"silver","sub":"s"}')
--- response_body
silver 5 jwt [s]



=== TEST 13: jwt: no token
--- response_body
free 1 no_token []



=== TEST 14: jwt: "Bearer" and nothing else
--- more_headers
Authorization: Bearer
--- response_body
free 1 no_token []



=== TEST 15: jwt: another scheme
--- more_headers
Authorization: Basic dXNlcjpwYXNzd29yZA==
--- response_body
free 1 malformed []



=== TEST 16: jwt: two parts
--- token eval
my $t = main::hs('{"tier":"premium","sub":"m"}'); $t =~ s/\.[^.]*$//; $t
--- response_body
free 1 malformed []



=== TEST 17: jwt: four parts
--- token eval
main::hs('{"tier":"premium","sub":"m"}') . ".e30"
--- response_body
free 1 malformed []



=== TEST 18: jwt: base64 padding and base64's own characters are not base64url
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer "
     . main::jwt('{"alg":"HS256"}', '{"tier":"premium","sub":"m"}')
       =~ s/^([^.]*)/$1=/r,
 "Authorization: Bearer "
     . main::jwt('{"alg":"HS256"}', '{"tier":"premium","sub":"m"}')
       =~ tr/-_/+\//r . "+/"]
--- response_body eval
["free 1 malformed []\n", "free 1 malformed []\n"]



=== TEST 19: jwt: parts that are not JSON objects
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer " . main::jwt('not json', '{"tier":"premium"}'),
 "Authorization: Bearer " . main::jwt('["HS256"]', '{"tier":"premium"}'),
 "Authorization: Bearer " . main::hs('["premium"]'),
 "Authorization: Bearer " . main::hs('{"tier":"premium","tier":"free"}')]
--- response_body eval
["free 1 malformed []\n", "free 1 malformed []\n", "free 1 malformed []\n",
 "free 1 malformed []\n"]



=== TEST 20: jwt: alg "none" with an empty signature
--- token eval
MIME::Base64::encode_base64url('{"alg":"none","typ":"JWT"}') . "."
    . MIME::Base64::encode_base64url('{"tier":"premium","sub":"m"}') . "."
--- response_body
free 1 bad_alg []



=== TEST 21: jwt: alg other than "HS256" exactly
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
[map { "Authorization: Bearer "
       . main::jwt($_, '{"tier":"premium","sub":"m"}') }
 '{"alg":"none"}', '{"alg":"HS256 "}', '{"alg":"hs256"}',
 '{"alg":"HS512"}', '{"typ":"JWT"}']
--- response_body eval
[map { "free 1 bad_alg []\n" } 1..5]



=== TEST 22: jwt: signed with another key
--- token eval
main::hs('{"tier":"premium","sub":"m"}', 'another key of thirty-two bytes!')
--- response_body
free 1 bad_signature []
--- error_log
astro_tier_jwt: token refused (bad_signature), lowest tier
--- no_error_log
0123456789abcdef0123456789abcdef
[error]



=== TEST 23: jwt: a changed payload under a real signature
--- token eval
my ($h, undef, $s) = split /\./, main::hs('{"tier":"free","sub":"m"}');
CORE::join '.', $h,
    MIME::Base64::encode_base64url('{"tier":"premium","sub":"m"}'), $s
--- response_body
free 1 bad_signature []



=== TEST 24: jwt: a signature cut short, and an empty one
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer "
     . substr(main::hs('{"tier":"premium","sub":"m"}'), 0, -3),
 "Authorization: Bearer "
     . main::hs('{"tier":"premium","sub":"m"}') =~ s/[^.]*$//r]
--- response_body eval
["free 1 bad_signature []\n", "free 1 bad_signature []\n"]



=== TEST 25: jwt: expired long ago
--- token eval
main::hs(sprintf '{"tier":"premium","sub":"m","exp":%d}', main::at(-3600))
--- response_body
free 1 expired []



=== TEST 26: jwt: expired 15s ago: within the default leeway (30s), not with leeway=0
--- request eval
["GET /t", "GET /strict"]
--- token_claims
{"tier":"premium","sub":"m","exp":NOW-15}
--- response_body eval
["premium 3 jwt [m]\n", "free 1 expired []\n"]



=== TEST 27: jwt: not valid for an hour
--- token eval
main::hs(sprintf '{"tier":"premium","sub":"m","nbf":%d}', main::at(3600))
--- response_body
free 1 not_yet_valid []



=== TEST 28: jwt: valid in 15s: within the default leeway, not with leeway=0
--- request eval
["GET /t", "GET /strict"]
--- token_claims
{"tier":"basic","sub":"m","nbf":NOW+15}
--- response_body eval
["basic 2 jwt [m]\n", "free 1 not_yet_valid []\n"]



=== TEST 29: jwt: an exp that is not a number
--- token eval
main::hs('{"tier":"premium","sub":"m","exp":"tomorrow"}')
--- response_body
free 1 malformed []



=== TEST 30: jwt: no tier claim, or one that is not a string
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[map { "Authorization: Bearer " . main::hs($_) }
 '{"sub":"m"}', '{"tier":3,"sub":"m"}', '{"tier":["premium"],"sub":"m"}']
--- response_body eval
[map { "free 1 no_claim []\n" } 1..3]



=== TEST 31: jwt: a user claim that is no string, or holds a line break
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[map { "Authorization: Bearer " . main::hs($_) }
 '{"tier":"premium","sub":{"id":1}}',
 '{"tier":"premium","sub":"m\r\nX-Injected: 1"}']
--- response_body eval
[map { "free 1 no_claim []\n" } 1..2]



=== TEST 32: jwt: a tier that is not declared
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[map { "Authorization: Bearer " . main::hs($_) }
 '{"tier":"gold","sub":"m"}', '{"tier":"Premium","sub":"m"}',
 '{"tier":"","sub":"m"}']
--- response_body eval
[map { "free 1 unknown_tier []\n" } 1..3]



=== TEST 33: jwt: a token over 8192 bytes
--- http_config
    large_client_header_buffers 4 32k;
--- token eval
main::hs('{"tier":"premium","sub":"m","pad":"' . ('x' x 7000) . '"}')
--- response_body
free 1 malformed []



=== TEST 34: jwt: a key file with CRLF and a longer key
--- user_files eval
">>> jwt.key\n0123456789abcdef0123456789abcdef0123456789abcdef\r\n"
--- token eval
main::hs('{"tier":"premium","sub":"long"}',
         '0123456789abcdef0123456789abcdef0123456789abcdef')
--- response_body
premium 3 jwt [long]



=== TEST 35: jwt: the tier is kept for the request (variables read twice)
--- config
    location /t {
        astro_tier_jwt $http_authorization key=$TEST_NGINX_HTML_DIR/jwt.key;
        add_header X-Tier "$astro_tier/$astro_user";
        return 200 "$astro_tier $astro_tier_reason [$astro_user]\n";
    }
--- token eval
main::hs('{"tier":"basic","sub":"kept"}')
--- response_body
basic jwt [kept]
--- response_headers
X-Tier: basic/kept



=== TEST 36: config: a missing key file
--- config
    location /t {
        astro_tier_jwt $http_authorization
                       key=$TEST_NGINX_HTML_DIR/nonexistent.key;
    }
--- must_die
--- error_log eval
qr/open\(\) ".*nonexistent\.key" failed/



=== TEST 37: config: a key file shorter than 32 bytes (the newline does not count)
--- config
    location /t {
        astro_tier_jwt $http_authorization key=$TEST_NGINX_HTML_DIR/jwt.key;
    }
--- user_files
>>> jwt.key
0123456789abcdef0123456789abcde
--- must_die
--- error_log eval
qr/key file ".*jwt\.key" is shorter than 32 bytes/
--- no_error_log
0123456789abcdef0123456789abcde



=== TEST 38: config: an empty key file
--- config
    location /t {
        astro_tier_jwt $http_authorization key=$TEST_NGINX_HTML_DIR/jwt.key;
    }
--- user_files eval
">>> jwt.key\n"
--- must_die
--- error_log eval
qr/key file ".*jwt\.key" is shorter than 32 bytes/



=== TEST 39: config: a key file larger than 4096 bytes
--- config
    location /t {
        astro_tier_jwt $http_authorization key=$TEST_NGINX_HTML_DIR/jwt.key;
    }
--- user_files eval
">>> jwt.key\n" . ('k' x 4097) . "\n"
--- must_die
--- error_log eval
qr/key file ".*jwt\.key" is larger than 4096 bytes/



=== TEST 40: config: no key
--- config
    location /t {
        astro_tier_jwt $http_authorization claim=tier;
    }
--- must_die
--- error_log
"astro_tier_jwt" must have "key" parameter



=== TEST 41: config: bad parameters
--- config
    location /t {
        astro_tier_jwt $http_authorization key=$TEST_NGINX_HTML_DIR/jwt.key
                       leeway=soon;
    }
--- must_die
--- error_log
invalid parameter "leeway=soon"



=== TEST 42: config: an empty claim name
--- config
    location /t {
        astro_tier_jwt $http_authorization key=$TEST_NGINX_HTML_DIR/jwt.key
                       claim=;
    }
--- must_die
--- error_log
invalid parameter "claim="



=== TEST 43: config: a source that is not a variable
--- config
    location /t {
        astro_tier premium;
    }
--- must_die
--- error_log
invalid parameter "premium"



=== TEST 44: config: astro_tier and astro_tier_jwt in one place
--- config
    location /t {
        astro_tier $http_x_tier;
        astro_tier_jwt $http_authorization key=$TEST_NGINX_HTML_DIR/jwt.key;
    }
--- must_die
--- error_log
"astro_tier_jwt" directive is duplicate



=== TEST 45: config: a duplicate tier, a bad priority
--- http_config
    astro_tiers premium=3 basic=3;
--- config
--- must_die
--- error_log
duplicate tier or priority "basic=3"
