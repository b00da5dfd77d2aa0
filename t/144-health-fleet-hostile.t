# The fleet view read from a Redis that others write to: entries put in
# the registry and the streams with redis-cli, not by a node, must not
# blind the view nor break its JSON, Prometheus or HTML.  A name with a
# quote, <script>, a newline and a backslash is shown, escaped; a name of
# 10 KB and a score of +inf (which Redis gives a script as LLONG_MIN) are
# left out; a node whose stream key holds a string (XREVRANGE fails) is
# shown without samples; a score a day ahead of Redis's clock is dropped
# from the registry; a stream entry of 40 fields is left out; the node
# itself is still read every interval, with no error.  An "active" of
# 1e12 (beyond uint32_t) reads as 0; Prometheus writes a latency of 0.4
# ms as 0.0004 s (six decimals), not 0.  Test::Nginx runs one nginx, so
# this file drives nginx and a private redis-server itself
# (t/lib/Astro/Instance.pm), as t/142 does.
#
# Ports: nginx on 8493; Redis on 6501.

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

my $IV = 0.5;           # seconds, the zone's interval=
my $RPORT = 6501;
my $REG = 'astro:health:hz:nodes';
my $STREAM = 'astro:health:hz:node:';

my $redis = Astro::Instance::Redis->new(port => $RPORT);
ok($redis->start, "redis on $RPORT starts") or BAIL_OUT('no redis');

my $A = Astro::Instance->new(name => 'fleet-h', port => 8493, workers => 1,
    http => <<_EOC_);
    astro_health_zone hz:1m interval=500ms window=2s history=60
                      redis=127.0.0.1:$RPORT node=alpha keep=1m;
    astro_health_threshold degraded cpu=off memory=off;
    astro_health_threshold critical cpu=off memory=off;
    server {
        listen 127.0.0.1:\$PORT;
        location /astro/status { astro_status; }
    }
_EOC_

sub fleet {
    my $res = $A->get('/astro/status?scope=fleet&format=json', timeout => 5);
    return undef unless $res->{status} == 200;
    return eval { JSON::PP::decode_json($res->{body}) };
}

sub node_of {
    my ($doc, $name) = @_;
    return undef unless $doc && $doc->{nodes};
    my ($n) = grep { $_->{node} eq $name } @{ $doc->{nodes} };
    return $n;
}

ok($A->start, 'nginx starts') or BAIL_OUT('nginx');
ok(wait_until(sub { node_of(fleet(), 'alpha') }, 3), 'alpha sees itself');

# entries of no node, with Redis's own clock
my ($sec, $usec) = split /\n/, $redis->cli('TIME');
my $now_ms = $sec * 1000 + int($usec / 1000);

