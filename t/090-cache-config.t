# ngx_astro_cache_module's directives: what parses, and every bad value
# failing the configuration test with nginx's words, naming both the
# directive and the value.  No ports: every failing block is must_die.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_SERVER_ROOT} ||= server_root();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: every directive and parameter parses
--- http_config
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/astro_cache keys_zone=pc:1m;
    astro_cache_zone api:1m;
    astro_cache_ttl api default 5m;
    astro_cache_ttl api content 1h stale=10m stale_if_error=1d refresh=80%;
    astro_cache_ttl api user 15s status=200 203 404;
    astro_cache_ttl api list 1m status=200,301;
    astro_cache_adaptive api degraded=1.5 critical=4 max_ttl=2h
                         churn=10/1m shrink=0.25;
--- config
    location /t {
        astro_cache zone=api class=$arg_class origin=min admit=$arg_admit;
        return 200 "ok\n";
    }
    location /c {
        astro_cache zone=api class=content origin=override admit=off;
        return 200 "ok\n";
    }
    location /off {
        astro_cache off;
        return 200 "ok\n";
    }
    location /inv {
        astro_cache_invalidate zone=api cache=pc mode=soft;
    }
--- request
GET /t?class=content
--- response_body
ok



=== TEST 2: the zone in the skeleton's form, zone=name:size
--- http_config
    astro_cache_zone zone=api:1m;
