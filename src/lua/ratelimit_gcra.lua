-- The rate limiter's GCRA script: ngx_astro_ratelimit_lua.h says what it
-- takes and answers.  The module embeds the lines after the first empty
-- one (the build generates a header from them: src/lua/embed.sh); this
-- comment is not sent to Redis.
--
-- By hand, two keys at 10 requests a minute with a burst of 5, on
-- Redis's clock; the reply is du, rem * 2 + allowed for each key:
--
--   redis-cli --eval src/lua/ratelimit_gcra.lua k1 k2 , 2 10 60 5
--
-- Lua numbers are doubles: every value stays an integer under 2^52 (see
-- ngx_astro_limit_check()), where math.floor(a / b) is exact (a quotient
-- 1 / b below an integer is more than half a unit in the last place away
-- from it); div()'s correction step keeps it exact up to 2^53.  Numbers
-- are written with string.format('%d') (a C long: 64 bits where Redis
-- runs): Lua's tostring() would write 1.7e+15, and '%.0f' or a number
-- passed to redis.call() (which Redis writes with '%.17g') goes through
-- the C library's floating point printer, a third of the script's time
-- in Redis at 11 keys a call.  Redis 7 (the first with REDIS_VERSION_NUM)
-- and later keep a key's expiry with SET ... KEEPTTL where it stays the
-- same; earlier ones write it again.
--
-- Redis's cost of a decision is mostly its commands and its Lua: the
-- keys are read with one MGET; the arguments come in runs (the keys of a
-- run share a rate), each checked and turned into the rate's constants
-- once; the script answers the state a decision left, from which the
-- worker computes remaining, retry and reset
-- (ngx_astro_limit_gcra_result()).  A key met twice in one call reads
-- what its first decision wrote; a key of another type reads as nil, a
-- new key, and is overwritten.
--
-- GCRA, as ngx_astro_limit_gcra(): times are pairs (us, rem), us + rem /
-- count microseconds; T = P / count = (tq, tr), burst * T = (bq, br).
-- The value is "tat", or "tat rem" when rem is not 0.  The key lives
-- until the first whole second of the script's clock at or after the
-- bucket is full again, "keep": a decision whose new TAT is still within
-- that second leaves the expiry as it is, so a key met several times a
-- second gets one new expiry a second (SET ... PX also rewrites the
-- expiry table: a call of 16 keys that exist costs Redis about a fifth
-- more instructions with it than with SET ... KEEPTTL).  Where the new
-- value is as long as the old one (nearly always: "tat" has 16 digits),
-- SETRANGE key 0 value writes it in place and keeps the expiry as KEEPTTL
-- does, without SET's options to parse, its "OK" made into a Lua table
-- or a new string object: 13% fewer instructions in Redis a decision
-- (callgrind, 16 keys a call, each key met about 10 times a second), with
-- floor(a / b) where a < 2^52 instead of div().  A number passed to
-- redis.call() is printed with '%.17g' (above): the offset is the string
-- '0'.

-- astro GCRA: KEYS[1..n]; ARGV: (run, count, period, burst)...[, now]
if redis.replicate_commands then redis.replicate_commands() end
local floor, tonumber = math.floor, tonumber
local fmt, match, call = string.format, string.match, redis.call
local kt = redis.REDIS_VERSION_NUM
local function div(a, b)
  local q = floor(a / b)
  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
  return q
end
local function int(v, min)
  local n = tonumber(v)
  if not n or n < min or n ~= floor(n) or n >= 2^52 then
    error({err = 'ERR astro: bad argument ' .. tostring(v)})
  end
  return n
end
local function clock(arg)
  if arg and arg ~= '' then return int(arg, 0) end
  local t = call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local keys, argv, n = KEYS, ARGV, #KEYS
local a, i = 1, 0
while i < n do
  i = i + int(argv[a], 1)
  for b = a + 1, a + 3 do int(argv[b], b == a + 3 and 0 or 1) end
  a = a + 1 + 3
end
if i ~= n then
  error({err = 'ERR astro: runs of ' .. i .. ' keys for ' .. n})
end
local now = clock(argv[a])
local vals, set, out, o = call('MGET', unpack(keys)), {}, {}, 0
a, i = 1, 1
local nms = div(now, 1000)
while i <= n do
local last = i + tonumber(argv[a]) - 1
local count, p = tonumber(argv[a + 1]), tonumber(argv[a + 2]) * 1000000
local tq = div(p, count)
local tr, bp = p - tq * count, tonumber(argv[a + 3]) * p
local bq = div(bp, count)
local br = bp - bq * count
a = a + 4
for j = i, last do
local k, tat, rem, keep = keys[j], 0, 0, 0
local v = set[k] or vals[j]
local old = v
if v then
  tat = tonumber(v)
  if not tat then
    tat = 0
    local x, y = match(v, '^(%d+) (%d+)$')
    if x then tat = tonumber(x); rem = tonumber(y) end
  end
  if tat ~= floor(tat) or tat < 0 or tat >= 2^52 or rem >= 2^52 then tat = 0; rem = 0 end
  keep = tat + (rem > 0 and 1000000 or 999999)
  if keep < 2^52 then keep = floor(keep / 1000000) else keep = div(keep, 1000000) end
end
if rem >= count then
  local q = div(rem, count)
  tat = tat + q; rem = rem - q * count
end
if tat < now then tat = now; rem = 0 end
local du, allowed = tat - now, 0
if du < bq or (du == bq and rem <= br) then
  tat = tat + tq; rem = rem + tr
  if rem >= count then rem = rem - count; tat = tat + 1 end
  du = tat - now
  allowed = 1
  if rem == 0 then v = fmt('%d', tat)
  else v = fmt('%d %d', tat, rem) end
  local s = tat + (rem > 0 and 1000000 or 999999)
  if s < 2^52 then s = floor(s / 1000000) else s = div(s, 1000000) end
  if s <= keep and kt then
    if old and #old == #v then call('SETRANGE', k, '0', v)
    else call('SET', k, v, 'KEEPTTL') end
  else call('SET', k, v, 'PX', fmt('%d', s * 1000 - nms)) end
  set[k] = v
end
out[o + 1] = du; out[o + 2] = rem * 2 + allowed
o = o + 2
end
i = last + 1
end
return out
