#!/usr/bin/perl
# stress/check.pl DIR: the figures and the checks of a stress run, from
# the files stress/run.sh left in DIR. Prints a table of the figures,
# then each check, and exits 1 when one fails. The settings come from
# run.sh's environment (STRESS_*).
#
# A module joins with its locations in stress/locations (a hold of its
# own goes into %HOLDS below), its sections in the status (checked after
# every reload as the others are, by their names), and, for a check of
# its own, a sub in @CHECKS.
#
# Core Perl only (JSON::PP, List::Util), as the tests have.

use strict;
use warnings;
use JSON::PP ();
use List::Util qw(max min sum0 first);

my $dir = shift or die "usage: $0 DIR\n";
my %S = map { /^STRESS_(.*)$/ ? ($1 => $ENV{$_}) : () } keys %ENV;
my $json = JSON::PP->new;

# the parts of a bound, in ms (stress/locations); plain nginx has only
# the upstream part
my %HOLDS = (
    upstream => $S{PROXY_TRIES}
                * ($S{PROXY_CONNECT} + $S{PROXY_SEND} + $S{PROXY_READ}),
    queue    => $S{QUEUE_TIMEOUT},
    redis    => $S{REDIS_HOLD} + $S{REDIS_CONNECT} + $S{REDIS_TIMEOUT},
    speed    => $S{SPEED_MAX} * $S{SPEED_CRITICAL},
);
my $SLACK_MS = 100;

# gauges of the status's modules: back to their value before the load
# once the load is over (counters are not compared); the cache zone's
# pending: key invalidations not yet published (Redis away)
my %GAUGES = map { $_ => 1 }
    qw(active reserved length in_flight waiting pending);

# numbers of the status's modules that are neither gauges at rest when
# idle nor counters (ratelimit.redis.connections: open now, 0 before the
# first decision):
# the rest must never go back while nginx runs, reloads and loses workers
# (a zone made anew after a reload would)
# (cache: the TTL applied now and its factor, Redis's connection and the
# sync's lag; shard: the map's age, the recent requests of a sliding
# window and what is made of them, the hot slots and the plan)
my %NOT_COUNTERS = map { $_ => 1 }
    qw(connections consecutive_failures rtt_us response_time_ms size pool
       history burst ttl adaptive ttl_applied factor connected lag
       age recent slot_share entry_share request_share hot_ratio
       imbalance hot_slots plan);

# wrk's socket errors: astro may have this many more than plain nginx
# (each kill resets the connections of one worker; astro's requests are
# held longer by its queue and limits, so more are in flight when one is
# killed or a generation quits)
sub socket_tolerance { my ($plain) = @_; return 2 * $plain + $S{CONNECTIONS} }

my (@failed, @passed);

sub check {
    my ($name, $ok, $detail) = @_;
    if ($ok) {
        push @passed, "$name: $detail";
    } else {
        push @failed, "$name: $detail";
    }
}

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or return undef;
    local $/;
    return scalar <$fh>;
}

sub lines {
    my ($f) = @_;
    open my $fh, '<', $f or return ();
    chomp(my @l = <$fh>);
    return @l;
}


# --- the run's events ---------------------------------------------------------

