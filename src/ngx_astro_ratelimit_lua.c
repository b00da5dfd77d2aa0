
/*
 * Copyright (C) astro developers
 */


#include <openssl/sha.h>

#include "ngx_astro_ratelimit_lua.h"


/*
 * Lua numbers are doubles: every value below stays an integer under
 * 2^52 (see ngx_astro_limit_check()), where math.floor(a / b) is exact
 * (a quotient 1 / b below an integer is more than half a unit in the last
 * place away from it); div()'s correction step keeps it exact up to 2^53.
 * Numbers are written with string.format('%d') (a C long: 64 bits where
 * Redis runs): Lua's tostring() would write 1.7e+15, and '%.0f' or a
 * number passed to redis.call() (which Redis writes with '%.17g') goes
 * through the C library's floating point printer, a third of the
 * script's time in Redis at 11 keys a call.  Redis 7 (the first with
 * REDIS_VERSION_NUM) and later keep a key's expiry with SET ... KEEPTTL
 * where it stays the same; earlier ones write it again.
 */

#define NGX_ASTRO_LUA_PRELUDE                                                 \
    "if redis.replicate_commands then redis.replicate_commands() end\n"       \
    "local floor, tonumber = math.floor, tonumber\n"                          \
    "local fmt, match, call = string.format, string.match, redis.call\n"      \
    "local kt = redis.REDIS_VERSION_NUM\n"                                    \
    "local function div(a, b)\n"                                              \
    "  local q = floor(a / b)\n"                                              \
    "  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1"    \
    " end\n"                                                                  \
    "  return q\n"                                                            \
    "end\n"                                                                   \
    "local function int(v, min)\n"                                            \
    "  local n = tonumber(v)\n"                                               \
    "  if not n or n < min or n ~= floor(n) or n >= 2^52 then\n"              \
    "    error({err = 'ERR astro: bad argument ' .. tostring(v)})\n"          \
    "  end\n"                                                                 \
    "  return n\n"                                                            \
    "end\n"                                                                   \
    "local function clock(arg)\n"                                             \
    "  if arg and arg ~= '' then return int(arg, 0) end\n"                    \
    "  local t = call('TIME')\n"                                              \
    "  return tonumber(t[1]) * 1000000 + tonumber(t[2])\n"                    \
    "end\n"


/*
 * Redis's cost of a decision is mostly its commands and its Lua: the keys
 * are read with one MGET; the arguments come in runs (the keys of a run
 * share a rate), each checked and turned into the rate's constants once;
 * the script answers the state a decision left, from which the worker
 * computes remaining, retry and reset (ngx_astro_limit_gcra_result(),
 * ngx_astro_limit_sliding_result()).  A key met twice in one call reads
 * what its first decision wrote; a key of another type reads as nil, a
 * new key, and is overwritten.
 */

#define NGX_ASTRO_LUA_RUNS(nargs)                                             \
    "local keys, argv, n = KEYS, ARGV, #KEYS\n"                               \
    "local a, i = 1, 0\n"                                                     \
    "while i < n do\n"                                                        \
    "  i = i + int(argv[a], 1)\n"                                             \
    "  for b = a + 1, a + " nargs " do int(argv[b], b == a + 3 and 0 or 1)"   \
    " end\n"                                                                  \
    "  a = a + 1 + " nargs "\n"                                               \
    "end\n"                                                                   \
    "if i ~= n then\n"                                                        \
    "  error({err = 'ERR astro: runs of ' .. i .. ' keys for ' .. n})\n"      \
    "end\n"                                                                   \
    "local now = clock(argv[a])\n"                                            \
    "local vals, set, out, o = call('MGET', unpack(keys)), {}, {}, 0\n"       \
    "a, i = 1, 1\n"


/*
 * GCRA, as ngx_astro_limit_gcra(): times are pairs (us, rem), us + rem /
 * count microseconds; T = P / count = (tq, tr), burst * T = (bq, br).
 * The value is "tat", or "tat rem" when rem is not 0.  The key lives
 * until the first whole second of the script's clock at or after the
 * bucket is full again, "keep": a decision whose new TAT is still within
 * that second leaves the expiry as it is, so a key met several times a
 * second gets one new expiry a second (SET ... PX also rewrites the
 * expiry table: a call of 16 keys that exist costs Redis about a fifth
 * more instructions with it than with SET ... KEEPTTL).
 */

