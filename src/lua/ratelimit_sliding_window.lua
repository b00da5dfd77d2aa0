-- The rate limiter's sliding-window script: ngx_astro_ratelimit_lua.h
-- says what it takes and answers.  The module embeds the lines after the
-- first empty one (the build generates a header from them:
-- src/lua/embed.sh); this comment is not sent to Redis.
--
-- By hand, two keys at 100 requests a minute, on Redis's clock; the
-- reply is now, then cur * 2 + allowed, prev for each key:
--
--   redis-cli --eval src/lua/ratelimit_sliding_window.lua k1 k2 , 2 100 60
--
-- The prelude (div, int, clock) and the runs of arguments are those of
-- ratelimit_gcra.lua, whose comment says why they are written so; each
-- file is whole, so that it runs by hand as it is.
--
-- The sliding-window counter, as ngx_astro_limit_sliding(): W in us,
-- windows aligned to the epoch, e the time into the current one; the
-- key lives until the end of the window after its own, which a decision
-- in the key's own window leaves as it is (KEEPTTL; SETRANGE key 0 value
-- where the new value is as long as the old one, as ratelimit_gcra.lua
-- says).  The worker computes
-- remaining, retry and reset from the reply
-- (ngx_astro_limit_sliding_result()).

-- astro sliding window: KEYS[1..n]; ARGV: (run, count, period)...[, now]
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
  for b = a + 1, a + 2 do int(argv[b], b == a + 3 and 0 or 1) end
  a = a + 1 + 2
end
if i ~= n then
  error({err = 'ERR astro: runs of ' .. i .. ' keys for ' .. n})
end
local now = clock(argv[a])
local vals, set, out, o = call('MGET', unpack(keys)), {}, {}, 0
a, i = 1, 1
out[1] = now; o = 1
while i <= n do
local last = i + tonumber(argv[a]) - 1
local limit, w = tonumber(argv[a + 1]), tonumber(argv[a + 2]) * 1000000
local win = div(now, w)
local e = now - win * w
a = a + 3
for j = i, last do
local k, sw, cur, prev = keys[j], 0, 0, 0
local v = set[k] or vals[j]
local old = v
if v then
  local x, y, z = match(v, '^(%d+) (%d+) (%d+)$')
  if x then sw = tonumber(x); cur = tonumber(y); prev = tonumber(z) end
  if sw >= 2^52 or cur >= 2^32 or prev >= 2^32 then sw = 0; cur = 0; prev = 0 end
end
if sw > win + 1 then sw = 0 end
if sw >= win then
elseif sw + 1 == win then prev = cur; cur = 0
else prev = 0; cur = 0 end
local allowed = 0
if div(prev * (w - e) + w - 1, w) + cur + 1 <= limit then
  cur = cur + 1
  allowed = 1
  local keep = sw >= win and kt
  if sw < win then sw = win end
  v = fmt('%d %d %d', sw, cur, prev)
  if keep then
    if old and #old == #v then call('SETRANGE', k, '0', v)
    else call('SET', k, v, 'KEEPTTL') end
  else call('SET', k, v, 'PX', fmt('%d', div((sw + 2) * w - now + 999, 1000))) end
  set[k] = v
end
out[o + 1] = cur * 2 + allowed; out[o + 2] = prev
o = o + 2
end
i = last + 1
end
return out
