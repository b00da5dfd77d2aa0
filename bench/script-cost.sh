#!/bin/bash
# bench/script-cost.sh: Redis's cost per key of the hybrid backend's script
# (src/lua/ratelimit_hybrid.lua), the script of the work tree against the
# one at a git ref, side by side in the same run. Not part of `make bench`;
# a hand measurement, reported in bench/README.md.
#
#   bash bench/script-cost.sh [REF]      (REF default main)
#
# The machine is 2 cores shared with other work (the other engineers'
# tests and benches): the spreads printed say how much that moved it.
#
# It starts its own redis-server on 127.0.0.1:6520 (SCRIPT_COST_PORT),
# files in a private directory, no persistence, stopped on exit. Each
# script is the file's lines after its first empty one, as the module
# embeds it (src/lua/embed.sh). perl writes, once, the RESP of N calls
# (SCRIPT_COST_CALLS, 3000), each EVALSHA of 32 distinct keys
# (SCRIPT_COST_BATCH; the module sends up to 32 a call) drawn from
# 10,000 (SCRIPT_COST_KEYSPACE), their arguments in runs as
# ngx_astro_redis_send_batch() makes them (keys in a row with the same
# arguments share one): a push "win dcur dprev" of the current window,
# dcur 1 to 3, about 1 in 5 with a dprev (0 to 2), about 1 in 32 an
# exact decision ("win dcur dprev e"), rate 10 a second. The window
# moves on every SCRIPT_COST_WINDOW calls (1000): each key is pushed
# about 3 times a window, about a third of its pushes the first of a
# window, as in `make bench`'s hybrid scenario (100r/s, sync 100ms, keys
# met 3 to 8 times a second).
#
# A repetition, for each script in turn: FLUSHALL, CONFIG RESETSTAT, the
# calls piped with `redis-cli --pipe`, then per key pushed: the
# evalsha usec of INFO commandstats (the time Redis spent in the
# command), and Redis's process CPU (utime + stime of /proc/PID/stat, in
# clock ticks of 10 ms: also the reading of the commands and the writing
# of the replies). SCRIPT_COST_REPS repetitions (11), the scripts in
# turn, the order alternating; printed: median (min..max) per script,
# and of the ratio tree/ref of each repetition's pair (the two runs next
# to each other in time share most of the machine's other load).
# SCRIPT_COST_FLOOR=1 adds a third column, the floor of any layout that
# costs Redis one command a key pushed: the same keys and counts, each
# one pipelined HINCRBY of a field of one hash a window (no script, no
# expiry, no previous window read), measured as the scripts are.
# SCRIPT_COST_CALLGRIND=1 adds the instructions Redis ran in EVALSHA a
# key, counted by valgrind's callgrind (port 6521: SCRIPT_COST_PORT + 1),
# which no other load moves; about 3 minutes more.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REF=${1:-main}
PORT=${SCRIPT_COST_PORT:-6520}
CALLS=${SCRIPT_COST_CALLS:-3000}
REPS=${SCRIPT_COST_REPS:-11}
WINDOW=${SCRIPT_COST_WINDOW:-1000}
KEYSPACE=${SCRIPT_COST_KEYSPACE:-10000}
KEYS=${SCRIPT_COST_BATCH:-32}
CALLGRIND=${SCRIPT_COST_CALLGRIND:-0}
FLOOR=${SCRIPT_COST_FLOOR:-0}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/astro-script-cost.XXXXXX")
VG=

# rc, start_redis (its files in $TMP), and the cleanup on exit: the
# unit tests' (a valgrind run of ours stopped first, on_exit)
# shellcheck source=t/unit/redis-lib.sh
. "$ROOT/t/unit/redis-lib.sh"
stop_vg() {
    if [ -n "$VG" ]; then
        kill -TERM "$VG" 2>/dev/null || true
        wait "$VG" 2>/dev/null || true
    fi
}
on_exit=stop_vg

sed '1,/^$/d' "$ROOT/src/lua/ratelimit_hybrid.lua" > "$TMP/tree.lua"
git -C "$ROOT" show "$REF:src/lua/ratelimit_hybrid.lua" \
    | sed '1,/^$/d' > "$TMP/ref.lua"

