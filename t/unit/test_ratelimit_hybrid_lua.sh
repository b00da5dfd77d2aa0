#!/bin/bash
# The hybrid backend's Redis script (src/lua/ratelimit_hybrid.lua, the
# lines after its first empty one, as src/lua/embed.sh embeds them)
# against a real redis-server: a node's deltas added to the key's
# sliding-window state on the node's windows (a later window moves the
# key, an earlier one goes to its previous count or is dropped), the
# reply (window, cur * 2 + allowed, prev), an exact decision after the
# delta, the expiry (set by a window's first write, kept by the writes
# after it), nothing written when nothing changes, bad arguments (nothing
# written, also when a number or a spec was met before in the call), and
# random calls against a model of the script in perl: the same replies
# and values.
#
#   t/unit/test_ratelimit_hybrid_lua.sh
#
# ASTRO_HYBRID_REDIS_PORT  the port of its own Redis (default 6396), on
#                          127.0.0.1, with its files in a temporary
#                          directory; stopped on exit
#
# Prints TAP; exits 1 when a test fails.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PORT=${ASTRO_HYBRID_REDIS_PORT:-6396}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/astro-hybrid-lua.XXXXXX")

# shellcheck source=t/unit/redis-lib.sh
. "$ROOT/t/unit/redis-lib.sh"

start_redis ASTRO_HYBRID_REDIS_PORT

sed '1,/^$/d' "$ROOT/src/lua/ratelimit_hybrid.lua" > "$TMP/hybrid.lua"
SHA=$(rc SCRIPT LOAD "$(cat "$TMP/hybrid.lua")")
ok "the script loads" "${#SHA}" 40

# h KEY COUNT PERIOD SPEC: one key's call, its reply on one line
h() { rc1 EVALSHA "$SHA" 1 "$1" 1 "$2" "$3" "$4"; }

# -- deltas

ok "a delta on a new key: window, cur * 2, prev" "$(h a 100 60 '100 3 1')" \
   "100 6 1"
ok "stored as the sliding window's value" "$(rc GET a)" "100 3 1"
ttl=$(rc PTTL a)
ok "it lives 2 windows and 1 s" \
   "$([ "$ttl" -gt 120000 ] && [ "$ttl" -le 121000 ] && echo yes)" yes
ok "a second delta adds" "$(h a 100 60 '100 2 0')" "100 10 1"
ok "a delta of the window before goes to prev" "$(h a 100 60 '99 4 0')" \
   "100 10 5"
ok "an older one is dropped" "$(h a 100 60 '98 7 7')" "100 10 5"
ok "and a decision of an older one weighs prev whole" \
   "$(h a 10 60 '98 0 0 59000000')" "100 10 5"
ok "the next window moves the key: prev = cur" "$(h a 100 60 '101 1 2')" \
   "101 2 7"
ok "two windows on: both start afresh" "$(h a 100 60 '103 1 0')" "103 2 0"
ok "a key of another type is taken as empty" \
   "$(rc RPUSH l x >/dev/null; h l 100 60 '100 1 0')" "100 2 0"
ok "a malformed value is taken as empty" \
   "$(rc SET m junk >/dev/null; h m 100 60 '100 1 0')" "100 2 0"
ok "a window far ahead (another period) starts afresh" \
   "$(rc SET f '999999 5 5' >/dev/null; h f 100 60 '100 1 0')" "100 2 0"

# -- nothing to add, no decision: nothing written

ok "an empty delta on a new key answers 0 0" "$(h n 100 60 '100 0 0')" \
   "100 0 0"
ok "and writes nothing" "$(rc EXISTS n)" 0

# -- exact decisions, the delta first

out=
for _ in 1 2 3 4 5 6 7; do out="$out $(h d 6 60 '200 0 0 0')"; done
ok "6 of 7 pass at 6 a minute" "$out" \
   " 200 3 0 200 5 0 200 7 0 200 9 0 200 11 0 200 13 0 200 12 0"
ok "the delta is added before the decision" "$(h e 5 60 '300 4 0 0')" \
   "300 11 0"
ok "which then refuses" "$(h e 5 60 '300 0 0 0')" "300 10 0"
rc SET p '400 0 10' >/dev/null
out=
for _ in 1 2 3 4 5 6; do out="$out $(h p 10 60 '400 0 0 30000000')"; done
ok "half of prev weighs half a window in: 5 of 6 pass" "$out" \
   " 400 3 10 400 5 10 400 7 10 400 9 10 400 11 10 400 10 10"