const char  ngx_astro_ratelimit_lua_gcra[] =
    "-- astro GCRA: KEYS[1..n]; ARGV: (run, count, period, burst)...[, now]\n"
    NGX_ASTRO_LUA_PRELUDE
    NGX_ASTRO_LUA_RUNS("3")
    "local nms = div(now, 1000)\n"
    "while i <= n do\n"
    "local last = i + tonumber(argv[a]) - 1\n"
    "local count, p = tonumber(argv[a + 1]), tonumber(argv[a + 2]) * 1000000\n"
    "local tq = div(p, count)\n"
    "local tr, bp = p - tq * count, tonumber(argv[a + 3]) * p\n"
    "local bq = div(bp, count)\n"
    "local br = bp - bq * count\n"
    "a = a + 4\n"
    "for j = i, last do\n"
    "local k, tat, rem, keep = keys[j], 0, 0, 0\n"
    "local v = set[k] or vals[j]\n"
    "if v then\n"
    "  tat = tonumber(v)\n"
    "  if not tat then\n"
    "    tat = 0\n"
    "    local x, y = match(v, '^(%d+) (%d+)$')\n"
    "    if x then tat = tonumber(x); rem = tonumber(y) end\n"
    "  end\n"
    "  if tat ~= floor(tat) or tat < 0 or tat >= 2^52 or rem >= 2^52 then"
    " tat = 0; rem = 0 end\n"
    "  keep = div(tat + (rem > 0 and 1000000 or 999999), 1000000)\n"
    "end\n"
    "if rem >= count then\n"
    "  local q = div(rem, count)\n"
    "  tat = tat + q; rem = rem - q * count\n"
    "end\n"
    "if tat < now then tat = now; rem = 0 end\n"
    "local du, allowed = tat - now, 0\n"
    "if du < bq or (du == bq and rem <= br) then\n"
    "  tat = tat + tq; rem = rem + tr\n"
    "  if rem >= count then rem = rem - count; tat = tat + 1 end\n"
    "  du = tat - now\n"
    "  allowed = 1\n"
    "  if rem == 0 then v = fmt('%d', tat)\n"
    "  else v = fmt('%d %d', tat, rem) end\n"
    "  local s = div(tat + (rem > 0 and 1000000 or 999999), 1000000)\n"
    "  if s <= keep and kt then call('SET', k, v, 'KEEPTTL')\n"
    "  else call('SET', k, v, 'PX', fmt('%d', s * 1000 - nms)) end\n"
    "  set[k] = v\n"
    "end\n"
    "out[o + 1] = du; out[o + 2] = rem * 2 + allowed\n"
    "o = o + 2\n"
    "end\n"
    "i = last + 1\n"
    "end\n"
    "return out\n";

const size_t  ngx_astro_ratelimit_lua_gcra_len =
    sizeof(ngx_astro_ratelimit_lua_gcra) - 1;


/*
 * The sliding-window counter, as ngx_astro_limit_sliding(): W in us,
 * windows aligned to the epoch, e the time into the current one; the key
 * lives until the end of the window after its own, which a decision in
 * the key's own window leaves as it is (KEEPTTL).
 */

const char  ngx_astro_ratelimit_lua_sliding[] =
    "-- astro sliding window: KEYS[1..n]; ARGV: (run, count, period)..."
    "[, now]\n"
    NGX_ASTRO_LUA_PRELUDE
    NGX_ASTRO_LUA_RUNS("2")
    "out[1] = now; o = 1\n"
    "while i <= n do\n"
    "local last = i + tonumber(argv[a]) - 1\n"
    "local limit, w = tonumber(argv[a + 1]), tonumber(argv[a + 2]) * 1000000\n"
    "local win = div(now, w)\n"
    "local e = now - win * w\n"
    "a = a + 3\n"
    "for j = i, last do\n"
    "local k, sw, cur, prev = keys[j], 0, 0, 0\n"
    "local v = set[k] or vals[j]\n"
    "if v then\n"
    "  local x, y, z = match(v, '^(%d+) (%d+) (%d+)$')\n"
    "  if x then sw = tonumber(x); cur = tonumber(y); prev = tonumber(z)"
    " end\n"
    "  if sw >= 2^52 or cur >= 2^32 or prev >= 2^32 then"
    " sw = 0; cur = 0; prev = 0 end\n"
    "end\n"
    "if sw > win + 1 then sw = 0 end\n"
    "if sw >= win then\n"
    "elseif sw + 1 == win then prev = cur; cur = 0\n"
    "else prev = 0; cur = 0 end\n"
    "local allowed = 0\n"
    "if div(prev * (w - e) + w - 1, w) + cur + 1 <= limit then\n"
    "  cur = cur + 1\n"
    "  allowed = 1\n"
    "  local keep = sw >= win and kt\n"
    "  if sw < win then sw = win end\n"
    "  v = fmt('%d %d %d', sw, cur, prev)\n"
    "  if keep then call('SET', k, v, 'KEEPTTL')\n"
    "  else call('SET', k, v, 'PX', fmt('%d', div((sw + 2) * w - now + 999,"
    " 1000))) end\n"
    "  set[k] = v\n"
    "end\n"
    "out[o + 1] = cur * 2 + allowed; out[o + 2] = prev\n"
    "o = o + 2\n"
    "end\n"
    "i = last + 1\n"
    "end\n"
    "return out\n";

const size_t  ngx_astro_ratelimit_lua_sliding_len =
    sizeof(ngx_astro_ratelimit_lua_sliding) - 1;


void
ngx_astro_ratelimit_lua_sha1(const char *script, size_t len, u_char *hex)
{
    size_t          i;
    unsigned char   md[SHA_DIGEST_LENGTH];
    static u_char   digits[] = "0123456789abcdef";

    SHA1((const unsigned char *) script, len, md);

    for (i = 0; i < SHA_DIGEST_LENGTH; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 0xf];
    }
}
