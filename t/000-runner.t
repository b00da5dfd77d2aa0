# Self-test of the test runner, using stock nginx features only.  Must pass
# both with t/lib's Test::Nginx subset (prove -I t/lib t/000-runner.t) and
# with CPAN's Test::Nginx (prove t/000-runner.t).

use FindBin ();

BEGIN {
    # Debian's nginx logs config-parse errors to stderr, where "--- error_log"
    # cannot see them (see t/lib/nginx-errlog-wrapper); TEST 6 needs them.
    $ENV{TEST_NGINX_BINARY} ||= "$FindBin::Bin/lib/nginx-errlog-wrapper";
}

use Test::Nginx::Socket;

repeat_each(2);

# per repeat: 5 + 6 + 2 + 2 + 3 + 6 + 3 + 5 tests (see the blocks)
plan tests => repeat_each() * 32;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

run_tests();

__DATA__

=== TEST 1: return + add_header, absent header
--- config
    location = /t {
        add_header X-Foo bar;
        return 200 "hello\n";
    }
--- request
GET /t
--- response_headers
X-Foo: bar
!X-Absent
Content-Type: text/plain
--- response_body
hello



=== TEST 2: request eval array, per-request error_code / response_body
--- config
    location = /a { return 200 "a\n"; }
    location = /b { return 201 "b\n"; }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 201]
--- response_body eval
["a\n", "b\n"]
--- no_error_log
[error]



=== TEST 3: user_files in a subdirectory, served by the default root
--- config
--- user_files
>>> sub/dir/hello.txt
hi from a user file
--- request
GET /sub/dir/hello.txt
--- response_body
hi from a user file



=== TEST 4: init runs before the requests
--- config
--- init
open my $fh, '>', "$ENV{TEST_NGINX_HTML_DIR}/from-init.txt" or die $!;
print $fh "written by init\n";
close $fh;
--- request
GET /from-init.txt
--- response_body
written by init



=== TEST 5: TEST_NGINX_* substitution, response_body_like, headers_like
--- config
    location = /port {
        add_header X-Port $TEST_NGINX_SERVER_PORT;
        return 200 "port=$TEST_NGINX_SERVER_PORT\n";
    }
--- request
GET /port
--- response_headers_like
X-Port: \d+
--- response_body_like
^port=\d+$



=== TEST 6: limit_req delays the second request (timeout, wait)
--- http_config
    limit_req_zone $binary_remote_addr zone=z:1m rate=1r/s;
--- config
    # limit_req acts in the preaccess phase, so serve a static file
    # ("return" would answer in the rewrite phase, before it)
    location = /lr.txt {
        limit_req zone=z burst=5;
        add_header X-Time $request_time;
        root $TEST_NGINX_HTML_DIR;
    }
--- user_files
>>> lr.txt
ok
--- request eval
["GET /lr.txt", "GET /lr.txt"]
--- response_headers_like eval
# the 1st request of the 2nd repeat may be delayed too
["X-Time: 0\\.\\d{3}", "X-Time: 0\\.[5-9]\\d\\d"]
--- timeout: 2
--- wait: 0.1
--- error_log
limit_req[0]:



=== TEST 7: must_die on an unknown directive, checked in error.log
--- config
    location = /t {
        no_such_directive_for_the_runner_test;
    }
--- must_die
--- error_log
[emerg]
unknown directive "no_such_directive_for_the_runner_test"



=== TEST 8: error_log eval qr// list, no_error_log lines
--- config
--- request
GET /does-not-exist.html
--- error_code: 404
--- error_log eval
[qr/open\(\) "[^"]+does-not-exist\.html" failed/, "No such file or directory"]
--- no_error_log
[alert]
[crit]
