# nginx -s reload keeps the health zone's counters and history when the
# zone's size is unchanged.  Test::Nginx::Socket has no way to reload in
# the middle of a block, so this file drives nginx itself, with
# TEST_NGINX_BINARY and TEST_NGINX_LOAD_MODULES as the Socket tests do.

use strict;
use warnings;

use Test::More;
use HTTP::Tiny;
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);

my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
my @modules = split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '');
my $port = ($ENV{TEST_NGINX_PORT} || 1984) + 50;
my $root = tempdir('astro-reload-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $http = HTTP::Tiny->new(timeout => 5);

make_path("$root/conf", "$root/logs");

sub write_conf {
    my ($zone) = @_;
    my $load = join '', map { "load_module $_;\n" } @modules;

    open my $fh, '>', "$root/conf/nginx.conf" or die $!;
    print $fh <<_EOC_;
$load
master_process on;
worker_processes 2;
daemon on;
pid logs/nginx.pid;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $root/client_body_temp;
    proxy_temp_path $root/proxy_temp;
    fastcgi_temp_path $root/fastcgi_temp;
    uwsgi_temp_path $root/uwsgi_temp;
    scgi_temp_path $root/scgi_temp;
    astro_health_zone $zone;
    # the figures of a busy test machine are not what this test is about
    astro_health_threshold degraded cpu=off memory=off;
    astro_health_threshold critical cpu=off memory=off;
    server {
        listen 127.0.0.1:$port;
        location /t { return 200 "ok\\n"; }
        location /astro/status { astro_status; }
    }
}
_EOC_
    close $fh;
}

sub nginx {
    my @args = @_;
    return system($nginx, '-p', "$root/", '-c', 'conf/nginx.conf', @args);
}

sub status {
    my $res = $http->get("http://127.0.0.1:$port/astro/status");
    return $res->{success} ? $res->{content} : '';
}

sub field {
    my ($json, $re) = @_;
    return $json =~ $re ? $1 : undef;
}

# wait until the new workers answer with the expected configuration
sub wait_for {
    my ($re) = @_;
    for (1 .. 50) {
        my $s = status();
        return $s if $s =~ $re;
        sleep 0.1;
    }
    return status();
}

END {
    nginx('-s', 'stop') if -f "$root/logs/nginx.pid";
    sleep 0.3;
}

write_conf('main:1m interval=100ms history=300');
is(nginx(), 0, 'nginx starts');

for (1 .. 7) {
    my $res = $http->get("http://127.0.0.1:$port/t");
    die "request failed: $res->{status}" unless $res->{success};
}

sleep 0.5;

my $before = status();
my $first = field($before, qr/"history":\[\{"time":(\d+)/);

is(field($before, qr/"requests":(\d+)/), 7, '7 requests counted');
ok(defined $first, 'the history has samples');

# same size, another interval: counters and history carry over
write_conf('main:1m interval=200ms history=300');
is(nginx('-s', 'reload'), 0, 'reload');

my $after = wait_for(qr/"interval_ms":200/);

like($after, qr/"interval_ms":200/, 'the new configuration answers');
is(field($after, qr/"requests":(\d+)/), 7, 'the requests survive a reload');
is(field($after, qr/"history":\[\{"time":(\d+)/), $first,
   'the history survives a reload');
ok(field($after, qr/"samples":(\d+)/) >= field($before, qr/"samples":(\d+)/),
   'the sample count goes on');

# same size, another history length: the ring starts again, counters stay
write_conf('main:1m interval=200ms history=20');
is(nginx('-s', 'reload'), 0, 'reload with another history');

$after = wait_for(qr/"history":20/);
is(field($after, qr/"requests":(\d+)/), 7,
   'the requests survive a new history length');

# another size: a new zone
write_conf('main:2m interval=200ms history=20');
is(nginx('-s', 'reload'), 0, 'reload with another size');

$after = wait_for(qr/"size":2097152/);
is(field($after, qr/"requests":(\d+)/), 0, 'a resized zone starts anew');

open my $log, '<', "$root/logs/error.log" or die $!;
my @bad = grep { /\[(?:alert|crit|emerg)\]/ } <$log>;
is(scalar @bad, 0, 'no alert, crit or emerg in the error log')
    or diag(@bad);
close $log;

# a history that passes "nginx -t" but does not fit beside the old one:
# the reload fails and the running configuration keeps its zone intact
write_conf('main:2m interval=200ms history=20000');
is(nginx('-s', 'reload'), 0, 'reload with a long history');
wait_for(qr/"history":20000,/);
$http->get("http://127.0.0.1:$port/t") for 1 .. 3;
write_conf('main:2m interval=200ms history=40000');
is(nginx('-s', 'reload'), 0, 'reload with a history that does not fit');
sleep 1;

$after = status();
like($after, qr/"history":20000,/, 'the old configuration still answers');
is(field($after, qr/"requests":(\d+)/), 3, 'and still counts');
$after = wait_for(qr/"samples":\d+/);
my $samples = field($after, qr/"samples":(\d+)/);
sleep 0.5;
ok(field(status(), qr/"samples":(\d+)/) > $samples, 'and still samples');

open $log, '<', "$root/logs/error.log" or die $!;
ok((grep { /astro_health_zone "main"/ && /no memory/ } <$log>),
   'the failed allocation is logged');

done_testing();
