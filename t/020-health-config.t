# Configuration of ngx_astro_health_module: what `nginx -t` accepts and
# the message naming the directive and the value for what it refuses.

use Test::Nginx::Socket 'no_plan';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a complete configuration starts
--- http_config
    astro_health_zone main:1m interval=500ms window=5s history=60;
    astro_health_threshold degraded cpu=60% memory=70.5% error_rate=10% latency=1500ms;
    astro_health_threshold critical cpu=95% memory=off latency=5s;
    astro_health_recover 5;
    astro_health_source root=/;
--- config
    astro_shed priority=$arg_p critical_below=2 degraded_below=3 degraded_share=25% status=429 retry_after=1m;
    location /t { return 200 "ok\n"; }
    location /off { astro_shed off; return 200 "off\n"; }
    location /astro/status { astro_status; }
--- request
GET /t
--- response_body
ok



=== TEST 2: astro_health_zone without a size
--- http_config
    astro_health_zone main;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid zone size "main" in \S+:\d+$/



=== TEST 3: astro_health_zone with a bad size
--- http_config
    astro_health_zone main:lots;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid zone size "main:lots" in \S+:\d+$/



=== TEST 4: astro_health_zone smaller than nginx allows
--- http_config
    astro_health_zone main:8k;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: zone "main:8k" is too small in \S+:\d+$/



=== TEST 5: astro_health_zone too small for its history
--- http_config
    astro_health_zone main:64k history=50000;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: zone "main:64k" is too small for history=50000 and 10 samples a window, at least \d+k is needed in \S+:\d+$/



=== TEST 6: astro_health_zone with an unknown parameter
--- http_config
    astro_health_zone main:1m colour=blue;
--- config
--- must_die
--- error_log
invalid parameter "colour=blue"



=== TEST 7: astro_health_zone with a bad interval
--- http_config
    astro_health_zone main:1m interval=10ms;
--- config
--- must_die
--- error_log
invalid parameter "interval=10ms"



=== TEST 8: astro_health_zone with a bad window
--- http_config
    astro_health_zone main:1m window=soon;
--- config
--- must_die
--- error_log
invalid parameter "window=soon"



=== TEST 9: astro_health_zone with a window shorter than the interval
--- http_config
    astro_health_zone main:1m interval=2s window=1s;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: window 1000ms must hold 1 to 3600 intervals of 2000ms in \S+:\d+$/



=== TEST 10: astro_health_zone with a bad history
--- http_config
    astro_health_zone main:1m history=0;
--- config
--- must_die
--- error_log
invalid parameter "history=0"



=== TEST 11: astro_health_zone twice
--- http_config
    astro_health_zone main:1m;
    astro_health_zone other:1m;
--- config
--- must_die
--- error_log
"astro_health_zone" directive is duplicate



=== TEST 12: astro_health_zone in a server block
--- config
    astro_health_zone main:1m;
--- must_die
--- error_log
"astro_health_zone" directive is not allowed here



=== TEST 13: astro_health_threshold with an unknown level
--- http_config
    astro_health_zone main:1m;
    astro_health_threshold severe cpu=80%;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid level "severe" in \S+:\d+$/



=== TEST 14: astro_health_threshold with a percentage over 100
--- http_config
    astro_health_zone main:1m;
    astro_health_threshold degraded cpu=101%;
--- config
--- must_die
--- error_log
invalid parameter "cpu=101%"



=== TEST 15: astro_health_threshold with a percentage without %
--- http_config
    astro_health_zone main:1m;
    astro_health_threshold critical memory=90;
--- config
--- must_die
--- error_log
invalid parameter "memory=90"



=== TEST 16: astro_health_threshold with a bad latency
--- http_config
    astro_health_zone main:1m;
    astro_health_threshold degraded latency=fast;
--- config
--- must_die
--- error_log
invalid parameter "latency=fast"



=== TEST 17: astro_health_threshold with an unknown metric
--- http_config
    astro_health_zone main:1m;
    astro_health_threshold degraded disk=80%;
