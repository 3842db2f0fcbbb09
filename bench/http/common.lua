-- Shared by single.lua and batch.lua (wrk 4.x, LuaJIT). Loaded once per Lua state: the main
-- state (setup/done) and each thread's state (init/request).
--
-- Unique readings: every reading consumes one value n of a per-thread counter. With D devices
-- (BENCH_DEVICES, default 1000):
--   device_id = "<run>-t<thread>-d<n mod D>"       (thread id handed out by setup())
--   timestamp = BENCH_BASE_MS - floor(n / D) ms     (always in the past, never in the future)
-- so (device_id, timestamp) never repeats within a run, and BENCH_RUN_ID keeps runs apart.
-- Environment: BENCH_RUN_ID (alphanumeric), BENCH_BASE_MS (epoch ms, should be a little in the
-- past), BENCH_DEVICES, BENCH_COUNT_STATUS=1 (count answers per status code; adds client cost),
-- BENCH_SEQ=1 (each reading carries "seq": its device's reading count, monotonic per device).
--
-- Registered devices (AUTH_MODE=api-key): BENCH_KEYS_FILE names a file of "<device_id> <api key>"
-- lines (one per device). The scripts then send as those devices only, each request with its
-- device's key in x-api-key (M.keyed, M.next_device, M.reading_of, M.headers_of): requests take
-- the devices in turn, a batch carries readings of its one device only, and every device counts
-- its own timestamps down 1 ms per reading from BENCH_BASE_MS. The ids are fixed, so two runs
-- against the same server need BENCH_BASE_MS ranges that do not overlap (bench/variants gives the
-- warm-up a base an hour earlier). With wrk -t<T> > 1 set BENCH_THREADS=T: thread t then takes
-- every T-th device, so no two threads share one.
local M = {}

local run_id = os.getenv("BENCH_RUN_ID") or ("r" .. tostring(os.time()))
local base_ms = tonumber(os.getenv("BENCH_BASE_MS") or "") or (os.time() - 5) * 1000
local devices = tonumber(os.getenv("BENCH_DEVICES") or "") or 1000
M.count_status = os.getenv("BENCH_COUNT_STATUS") == "1"
local with_seq = os.getenv("BENCH_SEQ") == "1"

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

local BODY = '"timestamp":"%s.%03dZ","sensors":{"ld2410":{"presence":%s,"distance":%d,"energy":%d},' ..
             '"pir":{"motion_detected":%s},"mq134":{"gas_concentration":%d,"unit":"ppm"}}}'
local SEQ = with_seq and '"seq":%d,' or '%.0s' -- %.0s: the seq argument, printed as nothing
local BY_NUMBER = '{"device_id":"%s%d",' .. SEQ .. BODY -- prefix .. device number
local BY_ID = '{"device_id":"%s",' .. SEQ .. BODY       -- a registered device id

-- "YYYY-MM-DDTHH:MM:SS" of epoch ms (cached per second), and the second
local function iso_sec(ms)
  local sec = floor(ms / 1000)
  if sec ~= cached_sec then
    cached_sec = sec
    cached_iso = os.date("!%Y-%m-%dT%H:%M:%S", sec)
  end
  return cached_iso, sec
end

-- The next unique reading, as a JSON object string.
function M.reading()
  local i = n
  n = n + 1
  local dev = i % devices
  local k = floor(i / devices)
  local ms = base_ms - k
  local iso, sec = iso_sec(ms)
  return fmt(BY_NUMBER, prefix(), dev, with_seq and k or "", iso, ms - sec * 1000,
    (i % 2 == 0) and "true" or "false", i % 601, i % 101,
    (i % 3 == 0) and "true" or "false", i % 1000)
end

-- ------------------------------------------------------- registered devices (BENCH_KEYS_FILE)
local keys_file = os.getenv("BENCH_KEYS_FILE")
M.keyed = keys_file ~= nil and keys_file ~= ""
local key_ids, key_keys = {}, {}
if M.keyed then
  local f = io.open(keys_file, "r")
  if not f then error("BENCH_KEYS_FILE " .. keys_file .. " cannot be opened") end
  for line in f:lines() do
    local id, key = line:match("^(%S+)%s+(%S+)%s*$")
    if id then
      key_ids[#key_ids + 1] = id
      key_keys[#key_keys + 1] = key
    end
  end
  f:close()
  if #key_ids == 0 then error("BENCH_KEYS_FILE " .. keys_file .. ' has no "<device_id> <key>" lines') end
end
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "") or 1
local mine = nil        -- indexes into key_ids of this thread's devices
local turn = 0
local dev_n = {}        -- readings sent per device
local dev_headers = {}  -- per device: its request headers

-- The index of the next device of this thread, in turn.
function M.next_device()
  if not mine then
    mine = {}
    local t = ((bench_tid or 1) - 1) % nthreads
    for j = 1, #key_ids do
      if (j - 1) % nthreads == t then mine[#mine + 1] = j end
    end
    if #mine == 0 then error("BENCH_KEYS_FILE has fewer devices than BENCH_THREADS") end
  end
  turn = turn % #mine + 1
  return mine[turn]
end

-- The next unique reading of device j, as a JSON object string.
function M.reading_of(j)
  local k = dev_n[j] or 0
  dev_n[j] = k + 1
  local i = n
  n = n + 1
  local ms = base_ms - k
  local iso, sec = iso_sec(ms)
  return fmt(BY_ID, key_ids[j], with_seq and k or "", iso, ms - sec * 1000,
    (i % 2 == 0) and "true" or "false", i % 601, i % 101,
    (i % 3 == 0) and "true" or "false", i % 1000)
end

-- `base` (a headers table) plus device j's x-api-key, built once per device.
function M.headers_of(j, base)
  local h = dev_headers[j]
  if not h then
    h = { ["x-api-key"] = key_keys[j] }
    for name, value in pairs(base) do h[name] = value end
    dev_headers[j] = h
  end
  return h
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
