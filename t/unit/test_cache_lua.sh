#!/bin/bash
# The cache module's Redis scripts (src/lua/cache_*.lua, as the module
# embeds them: the lines after the first empty one, src/lua/embed.sh)
# against a real redis-server: generations merged by max or bumped past
# every node's, what is published and when, runs of keys, bad arguments.
#
#   t/unit/test_cache_lua.sh
#
# ASTRO_CACHE_LUA_REDIS_PORT  the port of its own Redis (default 6432), on
#                             127.0.0.1, with its files in a temporary
#                             directory; stopped on exit
#
# Prints TAP; exits 1 when a test fails.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PORT=${ASTRO_CACHE_LUA_REDIS_PORT:-6432}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/astro-cache-lua.XXXXXX")
SUB=

# shellcheck source=t/unit/redis-lib.sh
. "$ROOT/t/unit/redis-lib.sh"
# shellcheck disable=SC2016  # evaluated on exit, with the subscriber's pid
on_exit='[ -z "$SUB" ] || kill "$SUB" 2>/dev/null'

if ! command -v redis-server >/dev/null 2>&1; then
    echo "1..0 # SKIP redis-server is not installed"
    exit 0
fi

start_redis ASTRO_CACHE_LUA_REDIS_PORT

GEN=$(sed '1,/^$/d' "$ROOT/src/lua/cache_gen.lua")
PUB=$(sed '1,/^$/d' "$ROOT/src/lua/cache_publish.lua")

# what the channel hears, one message a line
rc --raw subscribe astro:cache:z > "$TMP/heard" 2>/dev/null &
# shellcheck disable=SC2034  # read by on_exit
SUB=$!
for _ in $(seq 50); do
    [ "$(rc pubsub numsub astro:cache:z | tail -n 1)" = 1 ] && break
    sleep 0.05
done

heard() { sed -n '/^message$/{n;n;p}' "$TMP/heard" | paste -sd '|'; }

K=astro:cache:z:gen

ok "a poll of a new class keeps the node's generation" \
   "$(rc1 eval "$GEN" 1 $K:api 1 0 5)" 5
ok "a poll below it reads the higher" "$(rc1 eval "$GEN" 1 $K:api 1 0 3)" 5
ok "an invalidation bumps past it" "$(rc1 eval "$GEN" 1 $K:api 1 1 5)" 6
ok "an invalidation from a node ahead takes its generation" \
   "$(rc1 eval "$GEN" 1 $K:api 1 1 9)" 9
ok "a class of a name with a colon" "$(rc1 eval "$GEN" 1 $K:a:b 1 1 0)" 1
ok "runs: two keys with the same arguments, one with others" \
   "$(rc1 eval "$GEN" 3 $K:x $K:y $K:api 2 0 2 1 0 1)" "2 2 9"
ok "the values in Redis" "$(rc1 mget $K:api $K:x $K:y $K:a:b)" "9 2 2 1"
ok "publish: the subscribers that got each message" \
   "$(rc1 eval "$PUB" 2 astro:cache:z astro:cache:other 1 'k h 0:/a b' \
          1 'k s x')" "1 0"
sleep 0.2
ok "what was published, in order: raised values and the keys" \
   "$(heard)" "c api 5|c api 6|c api 9|c a:b 1|c x 2|c y 2|k h 0:/a b"

ok "a run longer than the keys is an error" \
   "$(rc eval "$GEN" 1 $K:api 2 0 1 2>&1 | grep -c 'bad run')" 1
ok "a generation that is not a number is an error" \
   "$(rc eval "$GEN" 1 $K:api 1 0 x 2>&1 | grep -c 'bad argument')" 1
ok "publish: a missing message is an error" \
   "$(rc eval "$PUB" 1 astro:cache:z 1 2>&1 | grep -c 'bad run')" 1

echo "1..$n"
[ "$failed" -eq 0 ]
