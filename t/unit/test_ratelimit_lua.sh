#!/bin/bash
# The rate limiter's Redis scripts (src/lua/ratelimit_*.lua, as the module
# embeds them: src/lua/embed.sh, src/ngx_astro_ratelimit_lua.c) against a
# real redis-server: the files as they are, exact counts, replies, key
# expiry, and decision by decision the same answers as the C code of the
# local backend (src/ngx_astro_limit.c) over a generated sequence.  The
# scripts answer the state a decision left; "tool decode" turns it into
# the four figures (allowed, remaining, retry and reset in ms rounded up)
# with the C code the module uses (ngx_astro_ratelimit_lua_result()).
#
#   t/unit/test_ratelimit_lua.sh
#
# ASTRO_LUA_REDIS_PORT   the port of its own Redis (default 6397), on
#                        127.0.0.1, with its files in a temporary directory;
#                        stopped on exit, also when a test fails
# CC                     the C compiler (default cc)
#
# Prints TAP; exits 1 when a test fails.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PORT=${ASTRO_LUA_REDIS_PORT:-6397}
CC=${CC:-cc}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/astro-lua.XXXXXX")

# shellcheck source=t/unit/redis-lib.sh
. "$ROOT/t/unit/redis-lib.sh"


# --- the scripts, and an oracle from the C code ------------------------------

cat > "$TMP/tool.c" <<'END'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_astro_limit.h"
#include "ngx_astro_ratelimit_lua.h"

