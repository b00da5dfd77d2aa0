# The Debian package: `make deb` (a no-op when build/deb is up to date),
# lintian, `apt-get install ./build/deb/libnginx-mod-http-astro_*.deb`,
# Debian's own /etc/nginx with a site that uses every module
# (/etc/nginx/sites-enabled/astro-deb-test, 127.0.0.1:8500-8505), `nginx
# -t`, the system nginx serving through it, `apt-get purge`, and nothing
# left.  The END block stops that nginx, removes the site and purges the
# package whatever happened.
#
# The nginx that serves reads a copy of /etc/nginx/nginx.conf in a
# temporary directory that differs in three lines: its own pid file and
# error log, and only this site of sites-enabled (Debian's default site
# listens on port 80, which is not the test's).
#
# Skipped, saying why, when not root, without apt-get, dpkg or Debian's
# packaging tools (util/install-deps.sh installs them), when the nginx
# under test is not Debian's /usr/sbin/nginx (make test-asan), or when the
# package is already installed (the test would purge someone's).

use strict;
use warnings;

use Test::More;
use Cwd ();
use File::Temp ();
use File::Path ();
use FindBin ();
use HTTP::Tiny ();
use JSON::PP ();
use POSIX ();
use Time::HiRes ();

my $root = Cwd::realpath("$FindBin::Bin/..");

my $PKG = 'libnginx-mod-http-astro';
my $NGINX = '/usr/sbin/nginx';
my $SO = '/usr/lib/nginx/modules/ngx_astro_module.so';
my $AVAILABLE = '/usr/share/nginx/modules-available/mod-http-astro.conf';
my $ENABLED = '/etc/nginx/modules-enabled/50-mod-http-astro.conf';
my $DOC = "/usr/share/doc/$PKG";
my $SITE = '/etc/nginx/sites-enabled/astro-deb-test';
my $PORT = 8500;

sub have { my ($cmd) = @_; return system("command -v $cmd >/dev/null 2>&1") == 0 }

# The nginx under test: util/run-tests.sh moves the real one to
# TEST_NGINX_REAL_BINARY and puts its wrapper in TEST_NGINX_BINARY.
my $tested = $ENV{TEST_NGINX_REAL_BINARY} || $ENV{TEST_NGINX_BINARY}
             || $NGINX;
my $tested_real = Cwd::realpath($tested) // $tested;

if ($> != 0) {
    plan skip_all => 'not root: installing a package needs root';
}
for my $cmd (qw(apt-get dpkg dpkg-query dpkg-buildpackage dh dh_nginx
                lintian))
{
    plan skip_all => "no $cmd (util/install-deps.sh installs it)"
        unless have($cmd);
}
if ($tested_real ne $NGINX) {
    plan skip_all => "the nginx under test is $tested, not Debian's $NGINX:"
                     . " the package is built for Debian's";
}
if (pkg_status() =~ /installed|config-files|unpacked|half/) {
    plan skip_all => "$PKG is already installed (" . pkg_status()
                     . "): the test would purge it";
}

my $tmp = File::Temp::tempdir('astro-deb-XXXXXX', TMPDIR => 1);
my ($installed, $site_written, $pid_file);

END {
    local $?;
    cleanup();
}

# END runs on exit, not on a signal's default action
$SIG{$_} = sub { die "killed by SIG$_[0]\n" } for qw(INT TERM HUP);


# --- the package -------------------------------------------------------------

{
    local $ENV{MAKEFLAGS};
    local $ENV{MFLAGS};
    local $ENV{MAKELEVEL};
    delete $ENV{$_} for qw(MAKEFLAGS MFLAGS MAKELEVEL);
    my $out = run("make -C '$root' deb");
    # no package, nothing more to test (BAIL_OUT would stop the suite)
    is($?, 0, 'make deb') or do { diag($out); done_testing(); exit };
}

my @debs = glob("$root/build/deb/${PKG}_*.deb");
is(scalar @debs, 1, 'one package in build/deb') or diag("@debs");
my $deb = $debs[0];
my ($version) = $deb =~ m{/${PKG}_([^_]+)_[^_]+\.deb$};
my $changelog_version = run("dpkg-parsechangelog -l '$root/debian/changelog'"
                            . " -S Version");
