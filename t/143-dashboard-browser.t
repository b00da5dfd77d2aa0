# The HTML dashboard of astro_status as a person sees it: Debian's
# chromium, headless, loads ?format=html from the test's nginx and runs
# its scripts for a virtual time budget (t/lib/Astro/Browser.pm).  The
# page prints nothing on the console, asks nothing of any other server,
# shows the figures of ?format=json, and its charts grow with the
# samples.  The health zone reads fake /proc files, so that the figures
# stand still between the browser's fetch and the test's: CPU 80 %,
# memory 40 %, load 0.10 / 0.20 / 0.30, degraded.  TEST 1 loads a
# scratch copy of the page with deliberate defects: each check catches
# its own.  TEST 3: the dashboard links to the fleet view, which shows
# this node (a, degraded) and a second one (b, CPU 50 %, healthy) that
# shares its Redis, each with the figures of ?scope=fleet&format=json.
# The screenshots, for a person to look at, are html/dashboard.png and
# html/fleet.png in the server root (t/servroot/html/).
#
# Ports: the fleet's Redis on 6505, node b on 8510.
#
# Without chromium: as root with apt-get, util/install-deps.sh --browser
# installs it; else the file skips, saying why.

use strict;
use warnings;

use Test::Nginx::Socket;
use FindBin;
use HTTP::Tiny;
use JSON::PP ();
use List::Util qw(sum0);
use Test::More ();
use Time::HiRes qw(sleep time);

require "$FindBin::Bin/lib/Astro/Blocks.pm";
require "$FindBin::Bin/lib/Astro/Browser.pm";
require "$FindBin::Bin/lib/Astro/Instance.pm";

my ($Chromium, $Why) = Astro::Browser::find("$FindBin::Bin/..");
plan skip_all => $Why unless $Chromium;
plan 'no_plan';

# the fleet view's Redis and second node (TEST 3)
my ($REDIS_PORT, $B_PORT) = (6505, 8510);
my $Redis;
if (Astro::Instance::have_redis()) {
    $Redis = Astro::Instance::Redis->new(port => $REDIS_PORT);
    $Redis->start or bail_out("redis on $REDIS_PORT did not start");
}

binmode(Test::More->builder->$_, ':encoding(UTF-8)')
    for qw(output failure_output todo_output);

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", <<'_EOC_')
    astro_health_zone main:1m interval=100ms window=1s history=600;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;
_EOC_
        unless defined $block->http_config;

    $block->set_value("user_files", Astro::Blocks::fake_proc(800))
        unless defined $block->user_files;

    $block->set_value("config", <<'_EOC_')
    location /t { echo ok; }
    location /astro/status { astro_status; }
_EOC_
        unless defined $block->config;
});

sub origin { 'http://127.0.0.1:' . server_port() }

sub http_get {
    my ($path) = @_;
    return HTTP::Tiny->new(timeout => 5)->get(origin() . $path);
}

sub status_json {
    my $res = http_get('/astro/status?format=json');
    return undef unless $res->{success};
    return eval { JSON::PP::decode_json($res->{content}) };
}

