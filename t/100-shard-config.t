# ngx_astro_shard_module's directives: what parses, and every bad value
# failing the configuration test in nginx's words, naming the directive
# or the value.  The tables' own checks (overlaps, coverage, duplicates)
# are the pure builder's (t/unit/test_shard_table.c); here each shows
# once through nginx.conf with its line.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_SERVER_ROOT} ||= server_root();

# nginx gives its workers only the "env" variables (TESTS 65, 66)
$ENV{PGHOST} = '127.0.0.2';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: every directive and parameter parses
--- http_config
    upstream u0 { server 127.0.0.1:1; }
    upstream u1 { server 127.0.0.1:2; }
    upstream r0 { server 127.0.0.1:3; }
    astro_shard_zone shards:1m;
    astro_shard_map users strategy=hash hash=seed slots=8 fill=modulo;
    astro_shard users s0 u0 read=r0 weight=2;
    astro_shard users s1 u1;
    astro_shard_map sliced strategy=hash hash=murmur3 slots=4;
    astro_shard sliced a u0 from=0 to=3;
    astro_shard sliced b u1 from=3 to=4;
    astro_shard_map ring strategy=hash hash=crc32 fill=rendezvous;
    astro_shard ring a u0 weight=3;
    astro_shard ring b u1;
    astro_shard_map charts strategy=range;
    astro_shard charts old u0 to=2024-01-01;
    astro_shard charts new u1 from=2024-01-01 default;
    astro_shard_map content strategy=list;
    astro_shard content c1 u0 values=horoscope,chart;
    astro_shard content c2 u1 values=report default;
    astro_shard_map remote strategy=hash
        "postgres=hostaddr=127.0.0.1 port=1 dbname=astro user=astro"
        table=astro_shard refresh=500ms listen=off timeout=2s;
    astro_shard_map socket strategy=list
        "postgres=host=/var/run/postgresql dbname=astro" listen=maps_x;
--- config
    astro_shard_reads replica;
    astro_shard_missing 404;
    location /t {
        astro_shard_key users $arg_user_id access=auto;
        return 200 "$astro_shard $astro_shard_upstream\n";
    }
    location /w {
        astro_shard_key users $arg_user_id access=$http_x_access;
        astro_shard_reads primary;
        astro_shard_missing 422;
        return 200 "$astro_shard $astro_shard_upstream\n";
    }
    location /r {
        astro_shard_key charts $arg_day access=read;
        return 200 "ok\n";
    }
    location /off {
        astro_shard_key off;
        return 200 "ok\n";
    }
--- request
GET /t?user_id=1
--- response_body
s1 u1
--- error_code: 200



=== TEST 2: astro_shard_zone without its argument
--- http_config
    astro_shard_zone;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid number of arguments in "astro_shard_zone" directive in \S+:\d+$/



=== TEST 3: astro_shard_zone with two arguments
--- http_config
    astro_shard_zone a:1m b:1m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid number of arguments in "astro_shard_zone" directive in \S+:\d+$/



=== TEST 4: astro_shard_zone without a size
--- http_config
    astro_shard_zone shards;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "shards" in "astro_shard_zone" directive in \S+:\d+$/



=== TEST 5: astro_shard_zone with a bad size
--- http_config
    astro_shard_zone shards:lots;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "shards:lots" in "astro_shard_zone" directive in \S+:\d+$/



=== TEST 6: astro_shard_zone smaller than nginx allows
--- http_config
    astro_shard_zone shards:8k;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: zone "shards:8k" is too small in \S+:\d+$/



=== TEST 7: a second astro_shard_zone
--- http_config
    astro_shard_zone a:1m;
    astro_shard_zone b:1m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: "astro_shard_zone" directive is duplicate in \S+:\d+$/



=== TEST 8: astro_shard_map with a name only
--- http_config
    astro_shard_map m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid number of arguments in "astro_shard_map" directive in \S+:\d+$/



=== TEST 9: astro_shard_map without strategy
--- http_config
    astro_shard_map m slots=8;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: "astro_shard_map" must have "strategy" parameter in \S+:\d+$/



=== TEST 10: astro_shard_map: an unknown parameter
--- http_config
    astro_shard_map m strategy=hash vnodes=100;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "vnodes=100" in "astro_shard_map" directive in \S+:\d+$/



=== TEST 11: astro_shard_map: an unknown strategy
--- http_config
    astro_shard_map m strategy=user_id;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "strategy=user_id" in "astro_shard_map" directive in \S+:\d+$/



=== TEST 12: astro_shard_map: an unknown hash
--- http_config
    astro_shard_map m strategy=hash hash=md5;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "hash=md5" in "astro_shard_map" directive in \S+:\d+$/