chomp $changelog_version;
is($version, $changelog_version, "its version is debian/changelog's");

# lintian on the .changes: the package and its -dbgsym
my ($changes) = glob("$root/build/deb/${PKG}_*.changes");
ok($changes, 'a .changes beside it');
my $lintian = run("lintian '$changes'");
my @errors = grep { /^E: / } split /\n/, $lintian;
is(scalar @errors, 0, 'lintian: no error') or diag($lintian);
note("lintian:\n$lintian");

my $abi = abi();
like(run("dpkg-deb -f '$deb' Depends"),
     qr/^\Q$abi\E, libc6 \(>= [^)]+\), libhiredis[^,]*, libjansson[^,]*, libpq5[^,]*, libssl3[^,]*$/,
     "Depends: $abi (dh_nginx) and the libraries (dh_shlibdeps)");


# --- installed ---------------------------------------------------------------

$installed = 1;
my $out = run("apt-get install -y -o DPkg::Lock::Timeout=300 '$deb'");
is($?, 0, 'apt-get install ./build/deb/...deb') or diag($out);

is(pkg_status(), 'install ok installed', 'dpkg: installed');
is(run("dpkg-query -W -f '\${Version}' $PKG"), $version, 'its version');
ok(-f $SO, "$SO");
is(slurp($AVAILABLE), "load_module modules/ngx_astro_module.so;\n",
   "$AVAILABLE: the load line");
is(readlink($ENABLED), $AVAILABLE, "$ENABLED: the link postinst made");
ok(-f "$DOC/copyright", "$DOC/copyright");
# the Prometheus rules, uncompressed, ready to load
ok(-f "$DOC/prometheus/astro-rules.yml",
   "$DOC/prometheus/astro-rules.yml");


# --- Debian's nginx with a site that uses every module ------------------------

my $cache = "$tmp/astro_cache";
File::Path::make_path($cache);
chmod 0777, $tmp, $cache;

$site_written = 1;
spew($SITE, site($cache));

$out = run("$NGINX -t -q -c /etc/nginx/nginx.conf");
is($?, 0, 'nginx -t with /etc/nginx/nginx.conf and the site') or diag($out);

# the copy that runs: its own pid and error log, only this site
my $conf = slurp('/etc/nginx/nginx.conf');
$pid_file = "$tmp/nginx.pid";
my $n = 0;
$n += $conf =~ s{^pid [^;]+;}{pid $pid_file;}m;
$n += $conf =~ s{^error_log [^;]+;}{error_log $tmp/error.log;}m;
$n += $conf =~ s{^(\s*)include /etc/nginx/sites-enabled/\*;}{$1include $SITE;}m;
is($n, 3, 'the running copy of nginx.conf: pid, error_log, the site');
spew("$tmp/nginx.conf", $conf);

$out = run("$NGINX -c $tmp/nginx.conf");
is($?, 0, 'the system nginx starts') or diag($out, log_tail());
ok(wait_for(sub { -s $pid_file }), 'its pid file');

my $http = HTTP::Tiny->new(timeout => 5);
my $base = "http://127.0.0.1:$PORT";

# the status: a section for every module
my $r = $http->get("$base/astro/status");
is($r->{status}, 200, 'status: 200');
is($r->{headers}{'content-type'}, 'application/json', 'status: JSON');
my $status = eval { JSON::PP::decode_json($r->{content}) } || {};
is_deeply([sort keys %{$status->{modules} || {}}],
          [qw(cache health ratelimit shard tier_upstream)],
          'status: every module') or diag($r->{content});
is($status->{health}{zone}, 'astro_deb_health', 'status: the health zone');

# the rate limit: 1 a minute and a burst of 2, then 429
my @codes = map { $http->get("$base/limited/")->{status} } 1 .. 5;
is("@codes", '200 200 200 429 429', 'rate limit: 3 pass, then 429');

