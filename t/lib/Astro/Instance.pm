package Astro::Instance;

# The tests that drive nginx themselves (reloads, several instances, a
# Redis server that goes away): an nginx instance made from an http{}
# body, run with TEST_NGINX_BINARY and TEST_NGINX_LOAD_MODULES as the
# Test::Nginx tests are, in a directory of its own; an HTTP client that
# times its requests; a private redis-server; a TCP server that answers
# garbage.  Everything started here is stopped when the script ends,
# also when it dies.
#
#   use FindBin;
#   use lib "$FindBin::Bin/lib";
#   use Astro::Instance qw(nginx_port);
#
#   my $redis = Astro::Instance::Redis->new(port => 6400);
#   $redis->start or BAIL_OUT('no redis');
#   my $ngx = Astro::Instance->new(name => 'a', port => nginx_port(60),
#                                  http => $body);
#   $ngx->start or BAIL_OUT('nginx did not start');
#   my $res = $ngx->get('/t?k=a');   # {status, headers, body, ms}
#   my $rl = $ngx->ratelimit;        # modules.ratelimit of the status JSON
#
# In the http{} body, $PORT stands for the instance's port.

use strict;
use warnings;

use Exporter 'import';
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(:sys_wait_h _exit);
use Time::HiRes qw(time sleep);

our @EXPORT_OK = qw(nginx_port have_redis wait_until process_gone
                    sleep_into_second sleep_out_of_minute_end);

my $OWNER = $$;
my @STARTED;        # everything to stop at the end, in order

sub nginx_port {
    my ($offset) = @_;
    return ($ENV{TEST_NGINX_PORT} || 1984) + $offset;
}

sub have_redis {
    for my $dir (split /:/, $ENV{PATH} || '') {
        return 1 if -x "$dir/redis-server" && -x "$dir/redis-cli";
    }
    return 0;
}

# Polls $cond every $step seconds for at most $timeout seconds: its last
# value.
sub wait_until {
    my ($cond, $timeout, $step) = @_;
    $step ||= 0.02;
    my $end = time + $timeout;
    my $v;
    while (1) {
        $v = $cond->();
        return $v if $v || time >= $end;
        sleep $step;
    }
}

# true once the process $pid is gone (within 10 s)
sub process_gone {
    my ($pid) = @_;
    return wait_until(sub { !kill(0, $pid) }, 10, 0.05);
}

# Sleeps until $at seconds (0..1) into the next second of the clock, so
# that what follows starts early in a second.
sub sleep_into_second {
    my ($at) = @_;
    $at //= 0.02;
    my $t = time;
    my $frac = $t - int($t);
    sleep(1 - $frac + $at);
}

# A sliding window weighs the previous minute's count: a test that would
# start in a minute's last $margin seconds waits for the next minute.
sub sleep_out_of_minute_end {
    my ($margin) = @_;
    $margin ||= 15;
    my $s = time() % 60;
    sleep(61 - $s) if $s >= 60 - $margin;
}

sub _register {
    my ($obj) = @_;
    push @STARTED, $obj unless grep { $_ == $obj } @STARTED;
}

# fork: the child runs $code and exits (0 when it returns), the parent
# gets its pid
sub spawn {
    my ($code) = @_;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        $code->();
        _exit(0);
    }
    return $pid;
}

# in a child: exec @args with its stdio on /dev/null
sub quiet_exec {
    open STDIN, '<', '/dev/null';
    open STDOUT, '>', '/dev/null';
    open STDERR, '>', '/dev/null';
    exec(@_) or _exit(127);
}

# an interrupted test stops what it started too: END blocks run on exit()
for my $sig (qw(INT TERM HUP)) {
    $SIG{$sig} = sub { exit 128 + ($sig eq 'INT' ? 2 : $sig eq 'TERM' ? 15 : 1) }
        if !$SIG{$sig} || $SIG{$sig} eq 'DEFAULT';
}

END {
    if ($$ == $OWNER) {
        my $rc = $?;
        for my $obj (reverse @STARTED) {
            eval { $obj->cleanup };
        }
        @STARTED = ();
        $? = $rc;
    }
}