my @events;
for (lines("$dir/events.log")) {
    my ($t, $inst, $kind, $detail) = split / /, $_, 4;
    push @events, { t => $t, inst => $inst, kind => $kind,
                    detail => $detail // '' };
}

sub events { my ($inst, $kind) = @_;
    return grep { $_->{inst} eq $inst && $_->{kind} eq $kind } @events }

my ($wrk_start) = map { $_->{t} } events('-', 'wrk-start');
die "$0: no wrk-start in $dir/events.log\n" unless defined $wrk_start;
my $wrk_stop = $wrk_start + $S{DURATION};


# --- wrk ------------------------------------------------------------------------

my %wrk;
for my $inst (qw(astro plain)) {
    my $t = slurp("$dir/wrk-$inst.txt") // '';
    my %w = (requests => undef, connect => 0, read => 0, write => 0,
             timeout => 0, non2xx => 0);
    $w{requests} = $1 if $t =~ /(\d+) requests in/;
    @w{qw(connect read write timeout)} = ($1, $2, $3, $4)
        if $t =~ /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/;
    $w{non2xx} = $1 if $t =~ /Non-2xx or 3xx responses: (\d+)/;
    $w{errors} = $w{connect} + $w{read} + $w{write} + $w{timeout};
    $wrk{$inst} = \%w;
    check("wrk ($inst)", defined $w{requests},
          defined $w{requests} ? "$w{requests} requests"
                               : "no figures in $dir/wrk-$inst.txt");
}


# --- the access logs: statuses and request times --------------------------------

# holds and answers are told apart by their names
my @locations;
for (lines($S{LOCATIONS})) {
    next if /^\s*(#|$)/;
    my ($prefix, @w) = split;
    my (@holds, %allowed);
    for (@w) {
        if (exists $HOLDS{$_}) { push @holds, $_ }
        elsif ($_ ne '-') { $allowed{$_} = 1 }
    }
    push @locations, { prefix => $prefix, holds => \@holds,
                       allowed => \%allowed };
}
my @in_order = @locations;
@locations = sort { length $b->{prefix} <=> length $a->{prefix} } @locations;

# A request's time has two bounds: the upstream's part ($upstream_response_time,
# every try) and the rest (what the suite holds it for, before the upstream);
# ($rest, $upstream) in ms
sub bounds_ms {
    my ($loc, $inst) = @_;
    my @h = @{$loc->{holds}};
    return (sum0(map { $HOLDS{$_} } grep { $_ ne 'upstream' && $inst eq 'astro' } @h),
            sum0(map { $HOLDS{$_} } grep { $_ eq 'upstream' } @h));
}

my %log;
my @users;   # astro's /users/ answers: [time, class, shard, version]
for my $inst (qw(astro plain)) {
    my %l = (lines => 0, bad => {}, over => 0, max => 0, max_at => '-',
             max_rest => 0, max_up => 0, class => {}, unmatched => 0,
             cache => {}, cached => 0);
    open my $fh, '<', "$dir/$inst/logs/access.log"
        or die "$0: $dir/$inst/logs/access.log: $!\n";
    while (<$fh>) {
        my ($msec, $status, $rt, $up, $ra, $uri) =
            /^(\S+) (\d+) (\S+) "([^"]*)" "([^"]*)" (\S+)/ or next;
        $l{lines}++;
        # the cache's status of /cached/ (astro's $astro_cache_status,
        # plain nginx's $upstream_cache_status), the log line's last field
        my $cs;
        if (index($uri, '/cached/') == 0) {
            ($cs) = /"([^"]*)"$/;
            $l{cache}{$cs // '?'}++;
            $l{cached}++;
        }
        my $loc = first { index($uri, $_->{prefix}) == 0 } @locations;
        my $class =
              $status =~ /^2/ ? '2xx'
            : $status == 429 ? ($ra ne '-' ? '429' : '429 without Retry-After')
            : $status == 503 ? ($ra ne '-' ? '503ra' : '503')
            : $status;
        $l{class}{$class}++;
        # astro's $astro_shard:$astro_shard_version, before the last field
        if ($inst eq 'astro' && index($uri, '/users/') == 0) {
            my ($shard, $version) = / (\S*):(\S*) "[^"]*"$/;
            push @users, [$msec, $class, $shard // '?', $version // '?'];
        }

        my $ok;
        if (!$loc) {
            $l{unmatched}++;
        } elsif ($status == 499) {
            $ok = $msec >= $wrk_stop - 0.5;   # wrk left it when it stopped
        } elsif ($inst eq 'astro') {
            $ok = $loc->{allowed}{$class};
        } else {
            $ok = $class eq '2xx';
        }
        $l{bad}{($loc ? $loc->{prefix} : $uri) . " $class"}++ unless $ok;

        next unless $loc;
        my $ms = $rt * 1000;
        if ($ms > $l{max}) {
            $l{max} = $ms;
            $l{max_at} = $loc->{prefix};
        }
        my $up_ms = 1000 * sum0($up =~ /(\d+\.\d+)/g);
        my $rest_ms = max(0, $ms - $up_ms);
        $l{max_rest} = max($l{max_rest}, $rest_ms);
        $l{max_up} = max($l{max_up}, $up_ms);
        my ($rest, $upb) = bounds_ms($loc, $inst);
        # the request that starts a background update is finished (and
        # logged) after the update, whose upstream time is not its own
        $rest += $upb if defined $cs && ($cs eq 'STALE' || $cs eq 'REFRESH');
        if ($rest_ms > $rest + $SLACK_MS || $up_ms > $upb + $SLACK_MS) {
            $l{over}++;
            $l{over_at}{$loc->{prefix}} //= sprintf
                '%.0f ms = %.0f + upstream %.0f (bounds %d and %d ms)',
                $ms, $rest_ms, $up_ms, $rest, $upb;
        }
    }
    close $fh;
    $log{$inst} = \%l;

    my @bad = sort { $l{bad}{$b} <=> $l{bad}{$a} } keys %{$l{bad}};
    check("statuses ($inst)", !@bad,
          @bad ? 'not documented: ' . join(', ', map { "$_ x$l{bad}{$_}" } @bad[0 .. min(5, $#bad)])
               : "$l{lines} answers, all documented");
    check("request time ($inst)", !$l{over},
          $l{over} ? "$l{over} over their bounds + ${SLACK_MS} ms, the first at each: "
                     . join(', ', map { "$_ $l{over_at}{$_}" } sort keys %{$l{over_at}})
                   : sprintf("max %.0f ms (%s); outside the upstream %.0f ms,"
                             . " upstream %.0f ms", $l{max}, $l{max_at},
                             $l{max_rest}, $l{max_up}));
}

{
    my ($ea, $ep) = ($wrk{astro}{errors}, $wrk{plain}{errors});
    my $tol = socket_tolerance($ep);
    check('socket errors', $ea <= $tol,
          "astro $ea, plain $ep, tolerance 2 x plain + connections = $tol");
}


# --- the status polls: zones after every reload, the health sampler -----------

my $before = $json->decode(slurp("$dir/status-before.json") // 'null');
my $after = $json->decode(slurp("$dir/status-after.json") // 'null');
die "$0: no status before the load\n" unless ref $before;

# the names of a status's modules and of their zones: every object key
# path under "modules", three deep (modules.ratelimit.zones.demo,
# modules.tier_upstream.upstreams.app, modules.cache.zones.content_ttl)
sub shape {
    my ($v, $path, $depth, $out) = @_;
    return $out unless ref $v eq 'HASH' && $depth > 0;
    for my $k (keys %$v) {
        $out->{"$path.$k"} = 1;
        shape($v->{$k}, "$path.$k", $depth - 1, $out);
    }
    return $out;
}

# every counter under "modules": the numbers but the gauges and the
# figures that go up and down (servers by their address)
sub counters {
    my ($v, $path, $out) = @_;
    if (ref $v eq 'HASH') {
        for my $k (keys %$v) {
            next if $GAUGES{$k} || $NOT_COUNTERS{$k};
            counters($v->{$k}, "$path.$k", $out);
        }
    } elsif (ref $v eq 'ARRAY') {
        for my $i (0 .. $#$v) {
            my $e = $v->[$i];
            counters($e, "$path\[" . (ref $e eq 'HASH' && $e->{server} // $i) . ']', $out);
        }
    } elsif (defined $v && !ref $v && $v =~ /^\d+$/) {
        $out->{$path} = $v;
    }
    return $out;
}

# the shard map "users" of stress/nginx.conf.in in a status answer ({} if
# none)
sub shard_map {
    my ($d) = @_;
    my $m = ref $d eq 'HASH' ? $d->{modules}{shard}{maps}{users} : undef;
    return ref $m eq 'HASH' ? $m : {};
}

# the cache zone of stress/nginx.conf.in in a status answer ({} if none)
sub cache_zone {
    my ($d) = @_;
    my $z = ref $d eq 'HASH' ? $d->{modules}{cache}{zones}{content_ttl} : undef;
    return ref $z eq 'HASH' ? $z : {};
}

my $shape0 = shape($before->{modules}, 'modules', 3, {});
my (@polls, $poll_fail, %seen, @went_back, @shard_polls);
for (lines("$dir/status.log")) {
    my ($sent, $ended, $code, $body) = split /\t/, $_, 4;
    if ($code != 200) {
        $poll_fail++;
        next;
    }
    my $d = eval { $json->decode($body) };
    if (!$d) {
        push @polls, { t => $sent, bad => 'not JSON' };
        next;
    }
    my $sh = shape($d->{modules}, 'modules', 3, {});
    my @missing = grep { !$sh->{$_} } sort keys %$shape0;
    my $c = counters($d->{modules}, 'modules', {});
    $c->{'health.samples'} = $d->{health}{samples} // 0;
    for my $k (keys %$c) {
        push @went_back, sprintf('%s %d -> %d at +%.1fs', $k, $seen{$k},
                                 $c->{$k}, $d->{time} - $wrk_start)
            if defined $seen{$k} && $c->{$k} < $seen{$k};
        $seen{$k} = $c->{$k};
    }
    my $sync = cache_zone($d)->{sync} // {};
    push @shard_polls, { t => $d->{time}, %{shard_map($d)} };
    push @polls, { t => $d->{time}, samples => $d->{health}{samples},
                   error_rate => $d->{metrics}{error_rate},
                   missing => \@missing,
                   cache_connected => $sync->{connected} };
}

{
    my @reloads = sort { $a <=> $b } map { $_->{t} } events('astro', 'reload');
    my (@bad, $checked);
    for my $i (0 .. $#reloads) {
        my $from = $reloads[$i];
        my $to = $i < $#reloads ? $reloads[$i + 1] : $wrk_stop + 5;
        my @p = grep { $_->{t} > $from && $_->{t} < $to } @polls;
        my $p = first { $_->{bad} || @{$_->{missing}} } @p;
        if (!@p) {
            push @bad, sprintf "no status answer after the reload at +%.1fs",
                $from - $wrk_start;
        } elsif ($p) {
            push @bad, sprintf "+%.1fs: %s", $p->{t} - $wrk_start,
                $p->{bad} // 'missing ' . join(' ', @{$p->{missing}});
        } else {
            $checked++;
        }
    }
    check('zones after reloads', !@bad,
          @bad ? join('; ', @bad[0 .. min(3, $#bad)])
               : scalar(keys %$shape0) . " status names present after each of "
                 . scalar(@reloads) . " reloads");
}

# The backends never fail: every 5xx of the run is a refusal of the
# suite (shed, queue), which the health zone must not count as an error
# (issue 15, defect 2); the statuses check above fails on any other 5xx.
{
    my ($worst, $at) = (0, 0);
    for (grep { defined $_->{error_rate} } @polls) {
        ($worst, $at) = ($_->{error_rate}, $_->{t}) if $_->{error_rate} > $worst;
    }
    check('health error rate', $worst == 0,
          $worst ? sprintf('%.3f%% at +%.1fs, with no 5xx but the suite\'s'
                           . ' refusals', $worst, $at - $wrk_start)
                 : '0 throughout: the refusals are not counted as errors');
}

check('counters kept', !@went_back,
      @went_back ? scalar(@went_back) . ' went back: '
                   . join('; ', @went_back[0 .. min(3, $#went_back)])
                 : scalar(keys %seen) . ' counters never went back in '
                   . scalar(@polls) . ' status answers');

# Each worker has the sampling timer; the first whose timer fires when a
# sample is due takes it (src/ngx_astro_health_sample.c). A sample taken
# after a kill for sure is one that the first status answer after the
# kill does not show yet (one it shows may be older than the kill). The
# figure is the time from the kill to the first answer that shows such a
# sample; the check fails when the answer before that one is already more
# than 2 intervals after the kill (so that the polls' own delay is no
# failure), or when there is none.
my @takeovers;
{
    my $interval = $S{HEALTH_INTERVAL} / 1000;
    my @ok = grep { defined $_->{samples} } @polls;
    my @bad;
    for my $k (events('astro', 'kill')) {
        my $after = first { $_->{t} > $k->{t} } @ok;
        my ($i) = grep { $ok[$_]{t} > $k->{t}
                         && $ok[$_]{samples} > $after->{samples} } 0 .. $#ok;
        my $dt = defined $i ? $ok[$i]{t} - $k->{t} : undef;
        my $lo = defined $i ? max(0, $ok[$i - 1]{t} - $k->{t}) : undef;
        push @takeovers, $dt;
        push @bad, sprintf("+%.1fs: %s", $k->{t} - $wrk_start,
                           defined $dt ? sprintf('%.2f..%.2fs', $lo, $dt)
                                       : 'no sample')
            if !defined $dt || $lo > 2 * $interval;
    }
    # the longest time without a new sample while the load ran (reloads
    # included: a new worker tries at once, then every interval)
    my ($gap, $prev) = (0, undef);
    for my $p (grep { $_->{t} >= $wrk_start && $_->{t} <= $wrk_stop } @ok) {
        if (!$prev || $p->{samples} != $prev->{samples}) {
            $gap = max($gap, $p->{t} - $prev->{t}) if $prev;
            $prev = $p;
        }
    }
    check('health sampler', !@bad && scalar @takeovers,
          (@bad ? 'no sample within 2 intervals of a kill: ' . join(', ', @bad)
                : @takeovers ? 'a new sample within 2 intervals of each kill'
                : 'no kill')
          . sprintf(' (longest time between samples seen: %.2fs)', $gap));
}


# --- the probes: rate-limit counts kept across reloads, kills, restarts -------

# The probe's key at a known pace: each answer's RateLimit-Remaining
# against what the zone must remember, by the sliding window of
# ngx_astro_limit_sliding() run over the probe's own requests. A count
# that resets (a reload, a kill or Redis's restart losing it) answers
# far more than expected. A request that failed or that the Redis zone
# decided without Redis (FAILOPEN) may or may not have been counted
# (in Redis): each widens the tolerance below by one.
my %probe;
{
    my $w = 60;
    my $limit = $S{PROBE_LIMIT};
    my %by;
    for (lines("$dir/probe.log")) {
        my ($sent, $ended, $url, $code, $rem, $lim, $rl, $ra) = split /\t/;
        my ($which) = $url =~ m{/probe/(\w+)/} or next;
        push @{$by{$which}}, { t => $sent, code => $code, rem => $rem,
                               rl => $rl };
    }
    for my $which (qw(local redis)) {
        my @r = @{$by{$which} // []};
        my ($win, $cur, $prev, $unknown, $worst, $n, @bad) = (0, 0, 0, 0, 0, 0);
        my ($first, $last);
        for my $r (@r) {
            if ($r->{code} == 0 || $r->{rem} eq '-' || $r->{rl} eq 'FAILOPEN') {
                $unknown++;
                next;
            }
            my $wt = int($r->{t} / $w);
            if ($wt == $win + 1) { ($prev, $cur) = ($cur, 0) }
            elsif ($wt != $win) { ($prev, $cur) = (0, 0) }
            $win = $wt;
            $cur++;
            my $e = $r->{t} - $wt * $w;
            my $weighted = $prev ? int(($prev * ($w - $e) + $w - 1e-9) / $w) : 0;
            my $expect = $limit - $weighted - $cur;
            my $diff = $r->{rem} - $expect;
            $n++;
            $first //= $r->{rem};
            $last = $r->{rem};
            $worst = $diff if abs $diff > abs $worst;
            push @bad, sprintf('+%.1fs: %d remaining, %d expected',
                               $r->{t} - $wrk_start, $r->{rem}, $expect)
                if $diff > 3 || $diff < -(3 + $unknown);
        }
        $probe{$which} = { n => $n, unknown => $unknown, first => $first // '-',
                           last => $last // '-', worst => $worst };
        check("rate-limit counts ($which)", $n > 10 && !@bad,
              $n <= 10 ? "only $n answers"
              : @bad ? scalar(@bad) . " answers off the count: "
                       . join(', ', @bad[0 .. min(3, $#bad)])
              : "$n answers within 3 of the count (+$unknown unknown),"
                . " remaining $probe{$which}{first} .. $probe{$which}{last}");
    }
}


# --- the cache: counts against the log, invalidations, Redis's sync -----------

# The zone's counters of the class "cached" after the load against the
# $astro_cache_status of /cached/ in astro's access log: each status the
# same, but for what a SIGKILL cut between the log line and the count
# (both in the log phase, one after the other): at most one a kill,
# either way. The invalidations run.sh sent (events cache-*): each
# answered 200 (or 503 with Retry-After, shed), the zone's local
# invalidations and the class's generation at least the class
# invalidations answered; no [crit] or worse of the cache in the error
# log; Redis's sync connected before the restart, and again within
# 2 polls + 2 s of Redis's return, and after the load.
my %cache;
{
    my $z = cache_zone($after);
    my $c = $z->{classes}{cached} // {};
    my $logged = $log{astro}{cache};
    my $kills = () = events('astro', 'kill');
    my (@off, @counts, @counted);
    for my $st (qw(hit miss expired stale updating revalidated bypass
                   refresh)) {
        my $n = $c->{requests}{$st} // 0;
        my $l = $logged->{uc $st} // 0;
        push @counts, "$st $n/$l";
        push @counted, uc($st) . " $n";
        push @off, "$st counted $n, logged $l" if abs($n - $l) > $kills;
    }
    my $in_log = sum0(values %$logged);
    my $unknown = sum0(map { $logged->{$_} } grep {
        !/^(HIT|MISS|EXPIRED|STALE|UPDATING|REVALIDATED|BYPASS|REFRESH|-|)$/
    } keys %$logged);
    check('cache counts', %$c && $log{astro}{cached} > 0 && !@off && !$unknown,
          !%$c ? 'no class "cached" in the status after the load'
          : !$log{astro}{cached} ? 'no /cached/ request in the log'
          : $unknown ? "$unknown /cached/ answers with an unknown \$astro_cache_status"
          : @off ? 'the zone and the log differ by more than the kills'
                   . " ($kills): " . join(', ', @off)
          : "the class cached, counted/logged: " . join(', ', @counts));
    $cache{counts} = join(' ', @counted);

    my (%sent, %ok, %broadcast, @bad);
    for my $kind (qw(class key-hard key-soft)) {
        for my $e (events('astro', "cache-$kind")) {
            my ($code, $query, $body) = split / /, $e->{detail}, 3;
            $sent{$kind}++;
            if ($code == 200) {
                $ok{$kind}++;
                my ($b) = ($body // '') =~ /"broadcast":"(\w+)"/;
                $broadcast{$b // '?'}++;
            } elsif ($code != 503) {
                push @bad, "$kind $query: $code " . substr($body // '', 0, 80);
            }
        }
    }
    my $local = $c->{invalidations}{local} // 0;
    my $gen = $c->{generation} // 0;
    $cache{inv} = join(' / ', map { ($ok{$_} // 0) . ' of ' . ($sent{$_} // 0) }
                              qw(class key-hard key-soft));
    $cache{broadcast} = join(', ', map { "$_ $broadcast{$_}" } sort keys %broadcast)
                        || '-';
    check('cache invalidations',
          !@bad && $sent{class} && ($ok{class} // 0) > 0
          && $local >= $ok{class} && $local <= $sent{class}
          && $gen >= $ok{class} && ($ok{'key-hard'} // 0) + ($ok{'key-soft'} // 0) > 0,
          @bad ? scalar(@bad) . ' not answered 200: ' . join('; ', @bad[0 .. min(2, $#bad)])
          : !$sent{class} ? 'none sent'
          : "$cache{inv} (class / key hard / key soft: answered 200 of"
            . " sent); the zone's local class invalidations $local,"
            . " generation $gen; broadcast: $cache{broadcast}");

    my @crit = grep { /\[(crit|alert|emerg)\]/ && /cache|purge/i
                      && !/shared memory zone .* was locked by/ }
               lines("$dir/astro/logs/error.log");
    # Redis's stop and its return (the second redis-up)
    my ($stop) = map { $_->{t} } events('-', 'redis-down');
    my $up = (sort { $a <=> $b } map { $_->{t} } events('-', 'redis-up'))[1];
    my $wait = 2 * $S{CACHE_SYNC} / 1000 + 2;
    my @before = grep { defined $_->{cache_connected} && $_->{t} > $wrk_start
                        && (!defined $stop || $_->{t} < $stop) } @polls;
    my $back = defined $up
        ? first { $_->{t} > $up && $_->{cache_connected} } @polls : undef;
    my $down = defined $up && defined $stop
        ? scalar(grep { $_->{t} > $stop && $_->{t} < $up + $wait
                        && defined $_->{cache_connected}
                        && !$_->{cache_connected} } @polls)
        : 0;
    $cache{reconnect} = $back ? sprintf('%.2fs', $back->{t} - $up) : 'never';
    my $connected_after = cache_zone($after)->{sync}{connected};
    my $was = grep { $_->{cache_connected} } @before;
    check('cache Redis sync',
          !@crit && $was && $back && $back->{t} - $up <= $wait
          && $connected_after,
          @crit ? scalar(@crit) . ' [crit] or worse of the cache: ' . substr($crit[0], 0, 200)
          : !@before ? 'no sync state in the status before the Redis restart'
          : !$was ? 'never connected before the restart'
          : !defined $up ? 'Redis did not come back'
          : !$back ? 'not connected again after Redis came back'
          : $back->{t} - $up > $wait ? "connected again $cache{reconnect} after Redis"
                                      . " came back (more than ${wait}s)"
          : !$connected_after ? 'not connected after the load'
          : "connected again $cache{reconnect} after Redis came back"
            . " ($down polls saw it disconnected); no [crit] of the cache");
}


# --- 503 without Retry-After: the queue's own ------------------------------------

{
    my $ups = ref $after ? $after->{modules}{tier_upstream}{upstreams} // {} : {};
    my $queue = sum0(map { ($_->{queue}{timeouts} // 0) + ($_->{queue}{refused} // 0) }
                     values %$ups);
    my $logged = $log{astro}{class}{503} // 0;
    check('503 without Retry-After', $logged <= $queue,
          "$logged logged, the queues refused or timed out $queue");
}


# --- the zones' use back to its baseline ------------------------------------------

# every gauge under "modules", by path (servers by their address)
sub gauges {
    my ($v, $path, $out) = @_;
    if (ref $v eq 'HASH') {
        for my $k (sort keys %$v) {
            if (!ref $v->{$k} && $GAUGES{$k}) {
                $out->{"$path.$k"} = $v->{$k};
            } else {
                gauges($v->{$k}, "$path.$k", $out);
            }
        }
    } elsif (ref $v eq 'ARRAY') {
        for my $i (0 .. $#$v) {
            my $e = $v->[$i];
            my $name = ref $e eq 'HASH' && defined $e->{server} ? $e->{server} : $i;
            gauges($e, "$path\[$name\]", $out);
        }
    }
    return $out;
}

my ($g0, $g1) = (gauges($before->{modules}, 'modules', {}),
                 gauges(ref $after ? $after->{modules} : {}, 'modules', {}));
{
    my @bad = grep { ($g1->{$_} // 0) != ($g0->{$_} // 0) }
              sort keys %{{ %$g0, %$g1 }};
    check('zone use', ref $after && !@bad,
          !ref $after ? 'no status after the load'
          : @bad ? 'not back to the baseline: '
                   . join(', ', map { "$_ " . ($g0->{$_} // 0) . ' -> ' . ($g1->{$_} // 0) } @bad)
          : scalar(keys %$g1) . ' gauges back to their baseline');
}


# --- error logs, crashes, sanitizers ---------------------------------------------

# [crit] and above that a run may show: the kills' own, health changes,
# and a lock a killed worker held, which the master takes back
my @EXPECTED = (qr/exited on signal 9\b/, qr/shared memory zone .* was locked by/,
                qr/astro_health_zone "[^"]*": status /);
my %elog;
for my $inst (qw(astro plain)) {
    my (%lv, @unexpected, @crash);
    my $signal9 = 0;
    for (lines("$dir/$inst/logs/error.log")) {
        my ($level) = /^\S+ \S+ \[(\w+)\]/ or next;
        $lv{$level}++;
        if (/exited on signal (\d+)/) {
            $1 == 9 ? $signal9++ : push @crash, $_;
        }
        next unless $level =~ /^(crit|alert|emerg)$/;
        my $line = $_;
        push @unexpected, $line unless first { $line =~ $_ } @EXPECTED;
    }
    my $kills = () = events($inst, 'kill');
    $elog{$inst} = { levels => \%lv, signal9 => $signal9 };
    check("crashes ($inst)", !@crash && $signal9 == $kills,
          @crash ? 'a worker crashed: ' . $crash[0]
          : $signal9 != $kills ? "$signal9 workers ended by SIGKILL, $kills killed"
          : "no worker ended but the $kills killed");
    check("error log ($inst)", !@unexpected,
          @unexpected ? scalar(@unexpected) . ' unexpected: ' . substr($unexpected[0], 0, 200)
                      : 'no [crit], [alert] or [emerg] but the expected ones');
    my ($quiet) = map { $_->{detail} } events($inst, 'quiet');
    my @stop = (events($inst, 'stop-timeout'), events($inst, 'stop-left'));
    check("shutdown ($inst)", defined $quiet && $quiet == 0 && !@stop,
          !defined $quiet ? 'no record of the old generations'
          : $quiet ? "$quiet old worker(s) still running 10 s after the load"
          : @stop ? join(', ', map { "$_->{kind} $_->{detail}" } @stop)
          : 'the old generations quit within 10 s of the load, and nginx'
            . ' within 10 s of QUIT');
    my @failed_reloads = (events($inst, 'reload-failed'));
    check("reloads ($inst)", !@failed_reloads,
          @failed_reloads ? scalar(@failed_reloads) . ' failed' : 'all signalled');
}

{
    my @reports = sort glob("$dir/san/*");
    for my $r (@reports) {
        print "=== $r\n", slurp($r) // '';
    }
    check('sanitizers', !@reports,
          @reports ? scalar(@reports) . " report(s) in $dir/san (above)"
                   : 'no ASan/UBSan report'
                     . (-e "$dir/san/.sanitized" ? '' : ' (this nginx is not sanitized)'));
}

{
    my @up = events('-', 'redis-up');
    my @down = events('-', 'redis-down');
    check('Redis restart', @up == 2 && @down == 1,
          sprintf('%d stop(s), %d start(s)', scalar @down, scalar @up));
    my @pg = events('-', 'pg-up');
    my @ans = map { $_->{detail} } events('-', 'pg-answers');
    check('PostgreSQL restart', @pg == 2 && $pg[0]{detail} ne $pg[1]{detail}
                                && !grep({ $_ ne 'yes' } @ans),
          sprintf('pid %s -> %s, answered %s',
                  map({ $_->{detail} } @pg[0, 1]), join('/', @ans)));
}

# The shard map read from PostgreSQL: its version in the status never
# goes back (reloads, kills and PostgreSQL's restart keep it); every
# change run.sh made shows in the status within $SHARD_LAG s; after the
# load the version is PostgreSQL's, from PostgreSQL, not stale. /users/
# was routed all along: answers by both shards, and some while
# PostgreSQL was down.
my $SHARD_LAG = 5;
my %shard;
{
    my @v = grep { defined $_->{version} } @shard_polls;
    my ($back, $prev);
    for my $p (@v) {
        $back //= sprintf('%d -> %d at +%.1fs', $prev->{version}, $p->{version},
                          $p->{t} - $wrk_start)
            if $prev && $p->{version} < $prev->{version};
        $prev = $p;
    }
    check('shard map version kept', @v && @v == @shard_polls && !$back,
          !@v ? 'no version of the map "users" in the status answers'
          : @v != @shard_polls ? scalar(@shard_polls - @v) . ' status answers without it'
          : $back ? "went back: $back"
          : sprintf('%d -> %d in %d status answers, never back',
                    $v[0]{version}, $v[-1]{version}, scalar @v));

    my @changes = events('-', 'shard-change');
    my @lags;
    my @late;
    for my $c (@changes) {
        my $seen = first { $_->{t} >= $c->{t} && $_->{version} >= $c->{detail} } @v;
        my $lag = $seen ? $seen->{t} - $c->{t} : undef;
        push @lags, $lag if defined $lag;
        push @late, sprintf('version %d at +%.1fs: %s', $c->{detail},
                            $c->{t} - $wrk_start,
                            defined $lag ? sprintf('%.1fs', $lag) : 'never')
            if !defined $lag || $lag > $SHARD_LAG;
    }
    my @sorted = sort { $a <=> $b } @lags;
    $shard{changes} = sprintf('%d (+%d failed), seen after %s (median) .. %s',
        scalar @changes, scalar(events('-', 'shard-change-failed')),
        @sorted ? (sprintf('%.2fs', $sorted[$#sorted / 2]), sprintf('%.2fs', $sorted[-1]))
                : ('-', '-'));
    check('shard map follows PostgreSQL', @changes && !@late,
          !@changes ? 'no change of the map was made'
          : @late ? scalar(@late) . " not seen within ${SHARD_LAG}s: "
                    . join('; ', @late[0 .. min(3, $#late)])
          : scalar(@changes) . " changes, each in the status within ${SHARD_LAG}s"
            . " (median " . sprintf('%.2fs', $sorted[$#sorted / 2])
            . sprintf(', max %.2fs)', $sorted[-1]));

    my ($pgv) = map { $_->{detail} } events('-', 'shard-version');
    my $m = shard_map($after);
    check('shard map after the load',
          defined $pgv && $pgv =~ /^\d+$/ && defined $m->{version}
          && $m->{version} == $pgv && ($m->{source} // '') eq 'postgres'
          && !$m->{stale},
          sprintf('version %s (PostgreSQL: %s), source %s, stale %s',
                  $m->{version} // '-', $pgv // '-', $m->{source} // '-',
                  defined $m->{stale} ? ($m->{stale} ? 'yes' : 'no') : '-'));

    my ($down) = events('-', 'pg-restart');
    my $up = (events('-', 'pg-up'))[1];
    my (%by, $during);
    for my $u (@users) {
        next unless $u->[1] eq '2xx';
        $by{$u->[2]}++;
        $during++ if $down && $up && $u->[0] >= $down->{t} && $u->[0] <= $up->{t};
    }
    my $window = $down && $up ? $up->{t} - $down->{t} : 0;
    $shard{routed} = join(' ', map { "$_ $by{$_}" } sort keys %by) || '-';
    $shard{during} = sprintf('%d in %.1fs', $during // 0, $window);
    check('shard routing', $by{s0} && $by{s1} && !grep({ !/^s[01]$/ } keys %by)
                           && ($window < 0.3 || $during),
          sprintf('/users/ 2xx by shard: %s; while PostgreSQL restarted: %s',
                  $shard{routed}, $shard{during}));
}


# --- the figures -------------------------------------------------------------------

sub row { printf "  %-32s %-34s %s\n", @_ }

my ($la, $lp) = @log{qw(astro plain)};
my @classes = ('2xx', '429', '503ra', '503', '499');
my %known = map { $_ => 1 } @classes;
sub other { my ($l) = @_; sum0(map { $l->{class}{$_} } grep { !$known{$_} } keys %{$l->{class}}) }

print "\nstress: the figures\n";
row('', 'astro', 'plain');
row('requests (wrk)', $wrk{astro}{requests} // '-', $wrk{plain}{requests} // '-');
row('answers logged', $la->{lines}, $lp->{lines});
row('2xx / 429 / 503+RA / 503 / 499',
    join(' / ', map { $la->{class}{$_} // 0 } @classes),
    join(' / ', map { $lp->{class}{$_} // 0 } @classes));
row('other statuses', other($la), other($lp));
row('max request time', sprintf('%.0f ms (%s)', $la->{max}, $la->{max_at}),
    sprintf('%.0f ms (%s)', $lp->{max}, $lp->{max_at}));
row('max outside / in the upstream', map { sprintf '%.0f / %.0f ms', $_->{max_rest}, $_->{max_up} } $la, $lp);
row('over their bounds + 100 ms', $la->{over}, $lp->{over});
row('socket errors (c/r/w/t)',
    map { my $w = $wrk{$_}; "$w->{errors} ($w->{connect}/$w->{read}/$w->{write}/$w->{timeout})" }
    qw(astro plain));
row('reloads / kills', map { scalar(events($_, 'reload')) . ' / ' . scalar(events($_, 'kill')) } qw(astro plain));
row('error log crit/alert/emerg',
    map { my $l = $elog{$_}{levels}; join '/', map { $l->{$_} // 0 } qw(crit alert emerg) } qw(astro plain));
row('Redis / PostgreSQL restarts',
    scalar(events('-', 'redis-down')) . ' / ' . scalar(events('-', 'pg-restart')), '-');
row('sampler takeover after kills',
    join(' ', map { defined $_ ? sprintf('%.2fs', $_) : 'none' } @takeovers) || '-', '-');
for my $which (qw(local redis)) {
    my $q = $probe{$which};
    row("probe $which: answers (+unknown)", "$q->{n} (+$q->{unknown}), remaining $q->{first}..$q->{last}", '-');
}
row('zone gauges before -> after',
    sum0(values %$g0) . ' -> ' . sum0(values %$g1) . ' (' . scalar(keys %$g1) . ' gauges)', '-');
if (ref $after) {
    my $q = $after->{modules}{tier_upstream}{upstreams}{app}{queue};
    row('queue waits/timeouts/refused', join(' / ', map { $q->{$_} // '-' } qw(waits timeouts refused)), '-') if $q;
    my $h = $after->{modules}{health}{shed};
    row('shed critical/degraded', join(' / ', map { $h->{$_} // '-' } qw(critical degraded)), '-') if $h;
    row('health status, samples', "$after->{health}{status}, $after->{health}{samples}", '-');
}
row('status polls failed', $poll_fail // 0, '-');
row('shard map changes', $shard{changes} // '-', '-');
row('/users/ 2xx by shard', $shard{routed} // '-', '-');
row('/users/ 2xx, PostgreSQL down', $shard{during} // '-', '-');
# (one line a front: the statuses are too many for a column)
for my $inst (qw(astro plain)) {
    row("/cached/ by cache status ($inst)",
        join(' ', map { "$_ $log{$inst}{cache}{$_}" }
                  sort keys %{$log{$inst}{cache}}) || '-', '');
}
row('cache counted (class cached)', $cache{counts} // '-', '-');
row('cache invalidations (200 of)', ($cache{inv} // '-') . ' (class/hard/soft)', '-');
row('cache broadcast; reconnected', ($cache{broadcast} // '-') . '; '
    . ($cache{reconnect} // '-') . ' after Redis', '-');

print "\nstress: the bounds of the request times in ms (stress/locations), each + ${SLACK_MS} ms\n";
printf "  %-16s %-14s %-14s %s\n", '', 'astro', 'plain', 'astro\'s holds';
printf "  %-16s %-14s %-14s\n", '', 'rest/upstream', 'rest/upstream';
for my $l (@in_order) {
    printf "  %-16s %-14s %-14s %s\n", $l->{prefix},
        join('/', bounds_ms($l, 'astro')), join('/', bounds_ms($l, 'plain')),
        join(' + ', map { "$_ $HOLDS{$_}" } @{$l->{holds}}) || '-';
}
print "  (upstream: $S{PROXY_TRIES} tries x (connect $S{PROXY_CONNECT} + send $S{PROXY_SEND}"
    . " + read $S{PROXY_READ}); queue: astro_queue timeout; redis: hold $S{REDIS_HOLD}"
    . " + connect_timeout $S{REDIS_CONNECT} + timeout $S{REDIS_TIMEOUT};"
    . " speed: max_delay $S{SPEED_MAX} x critical $S{SPEED_CRITICAL})\n";

print "\nstress: the checks\n";
print "  ok      $_\n" for @passed;
print "  FAILED  $_\n" for @failed;
print "\nstress: ", @failed ? scalar(@failed) . " check(s) FAILED: "
    . join(', ', map { (split /:/)[0] } @failed) . "\n" : "all checks passed\n";
exit(@failed ? 1 : 0);