# tiers: premium to 8501, anyone else to 8502
$r = $http->get("$base/api/", { headers => { 'X-Plan' => 'premium' } });
is("$r->{status} $r->{content}", "200 premium\n", 'tier: premium');
$r = $http->get("$base/api/");
is("$r->{status} $r->{content}", "200 free\n", 'tier: free');

# the cache: MISS, then HIT with the first answer
$r = $http->get("$base/cached/a");
my $first = $r->{content};
is("$r->{status} " . ($r->{headers}{'x-cache'} // ''), '200 MISS',
   'cache: MISS') or diag($first, log_tail());
$r = $http->get("$base/cached/a");
is("$r->{status} " . ($r->{headers}{'x-cache'} // ''), '200 HIT',
   'cache: HIT');
is($r->{content}, $first, 'cache: the stored answer');

# the shard map of nginx.conf: each user on its shard, the backend agrees
for my $case ([1, 's1'], [2, 's0'], [3, 's1'], [4, 's0']) {
    my ($uid, $shard) = @$case;
    $r = $http->get("$base/users/$uid");
    is(join(' ', $r->{status}, $r->{headers}{'x-shard'} // '-',
            $r->{content}),
       "200 $shard $shard\n", "shard: user $uid on $shard");
}

# the status counted it all
$r = $http->get("$base/astro/status");
$status = eval { JSON::PP::decode_json($r->{content}) } || {};
is($status->{metrics}{refused}{ratelimit}, 2,
   'status: the 2 refusals of the rate limit');
my $classes = $status->{modules}{cache}{zones}{astro_deb_cached}{classes} || {};
my $counted = $classes->{default}{requests} || {};
is(join(' ', map { $counted->{$_} // '-' } qw(hit miss)), '1 1',
   'status: the cache hit and miss');

stop_nginx();


# --- purged: nothing left ----------------------------------------------------

unlink $SITE;
$site_written = 0;
$out = run("apt-get purge -y -o DPkg::Lock::Timeout=300 $PKG");
is($?, 0, "apt-get purge $PKG") or diag($out);
$installed = 0;

unlike(pkg_status(), qr/installed|config-files|unpacked|half/,
       'dpkg: not installed, no configuration left');
is(run("dpkg -l $PKG 2>/dev/null | grep '^[a-z][a-z] '"), '',
   "dpkg -l: no line for $PKG");
ok(!-e $SO, "no $SO");
ok(!-e $AVAILABLE, "no $AVAILABLE");
ok(!-e $ENABLED && !-l $ENABLED, "no $ENABLED");
ok(!-l "$ENABLED.removed", "no $ENABLED.removed");
ok(!-e $DOC, "no $DOC");
ok(!-e $SITE, "no $SITE");

done_testing();


# --- helpers -----------------------------------------------------------------

sub site {
    my ($cache) = @_;
    return <<"EOF";
# t/140-deb.t: every astro module on 127.0.0.1:$PORT, backends on
# 127.0.0.1:8501-8505; removed by the test

# temp paths of its own: nginx started as root would make Debian's
# /var/lib/nginx/* and give them to the worker's user
client_body_temp_path $tmp/body_temp;
proxy_temp_path $tmp/proxy_temp;
fastcgi_temp_path $tmp/fastcgi_temp;
uwsgi_temp_path $tmp/uwsgi_temp;
scgi_temp_path $tmp/scgi_temp;

astro_health_zone astro_deb_health:1m;

astro_ratelimit_zone zone=astro_deb_limit:1m key=\$binary_remote_addr rate=1r/m
                     burst=2 backend=local;

map \$http_x_plan \$astro_deb_plan {
    default  free;
    premium  premium;
}

upstream astro_deb_tiers {
    astro_tier_balance;
    astro_tier_group premium 1;
    astro_tier_group free 2;
    server 127.0.0.1:8501;
    server 127.0.0.1:8502;
}

proxy_cache_path $cache levels=1:2 keys_zone=astro_deb_cache:1m;
astro_cache_zone astro_deb_cached:1m;
astro_cache_ttl astro_deb_cached default 1m;

astro_shard_map astro_deb_users strategy=hash hash=seed fill=modulo;
astro_shard astro_deb_users s0 astro_deb_shard0;
astro_shard astro_deb_users s1 astro_deb_shard1;

upstream astro_deb_shard0 {
    server 127.0.0.1:8503;
}

upstream astro_deb_shard1 {
    server 127.0.0.1:8504;
}

server {
    listen 127.0.0.1:$PORT;
    access_log off;

    astro_tier \$astro_deb_plan;

    location = /astro/status {
        allow 127.0.0.1;
        deny all;
        astro_status;
    }

    location /limited/ {
        astro_ratelimit zone=astro_deb_limit;
        proxy_pass http://astro_deb_tiers;
    }

    location /api/ {
        proxy_pass http://astro_deb_tiers;
    }

    location /cached/ {
        proxy_cache astro_deb_cache;
        proxy_cache_key \$astro_cache_gen:\$request_uri;
        astro_cache zone=astro_deb_cached;
        add_header X-Cache \$astro_cache_status always;
        proxy_pass http://127.0.0.1:8505;
    }

    location ~ ^/users/(?<astro_deb_uid>[0-9]+)\$ {
        astro_shard_key astro_deb_users \$astro_deb_uid;
        add_header X-Shard \$astro_shard always;
        proxy_pass http://\$astro_shard_upstream;
    }
}

server {
    listen 127.0.0.1:8501;
    access_log off;
    return 200 "premium\\n";
}

server {
    listen 127.0.0.1:8502;
    access_log off;
    return 200 "free\\n";
}

server {
    listen 127.0.0.1:8503;
    access_log off;
    return 200 "s0\\n";
}

server {
    listen 127.0.0.1:8504;
    access_log off;
    return 200 "s1\\n";
}

server {
    listen 127.0.0.1:8505;
    access_log off;
    return 200 "origin \$request_uri \$msec\\n";
}
EOF
}

sub run {
    my ($cmd) = @_;
    my $out = `$cmd 2>&1`;
    return $out;
}

sub pkg_status {
    my $s = `dpkg-query -W -f '\${Status}' $PKG 2>/dev/null`;
    return $? == 0 ? $s : '';
}

sub abi {
    my $subst = slurp('/usr/share/nginx/src/debian/libnginx-mod.abisubstvars');
    my ($abi) = $subst =~ /^nginx:abi=(\S+)$/m;
    return $abi // 'no nginx:abi in nginx-dev';
}

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return scalar <$fh>;
}

sub spew {
    my ($file, $text) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print {$fh} $text;
    close $fh or die "$file: $!";
}

sub wait_for {
    my ($cond) = @_;
    for (1 .. 100) {
        return 1 if $cond->();
        Time::HiRes::sleep(0.1);
    }
    return 0;
}

sub log_tail {
    my $log = slurp("$tmp/error.log");
    my @lines = split /\n/, $log;
    splice @lines, 0, -20 if @lines > 20;
    return join("\n", "error.log:", @lines) . "\n";
}

# the master from our pid file, and only it
sub stop_nginx {
    return unless $pid_file && -s $pid_file;
    my ($pid) = slurp($pid_file) =~ /^(\d+)/;
    return unless $pid;
    kill 'QUIT', $pid;
    unless (wait_for(sub { !kill 0, $pid })) {
        kill 'TERM', $pid;
        wait_for(sub { !kill 0, $pid }) or kill 'KILL', $pid;
    }
    ok(!kill(0, $pid), "nginx $pid stopped");
    unlink $pid_file;
}

sub cleanup {
    return unless $tmp;
    if ($pid_file && -s $pid_file) {
        my ($pid) = slurp($pid_file) =~ /^(\d+)/;
        if ($pid && kill 0, $pid) {
            kill 'TERM', $pid;
            wait_for(sub { !kill 0, $pid }) or kill 'KILL', $pid;
        }
    }
    unlink $SITE if $site_written;
    if ($installed) {
        system("apt-get purge -y -o DPkg::Lock::Timeout=300 $PKG"
               . " >/dev/null 2>&1");
    }
    File::Path::remove_tree($tmp);
    $tmp = undef;
}