# --- nginx ---------------------------------------------------------------

# name      a name for the directory (default "nginx")
# port      the port of $PORT in the body
# http      the http{} body
# workers   worker_processes (default 1)
# log_level error_log level (default info)
# main      more main-level directives

sub new {
    my ($class, %o) = @_;
    my $self = bless {
        name      => $o{name} || 'nginx',
        port      => $o{port} || nginx_port(60),
        http      => $o{http} || '',
        workers   => $o{workers} || 1,
        log_level => $o{log_level} || 'info',
        main      => $o{main} || '',
        binary    => $ENV{TEST_NGINX_BINARY} || 'nginx',
        modules   => [split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '')],
        gen       => 0,
    }, $class;

    $self->{root} = tempdir("astro-$self->{name}-XXXXXX", TMPDIR => 1,
                            CLEANUP => 1);
    make_path("$self->{root}/conf", "$self->{root}/logs");

    return $self;
}

sub port { $_[0]{port} }
sub root { $_[0]{root} }
sub error_log_path { "$_[0]{root}/logs/error.log" }

# Writes nginx.conf for the body given, or the last one.  Every
# configuration gets a generation number, which a server of its own
# answers (Host: astro-generation), so that a reload can be waited for.
sub write_conf {
    my ($self, $http) = @_;
    $self->{http} = $http if defined $http;
    $self->{gen}++;

    my $root = $self->{root};
    my $port = $self->{port};
    my $load = join '', map { "load_module $_;\n" } @{ $self->{modules} };
    (my $body = $self->{http}) =~ s/\$PORT\b/$port/g;

    open my $fh, '>', "$root/conf/nginx.conf" or die "$root: $!";
    print $fh <<_EOC_;
$load
master_process on;
worker_processes $self->{workers};
daemon on;
pid logs/nginx.pid;
error_log logs/error.log $self->{log_level};
$self->{main}
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $root/client_body_temp;
    proxy_temp_path $root/proxy_temp;
    fastcgi_temp_path $root/fastcgi_temp;
    uwsgi_temp_path $root/uwsgi_temp;
    scgi_temp_path $root/scgi_temp;

$body

    server {
        listen 127.0.0.1:$port;
        server_name astro-generation;
        location / { return 200 "$self->{gen}"; }
    }
}
_EOC_
    close $fh;
}

sub _nginx {
    my ($self, @args) = @_;
    return system($self->{binary}, '-p', "$self->{root}/",
                  '-c', 'conf/nginx.conf', @args);
}

sub master_pid {
    my ($self) = @_;
    open my $fh, '<', "$self->{root}/logs/nginx.pid" or return undef;
    my $pid = <$fh>;
    close $fh;
    return undef unless defined $pid && $pid =~ /(\d+)/;
    return $1;
}

# the master's children now
sub worker_pids {
    my ($self) = @_;
    my $master = $self->master_pid or return ();
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh>;
        close $fh;
        next unless defined $line;
        # pid (comm) state ppid ...
        push @pids, $1 if $line =~ /^(\d+) \(.*\) \S+ (\d+) / && $2 == $master;
    }
    @pids = sort { $a <=> $b } @pids;
    return @pids;
}

# the generation that answers, or undef
sub generation {
    my ($self) = @_;
    my $res = $self->get('/', headers => { Host => 'astro-generation' },
                         timeout => 1);
    return $res->{status} == 200 ? $res->{body} : undef;
}

