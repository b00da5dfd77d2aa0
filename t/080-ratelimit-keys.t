# Rate-limit keys a client cannot choose: the pattern that
# docs/ratelimit.md documents (a verified user, else the address).  The
# blocks take the first `map ... $rl_key { ... }` of docs/ratelimit.md
# itself, so they test what the docs tell users to write: anonymous
# requests are limited per address, rotating headers or sending bad
# tokens gives no fresh count (nor new Redis keys), and verified users
# have counts of their own.
#
# The addresses come from X-Real-IP through the realip module, trusted
# from 127.0.0.1 only here.  The zones are GCRA at 1r/m with burst=1: two
# requests pass, the next is refused for a minute, whatever the clock.

use Test::Nginx::Socket 'no_plan';
use FindBin ();
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);

no_shuffle();

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
$ENV{TEST_NGINX_REDIS_PORT} ||= 6390;
$ENV{TEST_NGINX_RL_PREFIX} = "astro:t080:" . time() . ":$$:";

our $KEY = '0123456789abcdef0123456789abcdef';    # 32 bytes

# tok($payload[, $key]): "Authorization: Bearer header.payload.signature";
# no exp, so a token made when the file is read stays valid
sub tok {
    my ($p, $key) = @_;
    my $s = encode_base64url('{"alg":"HS256","typ":"JWT"}') . '.'
            . encode_base64url($p);
    return "Authorization: Bearer $s."
           . encode_base64url(hmac_sha256($s, $key // $KEY));
}

# the documented map, as the docs write it

sub docs_map {
    my $path = "$FindBin::Bin/../docs/ratelimit.md";
    open my $fh, '<', $path or die "$path: $!";
    my $text = do { local $/; <$fh> };
    close $fh;

    $text =~ /^([ \t]*map[ \t]+\$\w+[ \t]+\$rl_key[ \t]*\{\n.*?^[ \t]*\}\n)/ms
        or die "$path: no map of \$rl_key";

    return $1;
}

our $Map = docs_map();

# Each block's zone, k<N> of TEST N, keyed by the documented map: in
# Redis when the block says "--- backend: redis", else local.  /t shows the
# decision, the count left and the verified user.

add_block_preprocessor(sub {
    my $block = shift;

    my ($n) = $block->name =~ /TEST (\d+)/ or die "no TEST number";
    my $backend = $block->backend // 'local';
    my $redis = $backend eq 'redis'
        ? "    astro_ratelimit_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT\n"
          . "                          prefix=\$TEST_NGINX_RL_PREFIX;\n"
        : '';

    $block->set_value('http_config', <<"_EOC_");
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Real-IP;
$redis
$Map
    astro_ratelimit_zone zone=k$n:1m key=\$rl_key rate=1r/m burst=1
                         backend=$backend;
_EOC_

    $block->set_value('config', <<"_EOC_");
    astro_tier_jwt \$http_authorization key=\$TEST_NGINX_HTML_DIR/jwt.key;

    location /t {
        astro_ratelimit zone=k$n;
        add_header X-RL
            "\$astro_ratelimit_status \$astro_ratelimit_remaining [\$astro_user]"
            always;
        echo ok;
    }
_EOC_

    $block->set_value('user_files', ">>> jwt.key\n$KEY\n");
});

run_tests();

# TEST 5's Redis zone: one key for all the header values of one address

my @keys = grep { length }
           split /\n/, `redis-cli -h 127.0.0.1 -p $ENV{TEST_NGINX_REDIS_PORT} \\
                        --scan --pattern '$ENV{TEST_NGINX_RL_PREFIX}*' 2>&1`;

is(scalar @keys, 1, "TEST 5: one Redis key for 5 header values")
    or diag("keys: @keys");

__DATA__

=== TEST 1: anonymous requests are limited per address
--- request eval
[map { "GET /t" } 1..6]
--- more_headers eval
["X-Real-IP: 10.0.0.1", "X-Real-IP: 10.0.0.1", "X-Real-IP: 10.0.0.1",
 "X-Real-IP: 10.0.0.2", "X-Real-IP: 10.0.0.2", "X-Real-IP: 10.0.0.2"]
--- error_code eval
[200, 200, 429, 200, 200, 429]
--- response_headers eval
["X-RL: PASSED 1 []", "X-RL: PASSED 0 []", "X-RL: REJECTED 0 []",
 "X-RL: PASSED 1 []", "X-RL: PASSED 0 []", "X-RL: REJECTED 0 []"]



=== TEST 2: rotating a header or sending bad tokens gives no fresh count
--- request eval
[map { "GET /t" } 1..7]
--- more_headers eval
["X-Real-IP: 10.0.0.3\nX-Api-Key: k-1",
 "X-Real-IP: 10.0.0.3\nX-Api-Key: k-2",
 "X-Real-IP: 10.0.0.3\nX-Api-Key: k-3",
 "X-Real-IP: 10.0.0.3\nX-Api-Key: k-4\nCookie: id=4",
 "X-Real-IP: 10.0.0.3\n"
     . main::tok('{"tier":"premium","sub":"mallory"}', 'x' x 32),
 "X-Real-IP: 10.0.0.3\n"
     . main::tok('{"tier":"premium","sub":"mallory","exp":1}'),
 "X-Real-IP: 10.0.0.3\nAuthorization: Bearer not.a.token"]
--- error_code eval
[200, 200, 429, 429, 429, 429, 429]
--- response_headers eval
["X-RL: PASSED 1 []", "X-RL: PASSED 0 []",
 (map { "X-RL: REJECTED 0 []" } 1..5)]



=== TEST 3: verified users have counts of their own, apart from the address
--- request eval
[map { "GET /t" } 1..8]
--- more_headers eval
["X-Real-IP: 10.0.0.4", "X-Real-IP: 10.0.0.4", "X-Real-IP: 10.0.0.4",
 "X-Real-IP: 10.0.0.4\n" . main::tok('{"tier":"basic","sub":"alice"}'),
 "X-Real-IP: 10.0.0.4\n" . main::tok('{"tier":"basic","sub":"alice"}'),
 "X-Real-IP: 10.0.0.4\n" . main::tok('{"tier":"basic","sub":"alice"}'),
 "X-Real-IP: 10.0.0.5\n" . main::tok('{"tier":"basic","sub":"alice"}'),
 "X-Real-IP: 10.0.0.4\n" . main::tok('{"tier":"free","sub":"bob"}')]
--- error_code eval
[200, 200, 429, 200, 200, 429, 429, 200]
--- response_headers eval
["X-RL: PASSED 1 []", "X-RL: PASSED 0 []", "X-RL: REJECTED 0 []",
 "X-RL: PASSED 1 [alice]", "X-RL: PASSED 0 [alice]",
 "X-RL: REJECTED 0 [alice]", "X-RL: REJECTED 0 [alice]",
 "X-RL: PASSED 1 [bob]"]



=== TEST 4: user 1684 and address 49.54.56.52 (the same 4 bytes) have counts of their own
--- request eval
[map { "GET /t" } 1..4]
--- more_headers eval
["X-Real-IP: 49.54.56.52", "X-Real-IP: 49.54.56.52",
 "X-Real-IP: 49.54.56.52",
 "X-Real-IP: 10.0.0.7\n" . main::tok('{"tier":"free","sub":1684}')]
--- error_code eval
[200, 200, 429, 200]
--- response_headers eval
["X-RL: PASSED 1 []", "X-RL: PASSED 0 []", "X-RL: REJECTED 0 []",
 "X-RL: PASSED 1 [1684]"]



=== TEST 5: in Redis, rotating a header makes no new keys (counted below)
--- backend: redis
--- request eval
[map { "GET /t" } 1..5]
--- more_headers eval
[map { "X-Real-IP: 10.0.0.6\nX-Api-Key: k-$_" } 1..5]
--- error_code eval
[200, 200, 429, 429, 429]
--- response_headers eval
["X-RL: PASSED 1 []", "X-RL: PASSED 0 []",
 (map { "X-RL: REJECTED 0 []" } 1..3)]
