# With several workers, the files are still read once per interval: the
# worker whose timer fires first when a sample is due takes it.

use Test::Nginx::Socket 'no_plan';

master_on();
workers(2);
no_shuffle();

run_tests();

__DATA__

=== TEST 1: two workers, 100 ms interval: about 10 samples a second, not 20
--- http_config
    astro_health_zone main:1m interval=100ms window=1s;
--- config
    location /s { echo_sleep 1.0; echo_location /astro/status; }
    location /astro/status { astro_status; }
--- request
GET /s
--- response_body_like eval
qr/"samples":(?:9|1[0-4]),/
--- timeout: 5
