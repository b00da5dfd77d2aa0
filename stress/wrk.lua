-- stress/wrk.lua: the load of the stress run, for both fronts alike.
--
-- Each request goes to one of the locations below, by weight, as one of
-- STRESS_USERS users (a signed token from the file STRESS_TOKENS, one a
-- line, made by stress/jwt.pl), or anonymous (no token: the lowest tier,
-- limited by address) for STRESS_ANON percent of them. /content/,
-- /cached/ and /users/ spread over many URIs (cache keys, shard keys).

local paths = {
    { "/api/",      30 },
    { "/cached/",   10 },
    { "/limited/",  20 },
    { "/local/",    15 },
    { "/slow/",      5 },
    { "/content/",  10 },
    { "/users/",    10 },
}

local tokens = {}
local anon = 5
local total = 0

function init(args)
    -- a seed of its own for each thread
    local addr = tonumber(tostring({}):match("0x(%x+)") or "0", 16) or 0
    math.randomseed(os.time() + addr % 1000003)

    anon = tonumber(os.getenv("STRESS_ANON") or "5")

    local file = os.getenv("STRESS_TOKENS")
    if file then
        for line in io.lines(file) do
            if #line > 0 then
                tokens[#tokens + 1] = "Bearer " .. line
            end
        end
    end

    for _, p in ipairs(paths) do
        total = total + p[2]
    end
end

function request()
    local r = math.random(total)
    local path = paths[#paths][1]

    for _, p in ipairs(paths) do
        if r <= p[2] then
            path = p[1]
            break
        end
        r = r - p[2]
    end

    local headers = {}

    if #tokens > 0 and math.random(100) > anon then
        headers["Authorization"] = tokens[math.random(#tokens)]
    end

    return wrk.format("GET", path .. math.random(200), headers)
end
