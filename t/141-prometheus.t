# ?format=prometheus with every module configured (a health zone with
# its fleet view in Redis, rate limit zones local, redis and hybrid on
# the suite's Redis, a tiered upstream with a circuit and a queue, a
# cache zone with classes and Redis sync, a shard map from nginx.conf),
# after some traffic, passes Prometheus's own linter: `promtool check
# metrics` prints nothing and exits 0; so does ?scope=fleet's.  The
# block's init drives the traffic and runs promtool on the real output
# (init runs once nginx is up, in both runners); the block's request
# then checks the renamed metrics of issue 19, their types and the counts
# of that traffic exactly.  Last, docs/prometheus's rules pass `promtool
# check rules` and their unit tests `promtool test rules`.
#
# Ports: nginx on TEST_NGINX_SERVER_PORT (1984) only; the backends are
# unix sockets of the same nginx, Redis is util/test-servers.sh's.

use strict;
use warnings;

my $Promtool;

BEGIN {
    $Promtool = $ENV{PROMTOOL} || '/usr/bin/promtool';

    if (!-x $Promtool) {
        require Test::More;
        Test::More::plan(skip_all => "no $Promtool (util/install-deps.sh "
                                     . "installs Debian's prometheus)");
    }
}

use Test::Nginx::Socket 'no_plan';
use FindBin ();
use lib "$FindBin::Bin/lib";
use Astro::Promtool ();
use HTTP::Tiny ();
use File::Temp ();

no_shuffle();

$ENV{TEST_NGINX_REDIS_PORT} ||= 6390;
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
$ENV{TEST_NGINX_SERVER_ROOT} ||= server_root();
$ENV{TEST_NGINX_RL_PREFIX} = "astro:t141:" . time() . ":$$:";

our ($Metrics, $Check, $CheckRc, $Fleet, $FleetCheck, $FleetRc);

sub promtool { return Astro::Promtool::run(@_) }

# the traffic, then the output and promtool's verdict on it