static void
save(const char *dir, const char *name, const char *s, size_t len)
{
    char   path[4096];
    FILE  *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    if (f == NULL || fwrite(s, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* each embedded script as NAME.lua */

static void
dump(const char *dir)
{
    char                              name[64];
    unsigned                          i;
    const ngx_astro_ratelimit_lua_t  *lua;

    for (i = 0; i < NGX_ASTRO_RATELIMIT_LUA_N; i++) {
        lua = &ngx_astro_ratelimit_lua[i];

        snprintf(name, sizeof(name), "%s.lua", lua->name);
        save(dir, name, lua->text, lua->len);
    }
}

/*
 * decode SPEC: the replies of redis-cli on stdin, one line a value; SPEC
 * has a line for each reply: "g COUNT PERIOD BURST" (a GCRA call of one
 * key), "s COUNT PERIOD" (a sliding-window call of one key), each as many
 * values as ngx_astro_ratelimit_lua[] says, or "-" (any other reply, one
 * line, copied).  A decision is printed as four lines: allowed,
 * remaining, retry_after and reset in milliseconds, rounded up.
 */

static int
next(uint64_t *v)
{
    unsigned long long  n;

    if (scanf("%llu", &n) != 1) {
        fprintf(stderr, "decode: a reply is missing or not an integer\n");
        exit(1);
    }

    *v = n;
    return 0;
}

static void
decode(const char *path)
{
    char                      line[256], kind;
    FILE                     *spec;
    uint64_t                  v[4];
    unsigned                  i, n, script, count, period, burst;
    ngx_astro_rate_t          rate;
    ngx_astro_limit_result_t  res;

    spec = fopen(path, "r");
    if (spec == NULL) {
        perror(path);
        exit(1);
    }

    while (fgets(line, sizeof(line), spec)) {
        burst = 0;

        if (sscanf(line, "%c %u %u %u", &kind, &count, &period, &burst) < 1
            || (kind != '-' && kind != 'g' && kind != 's'))
        {
            fprintf(stderr, "decode: bad spec line: %s", line);
            exit(1);
        }

        if (kind == '-') {
            if (scanf(" %255s", line) != 1) {
                exit(1);
            }
            printf("%s\n", line);
            continue;
        }

        rate.count = count;
        rate.period = period;

        script = (kind == 'g') ? NGX_ASTRO_RATELIMIT_LUA_GCRA
                               : NGX_ASTRO_RATELIMIT_LUA_SLIDING;
        n = ngx_astro_ratelimit_lua[script].nhead
            + ngx_astro_ratelimit_lua[script].nreply;

        for (i = 0; i < n; i++) {
            next(&v[i]);
        }

        if (ngx_astro_ratelimit_lua_result(script, v, &rate, burst, &res)
            != 0)
        {
            fprintf(stderr, "decode: a reply out of the script's range\n");
            exit(1);
        }

        printf("%u\n%llu\n%llu\n%llu\n", res.allowed,
               (unsigned long long) res.remaining,
               (unsigned long long) (res.retry_after + 999) / 1000,
               (unsigned long long) (res.reset + 999) / 1000);
    }

    fclose(spec);
}

/*
 * gen N SEED GCRA_SHA SLIDING_SHA SPEC: N decisions (and some states written
 * directly) over keys of several rates, at times that step by 0, a few
 * microseconds, up to a window or far ahead; the redis-cli commands to
 * stdout, the replies the C code gives to stderr, decode's SPEC to the
 * file SPEC.
 *
 * Redis expires keys in its own time, not in the time the commands give:
 * the rates keep every expiry written at 500 ms or more, far longer than
 * the run, so that an expiry never answers for the semantics.
 */

typedef struct {
    int                     sliding;
    ngx_astro_rate_t        rate;
    uint32_t                burst;
    ngx_astro_limit_gcra_t  g;
    ngx_astro_limit_sw_t    s;
    uint64_t                next;   /* when the C code said one passes */
} key_t_;

static uint64_t  seed;

static uint64_t
rnd(uint64_t n)
{
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (seed >> 33) % n;
}

static void
gen(int count, uint64_t s, const char *gsha, const char *ssha,
    const char *path)
{
    int                       i, k, r;
    FILE                     *spec;
    uint64_t                  now, w, t, ms;
    key_t_                   *key;
    ngx_astro_limit_result_t  res;

    spec = fopen(path, "w");
    if (spec == NULL) {
        perror(path);
        exit(1);
    }

    static key_t_  keys[] = {
        { 0, { 7, 60 }, 0, {0, 0}, {0, 0, 0}, 0 },
        { 0, { 13, 60 }, 3, {0, 0}, {0, 0, 0}, 0 },
        { 0, { 59, 60 }, 5, {0, 0}, {0, 0, 0}, 0 },
        { 0, { 100, 60 }, 10, {0, 0}, {0, 0, 0}, 0 },
        { 0, { 1, 60 }, 75000000, {0, 0}, {0, 0, 0}, 0 },
        { 0, { 1, 1 }, 2, {0, 0}, {0, 0, 0}, 0 },
        { 0, { 2, 1 }, 0, {0, 0}, {0, 0, 0}, 0 },
        { 1, { 7, 60 }, 0, {0, 0}, {0, 0, 0}, 0 },
        { 1, { 100, 60 }, 0, {0, 0}, {0, 0, 0}, 0 },
        { 1, { 75000000, 60 }, 0, {0, 0}, {0, 0, 0}, 0 },
        { 1, { 3, 1 }, 0, {0, 0}, {0, 0, 0}, 0 },
        { 1, { 10, 1 }, 0, {0, 0}, {0, 0, 0}, 0 },
    };

    seed = s;
    now = 1700000000ULL * 1000000 + rnd(1000000000);

    for (i = 0; i < count; i++) {
        k = (int) rnd(sizeof(keys) / sizeof(keys[0]));
        key = &keys[k];
        w = (uint64_t) key->rate.period * 1000000;

        r = (int) rnd(100);

        if (r < 55) {
            /* the same instant */

        } else if (r < 80) {
            now += 1 + rnd(1000);

        } else if (r < 90) {
            now += rnd(w);

        } else if (r < 97) {
            /* at, or a microsecond before, the time one passes again */
            if (key->next >= now + 1) {
                now = key->next - rnd(2);
            }

        } else {
            now += rnd(5 * w);
        }

        if (rnd(40) == 0) {
            /* a state written directly, large counts included */

            if (key->sliding) {
                key->s.window = now / w - rnd(3);
                /* above the limit too (a rate lowered), below 2^53 */
                t = key->rate.count < 1000 ? 2 * key->rate.count
                                           : key->rate.count;
                key->s.cur = rnd(t + 1);
                key->s.prev = rnd(t + 1);
                printf("SET k%d \"%llu %llu %llu\"\n", k,
                       (unsigned long long) key->s.window,
                       (unsigned long long) key->s.cur,
                       (unsigned long long) key->s.prev);

            } else {
                /* TAT up to (burst + 2) * T ahead, or behind */
                ms = (uint64_t) (key->burst + 2) * w / key->rate.count;
                t = ms / 2 < now / 2 ? ms / 2 : now / 2;
                key->g.tat = now - t + rnd(ms + 1);
                key->g.rem = rnd(key->rate.count);
                printf("SET k%d \"%llu %llu\"\n", k,
                       (unsigned long long) key->g.tat,
                       (unsigned long long) key->g.rem);
            }

            fprintf(stderr, "OK\n");
            fprintf(spec, "-\n");
        }

        if (key->sliding) {
            printf("EVALSHA %s 1 k%d 1 %u %u %llu\n", ssha, k,
                   key->rate.count, key->rate.period,
                   (unsigned long long) now);
            fprintf(spec, "s %u %u\n", key->rate.count, key->rate.period);
            ngx_astro_limit_sliding(now, &key->rate, &key->s, &res);

        } else {
            printf("EVALSHA %s 1 k%d 1 %u %u %u %llu\n", gsha, k,
                   key->rate.count, key->rate.period, key->burst,
                   (unsigned long long) now);
            fprintf(spec, "g %u %u %u\n", key->rate.count, key->rate.period,
                    key->burst);
            ngx_astro_limit_gcra(now, &key->rate, key->burst, &key->g, &res);
        }

        key->next = now + res.retry_after;

        fprintf(stderr, "%u\n%llu\n%llu\n%llu\n", res.allowed,
                (unsigned long long) res.remaining,
                (unsigned long long) (res.retry_after + 999) / 1000,
                (unsigned long long) (res.reset + 999) / 1000);
    }

    fclose(spec);
}

int
main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "dump") == 0) {
        dump(argv[2]);
        return 0;
    }

    if (argc == 3 && strcmp(argv[1], "decode") == 0) {
        decode(argv[2]);
        return 0;
    }

    if (argc == 7 && strcmp(argv[1], "gen") == 0) {
        gen(atoi(argv[2]), strtoull(argv[3], NULL, 10), argv[4], argv[5],
            argv[6]);
        return 0;
    }

    fprintf(stderr, "usage: tool dump DIR | decode SPEC"
                    " | gen N SEED GCRA_SHA SW_SHA SPEC\n");
    return 1;
}
END