=== TEST 13: astro_shard_map: no slots
--- http_config
    astro_shard_map m strategy=hash slots=0;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "slots=0" in "astro_shard_map" directive in \S+:\d+$/



=== TEST 14: astro_shard_map: more slots than a table takes
--- http_config
    astro_shard_map m strategy=hash slots=65537;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "slots=65537" in "astro_shard_map" directive in \S+:\d+$/



=== TEST 15: astro_shard_map: an unknown fill
--- http_config
    astro_shard_map m strategy=hash fill=ketama;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "fill=ketama" in "astro_shard_map" directive in \S+:\d+$/



=== TEST 16: astro_shard_map: slots of a range map
--- http_config
    astro_shard_map m strategy=range slots=8;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "slots=8" in "astro_shard_map" directive in \S+:\d+$/



=== TEST 17: astro_shard_map: a hash of a list map
--- http_config
    astro_shard_map m hash=crc32 strategy=list;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "hash=crc32" in "astro_shard_map" directive in \S+:\d+$/



=== TEST 18: astro_shard_map: a bad refresh
--- http_config
    astro_shard_map m strategy=hash "postgres=hostaddr=127.0.0.1" refresh=soon;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "refresh=soon" in "astro_shard_map" directive in \S+:\d+$/



=== TEST 19: astro_shard_map: a zero timeout
--- http_config
    astro_shard_map m strategy=hash "postgres=hostaddr=127.0.0.1" timeout=0;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "timeout=0" in "astro_shard_map" directive in \S+:\d+$/



=== TEST 20: astro_shard_map: a table prefix that is no SQL name
--- http_config
    astro_shard_map m strategy=hash "postgres=hostaddr=127.0.0.1"
                    "table=maps; DROP TABLE x";
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "table=maps; DROP TABLE x" in "astro_shard_map" directive in \S+:\d+$/



=== TEST 21: astro_shard_map: a channel that is no SQL name
--- http_config
    astro_shard_map m strategy=hash "postgres=hostaddr=127.0.0.1"
                    listen=astro-shard;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "listen=astro-shard" in "astro_shard_map" directive in \S+:\d+$/



=== TEST 22: astro_shard_map: refresh without PostgreSQL
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map m strategy=hash refresh=1s;
    astro_shard m s0 u;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: "refresh=1s" requires "postgres" in map "m" in \S+:\d+$/



=== TEST 23: astro_shard_map declared twice
--- http_config
    astro_shard_map m strategy=hash "postgres=hostaddr=127.0.0.1";
    astro_shard_map m strategy=list "postgres=hostaddr=127.0.0.1";
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: duplicate map "m" in "astro_shard_map" directive in \S+:\d+$/



=== TEST 24: a bad PostgreSQL connection string
--- http_config
    astro_shard_map m strategy=hash "postgres=hots=db";
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid "postgres" parameter: invalid connection option "hots" in \S+:\d+$/



=== TEST 25: a PostgreSQL host name: libpq would resolve it, blocking
--- http_config
    astro_shard_map m strategy=hash "postgres=host=db.example password=s3cret";
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid "postgres" parameter: host "db\.example" is not a numeric address \(use "hostaddr"\) in \S+:\d+$/
--- no_error_log
s3cret



=== TEST 26: a PostgreSQL host name in a URI, after an address
--- http_config
    astro_shard_map m strategy=hash
        "postgres=postgresql://astro:s3cret@127.0.0.1,db2/astro";
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid "postgres" parameter: host "db2" is not a numeric address \(use "hostaddr"\) in \S+:\d+$/
--- no_error_log
s3cret



=== TEST 27: PostgreSQL by address, socket, or a name with hostaddr
--- http_config
    astro_shard_map a strategy=hash "postgres=host=127.0.0.1,::1 port=1";
    astro_shard_map b strategy=hash "postgres=host=/tmp dbname=astro";
    astro_shard_map c strategy=hash
        "postgres=host=db.example hostaddr=127.0.0.1 port=1";
    astro_shard_map d strategy=hash "postgres=postgresql://127.0.0.1:1/x";
--- config
    location /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok



=== TEST 28: astro_shard with too few arguments
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map m strategy=hash;
    astro_shard m s0;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid number of arguments in "astro_shard" directive in \S+:\d+$/



=== TEST 29: astro_shard of a map not declared
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard nope s0 u;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: unknown astro_shard_map "nope" in "astro_shard" directive in \S+:\d+$/



=== TEST 30: astro_shard: an unknown parameter
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map m strategy=hash;
    astro_shard m s0 u backup;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "backup" in "astro_shard" directive in \S+:\d+$/