# Starts nginx (a new body may be given): true once its workers answer.
sub start {
    my ($self, $http) = @_;
    $self->write_conf($http);
    _register($self);
    if ($self->_nginx() != 0) {
        warn "nginx did not start:\n", $self->error_log_tail;
        return 0;
    }
    $self->{started} = 1;
    my $gen = $self->{gen};
    return 1 if wait_until(sub {
        ($self->generation // '') eq $gen
            && (my @w = $self->worker_pids) >= $self->{workers}
    }, 10, 0.05);
    warn "nginx does not answer:\n", $self->error_log_tail;
    return 0;
}

# Writes the configuration (a new body may be given) and sends
# nginx -s reload: the command's exit code.  reload() waits for it.
sub signal_reload {
    my ($self, $http) = @_;
    $self->write_conf($http);
    return $self->_nginx('-s', 'reload');
}

# nginx -s reload (a new body may be given): true once the new
# configuration answers and the old workers have gone.  A reload that
# fails keeps the old generation: false after $timeout seconds (10).
sub reload {
    my ($self, $http, $timeout) = @_;
    my %old = map { $_ => 1 } $self->worker_pids;
    return 0 if $self->signal_reload($http) != 0;
    my $gen = $self->{gen};
    return wait_until(sub {
        my @now = $self->worker_pids;
        ($self->generation // '') eq $gen
            && !grep { $old{$_} } @now
    }, $timeout || 10, 0.05) ? 1 : 0;
}

sub stop {
    my ($self) = @_;
    return unless $self->{started};
    my $master = $self->master_pid;
    $self->_nginx('-s', 'stop');
    if ($master) {
        wait_until(sub { !kill(0, $master) }, 5, 0.05);
        kill 'KILL', $master if kill 0, $master;
    }
    $self->{started} = 0;
}

sub cleanup {
    my ($self) = @_;
    return unless $self->{started};
    # any worker left behind goes with its master
    my @workers = $self->worker_pids;
    $self->stop;
    kill 'KILL', grep { kill 0, $_ } @workers;
}


# --- HTTP ----------------------------------------------------------------

# Sends a GET without waiting for the answer: a handle for receive().
# headers: more request headers; timeout: seconds (default 5).
sub send_get {
    my ($self, $path, %o) = @_;
    my $t0 = time;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $self->{port},
                                     Proto => 'tcp',
                                     Timeout => $o{timeout} || 5);
    my $h = { t0 => $t0, timeout => $o{timeout} || 5 };
    unless ($sock) {
        $h->{error} = "connect: $!";
        return $h;
    }
    $sock->autoflush(1);
    print {$sock} _head($path, %o);
    $h->{sock} = $sock;
    return $h;
}

# A request that stays open: its head sent (all but its last empty line
# with partial => 1), its socket returned (undef when it cannot connect)
# for the caller to close.  method => 'POST', headers => {...} as
# send_get's.
sub hold {
    my ($self, $path, %o) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $self->{port},
                                     Proto => 'tcp', Timeout => 5)
        or return undef;
    $sock->autoflush(1);
    print {$sock} _head($path, %o);
    return $sock;
}

sub _head {
    my ($path, %o) = @_;
    my %headers = (Host => 'localhost', Connection => 'close',
                   %{ $o{headers} || {} });
    return ($o{method} || 'GET') . " $path HTTP/1.1\r\n"
           . join('', map { "$_: $headers{$_}\r\n" } sort keys %headers)
           . ($o{partial} ? '' : "\r\n");
}

