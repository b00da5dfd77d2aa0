package Astro::Cluster;

# A Redis Cluster of three masters (no replicas) on loopback, for the
# tests of astro_ratelimit_redis cluster=: three redis-servers with
# --cluster-enabled yes, each with its own directory and nodes file, the
# slots split in three with CLUSTER ADDSLOTSRANGE, CLUSTER MEET, then
# cluster_state:ok on every one (about 2 s).  A master that is killed
# does not take the others down: cluster-require-full-coverage is off.
# Everything is stopped when the script ends (Astro::Instance's END).
#
#   use Astro::Cluster;
#
#   my $cl = Astro::Cluster->new(ports => [6480, 6481, 6482]);
#   $cl->start or BAIL_OUT('no cluster');
#   my $i = $cl->master_of('astro:rl:z:k');   # 0, 1 or 2
#   $cl->cli($i, 'DBSIZE');
#   $cl->move_slot($slot, $from, $to);         # MIGRATING ... NODE
#   $cl->kill($i);
#
# The cluster bus listens on port + 10000.

use strict;
use warnings;

use File::Temp qw(tempdir);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use Astro::Instance ();

# the slots of each master, as the cluster is made
my @RANGES = ([0, 5460], [5461, 10922], [10923, 16383]);

sub new {
    my ($class, %o) = @_;
    my $self = bless { ports => $o{ports}, pids => [] }, $class;
    $self->{dir} = tempdir("astro-cluster-$o{ports}[0]-XXXXXX", TMPDIR => 1,
                           CLEANUP => 1);
    return $self;
}

sub ports { @{ $_[0]{ports} } }
sub port { $_[0]{ports}[$_[1]] }

# "127.0.0.1:6480,127.0.0.1:6481,..." for cluster=
sub seeds {
    my ($self) = @_;
    return join ',', map { "127.0.0.1:$_" } $self->ports;
}

# Starts the three servers and makes the cluster: true once every one
# says cluster_state:ok and knows the three masters' slots.
sub start {
    my ($self) = @_;
    my $n = 0;
    for my $port ($self->ports) {
        my $d = "$self->{dir}/$port";
        mkdir $d;
        my @args = ('redis-server', '--port', $port, '--bind', '127.0.0.1',
                    '--save', '', '--appendonly', 'no', '--daemonize', 'no',
                    '--dir', $d, '--logfile', "$d/redis.log",
                    '--cluster-enabled', 'yes',
                    '--cluster-config-file', "$d/nodes.conf",
                    '--cluster-node-timeout', '3000',
                    '--cluster-require-full-coverage', 'no');
        $self->{pids}[$n++] = Astro::Instance::spawn(
            sub { Astro::Instance::quiet_exec(@args) });
    }
    Astro::Instance::_register($self);

    for my $i (0 .. $#{ $self->{ports} }) {
        return 0 unless Astro::Instance::wait_until(
            sub { ($self->cli($i, 'PING') // '') eq 'PONG' }, 5, 0.05);
    }

    for my $i (0 .. $#{ $self->{ports} }) {
        $self->cli($i, 'CLUSTER', 'ADDSLOTSRANGE', @{ $RANGES[$i] });
        $self->cli($i, 'CLUSTER', 'MEET', '127.0.0.1', $self->port(0))
            if $i;
    }

    return Astro::Instance::wait_until(sub {
        for my $i (0 .. $#{ $self->{ports} }) {
            return 0 unless ($self->cli($i, 'CLUSTER', 'INFO') // '')
                =~ /cluster_state:ok/;
            my $known = () = ($self->cli($i, 'CLUSTER', 'NODES') // '')
                =~ /\bmaster\b[^\n]*\bconnected\b \d+-\d+/g;
            return 0 unless $known == 3;
        }
        return 1;
    }, 20, 0.1) ? 1 : 0;
}

# redis-cli to the master $i: its output, chomped (Astro::Instance's)
sub cli {
    my ($self, $i, @cmd) = @_;
    return Astro::Instance::Redis::cli({ port => $self->port($i) }, @cmd);
}

sub id {
    my ($self, $i) = @_;
    return $self->{ids}[$i] //= $self->cli($i, 'CLUSTER', 'MYID');
}

sub slot_of {
    my ($self, $key) = @_;
    return $self->cli(0, 'CLUSTER', 'KEYSLOT', $key);
}

# the master that the cluster was made with for the key's slot
sub master_of {
    my ($self, $key) = @_;
    my $slot = $self->slot_of($key);
    for my $i (0 .. $#RANGES) {
        return $i if $slot >= $RANGES[$i][0] && $slot <= $RANGES[$i][1];
    }
    return undef;
}

# master => "kN": for each master a key kN whose Redis key "$prefix" .
# "kN" has its slot
sub key_per_master {
    my ($self, $prefix) = @_;
    my %key;
    for my $n (1 .. 200) {
        $key{ $self->master_of("${prefix}k$n") } //= "k$n";
        last if keys %key == @RANGES;
    }
    return %key;
}

# the keys of master $i matching $pattern, sorted
sub keys_of {
    my ($self, $i, $pattern) = @_;
    my $out = $self->cli($i, 'KEYS', $pattern) // '';
    return [sort grep { length } split /\n/, $out];
}

sub dbsize {
    my ($self, $i) = @_;
    return $self->cli($i, 'DBSIZE');
}

# A slot's move, in its steps: the target imports, the source migrates
# (a key the source no longer has is asked of the target: ASK)...
sub begin_move {
    my ($self, $slot, $from, $to) = @_;
    $self->cli($to, 'CLUSTER', 'SETSLOT', $slot, 'IMPORTING', $self->id($from));
    $self->cli($from, 'CLUSTER', 'SETSLOT', $slot, 'MIGRATING', $self->id($to));
}

# ...its keys go over with MIGRATE...
sub migrate_keys {
    my ($self, $slot, $from, $to) = @_;
    my $n = 0;
    while (1) {
        my @keys = grep { length } split /\n/,
            ($self->cli($from, 'CLUSTER', 'GETKEYSINSLOT', $slot, 100) // '');
        last unless @keys;
        $self->cli($from, 'MIGRATE', '127.0.0.1', $self->port($to), '', 0,
                   5000, 'KEYS', @keys);
        $n += @keys;
    }
    return $n;
}

# ...and the slot is the target's, told to every master (MOVED after).
sub end_move {
    my ($self, $slot, $to) = @_;
    for my $i ($to, grep { $_ != $to } 0 .. $#{ $self->{ports} }) {
        $self->cli($i, 'CLUSTER', 'SETSLOT', $slot, 'NODE', $self->id($to));
    }
}

sub move_slot {
    my ($self, $slot, $from, $to) = @_;
    $self->begin_move($slot, $from, $to);
    my $n = $self->migrate_keys($slot, $from, $to);
    $self->end_move($slot, $to);
    return $n;
}

# SIGKILL, as a crash: gone on return
sub kill {
    my ($self, $i) = @_;
    my $pid = $self->{pids}[$i] or return;
    CORE::kill 'CONT', $pid;
    CORE::kill 'KILL', $pid;
    waitpid($pid, 0);
    $self->{pids}[$i] = undef;
}

# SIGSTOP, SIGCONT: a master that answers nothing, then again
sub pause { CORE::kill 'STOP', $_[0]{pids}[$_[1]] }
sub resume { CORE::kill 'CONT', $_[0]{pids}[$_[1]] }

sub cleanup {
    my ($self) = @_;
    for my $i (0 .. $#{ $self->{pids} }) {
        $self->kill($i);
    }
}

1;