rc SET q '501 0 9' >/dev/null
ok "a decision when the key is a window ahead weighs prev whole" \
   "$(h q 10 60 '500 0 0 59000000') $(h q 10 60 '500 0 0 59000000')" \
   "501 3 9 501 2 9"
rc SET z '600 1 0' >/dev/null
ok "a refused decision writes nothing (the expiry stays as it is)" \
   "$(h z 1 60 '600 0 0 0') $(rc PTTL z)" "600 2 0 -1"

# -- the expiry: set by a window's first write, kept by the writes after

# $1 key: its PTTL, "yes" if at most $2 ms (kept: the key's expiry was
# set to $2 by hand), else the PTTL
kept() {
    local ttl
    ttl=$(rc PTTL "$1")
    if [ "$ttl" -gt 0 ] && [ "$ttl" -le "$2" ]; then
        echo yes
    else
        echo "$ttl"
    fi
}
# yes if a PTTL was just set to 2 windows and a second ($2 s a window)
fresh() {
    local ttl
    ttl=$(rc PTTL "$1")
    if [ "$ttl" -gt $(( $2 * 2000 )) ] && [ "$ttl" -le $(( $2 * 2000 + 1000 )) ]
    then echo yes; else echo "$ttl"; fi
}

h x 100 60 '800 3 0' >/dev/null
ok "a window's first write sets the expiry" "$(fresh x 60)" yes
rc PEXPIRE x 50000 >/dev/null
ok "a later push in the window, the same length: the value" \
   "$(h x 100 60 '800 2 0') $(rc GET x)" "800 10 0 800 5 0"
ok "... the expiry kept (SETRANGE)" "$(kept x 50000)" yes
ok "a later push in the window, a longer value: the value" \
   "$(h x 100 60 '800 5 1') $(rc GET x)" "800 20 1 800 10 1"
ok "... the expiry kept (SET KEEPTTL)" "$(kept x 50000)" yes
ok "a delta of the window before: the value" \
   "$(h x 100 60 '799 4 0') $(rc GET x)" "800 20 5 800 10 5"
ok "... the expiry kept" "$(kept x 50000)" yes
ok "an exact decision that passes: the value" \
   "$(h x 100 60 '800 0 0 1000000') $(rc GET x)" "800 23 5 800 11 5"
ok "... the expiry kept" "$(kept x 50000)" yes
ok "the next window's first write: the value" \
   "$(h x 100 60 '801 1 0') $(rc GET x)" "801 2 11 801 1 11"
ok "... sets the expiry again" "$(fresh x 60)" yes
rc SET x '28000000 1 1' PX 50000 >/dev/null
ok "a state of another period, started afresh, sets the expiry" \
   "$(h x 100 60 '801 1 0') $(fresh x 60)" "801 2 0 yes"
rc SET x 'junk' PX 50000 >/dev/null
ok "an unreadable state, replaced, sets the expiry" \
   "$(h x 100 60 '801 1 0') $(fresh x 60)" "801 2 0 yes"
rc SET x '801 1 0' PX 50000 >/dev/null
ok "a key twice in a call, its window's first write the first: replies" \
   "$(rc1 EVALSHA "$SHA" 2 y y 2 100 1 '900 1 0')" "900 2 0 900 4 0"
ok "... the value and the expiry, 2 windows of 1 s and a second" \
   "$(rc GET y) $(fresh y 1)" "900 2 0 yes"

# Redis before 7.0 (no REDIS_VERSION_NUM): a longer value in the window
# writes the expiry again (no KEEPTTL); one as long still keeps it
sed 's/^local kt = redis.REDIS_VERSION_NUM$/local kt = nil/' \
    "$TMP/hybrid.lua" > "$TMP/hybrid6.lua"
ok "as on Redis 6: one line differs" \
   "$(diff "$TMP/hybrid.lua" "$TMP/hybrid6.lua" | grep -c '^[<>]')" 2
SHA6=$(rc -x SCRIPT LOAD < "$TMP/hybrid6.lua")
rc SET x6 '800 8 0' PX 50000 >/dev/null
rc EVALSHA "$SHA6" 1 x6 1 100 60 '800 1 0' >/dev/null
ok "as on Redis 6: as long, the expiry kept" "$(kept x6 50000)" yes
rc EVALSHA "$SHA6" 1 x6 1 100 60 '800 1 0' >/dev/null
ok "as on Redis 6: longer, the expiry written again" \
   "$(rc GET x6) $(fresh x6 60)" "800 10 0 yes"