my $Q = qq{q"<script>alert(1)</script>\nx\\y};
my $BIG = 'n' x 10240;

for my $name ($Q, $BIG) {
    is($redis->cli('ZADD', $REG, $now_ms, $name), 1, 'ZADD '
       . (length $name > 64 ? 'a name of 10 KB' : 'a name with " < > \n \\'));
    like($redis->cli('XADD', $STREAM . $name, '*', 'time', $sec,
                     'status', 'healthy', 'cpu', '5', 'latency', '0.4',
                     'active', '1e12'),
         qr/^\d+-\d+$/, 'XADD its sample');
}
is($redis->cli('ZADD', $REG, '+inf', 'forever'), 1, 'ZADD a score of +inf');
is($redis->cli('SET', $STREAM . 'notastream', 'x'), 'OK',
   'SET a stream key to a string');
is($redis->cli('ZADD', $REG, $now_ms, 'notastream'), 1, 'ZADD its name');

# a score a day ahead of Redis's clock: dropped, not "seen 0 ms ago"
is($redis->cli('ZADD', $REG, $now_ms + 86_400_000, 'ahead'), 1,
   'ZADD a score a day ahead');
like($redis->cli('XADD', $STREAM . 'ahead', '*', 'time', $sec,
                 'status', 'healthy', 'active', '3'),
     qr/^\d+-\d+$/, 'XADD its sample');

# an entry of 40 fields after a node's own: left out, the own one read
is($redis->cli('ZADD', $REG, $now_ms, 'wide'), 1, 'ZADD "wide"');
like($redis->cli('XADD', $STREAM . 'wide', '*', 'time', $sec,
                 'status', 'healthy', 'active', '7'),
     qr/^\d+-\d+$/, 'XADD a sample of a node');
like($redis->cli('XADD', $STREAM . 'wide', '*', 'time', $sec,
                 'status', 'critical', 'active', '99',
                 map { ("f$_", $_) } 1 .. 37),
     qr/^\d+-\d+$/, 'XADD an entry of 40 fields after it');

sleep 3 * $IV;

my $doc = fleet();
ok($doc, '?scope=fleet is still JSON (UTF-8, escaped)') or BAIL_OUT('json');
is($doc->{error}, undef, 'no error: the view is read');
ok($doc->{read} && abs($doc->{read} - time) < 2 * $IV + 0.3,
   'read within two intervals');

my $alpha = node_of($doc, 'alpha');
ok($alpha && !$alpha->{stale}, 'alpha is there, not stale');

my $q = node_of($doc, $Q);
ok($q, 'the name with a quote, <script>, a newline is shown as it is');
is($q && $q->{active_connections}, 0, 'an active of 1e12 reads as 0');
ok($q && ($q->{stale} ? 1 : 0) == ($q->{age_ms} > 1500 ? 1 : 0),
   'and it is stale as its age says (over three intervals)');

is(scalar(grep { length $_->{node} > 64 } @{ $doc->{nodes} }), 0,
   'the name of 10 KB is left out');
is(scalar(grep { $_->{age_ms} > $doc->{keep_ms} } @{ $doc->{nodes} }), 0,
   'no node older than keep (the score of +inf is left out)');
ok(!node_of($doc, 'forever'), 'the entry of score +inf is not a node');
ok(!node_of($doc, 'ahead'), 'the node a day ahead is not shown');
is($redis->cli('ZSCORE', $REG, 'ahead'), '', 'and is out of the registry');
my $wide = node_of($doc, 'wide');
ok($wide && $wide->{status} eq 'healthy'
   && $wide->{active_connections} == 7,
   'the entry of 40 fields is left out, the node\'s own is read')
    or diag explain $wide;
my $w = node_of($doc, 'notastream');
ok($w && $w->{status} eq 'unknown' && !defined $w->{series},
   'a node whose stream is not a stream: shown, with no sample');

# Prometheus: the label escaped, every line a sample or a comment
{
    my $res = $A->get('/astro/status?scope=fleet&format=prometheus');
    is($res->{status}, 200, 'prometheus: 200');
    my $p = $res->{body};
    like($p, qr/^astro_fleet_up 1$/m, 'prometheus: up');
    like($p, qr/^astro_fleet_node_active_connections
                \{node="q\\"<script>alert\(1\)<\/script>\\nx\\\\y"\}\ 0$/mx,
         'prometheus: the label escaped (\", \n, \\\\)');
    like($p, qr/^astro_fleet_node_response_time_seconds\{node="q\\"[^\n]*\}
                \ 0\.0004$/mx,
         'prometheus: a latency of 0.4 ms is 0.0004 s, not 0');
    my @bad = grep { !/^(\#.*|[a-z_0-9]+(\{node="([^"\\\n]|\\[\\"n])*"
                       (,status="\w+")?\})?\ -?[\d.e+]+)$/x }
              split /\n/, $p;
    is(scalar @bad, 0, 'prometheus: every line a sample or a comment')
        or diag(join "\n", @bad[0 .. ($#bad > 4 ? 4 : $#bad)]);

    Astro::Promtool::metrics_ok($p, 'promtool check metrics: no error, '
                                    . 'no warning');
}

# the HTML view is a fixed page: no name from Redis is written into it
{
    my $res = $A->get('/astro/status?scope=fleet&format=html');
    is($res->{status}, 200, 'html: 200');
    unlike($res->{body}, qr/alert\(1\)|nnnnnnnn/, 'html: no name in it');
}

# still read a few intervals later, without an error
sleep 2 * $IV;
$doc = fleet();
ok($doc && !defined $doc->{error} && node_of($doc, 'alpha')
   && !node_of($doc, 'alpha')->{stale}, 'still read, alpha fresh');

is(scalar $A->bad_lines, 0, 'no alert, crit or emerg in the error log')
    or diag(join "\n", $A->bad_lines);

$A->stop;
$redis->stop;

done_testing();
