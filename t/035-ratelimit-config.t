# The rate limiter's configuration: every directive parses, and bad values
# fail the configuration test in nginx's words, naming the value (a
# message that names no directive of its own is matched whole after the
# level, so that a "directive: " prefix fails it).

use Test::Nginx::Socket 'no_plan';

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
    astro_ratelimit_tier api premium rate=1000r/m;
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
invalid parameter "rate=0r/s"



=== TEST 3: ratelimit: a unit other than r/s or r/m
--- http_config
    astro_ratelimit_zone zone=a:1m key=$uri rate=10r/h backend=local;
--- config
--- must_die
--- error_log
invalid parameter "rate=10r/h"



=== TEST 4: ratelimit: not a rate
--- http_config
    astro_ratelimit_zone zone=a:1m key=$uri rate=abc backend=local;
--- config
--- must_die
--- error_log
invalid parameter "rate=abc"



=== TEST 5: ratelimit: an unknown algorithm
--- http_config
    astro_ratelimit_zone zone=a:1m key=$uri rate=1r/s algorithm=leaky;
--- config
--- must_die
--- error_log
invalid parameter "algorithm=leaky"



=== TEST 6: ratelimit: backend=redis without astro_ratelimit_redis
--- http_config
    astro_ratelimit_zone zone=a:1m key=$uri rate=1r/s;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: zone "a" has backend=redis but no "astro_ratelimit_redis" is configured in /



=== TEST 7: ratelimit: an unknown zone
--- config
    location /t {
        astro_ratelimit zone=nope;
    }
--- must_die
--- error_log
unknown astro_ratelimit_zone "nope"



=== TEST 8: ratelimit: a status outside 400..599
--- config
    astro_ratelimit_status 200;
--- must_die
--- error_log
invalid parameter "200"



=== TEST 9: ratelimit: speed limiting on a GCRA zone
--- http_config
    astro_ratelimit_zone zone=a:1m key=$uri rate=1r/s backend=local;
--- config
    astro_speedlimit zone=a after=1 delay=1s;
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: zone "a" must use algorithm=sliding_window in /



=== TEST 10: ratelimit: a bad Redis parameter
--- http_config
    astro_ratelimit_redis 127.0.0.1:6379 timeout=soon;
--- config
--- must_die
--- error_log
invalid parameter "timeout=soon"



=== TEST 10b: ratelimit: a bad hold
--- http_config
    astro_ratelimit_redis 127.0.0.1:6379 hold=later;
--- config
--- must_die
--- error_log
invalid parameter "hold=later"



=== TEST 10c: ratelimit: hold=0 (no holding) is valid
--- http_config
    astro_ratelimit_redis 127.0.0.1:6379 hold=0;
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok



=== TEST 11: ratelimit: a bad circuit parameter
--- http_config
    astro_ratelimit_redis 127.0.0.1:6379 max_fails=0;
--- config
--- must_die
--- error_log
invalid parameter "max_fails=0"



=== TEST 12: ratelimit: a bad backoff
--- http_config
    astro_ratelimit_redis 127.0.0.1:6379 backoff=later;
--- config
--- must_die
--- error_log
invalid parameter "backoff=later"



=== TEST 13: ratelimit: a pool too large
--- http_config
    astro_ratelimit_redis 127.0.0.1:6379 pool=65;
--- config
--- must_die
--- error_log
invalid parameter "pool=65"



=== TEST 14: ratelimit: a speed limit factor below 1
--- http_config
    astro_ratelimit_zone zone=a:1m key=$uri rate=1r/s backend=local
                         algorithm=sliding_window;
--- config
    astro_speedlimit zone=a after=1 delay=1s degraded=0.5;
--- must_die
--- error_log
invalid parameter "degraded=0.5"



=== TEST 15: ratelimit: a speed limit factor that is not a number
--- http_config
    astro_ratelimit_zone zone=a:1m key=$uri rate=1r/s backend=local
                         algorithm=sliding_window;
--- config
    astro_speedlimit zone=a after=1 delay=1s critical=x2;
--- must_die
--- error_log
invalid parameter "critical=x2"



=== TEST 16: ratelimit: a Redis host that does not resolve
--- http_config
    astro_ratelimit_redis redis.invalid:6379;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: host not found in "redis\.invalid:6379" in /



=== TEST 17: ratelimit: two Redis servers
--- http_config
    astro_ratelimit_redis 127.0.0.1:6379;
    astro_ratelimit_redis 127.0.0.1:6380;
--- config
--- must_die
--- error_log
"astro_ratelimit_redis" directive is duplicate



=== TEST 18: ratelimit: a burst on a sliding window
--- http_config
    astro_ratelimit_zone zone=a:1m key=$uri rate=10r/m burst=5
                         algorithm=sliding_window backend=local;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: "burst=5" needs algorithm=gcra in zone "a" in /



=== TEST 19: ratelimit: a tier too large to count exactly
--- http_config
    astro_ratelimit_zone zone=a:1m key=$uri rate=10r/m backend=local
                         tier=$http_x_tier;
    astro_ratelimit_tier a premium rate=100000000r/m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: "rate=100000000r\/m burst=0" is too large to count exactly in zone "a" in /



=== TEST 20: ratelimit: a zone declared twice
--- http_config
    astro_ratelimit_zone zone=a:1m key=$uri rate=1r/s backend=local;
    astro_ratelimit_zone zone=a:1m key=$uri rate=2r/s backend=local;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: duplicate zone "a" in /



=== TEST 21: ratelimit: a tier of an unknown zone
--- http_config
    astro_ratelimit_tier nope premium rate=10r/s;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: unknown astro_ratelimit_zone "nope" in /



=== TEST 22: ratelimit: a tier of a zone without "tier="
--- http_config
    astro_ratelimit_zone zone=a:1m key=$uri rate=1r/s backend=local;
    astro_ratelimit_tier a premium rate=10r/s;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: zone "a" has no "tier" parameter in /



=== TEST 23: ratelimit: a tier twice
--- http_config
    astro_ratelimit_zone zone=a:1m key=$uri rate=1r/s backend=local
                         tier=$http_x_tier;
    astro_ratelimit_tier a premium rate=10r/s;
    astro_ratelimit_tier a premium rate=20r/s;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: duplicate tier "premium" in zone "a" in /



=== TEST 24: ratelimit: a speed limit of an unknown zone
--- config
    astro_speedlimit zone=nope after=1 delay=1s;
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: unknown astro_ratelimit_zone "nope" in /



=== TEST 25: ratelimit: max_delay below delay
--- http_config
    astro_ratelimit_zone zone=a:1m key=$uri rate=1r/s backend=local
                         algorithm=sliding_window;
--- config
    astro_speedlimit zone=a after=1 delay=2s max_delay=1s;
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: "max_delay=1s" is less than "delay=2s" in /



=== TEST 26: ratelimit: a Redis user without a password
--- http_config
    astro_ratelimit_redis 127.0.0.1:6379 user=astro;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: "user=astro" requires "password" in /



=== TEST 27: ratelimit: a zone too small
--- http_config
    astro_ratelimit_zone zone=a:4k key=$uri rate=1r/s backend=local;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: zone "zone=a:4k" is too small in /



=== TEST 28: ratelimit: a status outside 400..599, in nginx's words
--- config
    astro_ratelimit_status 200;
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "200", it must be from 400 to 599 in /