--- config
    location /t {
        astro_cache zone=api;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok



=== TEST 3: astro_cache_zone: no size
--- http_config
    astro_cache_zone api;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "api" in "astro_cache_zone" directive in \S+:\d+$/



=== TEST 4: astro_cache_zone: an unknown parameter
--- http_config
    astro_cache_zone api:1m redis_host=x;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "redis_host=x" in "astro_cache_zone" directive in \S+:\d+$/



=== TEST 5: astro_cache_zone: a bad sync time
--- http_config
    astro_cache_zone api:1m redis=127.0.0.1:6390 sync=often;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "sync=often" in "astro_cache_zone" directive in \S+:\d+$/



=== TEST 6: astro_cache_zone: sync without redis
--- http_config
    astro_cache_zone api:1m sync=5s;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: "sync=5s" requires "redis=" in "astro_cache_zone" directive in \S+:\d+$/



=== TEST 7: astro_cache_zone: too many arguments
--- http_config
    astro_cache_zone api:1m sync=5s redis=127.0.0.1:6390 x=1;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid number of arguments in "astro_cache_zone" directive in \S+:\d+$/



=== TEST 8: astro_cache_ttl: too few arguments
--- http_config
    astro_cache_zone api:1m;
    astro_cache_ttl api content;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid number of arguments in "astro_cache_ttl" directive in \S+:\d+$/



=== TEST 9: astro_cache_ttl: a bad time
--- http_config
    astro_cache_zone api:1m;
    astro_cache_ttl api content soon;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "soon" in "astro_cache_ttl" directive in \S+:\d+$/



=== TEST 10: astro_cache_ttl: a TTL of 0
--- http_config
    astro_cache_zone api:1m;
    astro_cache_ttl api content 0;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "0" in "astro_cache_ttl" directive in \S+:\d+$/



=== TEST 11: astro_cache_ttl: a bad stale time
--- http_config
    astro_cache_zone api:1m;
    astro_cache_ttl api content 1h stale=-1;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "stale=-1" in "astro_cache_ttl" directive in \S+:\d+$/



=== TEST 12: astro_cache_ttl: a bad stale_if_error time
--- http_config
    astro_cache_zone api:1m;
    astro_cache_ttl api content 1h stale_if_error=1x;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "stale_if_error=1x" in "astro_cache_ttl" directive in \S+:\d+$/



=== TEST 13: astro_cache_ttl: a percentage over 99
--- http_config
    astro_cache_zone api:1m;
    astro_cache_ttl api content 1h refresh=100%;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "refresh=100%" in "astro_cache_ttl" directive in \S+:\d+$/



=== TEST 14: astro_cache_ttl: a percentage without its sign
--- http_config
    astro_cache_zone api:1m;
    astro_cache_ttl api content 1h refresh=50;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "refresh=50" in "astro_cache_ttl" directive in \S+:\d+$/



=== TEST 15: astro_cache_ttl: a status code out of range
--- http_config
    astro_cache_zone api:1m;
    astro_cache_ttl api content 1h status=200,700;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid status code "700" of "status=200,700" in "astro_cache_ttl" directive in \S+:\d+$/



=== TEST 16: astro_cache_ttl: a status code that is no number
--- http_config
    astro_cache_zone api:1m;
    astro_cache_ttl api content 1h status=ok;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid status code "ok" of "status=ok" in "astro_cache_ttl" directive in \S+:\d+$/



=== TEST 17: astro_cache_ttl: an unknown parameter
--- http_config
    astro_cache_zone api:1m;
    astro_cache_ttl api content 1h fresh=10s;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "fresh=10s" in "astro_cache_ttl" directive in \S+:\d+$/



=== TEST 18: astro_cache_ttl: an unknown zone
--- http_config
    astro_cache_ttl nope content 1h;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: unknown astro_cache_zone "nope" in "astro_cache_ttl" directive in \S+:\d+$/



=== TEST 19: astro_cache_ttl: a class name with a space
--- http_config
    astro_cache_zone api:1m;
    astro_cache_ttl api "a b" 1h;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid class "a b" in "astro_cache_ttl" directive in \S+:\d+$/



=== TEST 20: astro_cache_adaptive: an unknown parameter
--- http_config
    astro_cache_zone api:1m;
    astro_cache_adaptive api overloaded=2;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "overloaded=2" in "astro_cache_adaptive" directive in \S+:\d+$/



=== TEST 21: astro_cache_adaptive: a factor over 100
--- http_config
    astro_cache_zone api:1m;
    astro_cache_adaptive api critical=101;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "critical=101" in "astro_cache_adaptive" directive in \S+:\d+$/



=== TEST 22: astro_cache_adaptive: a bad max_ttl
--- http_config
    astro_cache_zone api:1m;
    astro_cache_adaptive api max_ttl=0;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "max_ttl=0" in "astro_cache_adaptive" directive in \S+:\d+$/



=== TEST 23: astro_cache_adaptive: churn without a period
--- http_config
    astro_cache_zone api:1m;
    astro_cache_adaptive api churn=10;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "churn=10" in "astro_cache_adaptive" directive in \S+:\d+$/



=== TEST 24: astro_cache_adaptive: a shrink factor of 1
--- http_config
    astro_cache_zone api:1m;
    astro_cache_adaptive api churn=10/1m shrink=1;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "shrink=1" in "astro_cache_adaptive" directive in \S+:\d+$/



=== TEST 25: astro_cache_adaptive: shrink without churn
--- http_config
    astro_cache_zone api:1m;
    astro_cache_adaptive api shrink=0.5;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: "shrink=0.5" requires "churn=" in "astro_cache_adaptive" directive in \S+:\d+$/



=== TEST 26: astro_cache_adaptive: an unknown zone
--- http_config
    astro_cache_adaptive nope degraded=2;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: unknown astro_cache_zone "nope" in "astro_cache_adaptive" directive in \S+:\d+$/



=== TEST 27: astro_cache: an unknown class
--- http_config
    astro_cache_zone api:1m;
    astro_cache_ttl api content 1h;
--- config
    location /t {
        astro_cache zone=api class=contnet;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: unknown class "contnet" of zone "api" in "astro_cache" directive in \S+:\d+$/



=== TEST 28: astro_cache: an unknown origin mode
--- http_config
    astro_cache_zone api:1m;
--- config
    location /t {
        astro_cache zone=api origin=ignore;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "origin=ignore" in "astro_cache" directive in \S+:\d+$/



=== TEST 29: astro_cache: no zone
--- http_config
    astro_cache_zone api:1m;
--- config
    location /t {
        astro_cache class=content;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: "astro_cache" must have "zone" parameter in \S+:\d+$/



=== TEST 30: astro_cache: an unknown zone
--- config
    location /t {
        astro_cache zone=nope;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: unknown astro_cache_zone "nope" in "astro_cache" directive in \S+:\d+$/



=== TEST 31: astro_cache: too many arguments
--- http_config
    astro_cache_zone api:1m;
--- config
    location /t {
        astro_cache zone=api class=a origin=min admit=on x=1;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid number of arguments in "astro_cache" directive in \S+:\d+$/



=== TEST 32: astro_cache_invalidate: cache= names no proxy_cache_path
--- http_config
    astro_cache_zone api:1m;
--- config
    location /inv {
        astro_cache_invalidate zone=api cache=pc;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: astro_cache_invalidate: "cache=pc" is no keys_zone of a proxy_cache_path$/



=== TEST 33: astro_cache_invalidate: a bad mode
--- http_config
    astro_cache_zone api:1m;
--- config
    location /inv {
        astro_cache_invalidate zone=api mode=wipe;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "mode=wipe" in "astro_cache_invalidate" directive in \S+:\d+$/



=== TEST 34: astro_cache_invalidate: cache= of a zone for another use
--- http_config
    astro_cache_zone api:1m;
--- config
    location /inv {
        astro_cache_invalidate zone=api cache=api;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: the shared memory zone "api" is already declared for a different use in "astro_cache_invalidate" directive in \S+:\d+$/



=== TEST 35: astro_cache_invalidate: no zone
--- http_config
    astro_cache_zone api:1m;
--- config
    location /inv {
        astro_cache_invalidate mode=hard;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: "astro_cache_invalidate" must have "zone" parameter in \S+:\d+$/



=== TEST 36: astro_cache_invalidate: an unknown zone
--- config
    location /inv {
        astro_cache_invalidate zone=nope;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: unknown astro_cache_zone "nope" in "astro_cache_invalidate" directive in \S+:\d+$/




=== TEST 37: astro_cache_zone: redis= no address
--- http_config
    astro_cache_zone api:1m redis=127.0.0.1:http;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid redis address "127\.0\.0\.1:http": invalid port in "astro_cache_zone" directive in \S+:\d+$/



=== TEST 38: astro_cache_zone: a name too long for its Redis keys
--- http_config
    astro_cache_zone a123456789b123456789c123456789d123456789e123456789f123456789g12345:1m redis=127.0.0.1:6390;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: zone name "a123456789\w+" is too long for "redis": at most 64 characters in "astro_cache_zone" directive in \S+:\d+$/



=== TEST 39: astro_cache_zone: a size below 8 memory pages
--- http_config
    astro_cache_zone api:1k;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: zone "api:1k" is too small in "astro_cache_zone" directive in \S+:\d+$/



=== TEST 40: astro_cache_zone: a size that is no size
--- http_config
    astro_cache_zone api:lots;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "api:lots" in "astro_cache_zone" directive in \S+:\d+$/



=== TEST 41: astro_cache_zone: a zone declared twice
--- http_config
    astro_cache_zone api:1m;
    astro_cache_zone api:2m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: duplicate zone "api" in "astro_cache_zone" directive in \S+:\d+$/



=== TEST 42: astro_cache_ttl: a class given twice
--- http_config
    astro_cache_zone api:1m;
    astro_cache_ttl api content 1h;
    astro_cache_ttl api content 2h;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: duplicate class "content" of zone "api" in "astro_cache_ttl" directive in \S+:\d+$/



=== TEST 43: astro_cache_ttl: the class "default" set twice
--- http_config
    astro_cache_zone api:1m;
    astro_cache_ttl api default 1m;
    astro_cache_ttl api default 2m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: duplicate class "default" of zone "api" in "astro_cache_ttl" directive in \S+:\d+$/



=== TEST 44: astro_cache_ttl: one class more than a zone holds (128)
--- http_config eval
"    astro_cache_zone api:1m;\n"
. join("", map { "    astro_cache_ttl api c$_ 1m;\n" } 1 .. 128)
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: class "c128" is one too many for zone "api" \(at most 128\) in "astro_cache_ttl" directive in \S+:\d+$/



=== TEST 45: astro_cache_ttl: a percentage of 0
--- http_config
    astro_cache_zone api:1m;
    astro_cache_ttl api content 1h refresh=0%;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "refresh=0%" in "astro_cache_ttl" directive in \S+:\d+$/



=== TEST 46: astro_cache_ttl: a status code after status= out of range
--- http_config
    astro_cache_zone api:1m;
    astro_cache_ttl api content 1h status=200 999;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "999" in "astro_cache_ttl" directive in \S+:\d+$/



=== TEST 47: astro_cache_adaptive: no arguments
--- http_config
    astro_cache_zone api:1m;
    astro_cache_adaptive;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid number of arguments in "astro_cache_adaptive" directive in \S+:\d+$/



=== TEST 48: astro_cache_adaptive: a degraded factor below 1
--- http_config
    astro_cache_zone api:1m;
    astro_cache_adaptive api degraded=0.5;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "degraded=0.5" in "astro_cache_adaptive" directive in \S+:\d+$/



=== TEST 49: astro_cache_adaptive: a degraded factor that is no number
--- http_config
    astro_cache_zone api:1m;
    astro_cache_adaptive api degraded=fast;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "degraded=fast" in "astro_cache_adaptive" directive in \S+:\d+$/



=== TEST 50: astro_cache_adaptive: a factor with three decimals
--- http_config
    astro_cache_zone api:1m;
    astro_cache_adaptive api degraded=1.125;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "degraded=1.125" in "astro_cache_adaptive" directive in \S+:\d+$/



=== TEST 51: astro_cache_adaptive: twice for one zone
--- http_config
    astro_cache_zone api:1m;
    astro_cache_adaptive api degraded=2;
    astro_cache_adaptive api critical=3;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: "astro_cache_adaptive" directive is duplicate in \S+:\d+$/



=== TEST 52: astro_cache: an unknown parameter
--- http_config
    astro_cache_zone api:1m;
--- config
    location /t {
        astro_cache zone=api ttl=1h;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "ttl=1h" in "astro_cache" directive in \S+:\d+$/



=== TEST 53: astro_cache: twice in one location
--- http_config
    astro_cache_zone api:1m;
--- config
    location /t {
        astro_cache zone=api;
        astro_cache off;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: "astro_cache" directive is duplicate in \S+:\d+$/



=== TEST 54: astro_cache_invalidate: an unknown parameter
--- http_config
    astro_cache_zone api:1m;
--- config
    location /inv {
        astro_cache_invalidate zone=api purge=all;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "purge=all" in "astro_cache_invalidate" directive in \S+:\d+$/



=== TEST 55: astro_cache_invalidate: too many arguments
--- http_config
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/astro_cache keys_zone=pc:1m;
    astro_cache_zone api:1m;
--- config
    location /inv {
        astro_cache_invalidate zone=api cache=pc mode=soft mode=hard;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid number of arguments in "astro_cache_invalidate" directive in \S+:\d+$/



=== TEST 56: astro_cache_invalidate: no arguments
--- http_config
    astro_cache_zone api:1m;
--- config
    location /inv {
        astro_cache_invalidate;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid number of arguments in "astro_cache_invalidate" directive in \S+:\d+$/



=== TEST 57: astro_cache_invalidate: twice in one location
--- http_config
    astro_cache_zone api:1m;
--- config
    location /inv {
        astro_cache_invalidate zone=api;
        astro_cache_invalidate zone=api mode=soft;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: "astro_cache_invalidate" directive is duplicate in \S+:\d+$/
