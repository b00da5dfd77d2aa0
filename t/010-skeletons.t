# The skeletons of the tier upstream, the cache and the shard modules:
# their directives parse, and bad values fail the configuration test
# naming the directive and the value.  The shard module's every refusal
# is in t/100-shard-config.t.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_SERVER_ROOT} ||= server_root();
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: tier upstream: every directive parses
--- http_config
    astro_tiers premium=3 basic=2 free=1;
    upstream app {
        astro_tier_balance strategy=adaptive;
        astro_tier_group premium 1 2;
        astro_tier_group basic 3;
        astro_tier_fallback basic free premium;
        astro_circuit failures=3 error_rate=40% min_requests=10 window=10s
                      open=5s max_open=1m probes=2;
        astro_queue size=100 timeout=2s critical_below=2;
        server 127.0.0.1:$TEST_NGINX_SERVER_PORT max_conns=10;
        server 127.0.0.1:$TEST_NGINX_SERVER_PORT;
        server 127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
--- config
    location /t {
        astro_tier $http_x_tier;
        return 200 "ok\n";
    }
    location /jwt {
        astro_tier_jwt $http_authorization key=../html/jwt.key claim=plan
                       user_claim=sub leeway=10s;
        return 200 "ok\n";
    }
--- user_files
>>> jwt.key
0123456789abcdef0123456789abcdef
--- request
GET /t
--- response_body
ok
--- error_code: 200



=== TEST 2: tier upstream: an unknown strategy
--- http_config
    upstream app {
        astro_tier_balance strategy=random;
        server 127.0.0.1:1;
    }
--- config
--- must_die
--- error_log
invalid parameter "strategy=random"



=== TEST 3: tier upstream: a server number outside the block
--- http_config
    upstream app {
        astro_tier_balance;
        astro_tier_group premium 1 5;
        server 127.0.0.1:1;
        server 127.0.0.1:2;
    }
--- config
--- must_die
--- error_log
server number "5" is outside upstream "app"



=== TEST 3b: tier upstream: a backup server in a group
--- http_config
    upstream app {
        astro_tier_balance;
        astro_tier_group premium 1 2;
        server 127.0.0.1:1;
        server 127.0.0.1:2 backup;
    }
--- config
--- must_die
--- error_log
server 2 of upstream "app" is a backup server



=== TEST 3c: tier upstream: astro_circuit without astro_tier_balance
--- http_config
    upstream app {
        astro_circuit failures=3;
        server 127.0.0.1:1;
    }
--- config
--- must_die
--- error_log
upstream "app" uses astro directives without "astro_tier_balance"



=== TEST 3d: tier upstream: a balancing method after astro_tier_balance
--- http_config
    upstream app {
        astro_tier_balance;
        least_conn;
        server 127.0.0.1:1;
    }
--- config
--- must_die
--- error_log
"astro_tier_balance" in upstream "app" was replaced by another balancing method



=== TEST 4: tier upstream: a tier not declared
--- http_config
    upstream app {
        astro_tier_balance;
        astro_tier_group gold 1;
        server 127.0.0.1:1;
    }
--- config
--- must_die
--- error_log
unknown tier "gold"



=== TEST 5: tier upstream: a fallback cycle
--- http_config
    upstream app {
        astro_tier_balance;
        astro_tier_fallback premium basic;
        astro_tier_fallback basic free;
        astro_tier_fallback free premium;
        server 127.0.0.1:1;
    }
--- config
--- must_die
--- error_log
fallback cycle from tier "premium"



=== TEST 6: tier upstream: a percentage over 100
--- http_config
    upstream app {
        astro_tier_balance;
        astro_circuit error_rate=150%;
        server 127.0.0.1:1;
    }
--- config
--- must_die
--- error_log
invalid parameter "error_rate=150%"



=== TEST 7: tier upstream: a queue without max_conns
--- http_config
    upstream app {
        astro_tier_balance;
        astro_queue size=10 timeout=1s;
        server 127.0.0.1:1;
    }
--- config
--- must_die
--- error_log
"astro_queue" requires "max_conns" on a server of upstream "app"



=== TEST 8: tier upstream: a tier variable that is not a variable
--- config
    astro_tier http_x_tier;
--- must_die
--- error_log
invalid parameter "http_x_tier"



=== TEST 9: tier upstream: a missing JWT key file
--- config
    astro_tier_jwt $http_authorization key=../html/nonexistent.key;
--- must_die
--- error_log eval
qr/open\(\) ".*nonexistent\.key" failed/



=== TEST 10: cache: every directive parses
--- http_config
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/astro_cache keys_zone=pc:1m;
    astro_cache_zone ttl:1m;
    astro_cache_ttl ttl default 5m;
    astro_cache_ttl ttl content 1h stale=10m stale_if_error=1d refresh=80%;
    astro_cache_ttl ttl user 15m status=200;
    astro_cache_adaptive ttl degraded=1.5 critical=4 max_ttl=2h
                         churn=10/1m shrink=0.5;
--- config
    location /t {
        astro_cache zone=ttl class=$arg_class origin=min admit=$arg_admit;
        return 200 "ok\n";
    }
    location /purge {
        astro_cache_invalidate zone=ttl cache=pc mode=soft;
        return 200 "ok\n";
    }
--- request
GET /t?class=content
--- response_body
ok
--- error_code: 200



=== TEST 11: cache: a bad TTL
--- http_config
    astro_cache_zone zone=ttl:1m;
    astro_cache_ttl ttl content soon;
--- config
--- must_die
--- error_log
invalid parameter "soon"



=== TEST 12: cache: a factor below 1
--- http_config
    astro_cache_zone zone=ttl:1m;
    astro_cache_adaptive ttl degraded=0.5;
--- config
--- must_die
--- error_log
invalid parameter "degraded=0.5"



=== TEST 13: cache: an unknown zone
--- config
    astro_cache zone=nope;
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: unknown astro_cache_zone "nope" in "astro_cache" directive in \S+:\d+$/



=== TEST 14: shard: every directive parses
--- http_config
    upstream users0 { server 127.0.0.1:1; }
    upstream users1 { server 127.0.0.1:2; }
    astro_shard_zone shards:1m;
    astro_shard_map users strategy=hash hash=seed slots=16 fill=rendezvous
        "postgres=host=127.0.0.1 dbname=astro" table=astro_shards
        refresh=1m listen=off timeout=2s;
    astro_shard users s0 users0 weight=2 read=users1;
    astro_shard users s1 users1;
    astro_shard_map charts strategy=range;
    astro_shard charts old users0 to=2024-01-01;
    astro_shard charts new users1 from=2024-01-01 default;
    astro_shard_map content strategy=list;
    astro_shard content c1 users0 values=horoscope,chart;
    astro_shard content c2 users1 values=report default;
--- config
    astro_shard_reads replica;
    astro_shard_missing 404;
    location /t {
        astro_shard_key users $arg_user_id access=read;
        return 200 "ok $astro_shard_upstream\n";
    }
--- request
GET /t?user_id=42
--- response_body
ok users1
--- error_code: 200



=== TEST 15: shard: an unknown strategy
--- http_config
    astro_shard_map m strategy=random;
--- config
--- must_die
--- error_log
invalid parameter "strategy=random"



=== TEST 16: shard: a bad PostgreSQL connection string
--- http_config
    astro_shard_map m strategy=hash "postgres=hots=db";
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid "postgres" parameter: invalid connection option "hots" in \S+:\d+$/



=== TEST 17: cache: a zone declared twice
--- http_config
    astro_cache_zone zone=ttl:1m;
    astro_cache_zone zone=ttl:2m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: duplicate zone "ttl" in "astro_cache_zone" directive in \S+:\d+$/



=== TEST 18: cache: a zone smaller than nginx allows
--- http_config
    astro_cache_zone zone=ttl:8k;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: zone "zone=ttl:8k" is too small in "astro_cache_zone" directive in \S+:\d+$/



=== TEST 19: cache: a class set twice
--- http_config
    astro_cache_zone zone=ttl:1m;
    astro_cache_ttl ttl content 1h;
    astro_cache_ttl ttl content 2h;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: duplicate class "content" of zone "ttl" in "astro_cache_ttl" directive in \S+:\d+$/



=== TEST 20: cache: a TTL of a zone not declared
--- http_config
    astro_cache_ttl nope content 1h;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: unknown astro_cache_zone "nope" in "astro_cache_ttl" directive in \S+:\d+$/
