# The fleet view (astro_health_zone redis=): two nginx nodes on one Redis,
# samples every 500 ms.  Each node appends its samples to its stream
# (XLEN grows by one an interval, XRANGE holds the figures) and sees the
# other within two intervals of its start; ?scope=fleet answers JSON,
# Prometheus (promtool check metrics when it is installed) and the HTML
# view, which the dashboard links to.  A node stopped shows stale once
# its last sample is three intervals old.  Redis stopped (SIGSTOP, then
# killed): ?scope=fleet answers at once with its error, the samples go
# on in the zone's history; Redis back (empty): the view is read again
# without a reload.  Bad values of redis=, node= and keep= fail nginx -t.
# The times measured are printed (note).  Test::Nginx runs one nginx, so
# this file drives nginx and a private redis-server itself
# (t/lib/Astro/Instance.pm), as t/098 does.
#
# Ports: nginx on 8490, 8491 and 8492; Redis on 6500.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use Astro::Instance qw(have_redis wait_until);
use Astro::Promtool ();

plan skip_all => 'redis-server and redis-cli are not installed'
    unless have_redis();

my $IV = 0.5;           # seconds, the zones' interval=
my $TOL = 0.3;          # seconds, the tolerance of the times measured
my $RPORT = 6500;

my $redis = Astro::Instance::Redis->new(port => $RPORT);
ok($redis->start, "redis on $RPORT starts") or BAIL_OUT('no redis');

sub body {
    my ($params) = @_;
    return <<_EOC_;
    astro_health_zone hz:1m interval=500ms window=2s history=600
                      $params;
    # the host's load (other tests, builds) logs no transition
    astro_health_threshold degraded cpu=off memory=off;
    astro_health_threshold critical cpu=off memory=off;
    server {
        listen 127.0.0.1:\$PORT;
        location / { return 200 "ok\\n"; }
        location /astro/status { astro_status; }
    }
_EOC_
}

my $A = Astro::Instance->new(name => 'fleet-a', port => 8490, workers => 2,
    http => body("redis=127.0.0.1:$RPORT node=alpha keep=1m"));
my $B = Astro::Instance->new(name => 'fleet-b', port => 8491, workers => 2,
    http => body("redis=127.0.0.1:$RPORT node=beta keep=1m"));

# ?scope=fleet of a node: the decoded JSON and the answer's time (s)
sub fleet {
    my ($ngx) = @_;
    my $res = $ngx->get('/astro/status?scope=fleet&format=json',
                        timeout => 5);
    my $doc = $res->{status} == 200
              ? eval { JSON::PP::decode_json($res->{body}) } : undef;
    return ($doc, $res->{ms} / 1000);
}

sub node_of {
    my ($doc, $name) = @_;
    return undef unless $doc && $doc->{nodes};
    my ($n) = grep { $_->{node} eq $name } @{ $doc->{nodes} };
    return $n;
}

# --- bad values fail nginx -t ---------------------------------------------

{
    my $T = Astro::Instance->new(name => 'fleet-t', port => 8492);

    my $check = sub {
        my ($params) = @_;
        $T->write_conf(body($params));
        my $root = $T->root;
        my @cmd = ($ENV{TEST_NGINX_BINARY} || 'nginx', '-p', "$root/",
                   '-c', 'conf/nginx.conf', '-t');
        my $out = `@cmd 2>&1`;
        return ($? >> 8, $out);
    };

    my ($rc, $out) = $check->("redis=127.0.0.1:$RPORT node=alpha keep=1h");
    is($rc, 0, 'redis=, node=, keep= pass nginx -t') or diag($out);

    ($rc, $out) = $check->("redis=127.0.0.1:$RPORT");
    is($rc, 0, 'node= defaults to the host name') or diag($out);

    my @bad = (
        [ 'redis=', qr/invalid parameter "redis="/ ],
        [ "redis=127.0.0.1:$RPORT keep=soon",
          qr/invalid parameter "keep=soon"/ ],
        [ "redis=127.0.0.1:$RPORT keep=500ms",
          qr/invalid parameter "keep=500ms"/ ],
        [ "redis=127.0.0.1:$RPORT node=a/b",
          qr/parameter "node=a\/b" in "astro_health_zone" directive/ ],
        [ "redis=127.0.0.1:$RPORT node=",
          qr/invalid parameter "node="/ ],
        [ "redis=127.0.0.1:$RPORT node=" . ('n' x 65),
          qr/invalid parameter "node=n{65}"/ ],
        [ 'redis=127.0.0.1:99999',
          qr/invalid redis address "127.0.0.1:99999"/ ],
        [ 'node=alpha', qr/"node=alpha" requires "redis="/ ],
        [ 'keep=1h', qr/"keep=1h" requires "redis="/ ],
    );

    for my $b (@bad) {
        ($rc, $out) = $check->($b->[0]);
        ok($rc != 0 && $out =~ $b->[1]
           && $out =~ /astro_health_zone|nginx\.conf:\d+/,
           "nginx -t fails: $b->[0]") or diag($out);
    }

    # the fleet view takes room in the zone
    $T->write_conf(<<_EOC_);
    astro_health_zone hz:64k interval=500ms history=60
                      redis=127.0.0.1:$RPORT;
_EOC_
    my $root = $T->root;
    $out = `@{[ $ENV{TEST_NGINX_BINARY} || 'nginx' ]} -p $root/ -c conf/nginx.conf -t 2>&1`;
    like($out, qr/zone "hz:64k" is too small .* and the fleet view, at least \d+k/,
         'a zone too small for the fleet view fails nginx -t');
}

