-- Shared by single.lua and batch.lua (wrk 4.x, LuaJIT). Loaded once per Lua state: the main
-- state (setup/done) and each thread's state (init/request).
--
-- Unique readings: every reading consumes one value n of a per-thread counter. With D devices
-- (BENCH_DEVICES, default 1000):
--   device_id = "<run>-t<thread>-d<n mod D>"       (thread id handed out by setup())
--   timestamp = BENCH_BASE_MS - floor(n / D) ms     (always in the past, never in the future)
-- so (device_id, timestamp) never repeats within a run, and BENCH_RUN_ID keeps runs apart.
-- Environment: BENCH_RUN_ID (alphanumeric), BENCH_BASE_MS (epoch ms, should be a little in the
-- past), BENCH_DEVICES, BENCH_COUNT_STATUS=1 (count answers per status code; adds client cost).
local M = {}

local run_id = os.getenv("BENCH_RUN_ID") or ("r" .. tostring(os.time()))
local base_ms = tonumber(os.getenv("BENCH_BASE_MS") or "") or (os.time() - 5) * 1000
local devices = tonumber(os.getenv("BENCH_DEVICES") or "") or 1000
M.count_status = os.getenv("BENCH_COUNT_STATUS") == "1"

local floor, fmt = math.floor, string.format

-- ---------------------------------------------------------------- main state: setup/done
local threads = {}
local next_tid = 0

function M.setup(thread)
  next_tid = next_tid + 1
  thread:set("bench_tid", next_tid)
  threads[#threads + 1] = thread
end

local function json_statuses()
  local merged, first_bad = {}, nil
  for _, t in ipairs(threads) do
    local s = t:get("bench_statuses")
    if type(s) == "table" then
      for code, count in pairs(s) do merged[code] = (merged[code] or 0) + count end
    end
    local b = t:get("bench_first_bad")
    if b and not first_bad then first_bad = b end
  end
  local parts = {}
  for code, count in pairs(merged) do parts[#parts + 1] = fmt('"%d":%d', code, count) end
  local bad = "null"
  if first_bad then
    bad = '"' .. first_bad:gsub('[%c"\\]', function(c)
      if c == '"' then return '\\"' elseif c == "\\" then return "\\\\" end
      return fmt("\\u%04x", c:byte())
    end) .. '"'
  end
  return "{" .. table.concat(parts, ",") .. "}", bad
end

-- One machine-readable line for bench/http/run.mjs (wrk's text output is parsed too, as a check).
function M.done(summary, latency, readings_per_request)
  local e = summary.errors
  local statuses, first_bad = json_statuses()
  io.write(fmt(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},' ..
    '"readings_per_request":%d,"statuses":%s,"first_bad":%s}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    readings_per_request, statuses, first_bad))
end

-- ---------------------------------------------------------------- thread state: readings
local n = 0
local dev_prefix = nil
local cached_sec, cached_iso = -1, ""

local function prefix()
  if not dev_prefix then dev_prefix = run_id .. "-t" .. tostring(bench_tid or 1) .. "-d" end
  return dev_prefix
end

-- The next unique reading, as a JSON object string.
function M.reading()
  local i = n
  n = n + 1
  local dev = i % devices
  local k = floor(i / devices)
  local ms = base_ms - k
  local sec = floor(ms / 1000)
  if sec ~= cached_sec then
    cached_sec = sec
    cached_iso = os.date("!%Y-%m-%dT%H:%M:%S", sec)
  end
  return fmt('{"device_id":"%s%d","timestamp":"%s.%03dZ","sensors":{"ld2410":{"presence":%s,"distance":%d,"energy":%d},' ..
             '"pir":{"motion_detected":%s},"mq134":{"gas_concentration":%d,"unit":"ppm"}}}',
    prefix(), dev, cached_iso, ms - sec * 1000,
    (i % 2 == 0) and "true" or "false", i % 601, i % 101,
    (i % 3 == 0) and "true" or "false", i % 1000)
end

-- Optional status accounting (wrk only parses bodies when response() is defined, so it is
-- installed only with BENCH_COUNT_STATUS=1).
function M.response(status, _headers, body)
  bench_statuses = bench_statuses or {}
  bench_statuses[status] = (bench_statuses[status] or 0) + 1
  if (status < 200 or status > 299) and not bench_first_bad then
    bench_first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 300)
  end
end

return M
