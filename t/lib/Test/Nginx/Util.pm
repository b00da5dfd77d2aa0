package Test::Nginx::Util;

# In-tree SUBSET of CPAN's Test::Nginx::Util (openresty/test-nginx 0.29),
# used because CPAN is unreachable here.  It re-implements (not copies)
# the semantics the project's .t files rely on; see Test/Nginx/Socket.pm
# for the exact list of supported functions and sections.  Anything not
# listed there is unsupported and makes the runner bail out instead of
# being silently ignored.
#
# Environment honoured (same meaning as in CPAN): TEST_NGINX_BINARY,
# TEST_NGINX_SERVER_PORT, TEST_NGINX_PORT, TEST_NGINX_CLIENT_PORT,
# TEST_NGINX_SERVROOT, TEST_NGINX_LOG_LEVEL, TEST_NGINX_MASTER_PROCESS,
# TEST_NGINX_LOAD_MODULES, TEST_NGINX_NO_SHUFFLE, TEST_NGINX_TIMEOUT,
# TEST_NGINX_SLEEP, TEST_NGINX_NO_CLEAN, TEST_NGINX_WORKER_USER,
# TEST_NGINX_FORCE_RESTART_ON_TEST, TEST_NGINX_VERBOSE.

use strict;
use warnings;

use base 'Exporter';

use POSIX qw(SIGQUIT SIGKILL SIGTERM WNOHANG);
use File::Spec ();
use File::Path qw(make_path remove_tree);
use List::Util qw(shuffle);
use Time::HiRes qw(sleep);
use Scalar::Util qw(looks_like_number);
use IO::Socket::INET ();
use Config ();
use Carp qw(croak);
use Test::More ();
use Test::LongString ();

our $VERSION = '0.29_intree';

our @EXPORT = qw(
    env_to_nginx is_str no_long_string $NoLongString
    $ServerAddr $ServerName $ServerPort $ServerPortForClient
    $ServRoot $HtmlDir $ErrLogFile $PidFile $ConfFile $NginxVersion
    $RepeatEach $RunTestHelper $CheckErrorLog
    bail_out add_cleanup_handler error_log_data parse_headers parse_time
    trim sleep_time verbose run_tests timeout repeat_each workers
    worker_connections master_on master_off log_level no_shuffle
    no_root_location add_block_preprocessor html_dir server_root
    server_port server_port_for_client get_pid_from_pidfile is_running
);

our $Verbose          = $ENV{TEST_NGINX_VERBOSE};
our $NoLongString;
our $RepeatEach       = 1;
our $NoShuffle        = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $LoadModules      = $ENV{TEST_NGINX_LOAD_MODULES};
our $Timeout          = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $ServerAddr       = '127.0.0.1';
our $ServerName       = 'localhost';
our $WorkerUser       = $ENV{TEST_NGINX_WORKER_USER};
our $NginxBinary      = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $Workers          = 1;
our $WorkerConnections = 64;
our $LogLevel         = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $DaemonEnabled    = 'on';
our $ServerPort       = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}
                        || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $NoRootLocation   = 0;
our $TestNginxSleep   = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $ForceRestartOnTest = defined $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST}
                        ? $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} : 1;

if (defined $WorkerUser && $WorkerUser !~ /^\w+(?:\s+\w+)?$/) {
    die "Bad value in the env TEST_NGINX_WORKER_USER: $WorkerUser\n";
}

our @EnvToNginx;
our @BlockPreprocessors;
our @CleanupHandlers;
our $RunTestHelper;     # set by Test::Nginx::Socket
our $CheckErrorLog;     # set by Test::Nginx::Socket
our $PrevConfig;
our $NginxVersion;
our $ErrLogFilePos = 0;
our $InSubprocess;

