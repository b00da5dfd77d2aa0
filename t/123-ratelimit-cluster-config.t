# astro_ratelimit_redis cluster=: the list parses (with the other
# parameters; a decision with no cluster to ask takes the fail policy),
# and a bad list, a bad address in it, db= or cluster= out of place fail
# the configuration test in nginx's words, naming the value.  Nothing
# listens on 6489 (the cluster tests' last port).

use Test::Nginx::Socket 'no_plan';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: cluster: a list of seeds parses, the fail policy without them
--- http_config
    astro_ratelimit_redis cluster=127.0.0.1:6489,127.0.0.1 pool=1
                          timeout=100ms prefix=t123: max_fails=2;
    astro_ratelimit_zone zone=a:1m key=$uri rate=1r/m fail=open;
--- config
    location /t {
        astro_ratelimit zone=a;
        add_header X-RL $astro_ratelimit_status always;
        echo ok;
    }
--- request
GET /t
--- response_headers
X-RL: FAILOPEN
--- response_body
ok
--- error_code: 200



=== TEST 2: cluster: db= is refused, even db=0
--- http_config
    astro_ratelimit_redis cluster=127.0.0.1:6489 db=0;
--- config
--- must_die
--- error_log
invalid parameter "db=0" in "astro_ratelimit_redis" directive: a Redis Cluster has database 0 only



=== TEST 3: cluster: db=1, after other parameters
--- http_config
    astro_ratelimit_redis cluster=127.0.0.1:6489 pool=2 db=1;
--- config
--- must_die
--- error_log
invalid parameter "db=1" in "astro_ratelimit_redis" directive: a Redis Cluster has database 0 only



=== TEST 4: cluster: an empty list
--- http_config
    astro_ratelimit_redis cluster=;
--- config
--- must_die
--- error_log
invalid parameter "cluster=" in "astro_ratelimit_redis" directive: an empty address



=== TEST 5: cluster: an empty address at the end of the list
--- http_config
    astro_ratelimit_redis cluster=127.0.0.1:6489,;
--- config
--- must_die
--- error_log
invalid parameter "cluster=127.0.0.1:6489," in "astro_ratelimit_redis" directive: an empty address



=== TEST 6: cluster: an empty address inside the list
--- http_config
    astro_ratelimit_redis cluster=127.0.0.1:6489,,127.0.0.1:6488;
--- config
--- must_die
--- error_log
invalid parameter "cluster=127.0.0.1:6489,,127.0.0.1:6488" in "astro_ratelimit_redis" directive: an empty address



=== TEST 7: cluster: a port out of range
--- http_config
    astro_ratelimit_redis cluster=127.0.0.1:6489,127.0.0.1:99999;
--- config
--- must_die
--- error_log
invalid port in "127.0.0.1:99999" of "cluster=127.0.0.1:6489,127.0.0.1:99999" in "astro_ratelimit_redis" directive



=== TEST 8: cluster: a port that is no number
--- http_config
    astro_ratelimit_redis cluster=127.0.0.1:abc;
--- config
--- must_die
--- error_log
invalid port in "127.0.0.1:abc" of "cluster=127.0.0.1:abc" in "astro_ratelimit_redis" directive



=== TEST 9: cluster: a path is no cluster server
--- http_config
    astro_ratelimit_redis cluster=unix:/tmp/astro-t123.sock;
--- config
--- must_die
--- error_log
not a host and port in "unix:/tmp/astro-t123.sock" of "cluster=unix:/tmp/astro-t123.sock" in "astro_ratelimit_redis" directive



=== TEST 10: cluster: an address with a path after it
--- http_config
    astro_ratelimit_redis cluster=127.0.0.1:6489/0;
--- config
--- must_die
--- error_log
invalid host in "127.0.0.1:6489/0" of "cluster=127.0.0.1:6489/0" in "astro_ratelimit_redis" directive



=== TEST 11: cluster: after an address, cluster= is no parameter
--- http_config
    astro_ratelimit_redis 127.0.0.1:6489 cluster=127.0.0.1:6488;
--- config
--- must_die
--- error_log
invalid parameter "cluster=127.0.0.1:6488" in "astro_ratelimit_redis" directive



=== TEST 12: cluster: an unknown parameter after the list
--- http_config
    astro_ratelimit_redis cluster=127.0.0.1:6489 shards=3;
--- config
--- must_die
--- error_log
invalid parameter "shards=3" in "astro_ratelimit_redis" directive
