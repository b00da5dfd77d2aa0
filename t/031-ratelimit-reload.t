# nginx -s reload keeps a backend=local rate limit zone's keys and counts
# when its size and algorithm are unchanged, and a reload that changes a
# zone's algorithm fails while the running configuration goes on.
# Test::Nginx::Socket has no way to reload in the middle of a block, so
# this file drives nginx itself (t/lib/Astro/Instance.pm), with
# TEST_NGINX_BINARY and TEST_NGINX_LOAD_MODULES as the Socket tests do.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);
use Astro::Instance qw(nginx_port wait_until);

my $ngx = Astro::Instance->new(name => 'rl-reload', port => nginx_port(51),
                               workers => 2);

# the http{} body; $sw_alg: the algorithm= of zone "sw"
sub body {
    my ($sw_alg) = @_;
    return <<_EOC_;
    astro_ratelimit_zone zone=sw:1m key=\$arg_k rate=5r/m
                         algorithm=$sw_alg backend=local;
    astro_ratelimit_zone zone=g:1m key=\$arg_k rate=1r/m burst=4
                         algorithm=gcra backend=local;
    astro_ratelimit_headers on;
    server {
        listen 127.0.0.1:\$PORT;
        # a content handler: "return" would answer in the rewrite phase,
        # before any limit, and the workers may not read files in the
        # instance's directory
        location = /sw { astro_ratelimit zone=sw; empty_gif; }
        location = /g { astro_ratelimit zone=g; empty_gif; }
        location /astro/status { astro_status; }
    }
_EOC_
}

# a zone's counts in the status JSON, "passed/delayed/rejected/dry_run"
sub counts {
    my ($zone) = @_;
    my $z = ($ngx->ratelimit || {})->{zones}{$zone} or return undef;
    return join '/', @$z{qw(passed delayed rejected dry_run)};
}

sub algorithm {
    my ($zone) = @_;
    return ($ngx->ratelimit || {})->{zones}{$zone}{algorithm};
}

# one request of key $k to /sw or /g: "status remaining"
sub hit {
    my ($loc, $k) = @_;
    my $res = $ngx->get("/$loc?k=$k");
    return "$res->{status} " . ($res->{headers}{'ratelimit-remaining'} // '-');
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

ok($ngx->start(body('sliding_window')),
   'nginx starts and the first configuration answers');

# 3 of the 5 requests of key "a" in both zones
is_deeply([map { hit('sw', 'a') } 1 .. 3], ['200 4', '200 3', '200 2'],
          'sliding window: 3 of 5 pass, 2 remain');
is_deeply([map { hit('g', 'a') } 1 .. 3], ['200 4', '200 3', '200 2'],
          'GCRA: 3 of 5 pass, 2 remain');

is(counts('sw'), '3/0/0/0', 'sliding window: 3 passed counted');
is(counts('g'), '3/0/0/0', 'GCRA: 3 passed counted');

# an unrelated change: the zones carry over
ok($ngx->reload(body('sliding_window')),
   'reload: the new configuration answers');

is(counts('sw'), '3/0/0/0', 'sliding window: the counts survive a reload');
is(counts('g'), '3/0/0/0', 'GCRA: the counts survive a reload');

is_deeply([map { hit('sw', 'a') } 1 .. 3], ['200 1', '200 0', '429 0'],
          'sliding window: the key\'s state survives a reload');
is_deeply([map { hit('g', 'a') } 1 .. 3], ['200 1', '200 0', '429 0'],
          'GCRA: the key\'s state survives a reload');
is(hit('sw', 'b'), '200 4', 'sliding window: another key has its own');

is(counts('sw'), '6/0/1/0', 'sliding window: and counts on');
is(counts('g'), '5/0/1/0', 'GCRA: and counts on');

my @bad = grep { /\[(?:alert|crit|emerg)\]/ } $ngx->error_log;
is(scalar @bad, 0, 'no alert, crit or emerg in the error log so far')
    or diag(@bad);

# another algorithm for "sw": the reload fails, the old configuration stays
is($ngx->signal_reload(body('gcra')), 0, 'reload with another algorithm');

my @emerg;
wait_until(sub {
    @emerg = grep { /\[emerg\]/ && /\Q$expected\E/ } $ngx->error_log;
}, 5, 0.1);
is(scalar @emerg, 1, 'the algorithm change is refused and logged')
    or diag(grep { /\[(?:alert|crit|emerg)\]/ } $ngx->error_log);

sleep 0.5;
is($ngx->generation, 2, 'the old configuration answers');
is(algorithm('sw'), 'sliding_window', 'with its algorithm');
is(counts('sw'), '6/0/1/0', 'and its counts');
is(hit('sw', 'a'), '429 0', 'the key is still limited');
is(hit('sw', 'b'), '200 3', 'the other key goes on');
is(hit('g', 'c'), '200 4', 'and the GCRA zone too');
is(counts('sw'), '7/0/2/0', 'the old configuration counts on');
is(counts('g'), '6/0/1/0', 'in both zones');

@bad = grep { /\[(?:alert|crit|emerg)\]/ && !/\Q$expected\E/ }
       $ngx->error_log;
is(scalar @bad, 0, 'no other alert, crit or emerg in the error log')
    or diag(@bad);

done_testing();