our $ServRoot = $ENV{TEST_NGINX_SERVROOT}
                || File::Spec->rel2abs('t/servroot');
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = File::Spec->catfile($ServRoot, 'logs');
our $ErrLogFile = File::Spec->catfile($LogDir, 'error.log');
our $AccLogFile = File::Spec->catfile($LogDir, 'access.log');
our $HtmlDir    = File::Spec->catfile($ServRoot, 'html');
our $ConfDir    = File::Spec->catfile($ServRoot, 'conf');
our $ConfFile   = File::Spec->catfile($ConfDir, 'nginx.conf');
our $PidFile    = File::Spec->catfile($LogDir, 'nginx.pid');

srand $$;

# ---- configuration functions (same prototypes as CPAN) -------------------

sub no_long_string () { $NoLongString = 1 }
sub no_shuffle ()     { $NoShuffle = 1 }
sub no_root_location () { $NoRootLocation = 1 }
sub master_on ()      { $MasterProcessEnabled = 'on' }
sub master_off ()     { $MasterProcessEnabled = 'off' }
sub html_dir ()       { return $HtmlDir }
sub server_root ()    { return $ServRoot }
sub sleep_time        { return $TestNginxSleep }
sub verbose           { return $Verbose }

sub timeout (@) {
    if (@_) { $Timeout = shift; return }
    return $Timeout;
}

sub repeat_each (@) {
    $RepeatEach = shift if @_;
    return $RepeatEach;
}

sub workers (@) {
    if (@_) { $Workers = shift; return }
    return $Workers;
}

sub worker_connections (@) {
    if (@_) { $WorkerConnections = shift; return }
    return $WorkerConnections;
}

sub log_level (@) {
    if (@_) { $LogLevel = shift; return }
    return $LogLevel;
}

sub server_port (@) {
    if (@_) { $ServerPort = shift; return }
    return $ServerPort;
}

sub server_port_for_client (@) {
    if (@_) { $ServerPortForClient = shift; return }
    return $ServerPortForClient;
}

sub env_to_nginx (@) {
    croak "env_to_nginx: no arguments specified" if !@_;
    for my $v (@_) {
        if ($v !~ /^[A-Za-z_]/ || $v =~ /\n/) {
            croak "env_to_nginx: bad argument value: $v\n";
        }
        push @EnvToNginx, $v;
    }
}

sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($)    { unshift @CleanupHandlers, shift }

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    if (ref $expected && ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $desc);
    }
    return Test::More::is($got, $expected, $desc) if $NoLongString;
    return Test::LongString::is_string($got, $expected, $desc);
}

# ---- helpers ---------------------------------------------------------------

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(@_);
}

sub parse_time ($) {
    my $tm = shift;
    if (defined $tm) {
        if ($tm =~ s/([^_a-zA-Z])ms$/$1/) {
            $tm = $tm / 1000;
        } else {
            $tm =~ s/([^_a-zA-Z])s$/$1/;
        }
    }
    return $tm;
}

sub trim ($) {
    my $s = shift;
    return undef if !defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\n/ /gs;
    $s =~ s/\s{2,}/ /gs;
    return $s;
}

sub parse_headers ($) {
    my $s = shift;
    my %headers;
    open my $in, '<', \$s or die "cannot read string: $!";
    while (<$in>) {
        s/^\s+|\s+$//g;
        my $neg = ($_ =~ s/^!\s*//);
        if ($neg) {
            $headers{$_} = undef;
        } else {
            my ($key, $val) = split /\s*:\s*/, $_, 2;
            $headers{$key} = $val;
        }
    }
    close $in;
    return \%headers;
}

# A daemonised nginx is re-parented to PID 1; if that PID 1 does not reap
# children, an exited nginx stays a zombie that "kill 0" still reports.
sub is_running ($) {
    my $pid = shift;
    return 0 if !$pid || !kill(0, $pid);
    if (open my $in, '<', "/proc/$pid/stat") {
        my $stat = <$in> // '';
        close $in;
        return 0 if $stat =~ /\)\s+Z\s/;
    }
    return 1;
}

