# The rate limiter's debug trace (error_log ... debug; nginx built
# --with-debug, as Debian's and make test-asan's are), backend=local: a
# line for each zone's answer with the key's crc32, never the key itself
# (crc32("alice") = 278EBC47, crc32("bob") = F5CBB140), and one for the
# speed limit's hold; the info lines of a rejection and a dry run among
# them.  A retry time depends on the milliseconds between the requests:
# those lines match it as a number, the rest exactly.

use Test::Nginx::Socket 'no_plan';
use FindBin ();

require "$FindBin::Bin/lib/Astro/Blocks.pm";

no_shuffle();
log_level('debug');

add_block_preprocessor(\&Astro::Blocks::ratelimit_block);

run_tests();

__DATA__

=== TEST 1: GCRA: two pass, the third is rejected
--- http_config
    astro_ratelimit_zone zone=dbg1:1m key=$arg_u rate=1r/m burst=1
                         backend=local;
--- config
    location /t { astro_ratelimit zone=dbg1; echo ok; }
    location /s {
        echo_location /self/t?u=alice;
        echo_location /self/t?u=alice;
        echo_location /self/t?u=alice;
    }
--- request
GET /s
--- response_body_like eval
qr{^ok\nok\n<html>.*?429.*?</html>\r?\n$}s
--- grep_error_log eval
qr/astro_\w+: .*?(?=, client: |$)/
--- grep_error_log_out eval
qr{^astro_ratelimit: zone "dbg1" key 278EBC47: passed, remaining 1, retry after 0ms
astro_ratelimit: zone "dbg1" key 278EBC47: passed, remaining 0, retry after \d+ms
astro_ratelimit: zone "dbg1" key 278EBC47: rejected, remaining 0, retry after \d+ms
astro_ratelimit: rejected by zone "dbg1"
\z}



=== TEST 2: the speed limit: the hold grows after "after"
--- http_config
    astro_ratelimit_zone zone=dbg2:1m key=$arg_u rate=10r/m
                         algorithm=sliding_window backend=local;
--- config
    location /t {
        astro_ratelimit zone=dbg2;
        astro_speedlimit zone=dbg2 after=1 delay=100ms;
        echo ok;
    }
    location /s {
        echo_location /self/t?u=bob;
        echo_location /self/t?u=bob;
        echo_location /self/t?u=bob;
    }
--- request
GET /s
--- response_body
ok
ok
ok
--- grep_error_log eval
qr/astro_\w+: .*?(?=, client: |$)/
--- grep_error_log_out
astro_ratelimit: zone "dbg2" key F5CBB140: passed, remaining 9, retry after 0ms
astro_speedlimit: zone "dbg2" key F5CBB140: request 1 of the window, delayed 0ms
astro_ratelimit: zone "dbg2" key F5CBB140: passed, remaining 8, retry after 0ms
astro_speedlimit: zone "dbg2" key F5CBB140: request 2 of the window, delayed 100ms
astro_ratelimit: zone "dbg2" key F5CBB140: passed, remaining 7, retry after 0ms
astro_speedlimit: zone "dbg2" key F5CBB140: request 3 of the window, delayed 200ms
--- timeout: 5



=== TEST 3: a dry run that would reject, and an empty key
--- http_config
    astro_ratelimit_zone zone=dbg3:1m key=$arg_u rate=1r/m backend=local;
--- config
    location /t { astro_ratelimit zone=dbg3 dry_run; echo ok; }
    location /s {
        echo_location /self/t?u=alice;
        echo_location /self/t?u=alice;
        echo_location /self/t;
    }
--- request
GET /s
--- response_body
ok
ok
ok
--- grep_error_log eval
qr/astro_\w+: .*?(?=, client: |$)/
--- grep_error_log_out eval
qr{^astro_ratelimit: zone "dbg3" key 278EBC47: passed, dry run, remaining 0, retry after \d+ms
astro_ratelimit: zone "dbg3" key 278EBC47: dry_run, remaining 0, retry after \d+ms
astro_ratelimit: dry run: zone "dbg3" would reject the request, retry after \d+ms
astro_ratelimit: zone "dbg3": an empty key, not limited
\z}
