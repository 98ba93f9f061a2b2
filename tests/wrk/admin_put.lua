-- admin_put.lua - wrk script of tests/bench_admin.sh: PUT /v1/lists/LIST/statuses/IDX
-- with {"status":1} at pseudo-random indices below TSL_SIZE (one change each; an entry
-- already INVALID is no refusal: INVALID to INVALID changes nothing). Environment:
-- TSL_KEY, TSL_LIST, TSL_SIZE.
local key = os.getenv("TSL_KEY")
local list = os.getenv("TSL_LIST") or "B"
local size = tonumber(os.getenv("TSL_SIZE") or "1000000")
local threads = {}
local n = 0

function setup(thread)
    n = n + 1
    thread:set("tid", n)
    table.insert(threads, thread)
end

function init(args)
    math.randomseed(tid * 7919)
    prefix = "/v1/lists/" .. list .. "/statuses/"
    hdr = {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}
end

function request()
    return wrk.format("PUT", prefix .. math.random(0, size - 1), hdr, '{"status":1}')
end

function response(status, headers, body)
    if status ~= 200 then
        bad = (bad or 0) + 1
    end
end

function done(summary, latency, requests)
    local b = 0
    for _, t in ipairs(threads) do
        b = b + (t:get("bad") or 0)
    end
    io.stderr:write(string.format("admin_put: %d answers other than 200\n", b))
end