sub get_pid_from_pidfile ($) {
    my $name = shift;
    open my $in, '<', $PidFile
        or bail_out("$name - Failed to open the pid file $PidFile for reading: $!");
    my $pid = do { local $/; <$in> };
    close $in;
    chomp $pid if defined $pid;
    return $pid;
}

sub kill_process ($$$) {
    my ($pid, $wait, $name) = @_;

    if ($wait) {
        kill SIGQUIT, $pid;
        my $left = timeout();
        while ($left > 0 && is_running($pid)) {
            waitpid($pid, WNOHANG);
            sleep 0.05;
            $left -= 0.05;
        }
        if (is_running($pid)) {
            warn "$name - timeout when waiting for the process $pid to exit\n";
            kill SIGKILL, $pid;
            sleep 0.05;
        }
    }

    my $step = $TestNginxSleep;
    for (1 .. 20) {
        return if !is_running($pid);
        kill SIGTERM, $pid;
        $step *= 1.2;
        $step = 0.5 if $step > 0.5;
        sleep $step;
    }

    warn "$name - WARNING: killing the child process $pid with force...\n";
    kill SIGKILL, $pid;
    waitpid($pid, WNOHANG);
}

sub stop_nginx_from_pidfile ($) {
    my $name = shift;
    return if !-f $PidFile;
    my $pid = get_pid_from_pidfile($name);
    if (defined $pid && $pid =~ /^\d+$/ && is_running($pid)) {
        kill_process($pid, 1, $name);
    }
    unlink $PidFile if -f $PidFile;
}

sub cleanup () {
    $_->() for @CleanupHandlers;
}

sub error_log_data () {
    # give nginx a moment to flush log-phase messages
    sleep $TestNginxSleep * 3;

    open my $in, '<', $ErrLogFile or return undef;
    seek $in, $ErrLogFilePos, 0 if $ErrLogFilePos > 0;
    my @lines = <$in>;
    $ErrLogFilePos = tell($in);
    close $in;
    return \@lines;
}

sub can_run ($) {
    my $cmd = shift;
    if ($cmd =~ m{[/\\]}) {
        return (-f $cmd && -x $cmd) ? $cmd : undef;
    }
    for my $dir ((split /\Q$Config::Config{path_sep}\E/, $ENV{PATH} // ''), '.') {
        next if $dir eq '';
        my $abs = File::Spec->catfile($dir, $cmd);
        return $abs if -f $abs && -x $abs;
    }
    return undef;
}

sub get_canon_version (@) {
    return sprintf "%d.%03d%03d", $_[0], $_[1], $_[2];
}

sub get_nginx_version () {
    my $out = `$NginxBinary -V 2>&1`;
    if (!defined $out || $? != 0) {
        bail_out("Failed to get the version of the Nginx in PATH: "
                 . ($out // ''));
    }
    if ($out =~ m{(?:nginx|openresty)[^/]*/(\d+)\.(\d+)\.(\d+)}s
        || $out =~ m{\w+/(\d+)\.(\d+)\.(\d+)}s)
    {
        return get_canon_version($1, $2, $3);
    }
    bail_out("Failed to parse the output of \"nginx -V\": $out\n");
}

sub gen_rand_port ($) {
    my $used = shift;
    for (1 .. 1000) {
        my $port = int(rand 63550) + 1985;
        next if $used->{$port};
        my $sock = IO::Socket::INET->new(LocalAddr => $ServerAddr,
                                         LocalPort => $port,
                                         Proto => 'tcp', Timeout => 0.1);
        if ($sock) {
            $sock->close;
            return $port;
        }
    }
    return undef;
}

sub expand_env_in_text ($$$) {
    my ($text, $name, $rand_ports) = @_;
    return undef if !defined $text;

    my %used = ($ServerPort => 1, map { $_ => 1 } values %$rand_ports);

    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_[0-9]+$/) {
            if (!defined $rand_ports->{$var}) {
                my $port = gen_rand_port(\%used);
                bail_out("$name - Cannot find an available listening port "
                         . "number for $var.\n") if !defined $port;
                $rand_ports->{$var} = $port;
                $used{$port} = 1;
            }
            $val = $rand_ports->{$var};
        } else {
            bail_out("$name - No environment $var defined.\n")
                if !defined $ENV{$var};
            $val = $ENV{$var};
        }
        $val;
    }eg;

    return $text;
}

# ---- server root, user files, nginx.conf ------------------------------------

sub setup_server_root () {
    if (-d $ServRoot) {
        remove_tree($ConfDir, glob("$ServRoot/*_cache"),
                    glob("$ServRoot/*_temp"), $HtmlDir, $LogDir);
        rmdir $ServRoot
            or bail_out("Can't remove $ServRoot (not empty?): $!");
    }
    for my $dir ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        mkdir $dir or bail_out("Failed to do mkdir $dir\n");
    }

    my $index = "$HtmlDir/index.html";
    open my $out, '>', $index
        or bail_out("Can't open $index for writing: $!\n");
    print $out '<html><head><title>It works!</title></head>'
               . '<body>It works!</body></html>';
    close $out;
}

