# The skeletons of the rate limiter, the tier upstream, the cache and the
# shard modules: their directives parse, and bad values fail the
# configuration test naming the directive and the value.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_SERVER_ROOT} ||= server_root();
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: ratelimit: every directive parses
--- http_config
    astro_ratelimit_redis 127.0.0.1:6379 db=1 timeout=40ms pool=4;
    astro_ratelimit_zone zone=api:1m key=$binary_remote_addr rate=100r/m
                         algorithm=sliding_window tier=$http_x_tier;
    astro_ratelimit_zone zone=loc:1m key=$binary_remote_addr rate=10r/s
                         burst=5 backend=local fail=closed;
    astro_ratelimit_tier api premium rate=1000r/m burst=50;
--- config
    astro_ratelimit_status 503;
    astro_ratelimit_headers draft;
    location /t {
        astro_ratelimit zone=api;
        astro_ratelimit zone=loc dry_run;
        astro_speedlimit zone=api after=50 delay=100ms max_delay=2s;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- error_code: 200



=== TEST 2: ratelimit: a zero rate
--- http_config
    astro_ratelimit_zone zone=a:1m key=$uri rate=0r/s backend=local;
--- config
--- must_die
--- error_log
astro_ratelimit_zone: invalid parameter "rate=0r/s"



=== TEST 3: ratelimit: a unit other than r/s or r/m
--- http_config
    astro_ratelimit_zone zone=a:1m key=$uri rate=10r/h backend=local;
--- config
--- must_die
--- error_log
astro_ratelimit_zone: invalid parameter "rate=10r/h"



=== TEST 4: ratelimit: not a rate
--- http_config
    astro_ratelimit_zone zone=a:1m key=$uri rate=abc backend=local;
--- config
--- must_die
--- error_log
astro_ratelimit_zone: invalid parameter "rate=abc"



=== TEST 5: ratelimit: an unknown algorithm
--- http_config
    astro_ratelimit_zone zone=a:1m key=$uri rate=1r/s algorithm=leaky;
--- config
--- must_die
--- error_log
astro_ratelimit_zone: invalid parameter "algorithm=leaky"



=== TEST 6: ratelimit: backend=redis without astro_ratelimit_redis
--- http_config
    astro_ratelimit_zone zone=a:1m key=$uri rate=1r/s;
--- config
--- must_die
--- error_log
astro_ratelimit_zone: zone "a" has backend=redis but no "astro_ratelimit_redis"



=== TEST 7: ratelimit: an unknown zone
--- config
    location /t {
        astro_ratelimit zone=nope;
    }
--- must_die
--- error_log
astro_ratelimit: unknown zone "nope"



=== TEST 8: ratelimit: a status outside 400..599
--- config
    astro_ratelimit_status 200;
--- must_die
--- error_log
astro_ratelimit_status: invalid parameter "200"



=== TEST 9: ratelimit: speed limiting on a GCRA zone
--- http_config
    astro_ratelimit_zone zone=a:1m key=$uri rate=1r/s backend=local;
--- config
    astro_speedlimit zone=a after=1 delay=1s;
--- must_die
--- error_log
astro_speedlimit: zone "a" must use algorithm=sliding_window



=== TEST 10: ratelimit: a bad Redis parameter
--- http_config
    astro_ratelimit_redis 127.0.0.1:6379 timeout=soon;
--- config
--- must_die
--- error_log
astro_ratelimit_redis: invalid parameter "timeout=soon"



=== TEST 11: tier upstream: every directive parses
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



=== TEST 12: tier upstream: an unknown strategy
--- http_config
    upstream app {
        astro_tier_balance strategy=random;
        server 127.0.0.1:1;
    }
--- config
--- must_die
--- error_log
astro_tier_balance: invalid parameter "strategy=random"



=== TEST 13: tier upstream: a server number outside the block
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
astro_tier_group: server number "5" is outside upstream "app"



=== TEST 14: tier upstream: a tier not declared
--- http_config
    upstream app {
        astro_tier_balance;
        astro_tier_group gold 1;
        server 127.0.0.1:1;
    }
--- config
--- must_die
--- error_log
astro_tier_group: unknown tier "gold"



=== TEST 15: tier upstream: a fallback cycle
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
astro_tier_fallback: fallback cycle from tier "premium"



=== TEST 16: tier upstream: a percentage over 100
--- http_config
    upstream app {
        astro_tier_balance;
        astro_circuit error_rate=150%;
        server 127.0.0.1:1;
    }
--- config
--- must_die
--- error_log
astro_circuit: invalid parameter "error_rate=150%"



=== TEST 17: tier upstream: a queue without max_conns
--- http_config
    upstream app {
        astro_tier_balance;
        astro_queue size=10 timeout=1s;
        server 127.0.0.1:1;
    }
--- config
--- must_die
--- error_log
astro_queue: no server of upstream "app" has max_conns



=== TEST 18: tier upstream: a tier variable that is not a variable
--- config
    astro_tier http_x_tier;
--- must_die
--- error_log
astro_tier: invalid parameter "http_x_tier"



=== TEST 19: tier upstream: a missing JWT key file
--- config
    astro_tier_jwt $http_authorization key=../html/nonexistent.key;
--- must_die
--- error_log eval
qr/astro_tier_jwt: open\(\) ".*nonexistent\.key" failed/



=== TEST 20: cache: every directive parses
--- http_config
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/astro_cache keys_zone=pc:1m;
    astro_cache_zone zone=ttl:1m;
    astro_cache_ttl ttl default 5m;
    astro_cache_ttl ttl content 1h stale=10m;
    astro_cache_ttl ttl user 15m;
    astro_cache_adaptive ttl degraded=1.5 critical=4 max_ttl=2h;
--- config
    location /t {
        astro_cache zone=ttl class=$arg_class;
        return 200 "ok\n";
    }
    location /purge {
        astro_cache_invalidate zone=ttl;
        return 200 "ok\n";
    }
--- request
GET /t?class=content
--- response_body
ok
--- error_code: 200



=== TEST 21: cache: a bad TTL
--- http_config
    astro_cache_zone zone=ttl:1m;
    astro_cache_ttl ttl content soon;
--- config
--- must_die
--- error_log
astro_cache_ttl: invalid parameter "soon"



=== TEST 22: cache: a factor below 1
--- http_config
    astro_cache_zone zone=ttl:1m;
    astro_cache_adaptive ttl degraded=0.5;
--- config
--- must_die
--- error_log
astro_cache_adaptive: invalid parameter "degraded=0.5"



=== TEST 23: cache: an unknown zone
--- config
    astro_cache zone=nope;
--- must_die
--- error_log
astro_cache: unknown zone "nope"



=== TEST 24: shard: every directive parses
--- http_config
    upstream users0 { server 127.0.0.1:1; }
    upstream users1 { server 127.0.0.1:2; }
    astro_shard_map users strategy=user_id vnodes=100
        "postgres=host=127.0.0.1 dbname=astro" table=astro_shards
        refresh=1m;
    astro_shard users s0 users0 weight=2;
    astro_shard users s1 users1;
    astro_shard_map charts strategy=date_range;
    astro_shard charts old users0 to=2024-01-01;
    astro_shard charts new users1 from=2024-01-01 default;
    astro_shard_map content strategy=content_type;
    astro_shard content c1 users0 values=horoscope,chart;
    astro_shard content c2 users1 values=report default;
    astro_shard_map geo strategy=geography;
    astro_shard geo eu users0 values=DE,FR;
    astro_shard geo rest users1 default;
--- config
    location /t {
        astro_shard_key users $arg_user_id;
        return 200 "ok\n";
    }
--- request
GET /t?user_id=42
--- response_body
ok
--- error_code: 200



=== TEST 25: shard: an unknown strategy
--- http_config
    astro_shard_map m strategy=random;
--- config
--- must_die
--- error_log
astro_shard_map: invalid parameter "strategy=random"



=== TEST 26: shard: a bad PostgreSQL connection string
--- http_config
    astro_shard_map m strategy=user_id "postgres=hots=db";
--- config
--- must_die
--- error_log
astro_shard_map: invalid "postgres" parameter: invalid connection option "hots"



=== TEST 27: shard: a parameter of another strategy
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map m strategy=user_id;
    astro_shard m s0 u from=2024-01-01;
--- config
--- must_die
--- error_log
astro_shard: invalid parameter "from=2024-01-01"



=== TEST 28: shard: an unknown upstream
--- http_config
    astro_shard_map m strategy=user_id;
    astro_shard m s0 nowhere;
--- config
--- must_die
--- error_log
astro_shard: unknown upstream "nowhere"



=== TEST 29: shard: a value in two shards
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map g strategy=geography;
    astro_shard g eu u values=DE,FR;
    astro_shard g us u values=US,FR;
--- config
--- must_die
--- error_log
astro_shard: invalid parameter "values=US,FR"
