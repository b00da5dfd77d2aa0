package Astro::Pg;

# A PostgreSQL of the test file's own, for the shard map's tests: initdb
# once (--no-sync, trust on loopback) in a directory outside any nginx
# server root (no runner removes it mid-file), started on the port given,
# stopped at the end of the script, also when it fails or dies.  As root
# it runs as the postgres user (PostgreSQL refuses root), as
# util/test-servers.sh does.
#
#   use Astro::Pg;
#   plan skip_all => 'no PostgreSQL server' unless Astro::Pg::have_pg();
#   my $pg = Astro::Pg->new(port => 6450);
#   $pg->start or BAIL_OUT('no postgres');
#   $pg->psql(Astro::Pg::ddl());          # the shard tables
#   $pg->put_map('users', shards => [['s1', 'up1'], ['s2', 'up2']]);
#   $pg->conninfo;    # "hostaddr=127.0.0.1 port=6450 dbname=astro ..."
#   $pg->stop; $pg->start;                # down and back, data kept
#   $pg->pause; $pg->resume;              # SIGSTOP, SIGCONT: a stall
#
# Call these at run time (before run_tests() or in the script's body),
# never from a block's eval sections: CPAN's Test::Nginx evaluates those
# when it reads the file.

use strict;
use warnings;

use File::Temp qw(tempdir);
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);
use Astro::Instance ();

my $OWNER = $$;
my @STARTED;

my $BIN = $ENV{ASTRO_PG_BIN} || (sort { _ver($a) <=> _ver($b) }
                                 grep { -x "$_/initdb" }
                                 glob '/usr/lib/postgresql/*/bin')[-1];

sub _ver { my ($d) = @_; return $d =~ m{/(\d+)/bin$} ? $1 : 0 }

sub have_pg { return defined $BIN && -x "$BIN/pg_ctl" && -x "$BIN/psql" }

sub _as_pg {
    my (@cmd) = @_;
    return $> == 0 ? ('runuser', '-u', 'postgres', '--', @cmd) : @cmd;
}

# an interrupted test stops its server too: END blocks run on exit()
for my $sig (qw(INT TERM HUP)) {
    $SIG{$sig} = sub {
        exit 128 + ($sig eq 'INT' ? 2 : $sig eq 'TERM' ? 15 : 1)
    } if !$SIG{$sig} || $SIG{$sig} eq 'DEFAULT';
}

END {
    if ($$ == $OWNER) {
        my $rc = $?;
        for my $pg (@STARTED) {
            eval { $pg->stop('immediate') };
        }
        @STARTED = ();
        $? = $rc;
    }
}

# port (6450-6459 for the shard tests), database (default "astro")
sub new {
    my ($class, %o) = @_;
    my $self = bless { port => $o{port} || 6450,
                       db => $o{database} || 'astro' }, $class;
    $self->{dir} = tempdir("astro-pg-$self->{port}-XXXXXX", TMPDIR => 1,
                           CLEANUP => 1);
    chmod 0755, $self->{dir};
    if ($> == 0) {
        my (undef, undef, $uid, $gid) = getpwnam('postgres')
            or die "no postgres user to run PostgreSQL as root";
        chown $uid, $gid, $self->{dir};
    }
    return $self;
}

sub port { $_[0]{port} }
sub dir { $_[0]{dir} }

sub conninfo {
    my ($self) = @_;
    return "hostaddr=127.0.0.1 port=$self->{port} dbname=$self->{db} "
           . "user=postgres";
}

sub _run {
    my ($self, @cmd) = @_;
    my $log = "$self->{dir}/cmd.log";
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log;
        open STDERR, '>&', \*STDOUT;
        exec(_as_pg(@cmd)) or _exit(127);
    }
    waitpid($pid, 0);
    return $? == 0;
}