start_redis SCRIPT_COST_PORT
PID=$(head -n 1 "$TMP/redis.pid")
TICK=$(getconf CLK_TCK)

# gen PERIOD [FLOOR]: the calls, the SHA1 left as 40 @; with FLOOR 1, the
# same keys and counts as one HINCRBY each
gen() {
perl -e '
    my ($calls, $nkeys, $window, $space, $period, $floor) = @ARGV;
    srand(18);
    sub bulk { "\$" . length($_[0]) . "\r\n$_[0]\r\n" }
    my $win = 1765000000;
    for my $c (0 .. $calls - 1) {
        $win++ if $c && $c % $window == 0;
        my (%seen, @keys, @args);
        while (@keys < $nkeys) {
            my $k = int(rand($space));
            next if $seen{$k}++;
            push @keys, "astro:h:k$k";
        }
        my ($prev, $run, @dc);
        for (@keys) {
            my $dp = rand() < 0.2 ? int(rand(3)) : 0;
            my $dc = 1 + int(rand(3));
            my $spec = "$win $dc $dp";
            $spec .= " " . int(rand(1000000)) if rand() < 1 / 32;
            push @dc, $dc;
            if (defined $prev && $spec eq $prev) {
                $args[$run]++;
                next;
            }
            push @args, 1, 10, $period, $spec;
            $run = @args - 4;
            $prev = $spec;
        }
        my @cmds = $floor
            ? map { ["HINCRBY", "astro:f:$win", $keys[$_], $dc[$_]] }
                  0 .. $#keys
            : (["EVALSHA", "\@" x 40, scalar @keys, @keys, @args]);
        print "*" . @$_ . "\r\n", map { bulk($_) } @$_ for @cmds;
    }
' "$CALLS" "$KEYS" "$WINDOW" "$KEYSPACE" "$1" "${2:-0}"
}
gen 1 > "$TMP/calls.resp"
if [ "$FLOOR" = 1 ]; then
    gen 1 1 > "$TMP/floor.resp"
fi

for s in ref tree; do
    sha=$(rc -x SCRIPT LOAD < "$TMP/$s.lua")
    sed "s/@\{40\}/$sha/" "$TMP/calls.resp" > "$TMP/$s.resp"
done

# utime + stime: fields 14 and 15, 12 and 13 after the command's name
ticks() { sed 's/.*) //' "/proc/$PID/stat" | awk '{ print $12 + $13 }'; }