sub write_user_files ($$) {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;

    my $files = $block->user_files;
    return if !$files;

    if (!ref $files) {
        my $raw = $files;
        open my $in, '<', \$raw or die "cannot read string: $!";
        $files = [];
        my ($fname, $body, $date);
        while (<$in>) {
            if (/>>> (\S+)(?:\s+(.+))?/) {
                push @$files, [$fname, $body, $date] if $fname;
                ($fname, $date) = ($1, $2);
                undef $body;
            } else {
                $body .= $_;
            }
        }
        push @$files, [$fname, $body, $date] if $fname;
        close $in;

    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - wrong value type: ", ref $files,
                 ", only scalar or ARRAY are accepted");
    }

    for my $file (@$files) {
        my ($fname, $body, $date) = @$file;
        $body = '' if !defined $body;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        if ($path =~ m{(.*)/}) {
            my $dir = $1;
            if (!-d $dir) {
                make_path($dir)
                    or bail_out("$name - Cannot create directory ", $dir);
            }
        }
        $body = expand_env_in_text($body, $name, $rand_ports);
        open my $out, '>', $path
            or bail_out("$name - Cannot open $path for writing: $!\n");
        binmode $out;
        print $out $body;
        close $out;
        if ($date) {
            my $cmd = "TZ=GMT touch -t '$date' $HtmlDir/$fname";
            system($cmd) == 0
                or bail_out("Failed to run shell command: $cmd\n");
        }
    }
}

sub write_config_file ($$$) {
    my ($block, $config, $rand_ports) = @_;
    my $name = $block->name;

    my $http_config = expand_env_in_text($block->http_config, $name,
                                         $rand_ports) // '';
    my $main_config = $block->main_config // '';
    $config //= '';

    # CPAN appends the load_module lines at the END of --- main_config
    # (i.e. after the env lines, before "http {"), space separated.
    if ($LoadModules) {
        my @modules = map { "load_module $_;" } grep { $_ } split /\s+/,
                      $LoadModules;
        $main_config .= join ' ', @modules if @modules;
    }
    $main_config = expand_env_in_text($main_config, $name, $rand_ports);

    my $post_main_config = expand_env_in_text($block->post_main_config,
                                              $name, $rand_ports) // '';

    my $server_name = $block->server_name // $ServerName;

    open my $out, '>', $ConfFile
        or bail_out("Can't open $ConfFile for writing: $!\n");

    print $out <<_EOC_;
worker_processes  $Workers;
daemon $DaemonEnabled;
master_process $MasterProcessEnabled;
error_log $ErrLogFile $LogLevel;
pid       $PidFile;
env MOCKEAGAIN_VERBOSE;
env MOCKEAGAIN;
env MOCKEAGAIN_WRITE_TIMEOUT_PATTERN;
env LD_PRELOAD;
env LD_LIBRARY_PATH;
env DYLD_INSERT_LIBRARIES;
env DYLD_FORCE_FLAT_NAMESPACE;
_EOC_

    for my $v (@EnvToNginx) {
        my $e = $v =~ /\s/ ? "'$v'" : $v;
        print $out "env $e;\n";
    }

    print $out <<_EOC_;
#env LUA_PATH;
#env LUA_CPATH;

$main_config

http {
    access_log $AccLogFile;
    #access_log off;

    default_type text/plain;
    keepalive_timeout  68;

$http_config

    server {
        listen          $ServerPort;
        server_name     '$server_name';

        client_max_body_size 30M;
        #client_body_buffer_size 4k;


        # Begin preamble config...

        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

_EOC_

    if (!$NoRootLocation) {
        print $out <<_EOC_;
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_
    }

    print $out <<_EOC_;
    }
}

$post_main_config

#timer_resolution 100ms;

events {
    accept_mutex off;

    worker_connections  $WorkerConnections;
}
env ASAN_OPTIONS;
env MOCKNOEAGAIN_VERBOSE;
env MOCKNOEAGAIN;
_EOC_

    if (defined $WorkerUser) {
        print $out "user $WorkerUser;\n";
    } elsif ($> == 0) {
        print $out "user root;\n";
    }

    close $out;
}

