-- The cache module's key invalidations, published to the nodes
-- (src/ngx_astro_cache_redis.c).  The module embeds the lines after the
-- first empty one (src/lua/embed.sh); this comment is not sent to Redis.
--
-- KEYS: channels "astro:cache:<zone>"...; ARGV: (run, message)..., runs
-- as the Redis client sends them (ngx_astro_redis.h).  Each message is
-- published on its channel; the reply: for each, the number of
-- subscribers that got it.
--
--   redis-cli --eval src/lua/cache_publish.lua astro:cache:z , 1 'k h /a'

local call, tonumber = redis.call, tonumber
local out, k, a, n = {}, 0, 1, #KEYS
while k < n do
  local run = tonumber(ARGV[a])
  if not run or run < 1 or k + run > n or ARGV[a + 1] == nil then
    error({err = 'ERR astro: bad run ' .. tostring(ARGV[a])})
  end
  for j = k + 1, k + run do
    out[j] = call('PUBLISH', KEYS[j], ARGV[a + 1])
  end
  a = a + 2
  k = k + run
end
return out