# the scripts' header as `config` generates it
sh "$ROOT/src/lua/embed.sh" "$TMP/ngx_astro_lua_scripts.h" \
    "$ROOT/src/lua/ratelimit_gcra.lua" \
    "$ROOT/src/lua/ratelimit_sliding_window.lua" \
    "$ROOT/src/lua/ratelimit_hybrid.lua"

"$CC" -std=gnu99 -Wall -Wextra -Werror -I "$ROOT/src" -I "$TMP" \
    -o "$TMP/tool" "$TMP/tool.c" "$ROOT/src/ngx_astro_limit.c" \
    "$ROOT/src/ngx_astro_ratelimit_lua.c" -lcrypto
"$TMP/tool" dump "$TMP"
GSHA=$(sha1sum < "$TMP/gcra.lua" | cut -d' ' -f1)
SSHA=$(sha1sum < "$TMP/sliding_window.lua" | cut -d' ' -f1)


# --- Redis -------------------------------------------------------------------

start_redis ASTRO_LUA_REDIS_PORT


# --- the files and loading ---------------------------------------------------

# the module's script is the file's lines after the first empty one
for s in gcra sliding_window; do
    f=$ROOT/src/lua/ratelimit_$s.lua
    sed '1,/^$/d' "$f" > "$TMP/$s.body"
    ok "$s: the embedded script is src/lua/ratelimit_$s.lua after its comment" \
       "$(cmp "$TMP/$s.body" "$TMP/$s.lua" && echo same)" same
done

