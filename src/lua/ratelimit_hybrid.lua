-- The hybrid backend's script (backend=hybrid): ngx_astro_ratelimit_lua.h
-- says what it takes and answers.  The module embeds the lines after the
-- first empty one (src/lua/embed.sh); this comment is not sent to Redis.
--
-- A node decides locally and pushes, every sync period, what it counted
-- since its last push (its delta) to the key's sliding-window state, the
-- one ratelimit_sliding_window.lua keeps ("window cur prev"); the reply
-- is the state after the push, every node's counts, so one call pushes
-- and pulls.  Near its limit a key's requests are decided here, exactly,
-- with the node's delta added first.
--
-- By hand, a delta of 3 in window 28000000 and 1 in the one before, and
-- a decision 20 s into that window, at 100 requests a minute:
--
--   redis-cli --eval src/lua/ratelimit_hybrid.lua k1 k2 , \
--       1 100 60 '28000000 3 1' 1 100 60 '28000000 3 1 20000000'
--
-- The windows are the node's (its clock, windows aligned to the epoch):
-- a delta of a window the key has left is added to its previous count
-- when it is the one just before, else dropped (a node's clock behind);
-- a key whose window is behind the delta's moves to it first; a window
-- index more than twice the delta's is another period's (the rate changed
-- on reload) and starts afresh.  The key lives 2 windows and a
-- second after its last write (a state one window old still weighs).

-- astro hybrid: KEYS[1..n]; ARGV: (run, count, period, "win dcur dprev[ e]")...
if redis.replicate_commands then redis.replicate_commands() end
local floor, tonumber = math.floor, tonumber
local fmt, match, call = string.format, string.match, redis.call
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
local pat = '^(%d+) (%d+) (%d+) ?(%d*)$'
local keys, argv, n = KEYS, ARGV, #KEYS
local a, i = 1, 0
while i < n do
  i = i + int(argv[a], 1)
  int(argv[a + 1], 1); int(argv[a + 2], 1)
  local x, y, z, e = match(argv[a + 3] or '', pat)
  if not x then
    error({err = 'ERR astro: bad argument ' .. tostring(argv[a + 3])})
  end
  int(x, 0); int(y, 0); int(z, 0)
  if e ~= '' and int(e, 0) >= int(argv[a + 2], 1) * 1000000 then
    error({err = 'ERR astro: bad argument ' .. e})
  end
  a = a + 4
end
if i ~= n then
  error({err = 'ERR astro: runs of ' .. i .. ' keys for ' .. n})
end
local vals, set, out, o = call('MGET', unpack(keys)), {}, {}, 0
a, i = 1, 1
while i <= n do
local last = i + tonumber(argv[a]) - 1
local limit, w = tonumber(argv[a + 1]), tonumber(argv[a + 2]) * 1000000
local x, y, z, e = match(argv[a + 3], pat)
local dw, dc, dp = tonumber(x), tonumber(y), tonumber(z)
e = tonumber(e)
a = a + 4
for j = i, last do
local k, sw, cur, prev = keys[j], 0, 0, 0
local v = set[k] or vals[j]
if v then
  local p, q, r = match(v, '^(%d+) (%d+) (%d+)$')
  if p then sw = tonumber(p); cur = tonumber(q); prev = tonumber(r) end
  if sw >= 2^52 or cur >= 2^32 or prev >= 2^32 then sw = 0; cur = 0; prev = 0 end
end
if sw > 2 * dw + 1 then sw = 0; cur = 0; prev = 0 end
if sw < dw then
  if sw + 1 == dw then prev = cur else prev = 0 end
  cur = 0; sw = dw
end
if sw == dw then cur = cur + dc; prev = prev + dp
elseif sw == dw + 1 then prev = prev + dc end
local allowed = 0
if e then
  if sw > dw then e = 0 end
  if div(prev * (w - e) + w - 1, w) + cur + 1 <= limit then
    cur = cur + 1
    allowed = 1
  end
end
if dc + dp + allowed > 0 then
  v = fmt('%d %d %d', sw, cur, prev)
  call('SET', k, v, 'PX', fmt('%d', div(2 * w, 1000) + 1000))
  set[k] = v
end
out[o + 1] = sw; out[o + 2] = cur * 2 + allowed; out[o + 3] = prev
o = o + 3
end
i = last + 1
end
return out