# initdb the first time, then the server: true once it accepts
# connections and the database exists
sub start {
    my ($self) = @_;
    my $data = "$self->{dir}/data";
    unless (-d $data) {
        $self->_run("$BIN/initdb", '-D', $data, '-U', 'postgres',
                    '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync')
            or do { warn "initdb failed:\n", $self->log_tail; return 0 };
        $self->{fresh} = 1;
    }
    push @STARTED, $self unless grep { $_ == $self } @STARTED;
    $self->_run("$BIN/pg_ctl", '-D', $data, '-l', "$self->{dir}/pg.log",
                '-w', '-t', '30', '-o',
                "-p $self->{port} -c listen_addresses=127.0.0.1 "
                . "-k $self->{dir} -c fsync=off", 'start')
        or do { warn "postgres did not start:\n", $self->log_tail; return 0 };
    if (delete $self->{fresh}) {
        $self->_run("$BIN/createdb", '-h', '127.0.0.1', '-p', $self->{port},
                    '-U', 'postgres', $self->{db})
            or do { warn "createdb failed:\n", $self->log_tail; return 0 };
    }
    return 1;
}

# fast (default) or immediate; the data stays for the next start
sub stop {
    my ($self, $mode) = @_;
    my $data = "$self->{dir}/data";
    return 1 unless -f "$data/postmaster.pid";
    $self->resume;
    return $self->_run("$BIN/pg_ctl", '-D', $data, '-m', $mode || 'fast',
                       '-w', '-t', '30', 'stop');
}

sub running {
    my ($self) = @_;
    my $pid = $self->pid or return 0;
    return kill 0, $pid;
}

# the postmaster's pid, or undef
sub pid {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/data/postmaster.pid" or return undef;
    my $pid = <$fh>;
    close $fh;
    return defined $pid && $pid =~ /^(\d+)/ ? $1 : undef;
}

# the postmaster and its children (the backends, the background workers)
sub pids {
    my ($self) = @_;
    my $master = $self->pid or return ();
    my @pids = ($master);
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh>;
        close $fh;
        push @pids, $1
            if defined $line && $line =~ /^(\d+) \(.*\) \S+ (\d+) /
               && $2 == $master;
    }
    return @pids;
}

# a stall: every process of the server stopped (SIGSTOP), connections
# stay open and unanswered; resume() lets them go on
sub pause {
    my ($self) = @_;
    my @pids = $self->pids or return 0;
    $self->{paused} = [@pids];
    return kill 'STOP', @pids;
}

sub resume {
    my ($self) = @_;
    my $pids = delete $self->{paused} or return 0;
    return kill 'CONT', @$pids;
}

# psql's output of the SQL (unaligned, tuples only), chomped; undef (and a
# warning) when it fails
sub psql {
    my ($self, $sql) = @_;
    my $pid = open my $fh, '-|';
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open STDERR, '>>', "$self->{dir}/psql.log";
        $ENV{PGCONNECT_TIMEOUT} = 5;
        exec("$BIN/psql", '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
             '-h', '127.0.0.1', '-p', $self->{port}, '-U', 'postgres',
             '-d', $self->{db}, '-c', $sql) or _exit(127);
    }
    my $out = do { local $/; <$fh> };
    close $fh;
    if ($? != 0) {
        warn "psql failed: $sql\n", $self->log_tail('psql.log');
        return undef;
    }
    $out //= '';
    chomp $out;
    return $out;
}

sub log_tail {
    my ($self, $file, $n) = @_;
    open my $fh, '<', "$self->{dir}/" . ($file || 'pg.log') or return ();
    my @lines = <$fh>;
    close $fh;
    $n ||= 10;
    return @lines > $n ? @lines[-$n .. -1] : @lines;
}


# --- the shard map's tables (docs/shard.md) ---------------------------------

sub ddl {
    my ($p) = @_;
    $p ||= 'astro_shard';
    return <<_EOS_;
CREATE TABLE ${p}_maps (
    name text PRIMARY KEY,
    version bigint NOT NULL DEFAULT 1);
CREATE TABLE ${p}_shards (
    map text NOT NULL REFERENCES ${p}_maps (name) ON DELETE CASCADE,
    name text NOT NULL,
    upstream text NOT NULL,
    read_upstream text,
    weight integer NOT NULL DEFAULT 1,
    is_default boolean NOT NULL DEFAULT false,
    PRIMARY KEY (map, name));
CREATE TABLE ${p}_entries (
    map text NOT NULL REFERENCES ${p}_maps (name) ON DELETE CASCADE,
    from_value text,
    to_value text,
    value text,
    owner text NOT NULL,
    target text,
    state text NOT NULL DEFAULT 'stable' CHECK (state IN
        ('stable', 'copying', 'reads_new', 'frozen', 'switched')));
_EOS_
}