# ---- the driver --------------------------------------------------------------

# Sections of CPAN Test::Nginx::Socket that this subset does NOT implement.
# Using one bails out so a .t file never silently passes here while it would
# behave differently under the real module.
my @UnsupportedSections = qw(
    raw_request raw_request_middle_delay pipelined_requests request_eval
    response_body_eval response_body_filters raw_response_headers_like
    raw_response_headers_unlike ignore_response http09 charset abort
    shutdown access_log no_access_log
    shutdown_error_log no_shutdown_error_log stap stap_out stap_out_like
    stap_out_unlike tcp_listen tcp_reply tcp_query tcp_query_len
    tcp_shutdown tcp_shutdown_delay tcp_reply_delay tcp_no_close udp_listen
    udp_reply udp_query udp_reply_delay http2 http3 curl curl_options
    curl_protocol curl_error skip_nginx2 skip_openssl skip_eval skip_slave
    todo todo_nginx error_log_file server_addr_for_client reload_fails
    no_check_leak quic_max_idle_timeout
);

sub check_unsupported_sections ($) {
    my $block = shift;
    for my $sec (@UnsupportedSections) {
        if (exists $block->{$sec}) {
            bail_out($block->name . " - section '--- $sec' is not supported "
                     . "by the in-tree Test::Nginx subset (t/lib)");
        }
    }
}

sub run_tests () {
    $NginxVersion = get_nginx_version();

    $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort
        if !defined $ENV{TEST_NGINX_SERVER_PORT};

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks if !$NoShuffle;

    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value('name', $0 . ' ' . $block->name);
        run_test($block);
    }

    cleanup();
}

