package Astro::Dns;

# A DNS server for the tests of host names: UDP on 127.0.0.1, in a child
# process, answering A questions from a table the test changes while it
# runs (a file it reads again at every question).  A name it does not
# know is NXDOMAIN; a name it knows has no AAAA (an empty answer); a
# question it does not understand is FORMERR.  Every question is counted
# by name and type.  Stopped with the Astro::Instance objects when the
# script ends.
#
#   use Astro::Dns;
#   my $dns = Astro::Dns->new(port => 6495,
#                             table => { localhost => ['127.0.0.1'] });
#   $dns->start or BAIL_OUT('no dns');
#   $dns->set(localhost => '127.0.0.2');    # from the next question on
#   $dns->set(localhost => ());             # NXDOMAIN
#   my $n = $dns->asked('localhost', 'A');  # questions so far

use strict;
use warnings;

use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(_exit);
use Astro::Instance ();

my %TYPES = (1 => 'A', 28 => 'AAAA');

# port, table: { name => [addresses] }
sub new {
    my ($class, %o) = @_;
    my $self = bless { port => $o{port} }, $class;
    $self->{dir} = tempdir("astro-dns-$o{port}-XXXXXX", TMPDIR => 1,
                           CLEANUP => 1);
    $self->{table} = { %{ $o{table} || {} } };
    $self->_write;
    return $self;
}

sub port { $_[0]{port} }

# the table in force from the next question: set(name => addresses...)
sub set {
    my ($self, $name, @addrs) = @_;
    if (@addrs) {
        $self->{table}{lc $name} = [@addrs];
    } else {
        delete $self->{table}{lc $name};
    }
    $self->_write;
}

# written aside and renamed: the server never reads half a table
sub _write {
    my ($self) = @_;
    my $file = "$self->{dir}/table";
    open my $fh, '>', "$file.new" or die "$file.new: $!";
    for my $name (sort keys %{ $self->{table} }) {
        print $fh join(' ', lc $name, @{ $self->{table}{$name} }), "\n";
    }
    close $fh;
    rename "$file.new", $file or die "$file: $!";
}

# the questions answered so far, of a name and type (A, AAAA)
sub asked {
    my ($self, $name, $type) = @_;
    open my $fh, '<', "$self->{dir}/asked" or return 0;
    my $n = grep { $_ eq lc($name) . " $type\n" } <$fh>;
    close $fh;
    return $n;
}

sub start {
    my ($self) = @_;
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                     LocalPort => $self->{port},
                                     Proto => 'udp')
        or return 0;

    $self->{pid} = Astro::Instance::spawn(sub {
        $SIG{TERM} = sub { _exit(0) };
        $self->_serve($sock);
    });
    close $sock;
    Astro::Instance::_register($self);
    return 1;
}

sub _serve {
    my ($self, $sock) = @_;
    while (1) {
        my $peer = $sock->recv(my $q, 512) // next;
        my $a = $self->_answer($q) // next;
        $sock->send($a, 0, $peer);
    }
}

sub _table {
    my ($self) = @_;
    my %t;
    open my $fh, '<', "$self->{dir}/table" or return {};
    while (<$fh>) {
        my ($name, @addrs) = split;
        $t{$name} = \@addrs if defined $name;
    }
    close $fh;
    return \%t;
}

# a reply to one question (RFC 1035 4.1), undef for what is no question
sub _answer {
    my ($self, $q) = @_;
    return undef if length $q < 12;
    my ($id, $flags, $qd) = unpack 'n n n', $q;
    return undef if $flags & 0x8000;

    my ($pos, @labels) = (12);
    while ($pos < length $q) {
        my $len = ord substr($q, $pos, 1);
        $pos++;
        last if $len == 0;
        return _reply($id, $flags, 1, '', 0) if $len > 63;
        push @labels, substr($q, $pos, $len);
        $pos += $len;
    }
    return _reply($id, $flags, 1, '', 0)
        if $qd != 1 || $pos + 4 > length $q;

    my $question = substr($q, 12, $pos + 4 - 12);
    my ($type) = unpack 'n', substr($q, $pos, 2);
    my $name = lc join '.', @labels;

    if (open my $fh, '>>', "$self->{dir}/asked") {
        print $fh "$name ", ($TYPES{$type} // $type), "\n";
        close $fh;
    }

    my $addrs = $self->_table->{$name};
    return _reply($id, $flags, 3, $question, 0) unless $addrs;   # NXDOMAIN
    return _reply($id, $flags, 0, $question, 0) unless $type == 1;

    # each answer: the name by a pointer to the question's, A, IN, TTL 1
    my $rr = join '', map {
        pack('n n n N n', 0xc00c, 1, 1, 1, 4)
        . pack('C4', split /\./)
    } @$addrs;
    return _reply($id, $flags, 0, $question, scalar @$addrs) . $rr;
}

# the header (QR, the question's RD, RA, rcode) and the question
sub _reply {
    my ($id, $flags, $rcode, $question, $an) = @_;
    return pack('n n n n n n', $id, 0x8080 | ($flags & 0x0100) | $rcode,
                length $question ? 1 : 0, $an, 0, 0) . $question;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    kill 'TERM', $pid;
    waitpid($pid, 0);
}

sub cleanup { $_[0]->stop }


1;
