-- The health zone's fleet view (src/ngx_astro_health_fleet.c): a node's
-- sample appended to its stream, then every node's latest samples read,
-- in one call an interval.  The module embeds the lines after the first
-- empty one (src/lua/embed.sh); this comment is not sent to Redis.
--
-- KEYS[1]: "astro:health:<zone>:nodes", the registry, a sorted set of
-- the nodes by the time (Redis's, ms) of their last sample; a node's
-- stream is "astro:health:<zone>:node:<node>".  ARGV: the run ("1", as
-- the Redis client sends it, ngx_astro_redis.h), the node, the sample as
-- "field value ..." ("" for none), and "maxlen count keep max": the
-- stream's MAXLEN ~, the samples read a node, how long (ms) a silent
-- node and its stream are kept, the most nodes read.  The reply: {{now,
-- {node, seen, {field, value, ...}...}...}}, the nodes last seen first,
-- their samples newest first.  Entries not written by a node (anyone may
-- write to Redis) are left out: a score ahead of Redis's time (dropped),
-- a stream entry of more than 16 fields.
--
--   redis-cli --eval src/lua/health_fleet.lua astro:health:h:nodes , \
--       1 a 'time 1 status healthy cpu 5' '3600 60 3600000 32'

local call, tonumber = redis.call, tonumber
local reg, node, sample = KEYS[1], ARGV[2], ARGV[3]
local maxlen, count, keep, max = string.match(ARGV[4] or '',
  '^(%d+) (%d+) (%d+) (%d+)$')
if not max or node == '' then
  error({err = 'ERR astro: bad arguments'})
end
local prefix = string.sub(reg, 1, -6) .. 'node:'
local t = call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if sample ~= '' then
  local stream = prefix .. node
  local args = {'XADD', stream, 'MAXLEN', '~', maxlen, '*'}
  for w in string.gmatch(sample, '%S+') do args[#args + 1] = w end
  call(unpack(args))
  call('PEXPIRE', stream, keep)
  call('ZADD', reg, now, node)
end
call('ZREMRANGEBYSCORE', reg, '-inf', '(' .. (now - tonumber(keep)))
-- every score is this Redis's time: one ahead of it was not written here
-- (or the clock stepped back: its node writes its own again next time)
call('ZREMRANGEBYSCORE', reg, '(' .. (now + 1000), '+inf')
call('PEXPIRE', reg, keep)
local out = {now}
local nodes = call('ZREVRANGE', reg, 0, tonumber(max) - 1, 'WITHSCORES')
for i = 1, #nodes, 2 do
  local n = {nodes[i], tonumber(nodes[i + 1])}
  -- a key that is not a stream (anyone may write it) fails this node only
  local e = redis.pcall('XREVRANGE', prefix .. nodes[i], '+', '-',
                        'COUNT', count)
  if e.err then e = {} end
  -- a sample has 10 fields: an entry of many more was not written here
  for j = 1, #e do
    if #e[j][2] <= 32 then n[#n + 1] = e[j][2] end
  end
  out[#out + 1] = n
end
return {out}