--- config
--- must_die
--- error_log
invalid parameter "disk=80%"



=== TEST 18: astro_health_threshold with a level only
--- http_config
    astro_health_zone main:1m;
    astro_health_threshold degraded;
--- config
--- must_die
--- error_log
invalid number of arguments in "astro_health_threshold" directive



=== TEST 19: astro_health_recover with zero
--- http_config
    astro_health_zone main:1m;
    astro_health_recover 0;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid value "0" in \S+:\d+$/



=== TEST 20: astro_health_recover with a word
--- http_config
    astro_health_zone main:1m;
    astro_health_recover often;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid value "often" in \S+:\d+$/



=== TEST 21: astro_health_recover with two values
--- http_config
    astro_health_zone main:1m;
    astro_health_recover 2 3;
--- config
--- must_die
--- error_log
invalid number of arguments in "astro_health_recover" directive



=== TEST 22: astro_health_source without root=
--- http_config
    astro_health_zone main:1m;
    astro_health_source /srv/fake;
--- config
--- must_die
--- error_log
invalid parameter "/srv/fake"



=== TEST 23: astro_shed without a health zone
--- config
    astro_shed priority=$arg_p;
--- must_die
--- error_log
"astro_shed" requires "astro_health_zone"



=== TEST 24: astro_shed without priority
--- http_config
    astro_health_zone main:1m;
--- config
    astro_shed critical_below=2;
--- must_die
--- error_log
"astro_shed" must have "priority" parameter



=== TEST 25: astro_shed with a bad share
--- http_config
    astro_health_zone main:1m;
--- config
    astro_shed priority=$arg_p degraded_share=150%;
--- must_die
--- error_log
invalid parameter "degraded_share=150%"



=== TEST 26: astro_shed with a status that is no error
--- http_config
    astro_health_zone main:1m;
--- config
    astro_shed priority=$arg_p status=200;
--- must_die
--- error_log
invalid parameter "status=200"



=== TEST 27: astro_shed with a bad retry_after
--- http_config
    astro_health_zone main:1m;
--- config
    astro_shed priority=$arg_p retry_after=later;
--- must_die
--- error_log
invalid parameter "retry_after=later"



=== TEST 28: astro_shed with a bad critical_below
--- http_config
    astro_health_zone main:1m;
--- config
    astro_shed priority=$arg_p critical_below=-1;
--- must_die
--- error_log
invalid parameter "critical_below=-1"



=== TEST 29: astro_shed with an unknown parameter
--- http_config
    astro_health_zone main:1m;
--- config
    astro_shed priority=$arg_p mode=strict;
--- must_die
--- error_log
invalid parameter "mode=strict"



=== TEST 30: astro_status with an argument
--- config
    location /s { astro_status json; }
--- must_die
--- error_log
invalid number of arguments in "astro_status" directive



=== TEST 31: astro_status outside a location
--- config
    astro_status;
--- must_die
--- error_log
"astro_status" directive is not allowed here



=== TEST 32: astro_health_zone without arguments
--- http_config
    astro_health_zone;
--- config
--- must_die
--- error_log
invalid number of arguments in "astro_health_zone" directive



=== TEST 33: astro_health_source with two arguments
--- http_config
    astro_health_zone main:1m;
    astro_health_source root=/a root=/b;
--- config
--- must_die
--- error_log
invalid number of arguments in "astro_health_source" directive



=== TEST 34: astro_shed without arguments
--- http_config
    astro_health_zone main:1m;
--- config
    astro_shed;
--- must_die
--- error_log
invalid number of arguments in "astro_shed" directive



=== TEST 35: astro_health_threshold with a bad error_rate
--- http_config
    astro_health_zone main:1m;
    astro_health_threshold critical error_rate=half;
--- config
--- must_die
--- error_log
invalid parameter "error_rate=half"



=== TEST 36: astro_health_zone with a history over a day of samples
--- http_config
    astro_health_zone main:10m history=86401;
--- config
--- must_die
--- error_log
invalid parameter "history=86401"
