package Astro::Browser;

# Debian's chromium, headless, for the tests of the dashboard: a page
# loaded as a person's browser loads it, its scripts run for a virtual
# time budget, then what it shows (the DOM, a screenshot) and what it
# did: the console messages chromium printed (--enable-logging=stderr)
# and the URLs the page asked for (--log-net-log).  Chromium's own
# background requests (updates, time, accounts) are told apart from the
# page's by their network isolation key, and kept from the network by
# --host-resolver-rules.  Test::Nginx::Socket files load it with
# `require`, which leaves @INC alone (see Blocks.pm).
#
#   require "$FindBin::Bin/lib/Astro/Browser.pm";
#   my ($bin, $why) = Astro::Browser::find("$FindBin::Bin/..");
#   plan skip_all => $why unless $bin;
#   my $page = Astro::Browser::load($bin, $url, budget => 3000,
#                                   screenshot => "$dir/page.png");
#   $page->{dom}        the DOM after the scripts ran (--dump-dom), text
#   $page->{console}    console lines: '"message", source: URL (line)'
#   $page->{requests}   URLs the page requested, in order
#   $page->{own}        how many requests chromium made for itself
#   $page->{error}      set when chromium failed or timed out

use strict;
use warnings;

use Encode ();
use File::Temp qw(tempdir);
use JSON::PP ();
use POSIX qw(:sys_wait_h _exit setpgid);
use Time::HiRes qw(time sleep);

sub _which {
    my ($name) = @_;
    for my $dir (split /:/, $ENV{PATH} || '') {
        return "$dir/$name" if -x "$dir/$name";
    }
    return undef;
}

# chromium's path, installing it (util/install-deps.sh --browser under
# $root) when it is missing and this runs as root with apt-get: ($path)
# or (undef, why not)
sub find {
    my ($root) = @_;
    my $bin = _which('chromium');
    return ($bin) if $bin;

    return (undef, 'chromium is not installed (and this is not root: '
                   . 'util/install-deps.sh --browser installs it)')
        if $> != 0;
    return (undef, 'chromium is not installed and there is no apt-get')
        unless _which('apt-get');

    my $log = "/tmp/astro-install-chromium.$$.log";
    print STDERR "# chromium is missing: util/install-deps.sh --browser "
                 . "(output in $log)\n";
    system("'$root/util/install-deps.sh' --browser >'$log' 2>&1");
    $bin = _which('chromium');
    return ($bin) if $bin;
    return (undef, "chromium could not be installed "
                   . "(util/install-deps.sh --browser: see $log)");
}

# Loads $url.  budget: the virtual time budget in ms (default 3000);
# screenshot: a PNG's path; size: the window (default 1280,1000);
# timeout: seconds of real time (default 60).
sub load {
    my ($bin, $url, %o) = @_;
    my $dir = tempdir('astro-chromium-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my @args = ($bin, '--headless', '--no-sandbox', '--disable-gpu',
        '--disable-dev-shm-usage', '--no-first-run',
        '--no-default-browser-check', '--disable-background-networking',
        '--disable-component-update', '--disable-sync',
        '--disable-default-apps', '--disable-extensions',
        '--disable-crash-reporter', '--lang=en-US',
        "--user-data-dir=$dir/profile",
        '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
        '--enable-logging=stderr', '--v=0',
        "--log-net-log=$dir/net.json",
        '--window-size=' . ($o{size} || '1280,1000'),
        '--virtual-time-budget=' . ($o{budget} || 3000),
        '--dump-dom');
    push @args, "--screenshot=$o{screenshot}" if $o{screenshot};
    push @args, $url;

    my $t0 = time;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        setpgid(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$dir/dom.html" or _exit(127);
        open STDERR, '>', "$dir/stderr.txt" or _exit(127);
        exec(@args) or _exit(127);
    }

    my $page = { console => [], requests => [], own => 0 };
    my $end = time + ($o{timeout} || 60);
    my $status;
    while (1) {
        if (waitpid($pid, WNOHANG) == $pid) {
            $status = $?;
            last;
        }
        if (time >= $end) {
            $page->{error} = 'chromium did not finish in '
                             . ($o{timeout} || 60) . ' s';
            # chromium and its helpers: the group of the child
            kill 'KILL', -$pid;
            waitpid($pid, 0);
            last;
        }
        sleep 0.05;
    }
    $page->{seconds} = time - $t0;

    $page->{dom} = Encode::decode('UTF-8', _slurp("$dir/dom.html"));
    $page->{stderr} = _slurp("$dir/stderr.txt");
    $page->{error} //= "chromium exited with status " . ($status >> 8)
        if $status;

    for (split /\n/, $page->{stderr}) {
        push @{ $page->{console} }, $1 if /:CONSOLE[:(]\d*\)?\] (.*)/;
    }

    my ($site) = $url =~ m{\A(\w+://[^/:]+)};
    for (split /\n/, _slurp("$dir/net.json")) {
        next unless /"network_isolation_key"/ && /"url"/;
        s/,\s*\z//;
        my $ev = eval { JSON::PP::decode_json($_) } or next;
        my $p = $ev->{params} || {};
        next unless defined $p->{url};
        my ($top) = split / /, $p->{network_isolation_key} // '';
        if (($top // '') eq $site
            || ($p->{request_type} // '') eq 'main frame')
        {
            push @{ $page->{requests} }, $p->{url};
        } else {
            $page->{own}++;
        }
    }

    return $page;
}

sub _slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    my $s = <$fh>;
    close $fh;
    return $s // '';
}

# the requests of $page not on $origin ("http://127.0.0.1:1984")
sub foreign {
    my ($page, $origin) = @_;
    return grep { index($_, "$origin/") != 0 } @{ $page->{requests} };
}

1;
