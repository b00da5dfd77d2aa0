# astro_queue: a worker killed in the middle of taking a place does not
# leave the place taken for good (make stress: "queue.reserved 0 -> 1").
#
# gdb stops the worker right after the first ngx_rwlock_unlock() of a
# request, the unlock of the upstream's peers in the queue's
# reservation, once the place is decided, and kills it there (SIGKILL,
# as the stress run does; after the unlock: a worker killed holding the
# peers' lock would stop every other).  Whatever the worker counted by
# then must be given back, once: the status shows no place and nobody
# waiting, and the server's max_conns=2 places are exactly two again (a
# third request waits, then gets 503).
#
# Needs gdb and ptrace (kernel.yama.ptrace_scope 0 or 1 with the same
# user): skipped without them.
#
# Ports: nginx on TEST_NGINX_PORT + 6536 (8520), its backend on + 6546
# (8530).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use Astro::TierQueue ();
use Astro::Instance qw(nginx_port wait_until process_gone);

my ($gdb) = grep { -x } map { "$_/gdb" } split /:/, $ENV{PATH} || '';
plan skip_all => 'no gdb' unless $gdb;

my $be = nginx_port(6546);

my $body = Astro::TierQueue::conf($be, '1s');

my $ngx = Astro::Instance->new(name => 'tier-queue-kill-window',
                               port => nginx_port(6536));

sub queue { Astro::TierQueue::queue($ngx) }

sub counts {
    my $q = queue();
    return 'reserved ' . ($q->{reserved} // '-')
           . ', length ' . ($q->{length} // '-');
}

# a POST whose body does not come: it holds its place
sub post_unsent_body { Astro::TierQueue::hold($ngx) }

# n POSTs, one after the other once the one before is admitted or waits
sub hold_places {
    my ($n) = @_;
    my @socks;
    for my $i (1 .. $n) {
        my $before = queue();
        my $was = ($before->{reserved} // 0) + ($before->{length} // 0);
        push @socks, post_unsent_body();
        wait_until(sub { my $q = queue();
                         ($q->{reserved} // 0) + ($q->{length} // 0) > $was },
                   5);
    }
    return @socks;
}

sub traced {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return 0;
    local $/;
    my $s = <$fh>;
    return $s =~ /^TracerPid:\s*[1-9]/m && $s =~ /^State:\s*S/m;
}

# The worker killed by gdb on return from its next ngx_rwlock_unlock(),
# which a request sent then reaches: gdb's output (the stack where it
# stopped).
sub kill_in_reservation {
    my ($worker, $out) = @_;

    my $gpid = fork // die "fork: $!";
    if ($gpid == 0) {
        open STDOUT, '>', $out or die "$out: $!";
        open STDERR, '>&', \*STDOUT or die "stderr: $!";
        exec $gdb, '-q', '-nx', '-batch', '-p', $worker,
             '-ex', 'set pagination off', '-ex', 'set confirm off',
             '-ex', 'break ngx_rwlock_unlock', '-ex', 'continue',
             '-ex', 'finish', '-ex', 'bt 6', '-ex', 'kill', '-ex', 'quit';
        exit 127;
    }

    unless (wait_until(sub { traced($worker) }, 20, 0.05)) {
        kill 'KILL', $gpid;
        waitpid $gpid, 0;
        return "gdb did not attach:\n" . slurp($out);
    }

    my $h = $ngx->send_get('/', timeout => 10);
    my $done = wait_until(sub { waitpid($gpid, WNOHANG) == $gpid }, 20,
                          0.05);
    unless ($done) {
        kill 'KILL', $gpid;
        waitpid $gpid, 0;
    }
    close $h->{sock} if $h->{sock};

    return slurp($out);
}

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or return '';
    local $/;
    return <$fh> // '';
}

sub given_back {
    my ($pid, $n, $mark) = @_;
    my $line = "astro_queue: process $pid is gone: $n places given back";
    return grep { /\[notice\] .*\Q$line\E/ } $ngx->log_since($mark);
}

sub new_worker {
    my ($old) = @_;
    my @w;
    return wait_until(sub { @w = $ngx->worker_pids; @w == 1 && $w[0] != $old },
                      10, 0.05) ? $w[0] : undef;
}

ok($ngx->start($body), 'nginx starts') or BAIL_OUT('no nginx');

my $out = $ngx->root . '/gdb.out';

# --- killed while taking a place, holding none --------------------------

my ($w1) = $ngx->worker_pids;
my $mark = $ngx->log_mark;
my $gdb_out = kill_in_reservation($w1, $out);

if ($gdb_out =~ /ptrace: Operation not permitted|Could not attach/) {
    $ngx->stop;
    plan skip_all => 'gdb may not attach to nginx (ptrace_scope)';
}

like($gdb_out, qr/^#0 .*astro_tier_queue/m,
     'the worker stops in the queue\'s reservation')
    or diag $gdb_out;
note $1 if $gdb_out =~ /^(#0 .*)$/m;
ok(process_gone($w1), 'and is killed there');

my $w2 = new_worker($w1);
ok($w2, 'the master starts another worker') or BAIL_OUT('no worker');
ok(wait_until(sub { given_back($w1, 1, $mark) }, 5, 0.05),
   'which gives back the place the killed one was taking');

is(counts(), 'reserved 0, length 0',
   'status: no place left reserved, nobody waiting');

my @held = hold_places(2);
is(counts(), 'reserved 2, length 0',
   'max_conns=2: two requests hold the two places at once');

my $res = $ngx->get('/');
is($res->{status}, 503, 'a third waits, then gets 503: no place given '
                        . 'back twice');
close $_ for @held;

ok(wait_until(sub { counts() eq 'reserved 0, length 0' }, 5),
   'the two places given back when the requests end')
    or diag counts();

# --- killed while taking a place, holding another -----------------------

@held = hold_places(1);
is(counts(), 'reserved 1, length 0', 'a request holds a place');

$mark = $ngx->log_mark;
$gdb_out = kill_in_reservation($w2, $out);
like($gdb_out, qr/^#0 .*astro_tier_queue/m,
     'the worker stops in the reservation of a second request')
    or diag $gdb_out;
ok(process_gone($w2), 'and is killed there');
close $_ for @held;

my $w3 = new_worker($w2);
ok($w3, 'the master starts another worker');
ok(wait_until(sub { given_back($w2, 2, $mark) }, 5, 0.05),
   'which gives back both places, the one held and the one being taken');
is(counts(), 'reserved 0, length 0',
   'status: both places given back, nobody waiting');

$res = $ngx->get('/');
is("$res->{status} $res->{body}", "200 ok\n", 'a request is admitted');
cmp_ok($res->{ms}, '<', 500, 'at once');

@held = hold_places(2);
is(counts(), 'reserved 2, length 0',
   'two requests hold the two places again');
$res = $ngx->get('/');
is($res->{status}, 503, 'and a third gets none');
close $_ for @held;

ok(wait_until(sub { counts() eq 'reserved 0, length 0' }, 5),
   'status: 0 and 0 at the end')
    or diag counts();

my @bad = grep { !/worker process (?:$w1|$w2) exited on signal 9/ }
          $ngx->bad_lines;
is(scalar @bad, 0, 'no crash, alert, crit or emerg but the kills')
    or diag @bad;
$ngx->stop;

done_testing();
