-- wrk script: POST /api/v1/sensor-data, one unique reading per request (see common.lua; with
-- BENCH_KEYS_FILE: as the registered devices in turn, each with its x-api-key).
--   wrk -t1 -c64 -d10s --latency -s bench/http/single.lua http://127.0.0.1:3000
-- Run from the repository root, or set BENCH_LUA_DIR to this directory.
package.path = (os.getenv("BENCH_LUA_DIR") or "bench/http") .. "/?.lua;" .. package.path
local common = require("common")

local PATH = "/api/v1/sensor-data"
local HEADERS = { ["Content-Type"] = "application/json" }

setup = common.setup
if common.count_status then response = common.response end

function request()
  if common.keyed then
    local d = common.next_device()
    return wrk.format("POST", PATH, common.headers_of(d, HEADERS), common.reading_of(d))
  end
  return wrk.format("POST", PATH, HEADERS, common.reading())
end

function done(summary, latency, requests)
  common.done(summary, latency, 1)
end