# an SQL literal, NULL for undef
sub quote {
    my ($v) = @_;
    return 'NULL' unless defined $v;
    $v =~ s/'/''/g;
    return "'$v'";
}

# The statements of an operator's change of a map, in one transaction:
# its rows replaced, its version moved, a NOTIFY (unless notify => 0).
#   shards  => [[name, upstream, read, weight, is_default], ...]
#   entries => [[from, to, value, owner, target, state], ...]
#   prefix  => 'astro_shard', channel => 'astro_shard'
sub map_sql {
    my ($name, %o) = @_;
    my $p = $o{prefix} || 'astro_shard';
    my $q = quote($name);
    my $sql = "BEGIN;\n"
        . "INSERT INTO ${p}_maps (name, version) VALUES ($q, 0)"
        . " ON CONFLICT DO NOTHING;\n"
        . "DELETE FROM ${p}_entries WHERE map = $q;\n"
        . "DELETE FROM ${p}_shards WHERE map = $q;\n";
    for my $s (@{ $o{shards} || [] }) {
        my ($n, $up, $read, $weight, $def) = @$s;
        $sql .= "INSERT INTO ${p}_shards (map, name, upstream, read_upstream,"
              . " weight, is_default) VALUES ($q, " . quote($n) . ', '
              . quote($up) . ', ' . quote($read) . ', ' . ($weight // 1)
              . ', ' . ($def ? 'true' : 'false') . ");\n";
    }
    for my $e (@{ $o{entries} || [] }) {
        my ($from, $to, $value, $owner, $target, $state) = @$e;
        $sql .= "INSERT INTO ${p}_entries (map, from_value, to_value, value,"
              . " owner, target, state) VALUES ($q, "
              . join(', ', map { quote($_) } $from, $to, $value, $owner,
                                              $target)
              . ', ' . quote($state // 'stable') . ");\n";
    }
    $sql .= "UPDATE ${p}_maps SET version = version + 1 WHERE name = $q;\n";
    $sql .= 'NOTIFY ' . ($o{channel} || 'astro_shard') . ", $q;\n"
        if $o{notify} // 1;
    $sql .= "COMMIT;\n";
    return $sql;
}

# the change made: true when psql succeeded
sub put_map {
    my ($self, $name, %o) = @_;
    return defined $self->psql(map_sql($name, %o));
}

# --- what the tests ask of an nginx routing by such a map -----------------

# "status X-Backend X-Version" of a request (a location that adds
# X-Version: $astro_shard_version, to backends of Astro::ShardSlots)
sub route {
    my ($ngx, $path) = @_;
    my $res = $ngx->get($path);
    return join ' ', $res->{status}, $res->{headers}{'x-backend'} // '-',
                     $res->{headers}{'x-version'} // '-';
}

# seconds until $n requests in a row (4) say $want, undef after $timeout
sub seen_within {
    my ($ngx, $path, $want, $timeout, $n) = @_;
    my $t0 = time;
    my $ok = Astro::Instance::wait_until(sub {
        !grep { route($ngx, $path) ne $want } 1 .. ($n || 4)
    }, $timeout, 0.02);
    return $ok ? time - $t0 : undef;
}

# the map's record in the status JSON ({} when there is none)
sub map_status {
    my ($ngx, $name) = @_;
    my $st = $ngx->status or return {};
    return $st->{modules}{shard}{maps}{$name} || {};
}

# the map's version in the database
sub version {
    my ($self, $name, $prefix) = @_;
    $prefix ||= 'astro_shard';
    return $self->psql("SELECT version FROM ${prefix}_maps WHERE name = "
                       . quote($name));
}

1;