# a Redis script is one chunk (no require), so each file has the prelude
# and the runs' check: the same in both but for a run's argument count
shared() {
    sed -n '2,/^a, i = 1, 1$/p' "$TMP/$1.body" \
    | sed -e "s/^  for b = a + 1, a + $2 do/  for b = a + 1, a + NARGS do/" \
          -e "s/^  a = a + 1 + $2\$/  a = a + 1 + NARGS/"
}
shared gcra 3 > "$TMP/gcra.shared"
shared sliding_window 2 > "$TMP/sliding_window.shared"
ok "the scripts' shared part: the same in both files ($(
   wc -l < "$TMP/gcra.shared") lines)" \
   "$(diff "$TMP/gcra.shared" "$TMP/sliding_window.shared" && echo same)" same

ok "SCRIPT LOAD gcra: the SHA1 of the embedded script" \
   "$(rc -x SCRIPT LOAD < "$TMP/gcra.body")" "$GSHA"
ok "SCRIPT LOAD sliding window: the SHA1 of the embedded script" \
   "$(rc -x SCRIPT LOAD < "$TMP/sliding_window.body")" "$SSHA"

# each file runs by hand, comment and all, with the command its comment
# gives (run from the root of the tree)
by_hand() {
    local cmd
    cmd=$(sed -n 's/^--   redis-cli --eval //p' \
              "$ROOT/src/lua/ratelimit_$1.lua")
    # shellcheck disable=SC2086  # the command's words
    (cd "$ROOT" && rc --eval $cmd) | paste -sd ' '
}
rc DEL k1 k2 >/dev/null
ok "gcra by hand: 10r/m burst=5, two keys pass, 6 s to come back each" \
   "$(by_hand gcra)" "6000000 1 6000000 1"
rc DEL k1 k2 >/dev/null
ok "sliding window by hand: 100r/m, two keys pass, 1 counted each" \
   "$(by_hand sliding_window | cut -d ' ' -f 2-)" "3 0 3 0"
rc DEL k1 k2 >/dev/null


# --- the sliding window ------------------------------------------------------

M0=1700000040000000          # the start of a minute, in microseconds
T0=1700000000123456          # none

# the replies on stdin of $1 calls of one key with the rate $2 ("g COUNT
# PERIOD BURST" or "s COUNT PERIOD"), a decision a line
decode() {
    local i
    for ((i = 0; i < $1; i++)); do echo "$2"; done > "$TMP/spec"
    "$TMP/tool" decode "$TMP/spec" | paste -d ' ' - - - -
}

# $1 key, $2 count, $3 how many, $4 now (empty: Redis's TIME): the replies
sw_burst() {
    local i
    for i in $(seq "$3"); do
        echo "EVALSHA $SSHA 1 $1 1 $2 60 $4"
    done | rc | decode "$3" "s $2 60"
}

# yes if $2 < $1 <= $3: a PTTL after a write that set $3 ms; the lower
# bound allows for the test's own run time in between, and stays above
# what the other kind of write would have left (the label gives it)
between() { [ "$1" -gt "$2" ] && [ "$1" -le "$3" ] && echo yes; }

# $1 key, $2 count, $3 period, $4 now: one reply
sw() { rc EVALSHA "$SSHA" 1 "$1" 1 "$2" "$3" $4 | decode 1 "s $2 $3"; }

out=$(sw_burst sw:a 100 150 $M0)
ok "sliding 100r/m: 150 at once, 100 pass" \
   "$(echo "$out" | grep -c '^1 ')" 100
ok "sliding: first reply" "$(echo "$out" | sed -n 1p)" "1 99 0 120000"
ok "sliding: 100th reply" "$(echo "$out" | sed -n 100p)" "1 0 60600 120000"
ok "sliding: 101st reply" "$(echo "$out" | sed -n 101p)" "0 0 60600 120000"
ok "sliding: the state itself (now, cur * 2 + allowed, prev)" \
   "$(rc EVALSHA "$SSHA" 1 sw:a 1 100 60 $M0 | paste -sd ' ')" \
   "$M0 200 0"
ok "sliding: stored value" "$(rc GET sw:a)" "28333334 100 0"
ttl=$(rc PTTL sw:a)
ok "sliding: the key expires (PTTL $ttl ms, set to 120000 - run time)" \
   "$([ "$ttl" -gt 0 ] && [ "$ttl" -le 120000 ] && echo yes)" yes