# one repetition of script $1 (or of the floor's HINCRBYs): "exec_us
# cpu_us" a key
measure() {
    local t0 t1 stat usec calls out cmd=evalsha n=$CALLS
    if [ "$1" = floor ]; then
        cmd=hincrby
        n=$((CALLS * KEYS))
    fi
    rc FLUSHALL >/dev/null
    rc CONFIG RESETSTAT >/dev/null
    t0=$(ticks)
    out=$(redis-cli -h 127.0.0.1 -p "$PORT" --pipe < "$TMP/$1.resp" 2>&1)
    t1=$(ticks)
    case $out in
        *"errors: 0, replies: $n"*) ;;
        *) echo "$0: $1: $out" >&2; exit 1 ;;
    esac
    stat=$(rc INFO commandstats | grep "^cmdstat_$cmd:")
    usec=${stat#*,usec=}
    usec=${usec%%,*}
    calls=${stat#*:calls=}
    calls=${calls%%,*}
    if [ "$calls" != "$n" ]; then
        echo "$0: $calls $cmd, not $n" >&2
        exit 1
    fi
    perl -e 'printf "%.3f %.3f\n", $ARGV[0] / $ARGV[2],
                 ($ARGV[1] * 1e6 / $ARGV[3]) / $ARGV[2]' \
        "$usec" "$((t1 - t0))" "$((CALLS * KEYS))" "$TICK"
}

# the order alternates, so that neither script always runs second
for r in $(seq "$REPS"); do
    if [ $((r % 2)) -eq 1 ]; then order="ref tree"; else order="tree ref"; fi
    if [ "$FLOOR" = 1 ]; then order="$order floor"; fi
    for s in $order; do
        measure "$s" >> "$TMP/$s.out"
    done
    f=
    if [ "$FLOOR" = 1 ]; then f=", floor $(tail -n 1 "$TMP/floor.out")"; fi
    echo "# repetition $r: ref $(tail -n 1 "$TMP/ref.out")," \
         "tree $(tail -n 1 "$TMP/tree.out")$f (evalsha, CPU: us a key)" >&2
done

floor_out=
if [ "$FLOOR" = 1 ]; then floor_out=$TMP/floor.out; fi
echo "# Redis $(redis-server --version | cut -d ' ' -f 3 | cut -d = -f 2)," \
     "$CALLS calls of $KEYS keys over $KEYSPACE, $REPS repetitions," \
     "load $(cut -d ' ' -f 1-3 /proc/loadavg)"
perl -e '
    my ($ref, $tree, $name, $floor) = @ARGV;
    sub med {
        my @v = sort { $a <=> $b } @_;
        return ($v[$#v / 2], $v[0], $v[-1]);
    }
    sub col {
        my ($f, $i) = @_;
        open my $h, "<", $f or die;
        return map { (split)[$i] } <$h>;
    }
    printf "%-24s %-20s %-20s %-18s %s\n", "us a key", "$name",
        "work tree", "tree/ref (pairs)", $floor ? "floor: HINCRBY" : "";
    for ([0, "evalsha (commandstats)"], [1, "Redis process CPU"]) {
        my ($i, $what) = @$_;
        my @r = col($ref, $i);
        my @t = col($tree, $i);
        my @q = map { $t[$_] / $r[$_] } 0 .. $#r;
        printf "%-24s %-20s %-20s %-18s %s\n", $what,
            sprintf("%.2f (%.2f..%.2f)", med(@r)),
            sprintf("%.2f (%.2f..%.2f)", med(@t)),
            sprintf("%.2f (%.2f..%.2f)", med(@q)),
            $floor ? sprintf("%.2f (%.2f..%.2f)", med(col($floor, $i)))
                   : "";
    }
    print "(median (min..max) of the repetitions; tree/ref: of each",
        " repetition'"'"'s pair)\n";
' "$TMP/ref.out" "$TMP/tree.out" "$REF" "$floor_out"

[ "$CALLGRIND" = 1 ] || exit 0

# instructions in EVALSHA a key, each script on a redis-server under
# callgrind (50 times slower: 1 minute windows, so that no key expires
# in the run's time that would not have in the timed one's)
gen 60 > "$TMP/cg.resp"
cg=$((PORT + 1))
for s in ref tree; do
    valgrind --tool=callgrind --callgrind-out-file="$TMP/$s.cg" \
        --collect-atstart=no --toggle-collect=evalShaCommand \
        redis-server --bind 127.0.0.1 --port "$cg" --save '' \
        --appendonly no --dir "$TMP" > "$TMP/$s.vg" 2>&1 &
    VG=$!
    for _ in $(seq 100); do
        redis-cli -p "$cg" ping >/dev/null 2>&1 && break
        sleep 0.2
    done
    sha=$(redis-cli -p "$cg" -x SCRIPT LOAD < "$TMP/$s.lua")
    sed "s/@\{40\}/$sha/" "$TMP/cg.resp" \
        | redis-cli -p "$cg" --pipe > /dev/null
    redis-cli -p "$cg" SHUTDOWN NOSAVE > /dev/null 2>&1 || true
    wait "$VG" || true
    VG=
    sed -n 's/^summary: //p' "$TMP/$s.cg" > "$TMP/$s.ir"
done
perl -e 'printf "%-24s %-20.0f %-20.0f %.2f\n", "instructions (callgrind)",
             $ARGV[0] / $ARGV[2], $ARGV[1] / $ARGV[2], $ARGV[1] / $ARGV[0]' \
    "$(cat "$TMP/ref.ir")" "$(cat "$TMP/tree.ir")" "$((CALLS * KEYS))"