# the lifetime, on Redis's clock: a state written first in window W of
# the node (its windows on the epoch, as Redis's clock here) is still
# there at the end of window W + 1, where it weighs as prev: it expires
# at or after (W + 2) windows and a second.  Its expiry is read as
# Redis's time, then PTTL: early by the time between the two (and the
# PTTL's rounding down), 50 ms allowed; an expiry a window short fails.
for p in 1 60; do
    t=$(rc TIME | paste -sd ' ')
    ms=$(( ${t% *} * 1000 + ${t#* } / 1000 ))
    w=$(( ms / (p * 1000) ))
    rc DEL life >/dev/null
    h life 100 $p "$w 1 0" >/dev/null
    h life 100 $p "$w 1 0" >/dev/null
    t=$(rc TIME | paste -sd ' ')
    now=$(( ${t% *} * 1000 + ${t#* } / 1000 ))
    until=$(( now + $(rc PTTL life) - (w + 2) * p * 1000 - 1000 ))
    ok "period $p s: a state of window W lives past the end of W + 1 and a $(
       )second ($until ms more)" "$([ "$until" -ge -50 ] && echo yes)" yes
done

# -- several keys in a call, in runs

ok "two keys, one run" \
   "$(rc1 EVALSHA "$SHA" 2 r1 r2 2 100 60 '700 1 0')" "700 2 0 700 2 0"
ok "two runs" \
   "$(rc1 EVALSHA "$SHA" 2 r1 r3 1 100 60 '700 2 0' 1 100 60 '700 5 0 0')" \
   "700 6 0 700 13 0"
ok "a key twice in a call reads what the first wrote" \
   "$(rc1 EVALSHA "$SHA" 2 r4 r4 2 100 60 '700 1 0')" "700 2 0 700 4 0"

# -- bad arguments: an error, nothing written

err() { rc EVALSHA "$SHA" 1 bad "$@" 2>&1 | sed 's/ script:.*//'; }
ok "a spec that is no spec" "$(err 1 100 60 'x')" \
   "ERR astro: bad argument x"
ok "a missing spec" "$(err 1 100 60)" "ERR astro: bad argument nil"
ok "e of a window or more" "$(err 1 100 60 '1 0 0 60000000')" \
   "ERR astro: bad argument 60000000"
ok "a zero count" "$(err 1 0 60 '1 1 0')" "ERR astro: bad argument 0"
ok "runs that do not cover the keys" "$(err 2 100 60 '1 1 0')" \
   "ERR astro: runs of 2 keys for 1"
ok "nothing written" "$(rc EXISTS bad)" 0

# in a call of two keys the first run good: the same error, neither key
# written; numbers and specs met before in the call are checked again
err2() {
    rc EVALSHA "$SHA" 2 good bad2 1 100 60 '5 1 0 30000000' "$@" 2>&1 \
    | sed 's/ script:.*//'
}
ok "a run of 0, its \"0\" met before in a spec" "$(err2 0 100 60 '5 1 0')" \
   "ERR astro: bad argument 0"
ok "a spec met before, its e now a window or more (a shorter period)" \
   "$(err2 1 100 1 '5 1 0 30000000')" "ERR astro: bad argument 30000000"
ok "a count of 1.5" "$(err2 1 1.5 60 '5 1 0')" "ERR astro: bad argument 1.5"
ok "a missing count" "$(rc EVALSHA "$SHA" 2 good bad2 1 100 60 '5 1 0' 1 \
   2>&1 | sed 's/ script:.*//')" "ERR astro: bad argument nil"
ok "a window of 2^52" "$(err2 1 100 60 '4503599627370496 1 0')" \
   "ERR astro: bad argument 4503599627370496"
ok "a dcur of 2^52" "$(err2 1 100 60 '5 4503599627370496 0')" \
   "ERR astro: bad argument 4503599627370496"
ok "a dprev of 2^52" "$(err2 1 100 60 '5 0 4503599627370496')" \
   "ERR astro: bad argument 4503599627370496"
ok "an e of 2^52" "$(err2 1 100 60 '5 0 0 4503599627370496')" \
   "ERR astro: bad argument 4503599627370496"
ok "a spec with a sign" "$(err2 1 100 60 '5 -1 0')" \
   "ERR astro: bad argument 5 -1 0"
ok "the call good without the bad run" \
   "$(rc1 EVALSHA "$SHA" 1 good2 1 100 60 '5 1 0 30000000')" "5 5 0"
ok "nothing written by the bad calls" "$(rc EXISTS good bad2)" 0

# -- random calls against a model of the script: the same replies, values

# model SEED: the commands (redis-cli's stdin) to stdout and the replies
# expected, then each key's value, to $TMP/model.expected: calls of 1 to
# 6 keys (a key twice in a call too), their arguments in runs as the
# module sends them, over 8 keys, deltas of the window, the one before, 2
# before, the one after, far ahead, decisions near small limits; now and
# then a state written directly, or a value that is no state
model() {
    perl -e '
        use strict; use warnings;
        my $seed = shift;
        srand($seed);
        my (%st, @exp);
        my $w0 = 29000000;
        for my $c (1 .. 400) {
            $w0++ if rand() < 0.1;
            my $kk = "m" . int(rand(8));
            if (rand() < 0.03) {
                my ($sw, $cu, $pr) = ($w0 - int(rand(3)), int(rand(12)),
                                      int(rand(12)));
                print "SET $kk \"$sw $cu $pr\"\n";
                $st{$kk} = [$sw, $cu, $pr];
                push @exp, "OK";
                next;
            }
            if (rand() < 0.01) {
                print "SET $kk \"no state\"\n";
                delete $st{$kk};
                push @exp, "OK";
                next;
            }
            my (@keys, @args, $prev, $run);
            for (1 .. 1 + int(rand(6))) {
                my $k = rand() < 0.2 && @keys ? $keys[-1] : "m" . int(rand(8));
                my ($limit, $p) = (3 + int(rand(3)), rand() < 0.8 ? 60 : 1);
                my $r = rand();
                my $dw = $r < 0.7 ? $w0 : $r < 0.8 ? $w0 - 1 : $r < 0.85
                         ? $w0 - 2 : $r < 0.95 ? $w0 + 1 : 4 * $w0;
                my ($dc, $dp) = (int(rand(3)), rand() < 0.3 ? int(rand(3)) : 0);
                my $e = rand() < 0.4 ? int(rand($p * 1000000)) : undef;
                my $spec = "$dw $dc $dp" . (defined $e ? " $e" : "");
                my $a = "$limit $p $spec";
                push @keys, $k;
                if (defined $prev && $a eq $prev) { $args[$run]++; next }
                push @args, 1, $limit, $p, $spec;
                $run = @args - 4;
                $prev = $a;
            }
            my ($i, @reply) = (0);
            for (my $x = 0; $x < @args; $x += 4) {
                my ($n, $limit, $p, $spec) = @args[$x .. $x + 3];
                my ($dw, $dc, $dp, $e) = split / /, $spec;
                my $w = $p * 1000000;
                for (1 .. $n) {
                    my $k = $keys[$i++];
                    my ($sw, $cu, $pr) = @{ $st{$k} || [0, 0, 0] };
                    ($sw, $cu, $pr) = (0, 0, 0) if $sw > 2 * $dw + 1;
                    if ($sw < $dw) {
                        $pr = $sw + 1 == $dw ? $cu : 0;
                        ($cu, $sw) = (0, $dw);
                    }
                    if ($sw == $dw) { $cu += $dc; $pr += $dp }
                    elsif ($sw == $dw + 1) { $pr += $dc }
                    my $ok = 0;
                    if (defined $e) {
                        my $t = $sw > $dw ? 0 : $e;
                        if (int(($pr * ($w - $t) + $w - 1) / $w) + $cu + 1
                            <= $limit)
                        {
                            $cu++;
                            $ok = 1;
                        }
                    }
                    $st{$k} = [$sw, $cu, $pr] if $dc + $dp + $ok > 0;
                    push @reply, $sw, $cu * 2 + $ok, $pr;
                }
            }
            print join(" ", "EVALSHA", "@ARGV", scalar @keys, @keys,
                       map { /\s/ ? "\"$_\"" : $_ } @args), "\n";
            push @exp, @reply;
        }
        for (0 .. 7) {
            my $s = $st{"m$_"};
            print "GET m$_\n";
            push @exp, $s ? "@$s" : "";
        }
        open my $f, ">", "$ENV{TMP}/model.expected" or die;
        print $f map { "$_\n" } @exp;
    ' "$1" "$SHA"
}
export TMP
for seed in 1 2 3 4; do
    rc DEL m0 m1 m2 m3 m4 m5 m6 m7 >/dev/null
    model $seed > "$TMP/model.cmds"
    rc < "$TMP/model.cmds" > "$TMP/model.got"
    d=$(diff "$TMP/model.expected" "$TMP/model.got" | head -n 5 \
        | paste -sd ' ' || true)
    ok "400 random calls (seed $seed, $(grep -c EVALSHA "$TMP/model.cmds") $(
       )EVALSHA): the model's replies and values" "$d" ""
done

echo "1..$n"
[ "$failed" -eq 0 ]