sub drive {
    my $http = HTTP::Tiny->new(timeout => 5);
    my $base = 'http://127.0.0.1:' . server_port();

    my @get = (
        '/loc', '/loc', '/loc', '/red', '/red', '/hyb',
        '/c/a', '/c/a', '/c/b',
        '/u?uid=1', '/u?uid=2', '/u?uid=3', '/u',
        '/e',
    );

    $http->get("$base$_") for @get;
    $http->get("$base/tier", { headers => { 'X-Tier' => 'gold' } })
        for 1 .. 4;

    # two health samples (interval=100ms): rates and EWMAs are set
    select undef, undef, undef, 0.35;

    my $res = $http->get("$base/astro/status?format=prometheus");
    die "status: $res->{status}\n" unless $res->{status} == 200;

    $Metrics = $res->{content};

    my $tmp = File::Temp->new(SUFFIX => '.prom');
    print $tmp $Metrics;
    close $tmp;

    ($Check, $CheckRc) = promtool($tmp->filename, 'check', 'metrics');

    # the fleet view (the zone's redis=), once it holds this node
    for (1 .. 40) {
        $res = $http->get("$base/astro/status?format=prometheus&scope=fleet");
        $Fleet = $res->{content};
        last if $Fleet =~ /\{node="n141"/;
        select undef, undef, undef, 0.1;
    }

    $tmp = File::Temp->new(SUFFIX => '.prom');
    print $tmp $Fleet;
    close $tmp;

    ($FleetCheck, $FleetRc) = promtool($tmp->filename, 'check', 'metrics');
}

run_tests();

# `promtool check metrics` on that output: no error, no warning

is($Check, '', 'promtool check metrics prints nothing')
    or diag("the output checked:\n$Metrics");
is($CheckRc, 0, 'promtool check metrics exits 0');

like($Fleet, qr/\{node="n141"/, '?scope=fleet: the node is in the view');
is($FleetCheck, '', '?scope=fleet: promtool check metrics prints nothing')
    or diag("the output checked:\n$Fleet");
is($FleetRc, 0, '?scope=fleet: promtool check metrics exits 0');

# what promtool does not check: each family's HELP and TYPE once, its
# samples together after them

{
    my (%seen, $family, @bad);

    for (split /\n/, $Metrics // '') {
        if (/^# TYPE (\w+) (\w+)$/) {
            push @bad, "second TYPE of $1" if $seen{$1}++;
            $family = $1;

        } elsif (/^(\w+)[{ ]/) {
            push @bad, "$1 outside its family"
                unless defined $family
                       && ($1 eq $family
                           || $1 =~ /^\Q$family\E_(?:bucket|sum|count)$/);
        }
    }

    is(join("\n", @bad), '', 'each family once, its samples after it');
    cmp_ok(scalar keys %seen, '>=', 80, 'every module wrote its families')
        or diag(join ' ', sort keys %seen);
}

# the rules operators load, and their unit tests

my $rules = "$FindBin::Bin/../docs/prometheus/astro-rules.yml";
my $tests = "$FindBin::Bin/../docs/prometheus/astro-rules.test.yml";

my ($out, $rc) = promtool(undef, 'check', 'rules', $rules);
is($rc, 0, 'promtool check rules exits 0') or diag($out);
like($out, qr/^  SUCCESS: \d+ rules found$/m, 'promtool check rules: SUCCESS')
    or diag($out);

($out, $rc) = promtool(undef, 'test', 'rules', $tests);
is($rc, 0, 'promtool test rules exits 0') or diag($out);
like($out, qr/^  SUCCESS$/m, 'promtool test rules: SUCCESS') or diag($out);

__DATA__

=== TEST 1: every module, after traffic: the new names, types and counts
--- http_config
    astro_health_zone t141:1m interval=100ms window=1s
                      redis=127.0.0.1:$TEST_NGINX_REDIS_PORT node=n141;
    # healthy whatever the machine's load: no alert, no shedding
    astro_health_threshold degraded cpu=off memory=off error_rate=off
                                    latency=off;
    astro_health_threshold critical cpu=off memory=off error_rate=off
                                    latency=off;

    astro_ratelimit_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT
                          prefix=$TEST_NGINX_RL_PREFIX;
    astro_ratelimit_zone zone=loc:1m key=$remote_addr rate=1000r/s
                         burst=100 backend=local;
    astro_ratelimit_zone zone=red:1m key=$remote_addr rate=1000r/s
                         burst=100 backend=redis;
    astro_ratelimit_zone zone=hyb:1m key=$remote_addr rate=1000r/s
                         burst=100 algorithm=gcra backend=hybrid;

    astro_tiers gold=1 free=2;

    upstream tiered {
        astro_tier_balance;
        astro_circuit failures=1 open=1m;
        astro_queue size=4 timeout=1s;
        server unix:$TEST_NGINX_HTML_DIR/b.sock max_conns=4;
        server 127.0.0.1:1 max_conns=4;
    }

    upstream b0 { server unix:$TEST_NGINX_HTML_DIR/b.sock; }
    upstream b1 { server unix:$TEST_NGINX_HTML_DIR/b.sock; }

    proxy_cache_path $TEST_NGINX_SERVER_ROOT/astro_cache keys_zone=c141:1m;
    astro_cache_zone z141:1m redis=127.0.0.1:$TEST_NGINX_REDIS_PORT sync=1s;
    astro_cache_ttl z141 short 2s;
    astro_cache_ttl z141 long 1h;

    astro_shard_map users strategy=hash hash=seed slots=16 fill=modulo;
    astro_shard users s0 b0;
    astro_shard users s1 b1;

    server {
        listen unix:$TEST_NGINX_HTML_DIR/b.sock;
        location / { return 200 "$uri\n"; }
    }
--- config
    astro_tier $http_x_tier;
    location /loc { astro_ratelimit zone=loc; echo l; }
    location /red { astro_ratelimit zone=red; echo r; }
    location /hyb { astro_ratelimit zone=hyb; echo h; }
    location /tier { proxy_pass http://tiered; }
    location /e { return 500; }
    location /c/ {
        proxy_cache c141;
        proxy_cache_key $astro_cache_gen:$uri;
        astro_cache zone=z141 class=long;
        proxy_pass http://b0;
    }
    location /u {
        astro_shard_key users $arg_uid;
        proxy_pass http://$astro_shard_upstream;
    }
    location /astro/status { astro_status; }
--- init
main::drive();
--- request
GET /astro/status?format=prometheus
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- response_body_like eval
qr/\A(?!.*_ms[{ ])(?!.*_percent[{ ])(?!.*quantile=)(?=.*
^astro_cache_requests_total\{zone="z141",class="long",status="hit"\} 1
astro_cache_requests_total\{zone="z141",class="long",status="miss"\} 2$)(?=.*
^astro_shard_map_stale\{map="users"\} 0$)(?=.*
^astro_shard_rejected_total\{map="users",reason="empty"\} 1$)# HELP astro_info .*
# TYPE astro_cpu_usage_ratio gauge
astro_cpu_usage_ratio (?:0|0\.\d+|1)
.*
# TYPE astro_memory_usage_ratio gauge
astro_memory_usage_ratio 0\.\d+
.*
# TYPE astro_error_ratio gauge
astro_error_ratio (?:0|0\.\d+|1)
# HELP astro_response_time_ewma_seconds [^\n]+
# TYPE astro_response_time_ewma_seconds gauge
astro_response_time_ewma_seconds [\d.]+
# HELP astro_response_time_raw_ewma_seconds [^\n]+
# TYPE astro_response_time_raw_ewma_seconds gauge
astro_response_time_raw_ewma_seconds [\d.]+
# HELP astro_response_time_window_seconds [^\n]+
# TYPE astro_response_time_window_seconds gauge
astro_response_time_window_seconds\{percentile="50"\} [\d.]+
astro_response_time_window_seconds\{percentile="95"\} [\d.]+
astro_response_time_window_seconds\{percentile="99"\} [\d.]+
# HELP astro_response_time_seconds [^\n]+
# TYPE astro_response_time_seconds histogram
.*
astro_response_time_seconds_count 27
# HELP astro_requests_total [^\n]+
# TYPE astro_requests_total counter
astro_requests_total 27
# HELP astro_responses_5xx_total [^\n]+
# TYPE astro_responses_5xx_total counter
astro_responses_5xx_total 1
.*
astro_ratelimit_requests_total\{zone="loc",result="passed"\} 3
.*
astro_ratelimit_requests_total\{zone="red",result="passed"\} 2
.*
# TYPE astro_ratelimit_redis_circuit gauge
astro_ratelimit_redis_circuit 0
.*
# TYPE astro_tier_upstream_server_response_time_seconds gauge
.*
# TYPE astro_tier_upstream_server_circuit_state gauge
astro_tier_upstream_server_circuit_state\{upstream="tiered",server="unix:[^"]+\/b\.sock"\} 0
astro_tier_upstream_server_circuit_state\{upstream="tiered",server="127\.0\.0\.1:1"\} 1
.*
\z/sm
--- no_error_log
[alert]
[emerg]