=== TEST 31: astro_shard: a default shard of a hash map
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map m strategy=hash;
    astro_shard m s0 u default;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "default" in "astro_shard" directive in \S+:\d+$/



=== TEST 32: astro_shard: values of a range map
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map m strategy=range;
    astro_shard m s0 u values=a,b;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "values=a,b" in "astro_shard" directive in \S+:\d+$/



=== TEST 33: astro_shard: a range of a list map
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map m strategy=list;
    astro_shard m s0 u from=2024-01-01;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "from=2024-01-01" in "astro_shard" directive in \S+:\d+$/



=== TEST 34: astro_shard: a weight of a list map
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map m strategy=list;
    astro_shard m s0 u weight=2 default;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "weight=2" in "astro_shard" directive in \S+:\d+$/



=== TEST 35: astro_shard: a zero weight
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map m strategy=hash fill=rendezvous;
    astro_shard m s0 u weight=0;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "weight=0" in "astro_shard" directive in \S+:\d+$/



=== TEST 36: astro_shard: an empty read upstream
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map m strategy=hash;
    astro_shard m s0 u read=;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "read=" in "astro_shard" directive in \S+:\d+$/



=== TEST 37: astro_shard: an empty list value
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map m strategy=list;
    astro_shard m s0 u values=a,,b;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "values=a,,b" in "astro_shard" directive in \S+:\d+$/



=== TEST 38: a shard declared twice
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map m strategy=hash;
    astro_shard m s0 u;
    astro_shard m s0 u;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: duplicate shard "s0" in map "m" in \S+:\d+$/



=== TEST 39: an unknown upstream
--- http_config
    astro_shard_map m strategy=hash;
    astro_shard m s0 nowhere;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: unknown upstream "nowhere" of shard "s0" in map "m" in \S+:\d+$/



