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
-- on reload) and starts afresh.
--
-- Redis's cost is per key pushed, so the script spends little a key
-- (bench/script-cost.sh measures it).  The arguments are all checked
-- before anything is written, and parsed once: a decimal string's number
-- is kept for the call (num), as are a spec's fields (seen, sp): a
-- batch's keys share few windows, counts and specs.  A digit string is
-- read with s + 0 (tonumber() runs strtod twice, once to check); a number
-- is written with string.format('%d') (ratelimit_gcra.lua says why) once
-- a call (str), a value joined with .. from those.
--
-- The key's expiry is set by the first write of its window (or of a new
-- or unreadable state), 2 windows and a second on: the state weighs, as
-- prev, until the end of the window after its own, and the second is for
-- the nodes' clocks (a node up to a second ahead writes a window's first
-- that early).  A later write in that window keeps it: SETRANGE key 0
-- value where the value keeps its length (nearly always), else SET ...
-- KEEPTTL (Redis before 7 writes the expiry again, 2 windows and a second
-- on), as ratelimit_gcra.lua does; SET ... PX costs Redis most (Redis 7
-- also rewrites it as SET ... PXAT to propagate it).

-- astro hybrid: KEYS[1..n]; ARGV: (run, count, period, "win dcur dprev[ e]")...
if redis.replicate_commands then redis.replicate_commands() end
local floor, tonumber = math.floor, tonumber
local fmt, match, call = string.format, string.match, redis.call
local kt = redis.REDIS_VERSION_NUM
local num, str = {}, {}
local function div(a, b)
  local q = floor(a / b)
  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
  return q
end
local function bad(v)
  error({err = 'ERR astro: bad argument ' .. tostring(v)})
end
local function int(v)
  local x = tonumber(v)
  if not x or x ~= floor(x) or x >= 2^52 then bad(v) end
  num[v] = x
  return x
end
local function digits(v)
  local x = v + 0
  num[v] = x
  return x
end
local function dec(x)
  local v = fmt('%d', x)
  str[x] = v
  return v
end
local keys, argv, n = KEYS, ARGV, #KEYS
local sp, seen, r, a, i = {}, {}, 0, 1, 0
local w, py, pz = 0, false, false
while i < n do
  local x, y, z, spec = argv[a], argv[a + 1], argv[a + 2], argv[a + 3]
  local run = num[x] or int(x)
  if run < 1 then bad(x) end
  if y ~= py or z ~= pz then
    if (num[y] or int(y)) < 1 then bad(y) end
    w = num[z] or int(z)
    if w < 1 then bad(z) end
    w = w * 1000000; py = y; pz = z
  end
  local q = seen[spec]
  if not q then
    local x, y, z, s = match(spec or '', '^(%d+) (%d+) (%d+) ?(%d*)$')
    if not x then bad(spec) end
    local dw, dc, dp, e = num[x] or digits(x), num[y] or digits(y),
                          num[z] or digits(z), -1
    if dw >= 2^52 then bad(x) elseif dc >= 2^52 then bad(y)
    elseif dp >= 2^52 then bad(z) end
    if s ~= '' then
      e = num[s] or digits(s)
      if e >= 2^52 then bad(s) end
    end
    sp[r + 1] = dw; sp[r + 2] = dc; sp[r + 3] = dp; sp[r + 4] = e
    q = r; seen[spec] = r
    r = r + 4
  end
  if sp[q + 4] >= w then bad(match(spec, '%d+$')) end
  i = i + run
  a = a + 4
end
if i ~= n then
  error({err = 'ERR astro: runs of ' .. i .. ' keys for ' .. n})
end
local vals, set, out, o = call('MGET', unpack(keys)), {}, {}, 0
a, i = 1, 1
while i <= n do
local last, limit = i + num[argv[a]] - 1, num[argv[a + 1]]
local w, q = num[argv[a + 2]] * 1000000, seen[argv[a + 3]]
local dw, dc, dp, e0 = sp[q + 1], sp[q + 2], sp[q + 3], sp[q + 4]
local px
a = a + 4
for j = i, last do
local k, sw, cur, prev, ow = keys[j], 0, 0, 0, -1
local v = set[k] or vals[j]
if v then
  local x, y, z = match(v, '^(%d+) (%d+) (%d+)$')
  if x then
    sw = num[x] or digits(x); cur = num[y] or digits(y)
    prev = num[z] or digits(z)
    if sw >= 2^52 or cur >= 2^32 or prev >= 2^32 then
      sw = 0; cur = 0; prev = 0
    else ow = sw end
  end
end
if sw > 2 * dw + 1 then sw = 0; cur = 0; prev = 0 end
if sw < dw then
  if sw + 1 == dw then prev = cur else prev = 0 end
  cur = 0; sw = dw
end
if sw == dw then cur = cur + dc; prev = prev + dp
elseif sw == dw + 1 then prev = prev + dc end
local allowed, e = 0, e0
if e >= 0 then
  if sw > dw then e = 0 end
  if div(prev * (w - e) + w - 1, w) + cur + 1 <= limit then
    cur = cur + 1
    allowed = 1
  end
end
if dc + dp + allowed > 0 then
  local s = (str[sw] or dec(sw)) .. ' ' .. (str[cur] or dec(cur)) .. ' '
            .. (str[prev] or dec(prev))
  if sw == ow and #s == #v then call('SETRANGE', k, '0', s)
  elseif sw == ow and kt then call('SET', k, s, 'KEEPTTL')
  else
    px = px or dec(div(2 * w, 1000) + 1000)
    call('SET', k, s, 'PX', px)
  end
  set[k] = s
end
out[o + 1] = sw; out[o + 2] = cur * 2 + allowed; out[o + 3] = prev
o = o + 3
end
i = last + 1
end
return out
