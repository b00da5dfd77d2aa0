-- bench/run.sh's wrk script for the cache scenario's miss part: every
-- request is for a URI never asked before, the URL's path with
-- "?m=RUN-THREAD-N" (N counting up), so that each one misses the cache,
-- goes to the origin and is stored. RUN is new for each wrk run (its
-- start time and a random number), THREAD the thread's number (setup),
-- so that no two runs or threads share a URI. The baseline gets the same
-- script, so that both sides are measured with the same load generator.

local threads = 0

setup = function(thread)
  threads = threads + 1
  thread:set("id", threads)
end

local prefix
local n = 0

init = function(args)
  math.randomseed(os.time() + (id or 0))
  prefix = wrk.path .. "?m=" .. os.time() .. "." .. math.random(1000000000)
           .. "-" .. (id or 0) .. "-"
end

request = function()
  n = n + 1
  return wrk.format("GET", prefix .. n)
end
