
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
 * Numbers are written with string.format('%.0f'): Lua's tostring() would
 * write 1.7e+15.
 */

#define NGX_ASTRO_LUA_PRELUDE                                                 \
    "if redis.replicate_commands then redis.replicate_commands() end\n"       \
    "local function div(a, b)\n"                                              \
    "  local q = math.floor(a / b)\n"                                         \
    "  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1"    \
    " end\n"                                                                  \
    "  return q\n"                                                            \
    "end\n"                                                                   \
    "local function int(v, min)\n"                                            \
    "  local n = tonumber(v)\n"                                               \
    "  if not n or n < min or n ~= math.floor(n) or n >= 2^52 then\n"         \
    "    error({err = 'ERR astro: bad argument ' .. tostring(v)})\n"          \
    "  end\n"                                                                 \
    "  return n\n"                                                            \
    "end\n"                                                                   \
    "local function clock(arg)\n"                                             \
    "  if arg and arg ~= '' then return int(arg, 0) end\n"                    \
    "  local t = redis.call('TIME')\n"                                        \
    "  return tonumber(t[1]) * 1000000 + tonumber(t[2])\n"                    \
    "end\n"


/*
 * GCRA, as ngx_astro_limit_gcra(): times are pairs (us, rem), us + rem /
 * count microseconds; T = P / count = (tq, tr), burst * T = (bq, br).
 */

const char  ngx_astro_ratelimit_lua_gcra[] =
    "-- astro GCRA: KEYS[1..n]; ARGV: (count, period, burst) x n[, now]\n"
    NGX_ASTRO_LUA_PRELUDE
    "local n = #KEYS\n"
    "for i = 0, n - 1 do\n"
    "  int(ARGV[i * 3 + 1], 1); int(ARGV[i * 3 + 2], 1)\n"
    "  int(ARGV[i * 3 + 3], 0)\n"
    "end\n"
    "local now = clock(ARGV[n * 3 + 1])\n"
    "local out = {}\n"
    "for i = 1, n do\n"
    "local a = (i - 1) * 3\n"
    "local count = int(ARGV[a + 1], 1)\n"
    "local p = int(ARGV[a + 2], 1) * 1000000\n"
    "local burst = int(ARGV[a + 3], 0)\n"
    "local tq = div(p, count)\n"
    "local tr = p - tq * count\n"
    "local bp = burst * p\n"
    "local bq = div(bp, count)\n"
    "local br = bp - bq * count\n"
    "local tat, rem = 0, 0\n"
    "local v = redis.call('GET', KEYS[i])\n"
    "if v then\n"
    "  local a, b = string.match(v, '^(%d+) (%d+)$')\n"
    "  if a then tat = tonumber(a); rem = tonumber(b) end\n"
    "end\n"
    "if rem >= count then\n"
    "  local q = div(rem, count)\n"
    "  tat = tat + q; rem = rem - q * count\n"
    "end\n"
    "if tat < now then tat = now; rem = 0 end\n"
    "local du = tat - now\n"
    "local allowed, remaining = 0, 0\n"
    "if du < bq or (du == bq and rem <= br) then\n"
    "  tat = tat + tq; rem = rem + tr\n"
    "  if rem >= count then rem = rem - count; tat = tat + 1 end\n"
    "  du = tat - now\n"
    "  local ttl = div(du + (rem > 0 and 1 or 0) + 999, 1000)\n"
    "  redis.call('SET', KEYS[i], string.format('%.0f %.0f', tat, rem),\n"
    "             'PX', ttl)\n"
    "  allowed = 1\n"
    "  local units = du * count + rem\n"
    "  if units <= bp then remaining = div(bp - units, p) + 1 end\n"
    "end\n"
    "local retry = 0\n"
    "if remaining == 0 then\n"
    "  local ru, rr = du - bq, rem - br\n"
    "  if rr < 0 then ru = ru - 1; rr = rr + count end\n"
    "  retry = ru + (rr > 0 and 1 or 0)\n"
    "end\n"
    "local reset = du + (rem > 0 and 1 or 0)\n"
    "out[#out + 1] = allowed\n"
    "out[#out + 1] = remaining\n"
    "out[#out + 1] = div(retry + 999, 1000)\n"
    "out[#out + 1] = div(reset + 999, 1000)\n"
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
    "local n = #KEYS\n"
    "for i = 0, n - 1 do int(ARGV[i * 2 + 1], 1); int(ARGV[i * 2 + 2], 1) end\n"
    "local now = clock(ARGV[n * 2 + 1])\n"
    "local out = {}\n"
    "for i = 1, n do\n"
    "local a = (i - 1) * 2\n"
    "local limit = int(ARGV[a + 1], 1)\n"
    "local w = int(ARGV[a + 2], 1) * 1000000\n"
    "local win = div(now, w)\n"
    "local e = now - win * w\n"
    "local sw, cur, prev = 0, 0, 0\n"
    "local v = redis.call('GET', KEYS[i])\n"
    "if v then\n"
    "  local a, b, c = string.match(v, '^(%d+) (%d+) (%d+)$')\n"
    "  if a then sw = tonumber(a); cur = tonumber(b); prev = tonumber(c)"
    " end\n"
    "end\n"
    "if sw >= win then\n"
    "elseif sw + 1 == win then prev = cur; cur = 0\n"
    "else prev = 0; cur = 0 end\n"
    "local weighted = div(prev * (w - e) + w - 1, w)\n"
    "local allowed = 0\n"
    "if weighted + cur + 1 <= limit then\n"
    "  cur = cur + 1\n"
    "  if sw < win then sw = win end\n"
    "  redis.call('SET', KEYS[i],\n"
    "             string.format('%.0f %.0f %.0f', sw, cur, prev),\n"
    "             'PX', div((sw + 2) * w - now + 999, 1000))\n"
    "  allowed = 1\n"
    "end\n"
    "local function first(c, a)\n"
    "  if c == 0 then return 0 end\n"
    "  local q = div(a * w, c)\n"
    "  if q >= w then return 0 end\n"
    "  return w - q\n"
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
    "out[#out + 1] = allowed\n"
    "out[#out + 1] = remaining\n"
    "out[#out + 1] = div(retry + 999, 1000)\n"
    "out[#out + 1] = div(reset + 999, 1000)\n"
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
