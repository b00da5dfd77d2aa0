package Astro::Cache;

# What the cache module's tests (t/09x) share: an origin server with
# locations of their own, whose requests are counted in its access log,
# the headers a front shows of its cache, and a request seen as
# "status X-Cache X-Astro X-TTL".
#
#   my $ngx = Astro::Cache::instance('cache-ttl');
#   $ngx->start(Astro::Cache::origin($ORIGIN, 'location /a/ { ... }')
#               . $front) ...
#   is(Astro::Cache::seen($ngx, '/t/a'), '200 MISS MISS 2');
#   is(Astro::Cache::origin_count($ngx, qr{^/a }), 1);
#
# The front's locations take $Astro::Cache::SHOW, which adds X-Cache
# ($upstream_cache_status), X-Astro ($astro_cache_status), X-TTL
# ($astro_cache_ttl) and X-Class ($astro_cache_class).
#
# Ports: the cache tests' nginx listens on 8430 and their origins on
# 8431 (and 8432 when an origin is an instance of its own).

use strict;
use warnings;

use File::Path ();
use JSON::PP ();
use Time::HiRes ();
use Astro::Instance qw(wait_until);

our $FRONT = 8430;
our $ORIGIN = 8431;
our $ORIGIN2 = 8432;

our $SHOW = <<'_EOC_';
            add_header X-Cache $upstream_cache_status always;
            add_header X-Astro $astro_cache_status always;
            add_header X-TTL $astro_cache_ttl always;
            add_header X-Class $astro_cache_class always;
_EOC_

# An nginx on $FRONT (or $port): its directory open to the workers,
# which write the cache there when nginx runs as root.
sub instance {
    my ($name, %o) = @_;
    my $ngx = Astro::Instance->new(name => $name,
                                   port => $o{port} || $FRONT, %o);
    chmod 0755, $ngx->root;
    return $ngx;
}

# An origin server on $port: $locations inside, each request logged as
# "$request_uri $status" in logs/origin.log (relative to the prefix).
sub origin {
    my ($port, $locations) = @_;
    return <<_EOC_;
    log_format astro_origin '\$request_uri \$status';
    server {
        listen 127.0.0.1:$port;
        access_log logs/origin.log astro_origin;
$locations
    }
_EOC_
}

# The lines of the origin's log that match $re (all without one).
sub origin_lines {
    my ($ngx, $re) = @_;
    open my $fh, '<', $ngx->root . '/logs/origin.log' or return ();
    my @lines = grep { !defined $re || $_ =~ $re } <$fh>;
    close $fh;
    return @lines;
}

sub origin_count {
    my ($ngx, $re) = @_;
    return scalar(my @l = origin_lines($ngx, $re));
}

# The count once it has been $n for a moment (a background refresh logs
# after its client has its answer): the count after at most $timeout s.
sub origin_count_settled {
    my ($ngx, $re, $n, $timeout) = @_;
    wait_until(sub { origin_count($ngx, $re) >= $n }, $timeout || 2);
    Time::HiRes::sleep(0.2);
    return origin_count($ngx, $re);
}

# X-Cache of a request ("-" without one)
sub x_cache {
    my ($ngx, $path) = @_;
    return $ngx->get($path)->{headers}{'x-cache'} // '-';
}

# POST /inv?$args to an astro_cache_invalidate location: its status and
# its JSON answer, decoded ({} when it is not JSON)
sub invalidate {
    my ($ngx, $args) = @_;
    my $res = $ngx->get("/inv?$args", method => 'POST',
                        headers => { 'Content-Length' => 0 });
    my $json = eval { JSON::PP::decode_json($res->{body}) } || {};
    return ($res->{status}, $json);
}

# the status's section of the cache zone $zone ({} when there is none)
sub zone_status {
    my ($ngx, $zone) = @_;
    my $st = $ngx->status or return {};
    return $st->{modules}{cache}{zones}{$zone} || {};
}

# "status X-Cache X-Astro X-TTL" of a request ("-" for a header absent)
sub seen {
    my ($ngx, $path, %o) = @_;
    return show($ngx->get($path, %o));
}

sub show {
    my ($res) = @_;
    return join ' ', $res->{status},
                map { my $v = $res->{headers}{$_}; defined $v && length $v
                                                   ? $v : '-' }
                    qw(x-cache x-astro x-ttl);
}

# --- a health zone whose figures the test sets --------------------------

# The directives of a health zone that reads $prefix/fake/proc, sampled
# every 100 ms; a front shows its status at /health.
sub health_conf {
    my ($prefix) = @_;
    return <<_EOC_;
    astro_health_zone health:1m interval=100ms window=1s;
    astro_health_source root=$prefix/fake;
_EOC_
}

our $HEALTH_LOCATION = <<'_EOC_';
        location = /health {
            return 200 "$astro_health $astro_health_memory\n";
        }
_EOC_

# Writes the fake /proc: CPU busy per mille of a constant total (the
# sampler takes the whole then), memory available in kB of 1000000;
# with the default thresholds, busy 800 is degraded, 950 critical, and
# available 50000 is critical memory.
sub health_files {
    my ($ngx, %o) = @_;
    my $dir = $ngx->root . '/fake/proc';
    File::Path::make_path($dir);
    chmod 0755, $ngx->root . '/fake', $dir;
    my $busy = $o{busy} // 100;
    my $idle = 1000 - $busy;
    my $avail = $o{available} // 600000;
    my %files = (
        stat => "cpu  $busy 0 0 $idle 0 0 0 0 0 0\n",
        meminfo => "MemTotal:        1000000 kB\n"
                   . "MemAvailable:     $avail kB\n",
        loadavg => "0.10 0.20 0.30 1/100 1\n",
    );
    for my $f (keys %files) {
        open my $fh, '>', "$dir/$f.tmp" or die "$dir/$f: $!";
        print $fh $files{$f};
        close $fh;
        rename "$dir/$f.tmp", "$dir/$f" or die "$dir/$f: $!";
    }
}

# true once the front's /health says $status, and memory $memory
# percent when given (within 3 s)
sub wait_health {
    my ($ngx, $status, $memory) = @_;
    my $want = defined $memory ? qr/^$status \Q$memory\E$/ : qr/^$status /;
    return wait_until(sub {
        ($ngx->get('/health')->{body} // '') =~ $want
    }, 3, 0.05);
}

1;
