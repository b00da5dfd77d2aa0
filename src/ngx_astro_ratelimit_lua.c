
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
 * script's time in Redis at 11 keys a call.
 */

#define NGX_ASTRO_LUA_PRELUDE                                                 \
    "if redis.replicate_commands then redis.replicate_commands() end\n"       \
    "local floor, tonumber = math.floor, tonumber\n"                          \
    "local fmt, match, call = string.format, string.match, redis.call\n"      \
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
 * are read with one MGET, and the arguments of a key, most often the
 * same strings as the previous key's (Lua compares them as pointers),
 * are checked and turned into the rate's constants once for a run of
 * keys.  A key met twice in one call reads what its first decision
 * wrote; a key of another type reads as nil, a new key, and is
 * overwritten.
 */

/*
 * GCRA, as ngx_astro_limit_gcra(): times are pairs (us, rem), us + rem /
 * count microseconds; T = P / count = (tq, tr), burst * T = (bq, br).
 * The value is "tat", or "tat rem" when rem is not 0.
 */

const char  ngx_astro_ratelimit_lua_gcra[] =
    "-- astro GCRA: KEYS[1..n]; ARGV: (count, period, burst) x n[, now]\n"
    NGX_ASTRO_LUA_PRELUDE
    "local keys, argv, n = KEYS, ARGV, #KEYS\n"
    "local c0, c1, c2\n"
    "for a = 0, n * 3 - 1, 3 do\n"
    "  if argv[a + 1] ~= c0 or argv[a + 2] ~= c1 or argv[a + 3] ~= c2 then\n"
    "    c0, c1, c2 = argv[a + 1], argv[a + 2], argv[a + 3]\n"
    "    int(c0, 1); int(c1, 1); int(c2, 0)\n"
    "  end\n"
    "end\n"
    "local now = clock(argv[n * 3 + 1])\n"
    "local vals, set = call('MGET', unpack(keys)), {}\n"
    "local out, o = {}, 0\n"
    "local count, p, tq, tr, bp, bq, br\n"
    "c0 = nil\n"
    "for i = 1, n do\n"
    "local a = (i - 1) * 3\n"
    "local x0, x1, x2 = argv[a + 1], argv[a + 2], argv[a + 3]\n"
    "if x0 ~= c0 or x1 ~= c1 or x2 ~= c2 then\n"
    "  c0, c1, c2 = x0, x1, x2\n"
    "  count = tonumber(c0); p = tonumber(c1) * 1000000\n"
    "  tq = div(p, count); tr = p - tq * count\n"
    "  bp = tonumber(c2) * p; bq = div(bp, count); br = bp - bq * count\n"
    "end\n"
    "local k, tat, rem = keys[i], 0, 0\n"
    "local v = set[k] or vals[i]\n"
    "if v then\n"
    "  tat = tonumber(v)\n"
    "  if not tat then\n"
    "    tat = 0\n"
    "    local x, y = match(v, '^(%d+) (%d+)$')\n"
    "    if x then tat = tonumber(x); rem = tonumber(y) end\n"
    "  elseif tat ~= floor(tat) or tat < 0 or tat >= 2^52 then tat = 0 end\n"
    "end\n"
    "if rem >= count then\n"
    "  local q = div(rem, count)\n"
    "  tat = tat + q; rem = rem - q * count\n"
    "end\n"
    "if tat < now then tat = now; rem = 0 end\n"
    "local du = tat - now\n"
    "local allowed, remaining, retry = 0, 0, 0\n"
    "if du < bq or (du == bq and rem <= br) then\n"
    "  tat = tat + tq; rem = rem + tr\n"
    "  if rem >= count then rem = rem - count; tat = tat + 1 end\n"
    "  du = tat - now\n"
    "  allowed = 1\n"
    "  local units = du * count + rem\n"
    "  if units <= bp then remaining = div(bp - units, p) + 1 end\n"
    "end\n"
    "if remaining == 0 then\n"
    "  local ru, rr = du - bq, rem - br\n"
    "  if rr < 0 then ru = ru - 1; rr = rr + count end\n"
    "  retry = div(ru + (rr > 0 and 1 or 0) + 999, 1000)\n"
    "end\n"
    "local reset = div(du + (rem > 0 and 1 or 0) + 999, 1000)\n"
    "if allowed == 1 then\n"
    "  if rem == 0 then v = fmt('%d', tat)\n"
    "  else v = fmt('%d %d', tat, rem) end\n"
    "  call('SET', k, v, 'PX', fmt('%d', reset))\n"
    "  set[k] = v\n"
    "end\n"
    "out[o + 1] = allowed; out[o + 2] = remaining\n"
    "out[o + 3] = retry; out[o + 4] = reset\n"
    "o = o + 4\n"
    "end\n"
    "return out\n";

