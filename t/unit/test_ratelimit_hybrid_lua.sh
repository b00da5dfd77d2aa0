#!/bin/bash
# The hybrid backend's Redis script (src/lua/ratelimit_hybrid.lua, the
# lines after its first empty one, as src/lua/embed.sh embeds them)
# against a real redis-server: a node's deltas added to the key's
# sliding-window state on the node's windows (a later window moves the
# key, an earlier one goes to its previous count or is dropped), the
# reply (window, cur * 2 + allowed, prev), an exact decision after the
# delta, the expiry, nothing written when nothing changes, bad arguments.
#
#   t/unit/test_ratelimit_hybrid_lua.sh
#
# ASTRO_HYBRID_REDIS_PORT  the port of its own Redis (default 6472), on
#                          127.0.0.1, with its files in a temporary
#                          directory; stopped on exit
#
# Prints TAP; exits 1 when a test fails.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PORT=${ASTRO_HYBRID_REDIS_PORT:-6472}
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

echo "1..$n"
[ "$failed" -eq 0 ]
