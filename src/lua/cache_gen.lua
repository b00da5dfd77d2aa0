-- The cache module's generations of classes, shared by the nodes
-- (src/ngx_astro_cache_redis.c).  The module embeds the lines after the
-- first empty one (src/lua/embed.sh); this comment is not sent to Redis.
--
-- KEYS: "astro:cache:<zone>:gen:<class>"...; ARGV: (run, bump, gen)...,
-- runs as the Redis client sends them (ngx_astro_redis.h): run keys in a
-- row with the same bump and gen.  A key's value becomes the highest of
-- it and gen (bump 0: a node's poll), or of it + 1 and gen (bump 1: an
-- invalidation, after which every node is past every generation it had).
-- A new value is published on "astro:cache:<zone>" as "c <class> <gen>",
-- so that the nodes hear at once what one of them kept while Redis was
-- away.  The reply: each key's value, after.
--
--   redis-cli --eval src/lua/cache_gen.lua astro:cache:z:gen:api , 1 1 7

local call, fmt, match, tonumber = redis.call, string.format, string.match,
  tonumber
local out, k, a, n = {}, 0, 1, #KEYS
local function int(v)
  local x = tonumber(v)
  if not x or x < 0 or x ~= math.floor(x) or x >= 2^53 then
    error({err = 'ERR astro: bad argument ' .. tostring(v)})
  end
  return x
end
while k < n do
  local run, bump, gen = int(ARGV[a]), int(ARGV[a + 1]), int(ARGV[a + 2])
  if run < 1 or k + run > n then
    error({err = 'ERR astro: bad run ' .. tostring(ARGV[a])})
  end
  a = a + 3
  for j = k + 1, k + run do
    local key = KEYS[j]
    local cur = tonumber(call('GET', key)) or 0
    local new = cur + bump
    if gen > new then new = gen end
    if new ~= cur then
      local v = fmt('%d', new)
      call('SET', key, v)
      local chan, class = match(key, '^(.-):gen:(.+)$')
      if chan then call('PUBLISH', chan, 'c ' .. class .. ' ' .. v) end
    end
    out[j] = new
  end
  k = k + run
end
return out