# the state of a later request rejected is not written
rc EVALSHA "$SSHA" 1 sw:a 1 100 60 $((M0 + 30000000)) >/dev/null
ok "sliding: a rejection writes nothing" "$(rc GET sw:a)" "28333334 100 0"

# a key counted at 1r/s, then at 2r/m (the zone's rate changed on
# reload): the 1 s window's index is no 60 s window's, not locked out
rc EVALSHA "$SSHA" 1 sw:p 1 1 1 $M0 >/dev/null
out=$(sw_burst sw:p 2 3 $((M0 + 1000)))
ok "sliding, period changed: 2 of 3 pass" \
   "$(echo "$out" | grep -c '^1 ')" 2
ok "sliding, period changed: counted afresh" "$(rc GET sw:p)" "28333334 2 0"
ttl=$(rc PTTL sw:p)
ok "sliding, period changed: expires within 2 windows (PTTL $ttl ms)" \
   "$([ "$ttl" -gt 0 ] && [ "$ttl" -le 120000 ] && echo yes)" yes

# a decision in the key's own window keeps its expiry (KEEPTTL), the first
# in a new window sets it again
sw sw:k 10 60 $M0 >/dev/null
sw sw:k 10 60 $((M0 + 30000000)) >/dev/null
ttl=$(rc PTTL sw:k)
ok "sliding: 30 s on in its window, the expiry kept (PTTL $ttl, 90000 if set)" \
   "$(between "$ttl" 100000 120000)" yes
sw sw:k 10 60 $((M0 + 90000000)) >/dev/null
ttl=$(rc PTTL sw:k)
ok "sliding: in the next window, 90 s to its end (PTTL $ttl)" \
   "$(between "$ttl" 89000 90000)" yes
ok "sliding: ... and the count rolled" "$(rc GET sw:k)" "28333335 1 2"

# 100 - ceil(100 * 30 / 60) = 50 pass 30 s into the next minute
out=$(sw_burst sw:a 100 60 $((M0 + 90000000)))
ok "sliding: next minute, 30 s in: 50 pass" \
   "$(echo "$out" | grep -c '^1 ')" 50
ok "sliding: rolled state" "$(rc GET sw:a)" "28333335 50 100"

# 150 over a minute's end, 1 ms apart: still 100
for i in $(seq 0 149); do
    echo "EVALSHA $SSHA 1 sw:b 1 100 60 $((M0 - 60000 + i * 1000))"
done | rc | decode 150 "s 100 60" > "$TMP/out"
ok "sliding: 150 over a minute's end, 100 pass" \
   "$(grep -c '^1 ' "$TMP/out")" 100

# with Redis's clock: away from a minute's end, 150 at once pass 100
while [ $(( $(date +%s) % 60 )) -ge 57 ]; do sleep 0.5; done
out=$(sw_burst sw:time 100 150 "")
ok "sliding with TIME: 150 at once, 100 pass" \
   "$(echo "$out" | grep -c '^1 ')" 100
ttl=$(rc PTTL sw:time)
ok "sliding with TIME: the key expires within 2 minutes (PTTL $ttl)" \
   "$([ "$ttl" -gt 60000 ] && [ "$ttl" -le 120000 ] && echo yes)" yes

# a malformed value is an empty state
rc SET sw:bad "not a state" >/dev/null
ok "sliding: a malformed value is an empty state" \
   "$(sw sw:bad 10 1 $T0)" "1 9 0 1877"
rc SET sw:big "28333334 4294967296 0" >/dev/null
ok "sliding: a count of 2^32 is an empty state" \
   "$(sw sw:big 10 60 $M0)" "1 9 0 120000"

ok "sliding: a bad argument is an error" \
   "$(rc EVALSHA "$SSHA" 1 sw:arg 1 0 60 2>&1 | grep -c 'bad argument 0')" 1
ok "gcra: a bad argument is an error" \
   "$(rc EVALSHA "$GSHA" 1 g:arg 1 10 1 1.5 2>&1 \
      | grep -c 'bad argument 1.5')" 1
ok "gcra: a missing argument is an error" \
   "$(rc EVALSHA "$GSHA" 1 g:arg 1 10 1 2>&1 | grep -c 'bad argument nil')" 1
