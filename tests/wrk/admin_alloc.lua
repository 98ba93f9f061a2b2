-- admin_alloc.lua - wrk script of tests/bench_admin.sh: POST /v1/lists/LIST/allocations
-- with {"count": COUNT} and a unique Idempotency-Key per request (thread number, a run
-- tag and a counter), so every request allocates. Environment: TSL_KEY (the API key),
-- TSL_LIST, TSL_COUNT, TSL_RUN (a tag unique to the run).
local key = os.getenv("TSL_KEY")
local list = os.getenv("TSL_LIST") or "B"
local count = os.getenv("TSL_COUNT") or "1"
local run = os.getenv("TSL_RUN") or tostring(os.time())
local threads = {}
local n = 0

function setup(thread)
    n = n + 1
    thread:set("tid", n)
    table.insert(threads, thread)
end

function init(args)
    seq = 0
    path = "/v1/lists/" .. list .. "/allocations"
    body = '{"count":' .. count .. '}'
    hdr = {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}
end

function request()
    seq = seq + 1
    hdr["Idempotency-Key"] = run .. "-" .. tid .. "-" .. seq
    return wrk.format("POST", path, hdr, body)
end

function response(status, headers, body)
    if status ~= 201 then
        bad = (bad or 0) + 1
    end
end

function done(summary, latency, requests)
    local b = 0
    for _, t in ipairs(threads) do
        b = b + (t:get("bad") or 0)
    end
    io.stderr:write(string.format("admin_alloc: %d answers other than 201\n", b))
end
