-- bench/run.sh's wrk script for the redis scenario: each request is for
-- the URL's path with "?u=N", N one of BENCH_USERS (10,000) user ids at
-- random, so that the rate limiter's key ($arg_u) is spread over that many
-- users. The requests are formatted once, in init; request() only picks
-- one. The first script argument is the number of users.
--
-- wrk calls request() for every request when a script defines it, which
-- costs wrk some CPU: run.sh gives the baseline the same script, so both
-- sides are measured with the same load generator.

local reqs = {}
local n = 10000

init = function(args)
  n = tonumber(args[1]) or n
  for i = 1, n do
    reqs[i] = wrk.format("GET", wrk.path .. "?u=" .. i)
  end
  math.randomseed(os.time())
end

request = function()
  return reqs[math.random(n)]
end
