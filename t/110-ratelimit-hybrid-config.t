# The hybrid backend's configuration (backend=hybrid sync= exact_at=):
# every bad value and combination fails the configuration test naming the
# directive and the value; the defaults and the extremes parse (GCRA with
# a burst too), and the zone's status shows them.  Redis need not answer: nothing is asked.

use Test::Nginx::Socket 'no_plan';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: hybrid: the defaults and the extremes parse; the status shows them
--- http_config
    astro_ratelimit_redis 127.0.0.1:6474;
    astro_ratelimit_zone zone=h:1m key=$uri rate=10r/s backend=hybrid;
    astro_ratelimit_zone zone=lo:1m key=$uri rate=10r/m backend=hybrid
                         sync=10ms exact_at=1%;
    astro_ratelimit_zone zone=hi:1m key=$uri rate=10r/m backend=hybrid
                         sync=60s exact_at=100% algorithm=sliding_window;
    astro_ratelimit_zone zone=dec:1m key=$uri rate=10r/m backend=hybrid
                         sync=1s exact_at=87.5%;
    astro_ratelimit_zone zone=g:1m key=$uri rate=10r/s burst=5
                         backend=hybrid algorithm=gcra sync=50ms;
--- config
    location /t {
        astro_ratelimit zone=h;
        astro_ratelimit zone=lo;
        astro_ratelimit zone=hi;
        astro_ratelimit zone=dec;
        astro_ratelimit zone=g;
        echo ok;
    }
    location /astro/status { astro_status; }
--- request
GET /astro/status
--- response_body_like eval
qr/"h":\{"rate":"10r\/s","burst":0,"algorithm":"sliding_window","backend":"hybrid".*"hybrid":\{"sync_ms":100,"exact_at":80\.00,.*"lo":\{.*"hybrid":\{"sync_ms":10,"exact_at":1\.00,.*"hi":\{.*"hybrid":\{"sync_ms":60000,"exact_at":100\.00,.*"dec":\{.*"hybrid":\{"sync_ms":1000,"exact_at":87\.50,.*"g":\{"rate":"10r\/s","burst":5,"algorithm":"gcra","backend":"hybrid".*"hybrid":\{"sync_ms":50,/s
--- error_code: 200



=== TEST 2: hybrid: sync below 10ms
--- http_config
    astro_ratelimit_redis 127.0.0.1:6474;
    astro_ratelimit_zone zone=h:1m key=$uri rate=10r/s backend=hybrid sync=5ms;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: astro_ratelimit_zone: invalid parameter "sync=5ms", it must be from 10ms to 60s in /



=== TEST 3: hybrid: sync above 60s
--- http_config
    astro_ratelimit_redis 127.0.0.1:6474;
    astro_ratelimit_zone zone=h:1m key=$uri rate=10r/s backend=hybrid sync=61s;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: astro_ratelimit_zone: invalid parameter "sync=61s", it must be from 10ms to 60s in /



=== TEST 4: hybrid: sync not a time
--- http_config
    astro_ratelimit_redis 127.0.0.1:6474;
    astro_ratelimit_zone zone=h:1m key=$uri rate=10r/s backend=hybrid sync=often;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: astro_ratelimit_zone: invalid parameter "sync=often", it must be from 10ms to 60s in /



=== TEST 5: hybrid: sync empty
--- http_config
    astro_ratelimit_redis 127.0.0.1:6474;
    astro_ratelimit_zone zone=h:1m key=$uri rate=10r/s backend=hybrid sync=;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: astro_ratelimit_zone: invalid parameter "sync=", it must be from 10ms to 60s in /



=== TEST 6: hybrid: exact_at 0%
--- http_config
    astro_ratelimit_redis 127.0.0.1:6474;
    astro_ratelimit_zone zone=h:1m key=$uri rate=10r/s backend=hybrid exact_at=0%;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: astro_ratelimit_zone: invalid parameter "exact_at=0%", it must be from 1% to 100% in /



=== TEST 7: hybrid: exact_at above 100%
--- http_config
    astro_ratelimit_redis 127.0.0.1:6474;
    astro_ratelimit_zone zone=h:1m key=$uri rate=10r/s backend=hybrid exact_at=101%;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: astro_ratelimit_zone: invalid parameter "exact_at=101%", it must be from 1% to 100% in /



=== TEST 8: hybrid: exact_at without %
--- http_config
    astro_ratelimit_redis 127.0.0.1:6474;
    astro_ratelimit_zone zone=h:1m key=$uri rate=10r/s backend=hybrid exact_at=80;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: astro_ratelimit_zone: invalid parameter "exact_at=80", it must be from 1% to 100% in /



=== TEST 9: hybrid: exact_at not a number
--- http_config
    astro_ratelimit_redis 127.0.0.1:6474;
    astro_ratelimit_zone zone=h:1m key=$uri rate=10r/s backend=hybrid exact_at=most%;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: astro_ratelimit_zone: invalid parameter "exact_at=most%", it must be from 1% to 100% in /



=== TEST 10: hybrid: sync without backend=hybrid (redis)
--- http_config
    astro_ratelimit_redis 127.0.0.1:6474;
    astro_ratelimit_zone zone=h:1m key=$uri rate=10r/s sync=100ms;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: astro_ratelimit_zone: "sync=100ms" needs backend=hybrid in zone "h" in /



=== TEST 11: hybrid: sync with backend=local
--- http_config
    astro_ratelimit_zone zone=h:1m key=$uri rate=10r/s backend=local sync=1s;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: astro_ratelimit_zone: "sync=1s" needs backend=hybrid in zone "h" in /



=== TEST 12: hybrid: exact_at with backend=redis
--- http_config
    astro_ratelimit_redis 127.0.0.1:6474;
    astro_ratelimit_zone zone=h:1m key=$uri rate=10r/s backend=redis exact_at=50%;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: astro_ratelimit_zone: "exact_at=50%" needs backend=hybrid in zone "h" in /



=== TEST 13: hybrid: exact_at with backend=local
--- http_config
    astro_ratelimit_zone zone=h:1m key=$uri rate=10r/s exact_at=90% backend=local;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: astro_ratelimit_zone: "exact_at=90%" needs backend=hybrid in zone "h" in /



=== TEST 14: hybrid: exact_at with algorithm=gcra (leases, no exact mode)
--- http_config
    astro_ratelimit_redis 127.0.0.1:6474;
    astro_ratelimit_zone zone=h:1m key=$uri rate=10r/s backend=hybrid algorithm=gcra exact_at=90%;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: astro_ratelimit_zone: "exact_at=90%" needs algorithm=sliding_window in zone "h" in /



=== TEST 15: hybrid: a burst (the sliding window has none)
--- http_config
    astro_ratelimit_redis 127.0.0.1:6474;
    astro_ratelimit_zone zone=h:1m key=$uri rate=10r/s backend=hybrid burst=5;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: "burst=5" needs algorithm=gcra in zone "h" in /



=== TEST 16: hybrid: without astro_ratelimit_redis
--- http_config
    astro_ratelimit_zone zone=h:1m key=$uri rate=10r/s backend=hybrid sync=1s;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: zone "h" has backend=hybrid but no "astro_ratelimit_redis" is configured in /



=== TEST 17: hybrid: an unknown backend
--- http_config
    astro_ratelimit_redis 127.0.0.1:6474;
    astro_ratelimit_zone zone=h:1m key=$uri rate=10r/s backend=hybird;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "backend=hybird" in "astro_ratelimit_zone" directive in /
