# astro_circuit: a server's circuit opens on consecutive failures or on an
# error rate, stays open for its time (doubled on each reopening), lets
# only its probes through when half-open and closes on their success.
#
# Backends on unix sockets: f1 fails (502) on /bad and answers on /good;
# ok2 always answers.  The servers have max_fails=0, so that nginx's own
# failure accounting stays out of the way; proxy_next_upstream http_502
# makes a 502 a failure, as it does for nginx.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;
    my $http = $block->http_config // '';
    $block->set_value('http_config', $http . <<'_EOC_');
    server {
        listen unix:$TEST_NGINX_HTML_DIR/f1.sock;
        location /bad { return 502; }
        location /good { return 200 "f1\n"; }
        location /slowbad { echo_sleep 0.3; echo_status 502; echo bad; }
    }
    server {
        listen unix:$TEST_NGINX_HTML_DIR/ok2.sock;
        location / { return 200 "ok2\n"; }
        location /slowbad { echo_sleep 0.3; echo "ok2"; }
    }
_EOC_
});

run_tests();

__DATA__

=== TEST 1: 3 failures open it for 1s; a failed probe, 2s; a good one closes
--- http_config
    upstream c1 {
        astro_tier_balance;
        astro_circuit failures=3 open=1s max_open=4s;
        server unix:$TEST_NGINX_HTML_DIR/f1.sock max_fails=0;
        server unix:$TEST_NGINX_HTML_DIR/ok2.sock max_fails=0;
    }
--- config
    location /p {
        proxy_pass http://c1/$arg_m;
        proxy_next_upstream error timeout http_502;
    }
    location /astro/status { astro_status; }
    location = /drive {
        # ten requests while f1 fails: it is tried until the third failure
        echo_location /p m=bad; echo_location /p m=bad;
        echo_location /p m=bad; echo_location /p m=bad;
        echo_location /p m=bad; echo_location /p m=bad;
        echo_location /p m=bad; echo_location /p m=bad;
        echo_location /p m=bad; echo_location /p m=bad;
        echo_location /astro/status format=json;
        echo;
        # the second is half-open: one probe, which fails: 2s more
        echo_sleep 1.1;
        echo_location /p m=bad; echo_location /p m=bad;
        echo_location /p m=bad; echo_location /p m=bad;
        echo_location /astro/status format=json;
        echo;
        # 1.1s later it is still open: f1 is not tried
        echo_sleep 1.1;
        echo_location /p m=bad; echo_location /p m=bad;
        echo_location /astro/status format=json;
        echo;
        # after 2s a probe that succeeds closes it: f1 serves again
        echo_sleep 1.0;
        echo_location /p m=good; echo_location /p m=good;
        echo_location /p m=good; echo_location /p m=good;
        echo_location /astro/status format=json;
    }
--- request
GET /drive
--- response_body_like eval
my $f1 = '"server":"unix:[^"]*/f1\.sock","backup":false';
qr!^(?:ok2\n){10}!
. qr!.*$f1,"requests":3,"active":0,"failures":3,[^}]*"circuit":"open","opened":1\}.*?\n\n!
. qr!(?:ok2\n){4}!
. qr!.*$f1,"requests":4,"active":0,"failures":4,[^}]*"circuit":"open","opened":2\}.*?\n\n!
. qr!(?:ok2\n){2}!
. qr!.*$f1,"requests":4,"active":0,"failures":4,[^}]*"circuit":"open","opened":2\}.*?\n\n!
. qr!(?:ok2\nf1\n|f1\nok2\n){2}!
. qr!.*$f1,"requests":6,"active":0,"failures":4,[^}]*"circuit":"closed","opened":2\}.*$!s
--- grep_error_log eval
qr/astro_circuit: upstream "c1" server unix:\S+: [^,\n]*/
--- grep_error_log_out eval
qr!^astro_circuit: upstream "c1" server unix:\S+/f1\.sock: open for 1000ms: 3 consecutive failures
astro_circuit: upstream "c1" server unix:\S+/f1\.sock: half-open
astro_circuit: upstream "c1" server unix:\S+/f1\.sock: open for 2000ms: a probe failed
astro_circuit: upstream "c1" server unix:\S+/f1\.sock: half-open
astro_circuit: upstream "c1" server unix:\S+/f1\.sock: closed
$!
--- timeout: 10



=== TEST 2: an error rate over 50% of at least 6 requests opens it
--- http_config
    upstream c2 {
        astro_tier_balance;
        astro_circuit failures=100 error_rate=50% min_requests=6 open=5s;
        server unix:$TEST_NGINX_HTML_DIR/f1.sock max_fails=0;
    }
--- config
    location /p {
        proxy_pass http://c2/$arg_m;
        proxy_next_upstream error timeout http_502;
    }
    location /astro/status { astro_status; }
    location = /drive {
        # good, bad, good, bad, good: 2 of 5, not enough requests yet
        echo_location /p m=good; echo_location /p m=bad;
        echo_location /p m=good; echo_location /p m=bad;
        echo_location /p m=good;
        echo_location /astro/status format=json;
        echo;
        # the sixth, bad: 3 of 6 failed, 50%: open
        echo_location /p m=bad;
        # open: no server left, 502 at once
        echo_location /p m=good;
        echo_location /astro/status format=json;
    }
--- request
GET /drive
--- response_body_like eval
my $f1 = '"server":"unix:[^"]*/f1\.sock","backup":false';
qr!^f1\n.*?f1\n.*?f1\n!s
. qr!.*$f1,"requests":5,"active":0,"failures":2,[^}]*"circuit":"closed","opened":0\}.*?\n\n!s
. qr!.*$f1,"requests":6,"active":0,"failures":3,[^}]*"circuit":"open","opened":1\}!s
. qr!.*"free":\{"requests":7,"fallbacks":0,"refused":1\}!s
--- error_log
astro_circuit: upstream "c2" server
open for 5000ms: 3 of 6 requests failed within 10000ms
--- timeout: 5



=== TEST 3: half-open lets one probe through at a time (probes=1)
--- http_config
    upstream c3 {
        astro_tier_balance;
        astro_circuit failures=1 open=500ms probes=1;
        server unix:$TEST_NGINX_HTML_DIR/f1.sock max_fails=0;
        server unix:$TEST_NGINX_HTML_DIR/ok2.sock max_fails=0;
    }
--- config
    location /p {
        proxy_pass http://c3/$arg_m;
        proxy_next_upstream error timeout http_502;
    }
    location /astro/status { astro_status; }
    location = /drive {
        # f1 fails once: open for 500ms
        echo_location /p m=bad; echo_location /p m=bad;
        echo_sleep 0.6;
        # three at once, each 300ms: one probes f1 (and fails), the other
        # two go to ok2 only
        echo_location_async /p m=slowbad;
        echo_location_async /p m=slowbad;
        echo_location_async /p m=slowbad;
        echo_sleep 0.8;
        echo_location /astro/status format=json;
    }
--- request
GET /drive
--- response_body_like eval
qr!^ok2\nok2\nok2\nok2\nok2\n.*"server":"unix:[^"]*/f1\.sock","backup":false,"requests":2,"active":0,"failures":2,[^}]*"circuit":"open","opened":2\}!s
--- timeout: 5
