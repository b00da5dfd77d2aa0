# nginx -s reload keeps a backend=local rate limit zone's keys and counts
# when its size and algorithm are unchanged, and a reload that changes a
# zone's algorithm fails while the running configuration goes on.
# Test::Nginx::Socket has no way to reload in the middle of a block, so
# this file drives nginx itself, with TEST_NGINX_BINARY and
# TEST_NGINX_LOAD_MODULES as the Socket tests do.

use strict;
use warnings;

use Test::More;
use HTTP::Tiny;
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);

my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
my @modules = split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '');
my $port = ($ENV{TEST_NGINX_PORT} || 1984) + 51;
my $root = tempdir('astro-rl-reload-XXXXXX', TMPDIR => 1, CLEANUP => 1);
# a new connection for every request: none stays with an old worker
my $http = HTTP::Tiny->new(timeout => 5, keep_alive => 0);

make_path("$root/conf", "$root/logs");

# $gen: the X-Gen header of every answer, to tell the configurations apart
# $sw_alg: the algorithm= of zone "sw"
sub write_conf {
    my ($gen, $sw_alg) = @_;
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
    astro_ratelimit_zone zone=sw:1m key=\$arg_k rate=5r/m
                         algorithm=$sw_alg backend=local;
    astro_ratelimit_zone zone=g:1m key=\$arg_k rate=1r/m burst=4
                         algorithm=gcra backend=local;
    astro_ratelimit_headers on;
    server {
        listen 127.0.0.1:$port;
        add_header X-Gen $gen always;
        # a content handler: "return" would answer in the rewrite phase,
        # before any limit, and the workers may not read files in $root
        location = /sw { astro_ratelimit zone=sw; empty_gif; }
        location = /g { astro_ratelimit zone=g; empty_gif; }
        location = /ping { empty_gif; }
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

sub get {
    my ($path) = @_;
    return $http->get("http://127.0.0.1:$port$path");
}

sub status {
    my $res = get('/astro/status?format=json');
    return $res->{success} ? $res->{content} : '';
}

# a zone's counts in the status JSON, "passed/delayed/rejected/dry_run"
sub counts {
    my ($json, $zone) = @_;
    return $json =~ /"\Q$zone\E":\{[^{}]*?"passed":(\d+),
                     "delayed":(\d+),"rejected":(\d+),"dry_run":(\d+),/x
           ? "$1/$2/$3/$4" : undef;
}

sub algorithm {
    my ($json, $zone) = @_;
    return $json =~ /"\Q$zone\E":\{[^{}]*?"algorithm":"(\w+)"/
           ? $1 : undef;
}

# wait until the workers of configuration $gen answer
sub wait_gen {
    my ($gen) = @_;
    for (1 .. 50) {
        my $res = get('/ping');
        return 1 if ($res->{headers}{'x-gen'} // '') eq $gen;
        sleep 0.1;
    }
    return 0;
}

sub error_log {
    open my $log, '<', "$root/logs/error.log" or return ();
    my @lines = <$log>;
    close $log;
    return @lines;
}

# one request of key $k to /sw or /g: "status remaining"
sub hit {
    my ($loc, $k) = @_;
    my $res = get("/$loc?k=$k");
    return "$res->{status} " . ($res->{headers}{'ratelimit-remaining'} // '-');
}

END {
    nginx('-s', 'stop') if -f "$root/logs/nginx.pid";
    sleep 0.3;
}

# The sliding window weighs the previous minute's count by its overlap:
# requests across a minute boundary could see one more pass than below.
# The test takes a few seconds; one that would start in a minute's last
# 10 seconds waits for the next.
{
    my $s = time % 60;
    sleep(61 - $s) if $s >= 50;
}

my $expected = 'astro_ratelimit_zone "sw" uses algorithm=gcra while '
             . 'previously it used algorithm=sliding_window; '
             . 'rename the zone to change it';

write_conf(1, 'sliding_window');
is(nginx(), 0, 'nginx starts');
ok(wait_gen(1), 'the first configuration answers');

# 3 of the 5 requests of key "a" in both zones
is_deeply([map { hit('sw', 'a') } 1 .. 3], ['200 4', '200 3', '200 2'],
          'sliding window: 3 of 5 pass, 2 remain');
is_deeply([map { hit('g', 'a') } 1 .. 3], ['200 4', '200 3', '200 2'],
          'GCRA: 3 of 5 pass, 2 remain');

my $before = status();
is(counts($before, 'sw'), '3/0/0/0', 'sliding window: 3 passed counted');
is(counts($before, 'g'), '3/0/0/0', 'GCRA: 3 passed counted');

# an unrelated change: the zones carry over
write_conf(2, 'sliding_window');
is(nginx('-s', 'reload'), 0, 'reload');
ok(wait_gen(2), 'the new configuration answers');

my $after = status();
is(counts($after, 'sw'), '3/0/0/0',
   'sliding window: the counts survive a reload');
is(counts($after, 'g'), '3/0/0/0', 'GCRA: the counts survive a reload');

is_deeply([map { hit('sw', 'a') } 1 .. 3], ['200 1', '200 0', '429 0'],
          'sliding window: the key\'s state survives a reload');
is_deeply([map { hit('g', 'a') } 1 .. 3], ['200 1', '200 0', '429 0'],
          'GCRA: the key\'s state survives a reload');
is(hit('sw', 'b'), '200 4', 'sliding window: another key has its own');

$after = status();
is(counts($after, 'sw'), '6/0/1/0', 'sliding window: and counts on');
is(counts($after, 'g'), '5/0/1/0', 'GCRA: and counts on');

my @bad = grep { /\[(?:alert|crit|emerg)\]/ } error_log();
is(scalar @bad, 0, 'no alert, crit or emerg in the error log so far')
    or diag(@bad);

# another algorithm for "sw": the reload fails, the old configuration stays
write_conf(3, 'gcra');
is(nginx('-s', 'reload'), 0, 'reload with another algorithm');

my @emerg;
for (1 .. 50) {
    @emerg = grep { /\[emerg\]/ && /\Q$expected\E/ } error_log();
    last if @emerg;
    sleep 0.1;
}
is(scalar @emerg, 1, 'the algorithm change is refused and logged')
    or diag(grep { /\[(?:alert|crit|emerg)\]/ } error_log());

sleep 0.5;
is(get('/ping')->{headers}{'x-gen'}, 2, 'the old configuration answers');
$after = status();
is(algorithm($after, 'sw'), 'sliding_window', 'with its algorithm');
is(counts($after, 'sw'), '6/0/1/0', 'and its counts');
is(hit('sw', 'a'), '429 0', 'the key is still limited');
is(hit('sw', 'b'), '200 3', 'the other key goes on');
is(hit('g', 'c'), '200 4', 'and the GCRA zone too');
$after = status();
is(counts($after, 'sw'), '7/0/2/0', 'the old configuration counts on');
is(counts($after, 'g'), '6/0/1/0', 'in both zones');

@bad = grep { /\[(?:alert|crit|emerg)\]/ && !/\Q$expected\E/ } error_log();
is(scalar @bad, 0, 'no other alert, crit or emerg in the error log')
    or diag(@bad);

done_testing();