sub run_test ($) {
    my $block = shift;

    return if defined $block->SKIP;

    my $name = $block->name;
    check_unsupported_sections($block);

    my $rand_ports = {};
    my $config = expand_env_in_text($block->config, $name, $rand_ports);

    local $LogLevel = $LogLevel;
    $LogLevel = $block->log_level if $block->log_level;

    my $must_die = $block->must_die;
    my $dry_run = 0;
    my $should_restart;

    if (!defined $config) {
        if (!defined $PrevConfig) {
            bail_out("$name - No '--- config' section specified and could "
                     . "not get previous one. Use TEST_NGINX_NO_NGINX_MANAGER ?");
        }
        # CPAN reuses the nginx started for the previous block as is.
        $should_restart = 0;

    } else {
        $should_restart = (!defined $PrevConfig || $config ne $PrevConfig
                           || $ForceRestartOnTest) ? 1 : 0;
    }

    my ($should_skip, $tests_to_skip, $skip_reason);
    if (defined(my $skip_nginx = $block->skip_nginx)) {
        if ($skip_nginx =~ m{
                ^ \s* (\d+) \s* : \s*
                    ([<>]=?) \s* (\d+)\.(\d+)\.(\d+)
                    (?: \s* : \s* (.*) )?
                \s*$}x)
        {
            $tests_to_skip = $1;
            my ($op, @ver) = ($2, $3, $4, $5);
            $skip_reason = $6 || "nginx version $op " . join('.', @ver);
            my $ver = get_canon_version(@ver);
            $should_skip = 1 if eval "$NginxVersion $op $ver";
        } else {
            bail_out("$name - Invalid --- skip_nginx spec: $skip_nginx");
        }
    }

    if (!$should_skip && $should_restart) {
        $PrevConfig = $config;

        stop_nginx_from_pidfile($name);

        setup_server_root();
        write_user_files($block, $rand_ports);
        write_config_file($block, $config, $rand_ports);

        if (!can_run($NginxBinary)) {
            bail_out("$name - Cannot find the nginx executable in the PATH "
                     . "environment");
        }

        # stdout is discarded, stderr is inherited: with an nginx built
        # with --error-log-path=stderr (Debian) messages emitted while
        # parsing nginx.conf appear on the console, NOT in logs/error.log.
        my $cmd = "$NginxBinary -p $ServRoot/ -c $ConfFile > /dev/null";

        $ErrLogFilePos = 0;
        my $i = 0;
        my $waited = 0;

        while (1) {
            system($cmd);
            my $status = $?;
            my ($exec_failed, $coredump, $exit_code);
            if ($status == -1) {
                $exec_failed = 1;
            } else {
                $exit_code = $status >> 8;
                $coredump = $status & 128;
            }

            if (defined $must_die) {
                if ($exec_failed) {
                    Test::More::fail("$name - failed to execute the nginx "
                                     . "command line");
                } elsif ($coredump) {
                    Test::More::fail("$name - nginx core dumped");
                } elsif (looks_like_number($must_die)) {
                    Test::More::is($must_die, $exit_code,
                                   "$name - die with the expected exit code");
                } else {
                    Test::More::isnt($status, 0, "$name - die as expected");
                }

                $CheckErrorLog->($block, undef, $dry_run, $i, 0);

                if ($status == 0) {
                    warn "WARNING: $name - nginx must die but it does not; "
                         . "killing it (req $i)\n";
                    for (1 .. 15) {
                        last if -f $PidFile;
                        sleep $TestNginxSleep;
                    }
                    stop_nginx_from_pidfile($name);
                }

                next if ++$i < $RepeatEach;
                return;
            }

            last if $status == 0;

            $i++;
            my $delay = 0.1 * $i;
            $delay = 1 if $delay > 1;
            sleep $delay;
            $waited += $delay;
            next if $waited < 30;
            bail_out("$name - Cannot start nginx using command \"$cmd\" "
                     . "(status code $status).");
        }

        sleep $TestNginxSleep;
    }

    if ($block->init) {
        eval $block->init;
        bail_out("$name - init failed: $@") if $@;
    }

    $ErrLogFilePos = 0;
    for my $i (1 .. $RepeatEach) {
        write_user_files($block, $rand_ports) if $i > 1;

        if ($should_skip && defined $tests_to_skip) {
          SKIP: {
                Test::More::skip("$name - $skip_reason", $tests_to_skip);
            }
        } else {
            $RunTestHelper->($block, $dry_run, $i - 1);
        }
    }
}

sub _kill_at_exit {
    return if $InSubprocess;
    cleanup();
    return if $ENV{TEST_NGINX_NO_CLEAN};
    local $?;   # do not confuse Test::Builder's exit code
    stop_nginx_from_pidfile('END');
}

END { _kill_at_exit() }

# Make Ctrl-C / kill of prove still run the END block (which stops nginx).
for my $sig (qw(INT TERM HUP)) {
    if (!defined $SIG{$sig} || $SIG{$sig} eq '' || $SIG{$sig} eq 'DEFAULT') {
        $SIG{$sig} = sub { exit 1 };
    }
}

1;
