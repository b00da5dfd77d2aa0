package Astro::Resolve;

# What the tests of a Redis given by host name share (t/130-134): two
# redis-servers on one port, at 127.0.0.1 and 127.0.0.2, and the fake
# DNS (Astro::Dns) answering "localhost" with the first; the http{} body
# of a rate limiter on "localhost"; counts of what went where.
#
# The name is "localhost": nginx -t resolves it through the system
# (/etc/hosts: 127.0.0.1), the workers through `resolver`, the fake DNS.

use strict;
use warnings;

use Exporter 'import';
use Test::More;
use Time::HiRes ();
use Astro::Instance qw(wait_until);
use Astro::Dns;

our @EXPORT_OK = qw(start_pair ratelimit_body count_keys redis_decides
                    answers_for);

our $DNS_PORT = 6495;

# (first, second, dns); BAIL_OUT when one cannot start, or when a Redis
# already answers where one must start
sub start_pair {
    my ($port) = @_;
    my @redis = map {
        Astro::Instance::Redis->new(host => $_, port => $port)
    } qw(127.0.0.1 127.0.0.2);

    for (@redis) {
        BAIL_OUT("a Redis already answers on $_->{host}:$port")
            if ($_->cli('PING') // '') eq 'PONG';
        ok($_->start, "redis on $_->{host}:$port starts")
            or BAIL_OUT('no redis');
    }

    my $dns = Astro::Dns->new(port => $DNS_PORT,
                              table => { localhost => ['127.0.0.1'] });
    ok($dns->start, "the DNS on udp 127.0.0.1:$DNS_PORT starts")
        or BAIL_OUT('no dns');

    return (@redis, $dns);
}

# The http{} body: astro_ratelimit_redis localhost:port with the
# parameters given, zone "o" (1r/m, burst 1, fail=open) at /o, adding
# X-RL: $astro_ratelimit_status, and the status; with resolver => 1,
# the fake DNS as the resolver (valid=1s) and resolver_timeout (1s, or
# resolver_timeout => ...).
sub ratelimit_body {
    my (%o) = @_;
    my $resolver = $o{resolver}
        ? "    resolver 127.0.0.1:$DNS_PORT valid=1s;\n"
          . '    resolver_timeout ' . ($o{resolver_timeout} || '1s') . ";\n"
        : '';
    return <<_EOC_;
$resolver
    astro_ratelimit_redis localhost:$o{port} $o{params};
    astro_ratelimit_zone zone=o:1m key=\$arg_k rate=1r/m burst=1
                         algorithm=gcra fail=open;
    server {
        listen 127.0.0.1:\$PORT;
        add_header X-RL \$astro_ratelimit_status always;
        location = /o { astro_ratelimit zone=o; echo ok; }
        location /astro/status { astro_status; }
    }
_EOC_
}

# the keys of a Redis that match a pattern
sub count_keys {
    my ($redis, $pattern) = @_;
    return $redis->cli('EVAL', "return #redis.call('KEYS', ARGV[1])", 0,
                       $pattern);
}

# Rounds of $round requests to /o, a new key each ("$tag$n", $$n counted
# on), until a whole round is decided by Redis (PASSED), within
# $timeout seconds: true then; the last round's answers in @$last.
sub redis_decides {
    my ($ngx, $n, $tag, $round, $timeout, $last) = @_;
    return wait_until(sub {
        @$last = map { $$n++; $ngx->rl_hit("/o?k=$tag$$n") } 1 .. $round;
        !grep { $_ ne '200 PASSED' } @$last;
    }, $timeout, 0.05);
}

# Requests to /o, a new key each ("$tag$n", $$n counted on), one every
# 50ms for $secs seconds: { answer => how many }
sub answers_for {
    my ($ngx, $n, $tag, $secs) = @_;
    my %seen;
    my $end = Time::HiRes::time() + $secs;
    while (Time::HiRes::time() < $end) {
        $$n++;
        $seen{ $ngx->rl_hit("/o?k=$tag$$n") }++;
        Time::HiRes::sleep(0.05);
    }
    return \%seen;
}


1;