ok "gcra: a run of no key is an error" \
   "$(rc EVALSHA "$GSHA" 1 g:arg 0 10 1 0 2>&1 | grep -c 'bad argument 0')" 1
ok "gcra: runs longer than the keys are an error" \
   "$(rc EVALSHA "$GSHA" 1 g:arg 2 10 1 0 2>&1 \
      | grep -c 'runs of 2 keys for 1')" 1
ok "the bad arguments wrote nothing" "$(rc EXISTS sw:arg g:arg)" 0

rc SADD sw:set x >/dev/null
ok "sliding: a key of another type is a new key" \
   "$(sw sw:set 10 1 $T0)" "1 9 0 1877"
ok "sliding: ... and is overwritten" "$(rc TYPE sw:set)" string


# --- GCRA ---------------------------------------------------------------------

# $1 key, $2 count, $3 period, $4 burst, $5 now: one reply
gcra() {
    rc EVALSHA "$GSHA" 1 "$1" 1 "$2" "$3" "$4" $5 | decode 1 "g $2 $3 $4"
}

# $1 key, $2 count, $3 period, $4 burst, then the times: one reply each
gcra_at() {
    local key=$1 c=$2 p=$3 b=$4 t
    shift 4
    for t in "$@"; do
        echo "EVALSHA $GSHA 1 $key 1 $c $p $b $t"
    done | rc | decode $# "g $c $p $b"
}

gcra_at g:a 10 1 5 $T0 $T0 $T0 $T0 $T0 $T0 $T0 $T0 > "$TMP/out"
ok "gcra 10r/s burst=5: 8 at once, 6 pass" "$(grep -c '^1 ' "$TMP/out")" 6
ok "gcra: replies" "$(paste -sd ',' "$TMP/out")" \
   "1 5 0 100,1 4 0 200,1 3 0 300,1 2 0 400,1 1 0 500,$(
   )1 0 100 600,0 0 100 600,0 0 100 600"
ok "gcra: the state itself (du, rem * 2 + allowed)" \
   "$(rc EVALSHA "$GSHA" 1 g:a 1 10 1 5 $T0 | paste -sd ' ')" "600000 0"
ok "gcra: stored TAT (no remainder: the TAT alone)" "$(rc GET g:a)" \
   "$((T0 + 600000))"
# the key lives until the whole second after the TAT (T0 + 600 ms):
# 1700000001000 - 1700000000123 ms
ttl=$(rc PTTL g:a)
ok "gcra: expires at the second after its TAT (PTTL $ttl, 600 if exact)" \
   "$(between "$ttl" 610 877)" yes
ok "gcra: 99.999 ms later" "$(gcra g:a 10 1 5 $((T0 + 99999)))" "0 0 1 501"
ok "gcra: 100 ms later" "$(gcra g:a 10 1 5 $((T0 + 100000)))" "1 0 100 600"

# one per emission interval: a request a ms for a second
gcra_at g:b 10 1 5 $(for i in $(seq 0 999); do echo $((T0 + i * 1000)); done) \
    > "$TMP/out"
ok "gcra 10r/s burst=5: a request a ms for 1 s, 6 + 9 pass" \
   "$(grep -c '^1 ' "$TMP/out")" 15
ok "gcra: passes at 0..5 ms, then every 100 ms" \
   "$(grep -n '^1 ' "$TMP/out" | cut -d: -f1 | paste -sd ' ')" \
   "1 2 3 4 5 6 101 201 301 401 501 601 701 801 901"

# 3r/s burst=2 for 3 s: 3, then at ceil(k * 333.33 ms)
gcra_at g:c 3 1 2 $(for i in $(seq 0 2999); do echo $((M0 + i * 1000)); done) \
    > "$TMP/out"
ok "gcra 3r/s burst=2: a request a ms for 3 s, 3 + 8 pass" \
   "$(grep -c '^1 ' "$TMP/out")" 11
ok "gcra 3r/s: exact times" \
   "$(grep -n '^1 ' "$TMP/out" | cut -d: -f1 | paste -sd ' ')" \
   "1 2 3 335 668 1001 1335 1668 2001 2335 2668"
ok "gcra 3r/s: the remainder stored" "$(rc GET g:c)" "$((M0 + 3666666)) 2"

