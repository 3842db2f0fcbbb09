-- wrk script: POST /api/v1/sensor-data/batch, BENCH_BATCH_SIZE (default 100) unique readings
-- per request (see common.lua; with BENCH_KEYS_FILE: all of one registered device, the devices in
-- turn, each request with its device's x-api-key).
--   wrk -t1 -c16 -d10s --latency -s bench/http/batch.lua http://127.0.0.1:3000
-- Run from the repository root, or set BENCH_LUA_DIR to this directory.
package.path = (os.getenv("BENCH_LUA_DIR") or "bench/http") .. "/?.lua;" .. package.path
local common = require("common")

local PATH = "/api/v1/sensor-data/batch"
local HEADERS = { ["Content-Type"] = "application/json" }
local SIZE = tonumber(os.getenv("BENCH_BATCH_SIZE") or "") or 100

setup = common.setup
if common.count_status then response = common.response end

local parts = {}
function request()
  if common.keyed then
    -- one device per request: the key authorizes that device's readings only
    local d = common.next_device()
    for i = 1, SIZE do parts[i] = common.reading_of(d) end
    return wrk.format("POST", PATH, common.headers_of(d, HEADERS), "[" .. table.concat(parts, ",", 1, SIZE) .. "]")
  end
  for i = 1, SIZE do parts[i] = common.reading() end
  return wrk.format("POST", PATH, HEADERS, "[" .. table.concat(parts, ",", 1, SIZE) .. "]")
end

function done(summary, latency, requests)
  common.done(summary, latency, SIZE)
end