# The answer of a send_get(): {status, headers (names in lower case),
# body, ms (from the send to the end of the answer)}; status 0 and
# {error} when there was none.
sub receive {
    my ($self, $h) = @_;
    my $res = { status => 0, headers => {}, body => '', ms => undef };
    if ($h->{error}) {
        $res->{error} = $h->{error};
        return $res;
    }
    my $sock = $h->{sock};
    my $sel = IO::Select->new($sock);
    my $buf = '';
    my $end = $h->{t0} + $h->{timeout};
    while (1) {
        my $left = $end - time;
        if ($left <= 0 || !$sel->can_read($left)) {
            $res->{error} = 'timeout';
            last;
        }
        my $n = sysread($sock, $buf, 65536, length $buf);
        last if !$n;        # the end of the answer (Connection: close)
    }
    $res->{ms} = (time - $h->{t0}) * 1000;
    close $sock;

    if ($buf =~ /\AHTTP\/1\.\d (\d{3})[^\r\n]*\r\n(.*?)\r\n\r\n(.*)\z/s) {
        $res->{status} = $1;
        my ($head, $body) = ($2, $3);
        for (split /\r\n/, $head) {
            my ($k, $v) = split /:\s*/, $_, 2;
            $res->{headers}{lc $k} = $v;
        }
        if (($res->{headers}{'transfer-encoding'} // '') =~ /chunked/i) {
            my $plain = '';
            while ($body =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//) {
                my $len = hex $1;
                last if $len == 0;
                $plain .= substr($body, 0, $len, '');
                $body =~ s/\A\r\n//;
            }
            $body = $plain;
        }
        $res->{body} = $body;
    }
    return $res;
}

sub get {
    my ($self, $path, %o) = @_;
    return $self->receive($self->send_get($path, %o));
}

# the status JSON, decoded (undef when it is not)
sub status {
    my ($self, $path) = @_;
    my $res = $self->get(($path || '/astro/status') . '?format=json');
    return undef unless $res->{status} == 200;
    return eval { JSON::PP::decode_json($res->{body}) };
}

# the status JSON's modules.ratelimit
sub ratelimit {
    my ($self, $path) = @_;
    my $st = $self->status($path) or return undef;
    return $st->{modules}{ratelimit};
}

# the rate limiter's Redis client in the status JSON ({} when none)
sub redis {
    my ($self) = @_;
    my $rl = $self->ratelimit or return {};
    return $rl->{redis} || {};
}

# "status X-RL" of a request, where the server adds
# X-RL: $astro_ratelimit_status
sub rl_hit {
    my ($self, $path) = @_;
    my $res = $self->get($path);
    return "$res->{status} " . ($res->{headers}{'x-rl'} // '-');
}


# --- the error log -------------------------------------------------------

sub error_log {
    my ($self) = @_;
    open my $fh, '<', $self->error_log_path or return ();
    my @lines = <$fh>;
    close $fh;
    return @lines;
}

sub error_log_tail {
    my ($self, $n) = @_;
    my @lines = $self->error_log;
    $n ||= 10;
    return @lines > $n ? @lines[-$n .. -1] : @lines;
}

# a mark in the error log: log_since() gives the lines after it
sub log_mark {
    my ($self) = @_;
    return scalar(my @l = $self->error_log);
}

sub log_since {
    my ($self, $mark) = @_;
    my @lines = $self->error_log;
    return @lines[$mark .. $#lines];
}

# lines telling that a process crashed, or of level alert/crit/emerg
sub bad_lines {
    my ($self) = @_;
    return grep { /exited on signal|\bsignal \d+\b.*core|\[(?:alert|crit|emerg)\]/ }
           $self->error_log;
}


# --- a private Redis -------------------------------------------------------

package Astro::Instance::Redis;

use strict;
use warnings;
use File::Temp qw(tempdir);
use POSIX qw(:sys_wait_h _exit);
use Time::HiRes qw(time sleep);

# port, password (requirepass), host (the address it binds, default
# 127.0.0.1)
sub new {
    my ($class, %o) = @_;
    my $self = bless { port => $o{port}, password => $o{password},
                       host => $o{host} || '127.0.0.1' }, $class;
    $self->{dir} = tempdir("astro-redis-$o{port}-XXXXXX", TMPDIR => 1,
                           CLEANUP => 1);
    return $self;
}

sub port { $_[0]{port} }
sub pid { $_[0]{pid} }

# Starts redis-server in the foreground of a child: true once it answers
# PING.
sub start {
    my ($self) = @_;
    my @args = ('redis-server', '--port', $self->{port},
                '--bind', $self->{host}, '--save', '', '--appendonly', 'no',
                '--daemonize', 'no', '--dir', $self->{dir},
                '--logfile', "$self->{dir}/redis.log");
    push @args, '--requirepass', $self->{password} if $self->{password};

    my $pid = Astro::Instance::spawn(
        sub { Astro::Instance::quiet_exec(@args) });
    $self->{pid} = $pid;
    Astro::Instance::_register($self);

    my $ok = Astro::Instance::wait_until(sub {
        return 0 if waitpid($pid, WNOHANG) == $pid;
        ($self->cli('PING') // '') eq 'PONG';
    }, 5, 0.05);
    return $ok ? 1 : 0;
}

# as redis-cli would: its output, chomped
sub cli {
    my ($self, @cmd) = @_;
    my @args = ('redis-cli', '-h', $self->{host} // '127.0.0.1',
                '-p', $self->{port});
    push @args, '-a', $self->{password}, '--no-auth-warning'
        if $self->{password};
    my $pid = open my $fh, '-|';
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open STDERR, '>', '/dev/null';
        exec(@args, @cmd) or _exit(127);
    }
    my $out = do { local $/; <$fh> };
    close $fh;
    return undef unless defined $out;
    chomp $out;
    return $out;
}

sub running {
    my ($self) = @_;
    return $self->{pid} && CORE::kill(0, $self->{pid});
}

# SIGKILL, as a crash: it is gone on return
sub sigkill {
    my ($self) = @_;
    $self->_end('KILL');
}

sub stop {
    my ($self) = @_;
    $self->_end('TERM');
}

sub _end {
    my ($self, $sig) = @_;
    my $pid = $self->{pid} or return;
    CORE::kill 'CONT', $pid;
    CORE::kill $sig, $pid;
    my $gone = Astro::Instance::wait_until(
        sub { waitpid($pid, WNOHANG) == $pid || !CORE::kill(0, $pid) },
        5, 0.02);
    unless ($gone) {
        CORE::kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    delete $self->{pid};
}

sub pause { CORE::kill 'STOP', $_[0]{pid} }
sub resume { CORE::kill 'CONT', $_[0]{pid} }

sub cleanup { $_[0]->_end('KILL') }


# --- a server that answers garbage -------------------------------------------

package Astro::Instance::Garbage;

use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h _exit);

# port, reply: the bytes it answers to every command it reads (a command
# of the Redis protocol: *N then N bulk strings), e.g. "+OK\r\n" or
# "hello\r\n"
sub new {
    my ($class, %o) = @_;
    return bless { port => $o{port}, reply => $o{reply} }, $class;
}

sub port { $_[0]{port} }

sub start {
    my ($self) = @_;
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                       LocalPort => $self->{port},
                                       Listen => 64, ReuseAddr => 1,
                                       Proto => 'tcp')
        or return 0;

    my $pid = Astro::Instance::spawn(sub { $self->_serve($listen) });
    close $listen;
    $self->{pid} = $pid;
    Astro::Instance::_register($self);
    return 1;
}

sub _serve {
    my ($self, $listen) = @_;
    my $sel = IO::Select->new($listen);
    my %buf;
    $SIG{TERM} = sub { _exit(0) };
    while (1) {
        for my $fh ($sel->can_read) {
            if ($fh == $listen) {
                my $c = $listen->accept or next;
                $sel->add($c);
                $buf{fileno $c} = '';
                next;
            }
            my $n = sysread($fh, $buf{fileno $fh}, 65536,
                            length $buf{fileno $fh});
            if (!$n) {
                delete $buf{fileno $fh};
                $sel->remove($fh);
                close $fh;
                next;
            }
            my $out = '';
            $out .= $self->{reply} while _command(\$buf{fileno $fh});
            syswrite($fh, $out) if length $out;
        }
    }
}

# a whole command taken off the buffer: its argv, or undef
sub _command {
    my ($buf) = @_;
    return undef unless $$buf =~ /\A\*(\d+)\r\n/;
    my ($n, $pos, @argv) = ($1, length "*$1\r\n");
    for (1 .. $n) {
        return undef unless substr($$buf, $pos) =~ /\A\$(\d+)\r\n/;
        my $len = $1;
        $pos += length("\$$len\r\n");
        return undef if $pos + $len + 2 > length $$buf;
        push @argv, substr($$buf, $pos, $len);
        $pos += $len + 2;
    }
    substr($$buf, 0, $pos, '');
    return \@argv;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    kill 'TERM', $pid;
    waitpid($pid, 0);
}

sub cleanup { $_[0]->stop }


1;