# "tat 0", the form of earlier versions, still reads
rc SET g:old "$((T0 + 500000)) 0" >/dev/null
ok "gcra: \"tat 0\" reads as tat" "$(gcra g:old 10 1 5 $T0)" "1 0 100 600"
rc SET g:bad "4503599627370496" >/dev/null
ok "gcra: a TAT out of range (2^52) is an empty state" \
   "$(gcra g:bad 10 1 5 $T0)" "1 5 0 100"
rc SET g:bad2 "$T0 4503599627370496" >/dev/null
ok "gcra: a remainder out of range (2^52) is an empty state" \
   "$(gcra g:bad2 10 1 5 $T0)" "1 5 0 100"

# 3r/s burst=0 to the microsecond: TAT is 333333 + 1/3 us on
ok "gcra 3r/s burst=0: first" "$(gcra g:d 3 1 0 $T0)" "1 0 334 334"
ok "gcra 3r/s: at 333333 us" "$(gcra g:d 3 1 0 $((T0 + 333333)))" "0 0 1 1"
ok "gcra 3r/s: at 333334 us" "$(gcra g:d 3 1 0 $((T0 + 333334)))" \
   "1 0 334 334"
ttl=$(rc PTTL g:d)
ok "gcra 3r/s: TAT T0 + 666,667 us, the expiry kept (PTTL $ttl, 544 if set)" \
   "$(between "$ttl" 560 877)" yes

# the expiry is written again only when the TAT passes into a later
# second: at T0 + 500 ms the TAT is T0 + 600 ms, at T0 + 900 ms T0 + 1 s
gcra g:k 10 1 5 $T0 >/dev/null
gcra g:k 10 1 5 $((T0 + 500000)) >/dev/null
ttl=$(rc PTTL g:k)
ok "gcra: TAT in the same second, the expiry kept (PTTL $ttl, 377 if set)" \
   "$(between "$ttl" 400 877)" yes
gcra g:k 10 1 5 $((T0 + 900000)) >/dev/null
ttl=$(rc PTTL g:k)
ok "gcra: TAT in the next second, the expiry set (PTTL $ttl)" \
   "$(between "$ttl" 877 977)" yes

# with Redis's clock
gcra_at g:time 1 60 5 "" "" "" "" "" "" "" "" > "$TMP/out"
ok "gcra 1r/m burst=5 with TIME: 8 at once, 6 pass" \
   "$(grep -c '^1 ' "$TMP/out")" 6
ttl=$(rc PTTL g:time)
ok "gcra with TIME: the key expires in about 6 minutes (PTTL $ttl)" \
   "$(between "$ttl" 350000 361000)" yes

# Redis before 7.0 has no REDIS_VERSION_NUM: the scripts with it missing
# write the expiry every time (PX), the same absolute one
for s in gcra sliding_window; do
    sed 's/^local kt = redis.REDIS_VERSION_NUM$/local kt = nil/' \
        "$TMP/$s.lua" > "$TMP/${s}6.lua"
    ok "$s as on Redis 6: one line differs" \
       "$(diff "$TMP/$s.lua" "$TMP/${s}6.lua" | grep -c '^[<>]')" 2
done
G6=$(rc -x SCRIPT LOAD < "$TMP/gcra6.lua")
S6=$(rc -x SCRIPT LOAD < "$TMP/sliding_window6.lua")
rc EVALSHA "$G6" 1 g:6 1 10 1 5 $T0 >/dev/null
rc EVALSHA "$G6" 1 g:6 1 10 1 5 $((T0 + 500000)) >/dev/null
ttl=$(rc PTTL g:6)
ok "gcra as on Redis 6: the expiry set again (PTTL $ttl, 877 if kept)" \
   "$(between "$ttl" 277 377)" yes
rc EVALSHA "$S6" 1 sw:6 1 10 60 $M0 >/dev/null
rc EVALSHA "$S6" 1 sw:6 1 10 60 $((M0 + 30000000)) >/dev/null
ttl=$(rc PTTL sw:6)
ok "sliding as on Redis 6: the expiry set again (PTTL $ttl, 120000 if kept)" \
   "$(between "$ttl" 80000 90000)" yes