const size_t  ngx_astro_ratelimit_lua_gcra_len =
    sizeof(ngx_astro_ratelimit_lua_gcra) - 1;


/*
 * The sliding-window counter, as ngx_astro_limit_sliding(): W in us,
 * windows aligned to the epoch, e the time into the current one.
 */

const char  ngx_astro_ratelimit_lua_sliding[] =
    "-- astro sliding window: KEYS[1..n]; ARGV: (count, period) x n[, now]\n"
    NGX_ASTRO_LUA_PRELUDE
    "local keys, argv, n = KEYS, ARGV, #KEYS\n"
    "local c0, c1\n"
    "for a = 0, n * 2 - 1, 2 do\n"
    "  if argv[a + 1] ~= c0 or argv[a + 2] ~= c1 then\n"
    "    c0, c1 = argv[a + 1], argv[a + 2]\n"
    "    int(c0, 1); int(c1, 1)\n"
    "  end\n"
    "end\n"
    "local now = clock(argv[n * 2 + 1])\n"
    "local vals, set = call('MGET', unpack(keys)), {}\n"
    "local out, o = {}, 0\n"
    "local limit, w, win, e\n"
    "c0 = nil\n"
    "local function first(c, x)\n"
    "  if c == 0 then return 0 end\n"
    "  local q = div(x * w, c)\n"
    "  if q >= w then return 0 end\n"
    "  return w - q\n"
    "end\n"
    "for i = 1, n do\n"
    "local a = (i - 1) * 2\n"
    "local x0, x1 = argv[a + 1], argv[a + 2]\n"
    "if x0 ~= c0 or x1 ~= c1 then\n"
    "  c0, c1 = x0, x1\n"
    "  limit = tonumber(c0); w = tonumber(c1) * 1000000\n"
    "  win = div(now, w); e = now - win * w\n"
    "end\n"
    "local k, sw, cur, prev = keys[i], 0, 0, 0\n"
    "local v = set[k] or vals[i]\n"
    "if v then\n"
    "  local x, y, z = match(v, '^(%d+) (%d+) (%d+)$')\n"
    "  if x then sw = tonumber(x); cur = tonumber(y); prev = tonumber(z)"
    " end\n"
    "end\n"
    "if sw > win + 1 then sw = 0 end\n"
    "if sw >= win then\n"
    "elseif sw + 1 == win then prev = cur; cur = 0\n"
    "else prev = 0; cur = 0 end\n"
    "local weighted = div(prev * (w - e) + w - 1, w)\n"
    "local allowed = 0\n"
    "if weighted + cur + 1 <= limit then\n"
    "  cur = cur + 1\n"
    "  if sw < win then sw = win end\n"
    "  v = fmt('%d %d %d', sw, cur, prev)\n"
    "  local ttl = div((sw + 2) * w - now + 999, 1000)\n"
    "  call('SET', k, v, 'PX', fmt('%d', ttl))\n"
    "  set[k] = v\n"
    "  allowed = 1\n"
    "end\n"
    "local remaining = 0\n"
    "if weighted + cur < limit then remaining = limit - weighted - cur end\n"
    "local retry = 0\n"
    "if remaining == 0 then\n"
    "  if cur < limit then retry = first(prev, limit - cur - 1) - e\n"
    "  else retry = w - e + first(cur, limit - 1) end\n"
    "end\n"
    "local reset = 0\n"
    "if cur > 0 then reset = 2 * w - e\n"
    "elseif prev > 0 then reset = w - e end\n"
    "out[o + 1] = allowed; out[o + 2] = remaining\n"
    "out[o + 3] = div(retry + 999, 1000); out[o + 4] = div(reset + 999, 1000)\n"
    "o = o + 4\n"
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