=== TEST 40: an unknown read upstream; an upstream block after the map
--- http_config
    astro_shard_map m strategy=hash;
    astro_shard m s0 u read=replicas;
    upstream u { server 127.0.0.1:1; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: unknown upstream "replicas" of shard "s0" in map "m" in \S+:\d+$/



=== TEST 41: an upstream that proxy_pass makes is no upstream block
--- http_config
    astro_shard_map m strategy=hash;
    astro_shard m s0 127.0.0.1;
--- config
    location /p {
        proxy_pass http://127.0.0.1:1;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: unknown upstream "127\.0\.0\.1" of shard "s0" in map "m" in \S+:\d+$/



=== TEST 42: overlapping ranges
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map m strategy=range;
    astro_shard m old u to=2024-06-01;
    astro_shard m new u from=2024-01-01;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid map "m": overlapping ranges "\[, 2024-06-01\)" and "\[2024-01-01, \)" in \S+:\d+$/



=== TEST 43: a range that ends before it starts
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map m strategy=range;
    astro_shard m old u from=2024-01-01 to=2023-01-01;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid map "m": invalid range "\[2024-01-01, 2023-01-01\)" in \S+:\d+$/



=== TEST 44: a range bound that is no date nor number
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map m strategy=range;
    astro_shard m old u to=2024-02-30;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid map "m": invalid range value "2024-02-30" in \S+:\d+$/



=== TEST 45: range bounds of two kinds
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map m strategy=range;
    astro_shard m old u to=2024-01-01;
    astro_shard m new u from=20240101;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid map "m": range values of two kinds "2024-01-01" and "20240101" in \S+:\d+$/



=== TEST 46: a slot without a shard
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map m strategy=hash slots=16;
    astro_shard m a u from=0 to=10;
    astro_shard m b u from=11 to=16;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid map "m": slot 10 has no shard in \S+:\d+$/



=== TEST 47: a slot in two shards
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map m strategy=hash slots=16;
    astro_shard m a u from=0 to=10;
    astro_shard m b u from=9 to=16;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid map "m": slot 9 in two entries in \S+:\d+$/



=== TEST 48: a slot beyond slots=
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map m strategy=hash slots=16;
    astro_shard m a u from=0 to=17;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid map "m": invalid slot "17" in \S+:\d+$/



=== TEST 49: a list value in two shards
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map g strategy=list;
    astro_shard g eu u values=DE,FR;
    astro_shard g us u values=US,FR;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid map "g": duplicate value "FR" in \S+:\d+$/



=== TEST 50: two default shards
--- http_config
    upstream u { server 127.0.0.1:1; }
    astro_shard_map g strategy=list;
    astro_shard g eu u values=DE default;
    astro_shard g us u values=US default;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid map "g": two default shards "eu" and "us" in \S+:\d+$/



=== TEST 51: a map without shards and without PostgreSQL
--- http_config
    astro_shard_map m strategy=hash;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: map "m" has no shards and no "postgres" parameter in \S+:\d+$/



=== TEST 52: astro_shard_key with a map only
--- http_config
    astro_shard_map m strategy=hash "postgres=hostaddr=127.0.0.1";
--- config
    astro_shard_key m;
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid number of arguments in "astro_shard_key" directive in \S+:\d+$/



=== TEST 53: astro_shard_key with too many arguments
--- http_config
    astro_shard_map m strategy=hash "postgres=hostaddr=127.0.0.1";
--- config
    astro_shard_key m $arg_id access=read extra;
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid number of arguments in "astro_shard_key" directive in \S+:\d+$/



=== TEST 54: astro_shard_key of a map not declared
--- config
    astro_shard_key nope $arg_id;
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: unknown astro_shard_map "nope" in "astro_shard_key" directive in \S+:\d+$/



=== TEST 55: astro_shard_key: an unknown access
--- http_config
    astro_shard_map m strategy=hash "postgres=hostaddr=127.0.0.1";
--- config
    astro_shard_key m $arg_id access=append;
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "access=append" in "astro_shard_key" directive in \S+:\d+$/



=== TEST 56: astro_shard_key: an unknown parameter
--- http_config
    astro_shard_map m strategy=hash "postgres=hostaddr=127.0.0.1";
--- config
    astro_shard_key m $arg_id read;
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "read" in "astro_shard_key" directive in \S+:\d+$/



=== TEST 57: astro_shard_key twice in a location
--- http_config
    astro_shard_map m strategy=hash "postgres=hostaddr=127.0.0.1";
--- config
    location /t {
        astro_shard_key m $arg_id;
        astro_shard_key off;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: "astro_shard_key" directive is duplicate in \S+:\d+$/



=== TEST 58: astro_shard_reads: an unknown value
--- config
    astro_shard_reads nearest;
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid value "nearest" in "astro_shard_reads" directive, it must be "primary" or "replica" in \S+:\d+$/



=== TEST 59: astro_shard_missing: a status that is no refusal
--- config
    astro_shard_missing 200;
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid value "200" in "astro_shard_missing" directive, it must be a status from 400 to 599 in \S+:\d+$/



=== TEST 60: astro_shard_missing without its argument
--- config
    astro_shard_missing;
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid number of arguments in "astro_shard_missing" directive in \S+:\d+$/



=== TEST 61: a malformed PostgreSQL URI: libpq's message quotes it, password and all
--- http_config
    astro_shard_map m strategy=hash
        "postgres=postgresql://astro:s3cret@[::1/astro";
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid "postgres" parameter: end of string reached when looking for matching "\]" in IPv6 host address in URI in \S+:\d+$/
--- no_error_log
s3cret



=== TEST 62: a PostgreSQL service: pg_service.conf may name a host
--- http_config
    astro_shard_map m strategy=hash "postgres=service=astro password=s3cret";
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid "postgres" parameter: service "astro" may name a host \(use "hostaddr"\) in \S+:\d+$/
--- no_error_log
s3cret



=== TEST 63: a PostgreSQL service in a URI, even with hostaddr
--- http_config
    astro_shard_map m strategy=hash
        "postgres=postgresql://astro:s3cret@/astro?hostaddr=127.0.0.1&service=db";
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid "postgres" parameter: service "db" may name a host \(use "hostaddr"\) in \S+:\d+$/
--- no_error_log
s3cret



=== TEST 64: an empty PostgreSQL service: libpq looks "" up too
--- http_config
    astro_shard_map m strategy=hash "postgres=service='' hostaddr=127.0.0.1";
--- config
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid "postgres" parameter: service "" may name a host \(use "hostaddr"\) in \S+:\d+$/



=== TEST 65: neither host nor hostaddr: libpq's socket, not the PGHOST nginx started with
--- http_config
    astro_shard_map m strategy=hash "postgres=port=1 dbname=astro";
--- config
    location /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- wait: 0.3
--- error_log eval
qr/astro_shard_map "m": postgres connect: connection to server on socket "[^"]*\/\.s\.PGSQL\.1" failed/
--- no_error_log
127.0.0.2



=== TEST 66: env PGHOST gives it to the workers (docs/shard.md: an address)
--- main_config
    env PGHOST;
--- http_config
    astro_shard_map m strategy=hash "postgres=port=1 dbname=astro";
--- config
    location /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- wait: 0.3
--- error_log eval
qr/astro_shard_map "m": postgres connect: connection to server at "127\.0\.0\.2", port 1 failed/