# idle keys vanish: 1000r/s, one request, 1 ms, then the second's end
gcra g:idle 1000 1 0 "" >/dev/null
# (late in a second PTTL may already read 0, or -2: gone; -1 is no expiry)
ttl=$(rc PTTL g:idle)
ok "gcra: an idle key expires within a second (PTTL $ttl)" \
   "$([ "$ttl" -ne -1 ] && between "$ttl" -3 1001)" yes
sleep 1.1
ok "gcra: an idle key vanishes" "$(rc EXISTS g:idle)" 0


# --- batches: one call decides several keys, in order -------------------------

# a batch of keys, one of them twice, gives the replies of single calls
rc EVALSHA "$GSHA" 1 g:s1 1 2 1 1 $T0 > "$TMP/single"
rc EVALSHA "$GSHA" 1 g:s2 1 5 60 0 $T0 >> "$TMP/single"
rc EVALSHA "$GSHA" 1 g:s1 1 2 1 1 $T0 >> "$TMP/single"
ok "gcra: a batch of 3 in 3 runs (a key twice) decides as 3 single calls" \
   "$(rc EVALSHA "$GSHA" 3 g:b1 g:b2 g:b1 1 2 1 1 1 5 60 0 1 2 1 1 $T0 \
      | paste -sd ' ')" \
   "$(paste -sd ' ' "$TMP/single")"
ok "gcra: a run of 2 decides as 2 runs of 1" \
   "$(rc EVALSHA "$GSHA" 3 g:r1 g:r2 g:r1 2 2 1 1 1 2 1 1 $T0 \
      | paste -sd ' ')" \
   "$(rc EVALSHA "$GSHA" 3 g:q1 g:q2 g:q1 1 2 1 1 1 2 1 1 1 2 1 1 $T0 \
      | paste -sd ' ')"
sw1=$(sw sw:s1 1 60 $M0)
sw2=$(sw sw:s1 1 60 $M0)
ok "sliding: a batch of 2 on one key decides as 2 single calls" \
   "$(rc EVALSHA "$SSHA" 2 sw:b1 sw:b1 2 1 60 $M0 | paste -sd ' ')" \
   "$M0 $(rc EVALSHA "$SSHA" 1 sw:c1 1 1 60 $M0 | sed 1d | paste -sd ' ') $(
   )$(rc EVALSHA "$SSHA" 1 sw:c1 1 1 60 $M0 | sed 1d | paste -sd ' ')"
ok "sliding: ... whose answers are those of single calls" \
   "$sw1 $sw2" "1 0 120000 120000 0 0 120000 120000"
ok "gcra: a batch with TIME answers 2 integers a key" \
   "$(rc EVALSHA "$GSHA" 2 g:t1 g:t2 2 10 1 0 | wc -l)" 4
ok "sliding: a batch with TIME answers its time, then 2 integers a key" \
   "$(rc EVALSHA "$SSHA" 2 sw:t1 sw:t2 1 10 1 1 10 60 | wc -l)" 5
ok "gcra: a bad argument fails the whole batch, which writes nothing" \
   "$(rc EVALSHA "$GSHA" 2 g:e1 g:e2 1 10 1 0 1 10 1 2>&1 \
      | grep -c 'bad argument nil') $(rc EXISTS g:e1 g:e2)" "1 0"


# --- the same decisions as the C code -----------------------------------------

for seed in 1 2 3 4 5 6 7 8; do
    "$TMP/tool" gen 1000 "$seed" "$GSHA" "$SSHA" "$TMP/spec" \
        > "$TMP/cmds" 2> "$TMP/expected"
    rc FLUSHALL >/dev/null
    start=$(date +%s%N)
    rc < "$TMP/cmds" > "$TMP/raw"
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    "$TMP/tool" decode "$TMP/spec" < "$TMP/raw" > "$TMP/got"
    d=$(diff "$TMP/expected" "$TMP/got" | head -n 5 | paste -sd ' ' || true)
    ok "1000 decisions (seed $seed, $ms ms): the replies of the C code" \
       "$d" ""
done


echo "1..$n"
[ "$failed" -eq 0 ] || { echo "# $failed of $n failed"; exit 1; }