# what the dashboard shows, read from its DOM: name -> text
sub shown {
    my $dom = elements($_[0]);
    my %s;

    @s{qw(class status)} = $dom =~ m{<div id="bd" class="(\w*)">([^<]*)<};
    ($s{header}) = $dom =~ m{<small id="hd">([^<]*)</small>};
    my ($info) = $dom =~ m{<div class="mu" id="si">([^<]*)</div>};
    ($s{transitions}) = ($info // '') =~ /(\d+ transitions?)\b/;
    ($s{interval}) = ($info // '') =~ /samples every (\d+) ms/;
    ($s{error_box}) = $dom =~ m{<div id="er"((?: style="[^"]*")?)>};
    my ($mt) = $dom =~ m{id="mt">(.*?)</div>\s*<h2>}s;
    my $card = '<div class="c"><i>([^<]*)</i><b>([^<]*)</b>'
               . '(?:<i>([^<]*)</i>)?</div>';
    while (($mt // '') =~ /$card/g)
    {
        $s{"card $1"} = $2;
        $s{"card $1 note"} = $3 if defined $3;
    }
    my ($th) = $dom =~ m{<div id="th">(.*?)</div>}s;
    $s{thresholds} = join ' | ', ($th // '') =~ m{<td>([^<]*)</td>}g;
    ($s{samples}) = $dom =~ m{<span class="mu" id="hs">[^<]*?(\d+) samples<};
    ($s{'chart CPU'}) = $dom =~ m{<i>CPU</i> <span [^>]*>([^<]*)</span>};
    ($s{'chart Memory'}) = $dom =~ m{<i>Memory</i> <span [^>]*>([^<]*)</span>};
    return \%s;
}

# the points of each chart's lines
sub points {
    my $dom = elements($_[0]);
    return map { scalar(() = /(\S+,\S+)/g) }
               $dom =~ m{<polyline [^>]*points="([^"]*)"}g;
}

# the DOM without its scripts' text
sub elements {
    my ($dom) = @_;
    $dom =~ s{<script>.*?</script>}{}gs;
    return $dom;
}

# what the dashboard must show for the status JSON $j, written as its
# scripts write it: name -> text
sub expected {
    my ($j) = @_;
    my ($h, $m) = ($j->{health}, $j->{metrics});
    my $D = " \x{b7} ";
    my $th = $h->{thresholds};
    (my $req = $m->{requests}) =~ s/(\d)(?=(\d{3})+\z)/$1,/g;
    my @refused = values %{ $m->{refused} };
    my $last = $j->{history}[-1];

    return {
        status => $h->{status},
        class => $h->{status},
        header => "nginx/$j->{nginx_version}${D}zone $h->{zone}${D}updated",
        transitions => "$h->{transitions} transition"
                       . ($h->{transitions} == 1 ? '' : 's'),
        interval => $h->{interval_ms},
        error_box => ' style="display: none;"',
        'card CPU' => sprintf('%.1f %%', $m->{cpu}),
        'card CPU note' => $m->{cpu_source},
        'card Memory' => sprintf('%.1f %%', $m->{memory}),
        'card Memory note' => $m->{memory_source},
        'card Load 1 / 5 / 15' => join(' / ', map { sprintf '%.2f', $_ }
                                                  @{ $m->{load} }),
        'card Error rate' => sprintf('%.2f %%', $m->{error_rate}),
        'card Total requests' => $req,
        'card Refused (no errors)' => sum0(@refused),
        thresholds => join(' | ', map {
            my $l = $th->{$_};
            map { defined $_ ? sprintf('%.1f', $_) : '-' }
                @{$l}{qw(cpu memory error_rate latency_ms)}
        } qw(degraded critical)),
        'chart CPU' => sprintf('%.2f %%', $last->{cpu}),
        'chart Memory' => sprintf('%.2f %%', $last->{memory}),
    };
}

# true when the DOM shows the figure $key of expected() as it is (the
# header: begins with it, before the time of the last update)
sub compare {
    my ($shown, $want, $key) = @_;
    my $got = $shown->{$key} // '(none)';
    return index($got, $want->{$key}) == 0 if $key eq 'header';
    return $got eq $want->{$key};
}

sub page_url { origin() . '/astro/status?format=html' }

# a note of what the page asked for, for the log of the run
sub note_requests {
    my ($page, $what) = @_;
    my %n;
    $n{$_}++ for @{ $page->{requests} };
    Test::More::note(sprintf '%s: %d requests of the page (%s), %d of '
                     . 'chromium itself, %.1f s', $what,
                     scalar @{ $page->{requests} },
                     join(', ', map { "$_ x$n{$_}" } sort keys %n),
                     $page->{own}, $page->{seconds});
}

# TEST 1: a scratch copy of the page with a console error, an uncaught
# exception, a request to another server and a figure off by one
sub broken_copy_is_caught {
    my $res = http_get('/astro/status?format=html');
    ok($res->{success}, 'the page to copy');
    my $html = $res->{content};

    # the copy lives in html/, and reads the JSON of astro_status
    ok($html =~ s{var U=location\.pathname\+'\?format=json'}
                 {var U='/astro/status?format=json'},
       'the copy reads /astro/status?format=json');
    ok($html =~ s{n\(m\.cpu,1\)}{n(m.cpu+1,1)}, 'the copy shows CPU + 1');
    ok($html =~ s{^tick\(\);$}
                 {console.error("a deliberate error");
new Image().src="http://203.0.113.9/pixel.png";
tick();
setTimeout(function(){deliberately_undefined()},10);}m,
       'the copy logs an error, asks another server, throws');
    open my $fh, '>', html_dir() . '/broken.html' or die $!;
    print $fh $html;
    close $fh;

    my $j = wait_for_samples();
    my $page = Astro::Browser::load($Chromium, origin() . '/broken.html');
    is($page->{error}, undef, 'chromium ran');
    note_requests($page, 'the broken copy');
    Test::More::note("console: $_") for @{ $page->{console} };

    is(scalar(grep { /"a deliberate error"/ } @{ $page->{console} }), 1,
       'the console check catches console.error()');
    is(scalar(grep { /Uncaught ReferenceError: deliberately_undefined/ }
              @{ $page->{console} }), 1,
       'the console check catches the uncaught exception');
    is_deeply([Astro::Browser::foreign($page, origin())],
              ['http://203.0.113.9/pixel.png'],
              'the request check catches the request to another server');

    my $shown = shown($page->{dom});
    my $want = expected($j);
    is($shown->{'card CPU'}, '81.0 %', 'the copy shows CPU 81.0 %');
    ok(!compare($shown, $want, 'card CPU'),
       "the figure check catches it: JSON $want->{'card CPU'}");
    ok(compare($shown, $want, 'card Memory'),
       'the figure check passes the figures left alone (memory)');
}

# the status JSON once the zone has a few samples
sub wait_for_samples {
    my $j;
    my $end = time + 5;
    while (time < $end) {
        $j = status_json();
        last if $j && $j->{health}{status} ne 'unknown'
                && @{ $j->{history} || [] } >= 3;
        sleep 0.05;
    }
    return $j;
}

# TEST 2: the dashboard, loaded twice a second apart
sub dashboard_in_chromium {
    # counted by the zone; the browser's visits are not (astro_status)
    http_get('/t') for 1 .. 3;
    my $before = wait_for_samples();
    is($before->{metrics}{requests}, 3, 'the zone counted 3 requests');

    my $page = Astro::Browser::load($Chromium, page_url());
    my $after = status_json();
    is($page->{error}, undef, 'chromium ran');
    note_requests($page, 'first load');

    is_deeply($page->{console}, [], 'no console message');
    is_deeply([Astro::Browser::foreign($page, origin())], [],
              'no request outside ' . origin());
    is($page->{requests}[0], page_url(), 'the page is the first request');
    ok(scalar(grep { $_ eq origin() . '/astro/status?format=json' }
              @{ $page->{requests} }) >= 1,
       'it fetched /astro/status?format=json');

    my $shown = shown($page->{dom});
    my $want = expected($after);
    is_deeply($want, expected($before),
              'the compared figures stood still during the load');
    for my $key (sort keys %$want) {
        ok(compare($shown, $want, $key),
           "$key: the DOM shows \"" . ($shown->{$key} // '(none)')
           . "\", the JSON has \"$want->{$key}\"");
    }

    my @p1 = points($page->{dom});
    is(scalar @p1, 7, '7 lines in the charts');
    is(scalar(grep { $_ == $p1[0] } @p1), 7, "each of $p1[0] points");
    is($shown->{samples}, $p1[0], 'as many as the samples in the title');
    cmp_ok($p1[0], '>=', scalar @{ $before->{history} },
           'at least the samples before the load');
    cmp_ok($p1[0], '<=', scalar @{ $after->{history} },
           'at most the samples after it');

    sleep 1;

    my $png = html_dir() . '/dashboard.png';
    unlink $png;
    my $again = Astro::Browser::load($Chromium, page_url(),
                                     screenshot => $png);
    is($again->{error}, undef, 'chromium ran again');
    note_requests($again, 'second load');
    is_deeply($again->{console}, [], 'no console message');
    is_deeply([Astro::Browser::foreign($again, origin())], [],
              'no request outside ' . origin());

    my @p2 = points($again->{dom});
    is(scalar(grep { $_ == $p2[0] } @p2), 7, "7 lines of $p2[0] points");
    cmp_ok($p2[0], '>=', $p1[0] + 5,
           "the charts grew by at least 5 points of 10 samples a second "
           . "(from $p1[0])");

    ok(-s $png && -s $png > 10000, "a screenshot: $png")
        or Test::More::diag($again->{stderr});
    open my $fh, '<:raw', $png;
    read $fh, my $magic, 8 if $fh;
    is($magic, "\x89PNG\r\n\x1a\n", 'a PNG');
}

# TEST 3: this node (a, degraded) and a second one (b, healthy) on one
# Redis: the dashboard's link to the fleet view, and the view
sub fleet_in_chromium {
    unless ($Redis) {
      SKIP: { Test::More::skip('redis-server is not installed', 1) }
        return;
    }

    my $b = Astro::Instance->new(name => 'browser-b', port => $B_PORT);
    chmod 0755, $b->root;       # its workers read the fake /proc
    my $fake = $b->root . '/fake';
    my $files = Astro::Blocks::fake_proc(500);
    while ($files =~ /^>>> (\S+)\n(.*?)(?=^>>> |\z)/msg) {
        my ($path, $text) = ($1, $2);
        (my $dir = "$b->{root}/$path") =~ s{/[^/]+\z}{};
        mkdir $_ for "$b->{root}/fake", $dir;
        open my $fh, '>', "$b->{root}/$path" or die "$path: $!";
        print $fh $text;
        close $fh;
    }
    ok($b->start(<<_EOC_), "node b on $B_PORT starts");
    astro_health_zone main:1m interval=100ms window=1s history=600
                      redis=127.0.0.1:$REDIS_PORT node=b keep=1m;
    astro_health_source root=$fake;
    server {
        listen 127.0.0.1:\$PORT;
        location /astro/status { astro_status; }
    }
_EOC_

    my $fleet = sub {
        my $res = http_get('/astro/status?scope=fleet&format=json');
        return $res->{success}
               ? eval { JSON::PP::decode_json($res->{content}) } : undef;
    };
    my $t0 = time;
    my $before;
    while (time < $t0 + 5) {
        $before = $fleet->();
        last if $before && 2 == grep { !$_->{stale} }
                                     @{ $before->{nodes} || [] };
        sleep 0.05;
    }
    is_deeply([map { "$_->{node} $_->{status} CPU $_->{cpu}" }
                   @{ $before->{nodes} }],
              ['a degraded CPU 80', 'b healthy CPU 50'],
              sprintf('the fleet JSON has a and b, fresh, after %.1f s',
                      time - $t0));

    # the dashboard, with its link to the fleet view
    my $png = html_dir() . '/dashboard.png';
    my $page = Astro::Browser::load($Chromium, page_url(),
                                    screenshot => $png);
    is($page->{error}, undef, 'chromium ran');
    is_deeply($page->{console}, [], 'the dashboard: no console message');
    is_deeply([Astro::Browser::foreign($page, origin())], [],
              'no request outside ' . origin());
    my ($href) = $page->{dom} =~ m{<a id="fl" href="([^"]*)">};
    is($href, '?scope=fleet&amp;format=html', 'it links to the fleet view');
    ok(-s $png, "its screenshot: $png");

    $png = html_dir() . '/fleet.png';
    my $url = origin() . '/astro/status?scope=fleet&format=html';
    $page = Astro::Browser::load($Chromium, $url, screenshot => $png);
    my $after = $fleet->();
    is($page->{error}, undef, 'chromium ran');
    note_requests($page, 'the fleet view');
    is_deeply($page->{console}, [], 'the fleet view: no console message');
    is_deeply([Astro::Browser::foreign($page, origin())], [],
              'no request outside ' . origin());
    is($page->{requests}[0], $url, 'the page is the first request');
    ok(scalar(grep { $_ eq origin() . '/astro/status?scope=fleet&format=json' }
              @{ $page->{requests} }) >= 1,
       'it fetched ?scope=fleet&format=json');
    ok(-s $png && -s $png > 10000, "a screenshot: $png");

    my $rows = fleet_rows($page->{dom});
    my $want = fleet_expected($after);
    is_deeply($want, fleet_expected($before),
              'the compared figures stood still during the load');
    is_deeply([sort keys %$rows], ['a', 'b'], 'a row for a and for b');
    my ($hd) = $page->{dom} =~ m{<small id="hd">([^<]*)<};
    like($hd, qr/\Azone main \x{b7} 2 nodes \x{b7} /,
         "the title: zone main, 2 nodes (\"$hd\")");
    for my $node (sort keys %$want) {
        for my $key (sort keys %{ $want->{$node} }) {
            is($rows->{$node}{$key}, $want->{$node}{$key},
               "node $node, $key: \"$want->{$node}{$key}\" as in the JSON");
        }
        is($rows->{$node}{lines}, 3, "node $node: 3 sparklines");
    }

    # b stopped: a person sees it stale
    $t0 = time;
    $b->stop;
    my $stale;
    while (time < $t0 + 5) {
        $stale = $fleet->();
        my $wb = $stale ? fleet_expected($stale)->{b} : undef;
        last if $wb && $wb->{status} eq 'stale';
        sleep 0.05;
    }
    my $took = time - $t0;
    $page = Astro::Browser::load($Chromium, $url);
    $rows = fleet_rows($page->{dom});
    is_deeply($page->{console}, [], 'no console message');
    is($rows->{b}{status}, 'stale',
       sprintf('b stopped: its row shows "stale" (the JSON %.1f s after '
               . 'the stop began)', $took));
    is($rows->{a}{status}, 'degraded', 'a still shows "degraded"');
}

# the rows of the fleet view: node -> {name, status, class, cpu,
# memory, errors, lines}
sub fleet_rows {
    my $dom = elements($_[0]);
    my %rows;
    while ($dom =~ m{<tr class="[^"]*" data-node="([^"]*)">(.*?)</tr>}gs) {
        my ($node, $tr) = ($1, $2);
        my @td = $tr =~ m{<td>(.*?)</td>}gs;
        my %r;
        ($r{name} = $td[0] // '') =~ s/<[^>]*>//g;
        @r{qw(class status)} = ($td[1] // '')
                               =~ m{<span class="b (\w*)">([^<]*)<};
        @r{qw(cpu memory errors)} = @td[3, 4, 6];
        $r{lines} = () = $tr =~ /<polyline /g;
        $rows{$node} = \%r;
    }
    return \%rows;
}

# what the rows must show for the fleet JSON $j
sub fleet_expected {
    my ($j) = @_;
    my %want;
    for my $n (@{ $j->{nodes} || [] }) {
        $want{ $n->{node} } = {
            name => $n->{node} . ($n->{self} ? ' (this node)' : ''),
            status => $n->{stale} ? 'stale' : $n->{status},
            class => $n->{status},
            cpu => sprintf('%.1f', $n->{cpu}),
            memory => sprintf('%.1f', $n->{memory}),
            errors => sprintf('%.2f', $n->{error_rate}),
        };
    }
    return \%want;
}

run_tests();

__DATA__

=== TEST 1: a scratch copy with deliberate defects: the checks catch them
--- init
main::broken_copy_is_caught();
--- request
GET /astro/status?format=json
--- error_code: 200
--- no_error_log
[error]



=== TEST 2: the dashboard in chromium: clean, the JSON's figures, growing
--- init
main::dashboard_in_chromium();
--- request
GET /astro/status?format=json
--- response_body_like: "metrics":\{[^}]*"requests":3,
--- no_error_log
[error]



=== TEST 3: the fleet view of two nodes on one Redis, from the dashboard
--- http_config
    astro_health_zone main:1m interval=100ms window=1s history=600
                      redis=127.0.0.1:6505 node=a keep=1m;
    astro_health_source root=$TEST_NGINX_HTML_DIR/fake;
--- init
main::fleet_in_chromium();
--- request
GET /astro/status?scope=fleet&format=json
--- error_code: 200
--- no_error_log
[error]