# --- two nodes ---------------------------------------------------------------

ok($A->start, 'node alpha starts') or BAIL_OUT('nginx');

ok(wait_until(sub { node_of((fleet($A))[0], 'alpha') }, 3),
   'alpha sees itself');

my $t0 = time;
ok($B->start, 'node beta starts') or BAIL_OUT('nginx');
my $started = time;

my ($seen_a, $seen_b);
wait_until(sub {
    $seen_a //= time if node_of((fleet($A))[0], 'beta');
    $seen_b //= time if node_of((fleet($B))[0], 'alpha');
    $seen_a && $seen_b;
}, 5, 0.02);

ok($seen_a && $seen_a - $started <= 2 * $IV + $TOL,
   sprintf('alpha sees beta %.3f s after beta answers (<= 2 intervals '
           . '+ %.1f s)', ($seen_a // time) - $started, $TOL));
ok($seen_b && $seen_b - $started <= 2 * $IV + $TOL,
   sprintf('beta sees alpha %.3f s after beta answers',
           ($seen_b // time) - $started));
note(sprintf('beta started in %.3f s; alpha saw it %.3f s, beta saw alpha '
             . '%.3f s after it answered', $started - $t0,
             ($seen_a // 0) - $started, ($seen_b // 0) - $started));

sleep 2 * $IV;

# the view of both nodes, from either
for my $ngx ($A, $B) {
    my ($doc, $s) = fleet($ngx);
    my $self = $ngx == $A ? 'alpha' : 'beta';

    ok($doc, "$self: ?scope=fleet is JSON") or next;
    is($doc->{zone}, 'hz', "$self: zone");
    is($doc->{node}, $self, "$self: node");
    is($doc->{error}, undef, "$self: no error");
    is($doc->{interval_ms}, 500, "$self: interval_ms");
    is($doc->{stale_after_ms}, 1500, "$self: stale_after_ms");
    ok($doc->{read} && abs($doc->{read} - time) < 2 * $IV + $TOL,
       "$self: read within two intervals");
    is(join(',', map { $_->{node} } @{ $doc->{nodes} }), 'alpha,beta',
       "$self: both nodes, by name");

    for my $n (@{ $doc->{nodes} }) {
        my $who = "$self sees $n->{node}";
        is($n->{self} ? 1 : 0, $n->{node} eq $self ? 1 : 0, "$who: self");
        like($n->{status}, qr/^(healthy|degraded|critical)$/,
             "$who: status");
        ok(!$n->{stale} && $n->{age_ms} < 2 * 500 + $TOL * 1000,
           "$who: age_ms $n->{age_ms}, not stale");
        ok(abs($n->{time} - time) < 3, "$who: time of the last sample");
        my $len = scalar @{ $n->{series}{time} };
        ok($len >= 2 && $len <= 60, "$who: a series of $len samples");
        is(scalar @{ $n->{series}{$_} }, $len, "$who: series $_")
            for qw(status cpu memory request_rate error_rate latency_ms
                   p95_ms load);
        ok(defined $n->{$_}, "$who: $_")
            for qw(cpu memory load request_rate error_rate latency_ms
                   p95_ms active_connections);
    }
}

# the streams
{
    my $key = 'astro:health:hz:node:alpha';
    my $x1 = $redis->cli('XLEN', $key);
    my $t1 = time;
    sleep 4 * $IV;
    my $x2 = $redis->cli('XLEN', $key);
    my $n = $x2 - $x1;
    my $want = (time - $t1) / $IV;
    ok($n >= $want - 2 && $n <= $want + 2,
       "alpha's stream grows one entry an interval ($n in "
       . sprintf('%.1f', $want) . ' intervals)');

    my $last = $redis->cli('XREVRANGE', $key, '+', '-', 'COUNT', 1);
    my @f = split /\n/, $last // '';
    shift @f;
    my %f = @f;
    like($f{status} // '', qr/^(healthy|degraded|critical)$/,
         'XREVRANGE: the last sample has a status');
    ok(defined $f{time} && abs($f{time} - time) < 2,
       'XREVRANGE: and its time');
    ok(defined $f{$_}, "XREVRANGE: and $_")
        for qw(cpu memory load request_rate error_rate latency p95 active);
    is($redis->cli('ZSCORE', 'astro:health:hz:nodes', 'beta') =~ /^\d+$/
       ? 1 : 0, 1, 'the registry has beta');
    ok($redis->cli('PTTL', $key) > 50_000, 'the stream expires after keep');
}

# Prometheus
{
    my $res = $A->get('/astro/status?scope=fleet&format=prometheus');
    is($res->{status}, 200, 'prometheus: 200');
    like($res->{headers}{'content-type'}, qr{^text/plain; version=0.0.4},
         'prometheus: content type');
    my $p = $res->{body};
    like($p, qr/^astro_fleet_up 1$/m, 'prometheus: up');
    like($p, qr/^astro_fleet_nodes 2$/m, 'prometheus: 2 nodes');
    like($p, qr/^astro_fleet_node_stale\{node="beta"\} 0$/m,
         'prometheus: beta not stale');
    like($p, qr/^astro_fleet_node_status\{node="alpha",status="\w+"\} 1$/m,
         'prometheus: alpha status');
    like($p, qr/^astro_fleet_node_age_seconds\{node="alpha"\} [\d.]+$/m,
         'prometheus: alpha age');
    like($p, qr/^astro_fleet_node_cpu_usage_ratio\{node="beta"\} [\d.e+-]+$/m,
         'prometheus: beta cpu');

    Astro::Promtool::metrics_ok($p, 'promtool check metrics: no error, '
                                    . 'no warning');
}

# the HTML view, and the dashboard's link to it
{
    my $res = $A->get('/astro/status?scope=fleet&format=html');
    is($res->{status}, 200, 'html: 200');
    like($res->{headers}{'content-type'}, qr{^text/html}, 'html: type');
    like($res->{body}, qr/<title>astro fleet<\/title>/, 'html: the view');
    like($res->{body}, qr/\?scope=fleet&format=json/,
         'html: it reads ?scope=fleet&format=json');

    $res = $A->get('/astro/status?format=html');
    like($res->{body}, qr/href="\?scope=fleet&amp;format=html"/,
         'the dashboard links to the fleet view');

    is($A->get('/astro/status?scope=nodes')->{status}, 400,
       'an unknown scope: 400');
}

# --- the view survives a reload --------------------------------------------

{
    my ($before) = fleet($A);
    ok($A->reload, 'alpha reloads');
    my ($after) = fleet($A);
    ok($after && $after->{calls} >= $before->{calls},
       "the view survives the reload (calls $before->{calls} -> "
       . "$after->{calls})");
    is(join(',', map { $_->{node} } @{ $after->{nodes} || [] }),
       'alpha,beta', 'both nodes at once after the reload');
    ok(wait_until(sub { (fleet($A))[0]{calls} > $after->{calls} }, 2),
       'the new workers read the view');
}

# --- a node stopped shows stale -------------------------------------------

{
    my $stop = time;
    $B->stop;
    my $gone = time;
    my $stale;
    wait_until(sub {
        my $n = node_of((fleet($A))[0], 'beta');
        $stale = time if $n && $n->{stale};
        $stale;
    }, 5, 0.02);

    # its last sample is before $gone, and at most an interval before
    # $stop
    ok($stale && $stale - $stop >= 3 * $IV - $IV - $TOL
       && $stale - $gone <= 3 * $IV + $TOL,
       sprintf('beta stale %.3f s after it was told to stop, %.3f s after '
               . 'it was gone (3 intervals after its last sample)',
               ($stale // time) - $stop, ($stale // time) - $gone));
    note(sprintf('beta stopped: %.3f s to stop, stale in the view of alpha '
                 . '%.3f s after it was told to', $gone - $stop,
                 ($stale // 0) - $stop));

    my ($doc) = fleet($A);
    my $a = node_of($doc, 'alpha');
    ok($a && !$a->{stale}, 'alpha is not stale');
    my $b = node_of($doc, 'beta');
    ok($b && $b->{age_ms} > 1500, "beta's age $b->{age_ms} ms");
}

# --- Redis stopped, then back ------------------------------------------------

{
    my ($doc) = fleet($A);
    my $samples = $A->status('/astro/status')->{health}{samples};

    $redis->pause;
    my $paused = time;
    my ($err, $slowest) = (undef, 0);
    wait_until(sub {
        my ($d, $s) = fleet($A);
        $slowest = $s if $s > $slowest;
        $err = time if $d && defined $d->{error};
        $err;
    }, 5, 0.05);

    ok($err && $err - $paused <= 2 * $IV + $TOL + 0.5,
       sprintf('Redis stopped: the error shows %.3f s after',
               ($err // time) - $paused));
    ok($slowest < 0.2, sprintf('?scope=fleet answers at once while Redis '
                               . 'is stopped (slowest %.3f s)', $slowest));

    ($doc, my $s) = fleet($A);
    like($doc->{error} // '', qr/^Redis unreachable/, 'the error field: '
         . ($doc->{error} // 'none'));
    ok($doc->{error_since}, 'error_since');
    ok(node_of($doc, 'alpha'), 'the view kept');

    $redis->sigkill;
    my $killed = time;
    sleep 3 * $IV;
    ($doc, $s) = fleet($A);
    ok($s < 0.2, sprintf('Redis killed: answered in %.3f s', $s));
    like($doc->{error} // '', qr/^Redis unreachable/,
         'Redis killed: the error field');
    my $n = node_of($doc, 'alpha');
    ok($n && $n->{stale}, 'Redis killed: alpha, not read again, is stale');

    my $p = $A->get('/astro/status?scope=fleet&format=prometheus')->{body};
    like($p, qr/^astro_fleet_up 0$/m, 'prometheus: up 0');

    my $now = $A->status('/astro/status')->{health}{samples};
    ok($now - $samples >= (time - $paused) / $IV - 2,
       'the samples go on in the zone (' . ($now - $samples) . ')');

    ok($redis->start, 'Redis back (empty)');
    my $back = time;
    my $ok;
    wait_until(sub {
        my ($d) = fleet($A);
        $ok = time if $d && !defined $d->{error} && node_of($d, 'alpha')
                      && !node_of($d, 'alpha')->{stale};
        $ok;
    }, 6, 0.05);
    ok($ok, sprintf('the view is read again %.3f s after Redis is back, '
                    . 'without a reload', ($ok // time) - $back));
    note(sprintf('Redis back: read again after %.3f s', ($ok // 0) - $back));
    ok($redis->cli('XLEN', 'astro:health:hz:node:alpha') >= 1,
       'the stream is written again');
}

# --- no redis= ------------------------------------------------------------------

{
    my $C = Astro::Instance->new(name => 'fleet-c', port => 8492,
                                 http => body(''));
    ok($C->start, 'a node without redis= starts');
    my ($doc) = fleet($C);
    is($doc->{error}, 'the health zone has no redis=',
       'without redis=: the error field');
    is(scalar @{ $doc->{nodes} }, 0, 'without redis=: no nodes');
    like($C->get('/astro/status?scope=fleet&format=prometheus')->{body},
         qr/^astro_fleet_up 0$/m, 'without redis=: up 0');
    $C->stop;
}

is(join('', map { $_->bad_lines } $A, $B), '', 'no alert or crash logged');

$A->stop;
$redis->stop;

done_testing;
