/**
 * One Lua call per flush interval merges every device's delta into its hash (the same rules
 * as mergeDelta in ../fleet.ts) and keeps two sorted sets for the fleet queries: last seen
 * and last refused, per device. Per device: a ZADD GT, one HMGET of the fields it changes,
 * one HSET (plus a ZADD when it was refused): three or four calls whatever its reading count.
 *
 * A device's hash expires `device TTL` after its last fact, and the sorted sets drop the devices
 * not seen (not refused) within it, so device ids that stop coming (decommissioned devices, or
 * made-up ids in refused payloads) do not pile up.
 *
 * KEYS[1] `<prefix>:seen` (declared so that Redis Cluster routes the call to the shard's slot;
 * every key the script touches carries the prefix's hash tag), ARGV[1] key prefix, ARGV[2]
 * instance id, ARGV[3] instance key TTL ms, ARGV[4] JSON array of DeviceDelta, ARGV[5]
 * SEQ_RESTART_GAP, ARGV[6] device TTL ms, ARGV[7] now (ms).
 * @module
 */
export const FLEET_SCRIPT = `
local prefix, inst, ttl, gap, keep, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local D = cjson.decode(ARGV[4])
local function s(x) return string.format('%.0f', x) end
redis.call('SET', prefix .. ':instance:' .. inst, '1', 'PX', ttl)
redis.call('ZREMRANGEBYSCORE', prefix .. ':seen', '-inf', '(' .. s(now - tonumber(keep)))
redis.call('ZREMRANGEBYSCORE', prefix .. ':rejected', '-inf', '(' .. s(now - tonumber(keep)))
for _, d in ipairs(D) do
  local key = prefix .. ':d:' .. d.id
  local set = {}
  local function put(k, v) set[#set + 1] = k; set[#set + 1] = v end
  if d.seen > 0 and redis.call('ZADD', prefix .. ':seen', 'GT', 'CH', d.seen, d.id) == 1 then
    put('last_seen', s(d.seen)); put('last_transport', d.transport)
  end
  local names = {}
  for k, _ in pairs(d.counts) do names[#names + 1] = k end
  local base = #names
  local extra = { 'seq_first', 'seq_last', 'seq_recv', 'seq_exp_closed', 'seq_recv_closed', 'mqtt_instance', 'last_reject_at', 'unknown_at' }
  for i, k in ipairs(extra) do names[base + i] = k end
  local cur = redis.call('HMGET', key, unpack(names))
  for i = 1, base do put(names[i], s((tonumber(cur[i]) or 0) + d.counts[names[i]])) end
  if d.rejectReason and d.rejectedAt >= (tonumber(cur[base + 7]) or 0) then
    put('last_reject_reason', d.rejectReason); put('last_reject_at', s(d.rejectedAt))
    redis.call('ZADD', prefix .. ':rejected', 'GT', d.rejectedAt, d.id)
  end
  if d.unknownNames and d.unknownAt >= (tonumber(cur[base + 8]) or 0) then
    put('unknown_last', d.unknownNames); put('unknown_at', s(d.unknownAt))
  end
  if d.skewSamples > 0 then
    put('skew_ms', s(d.skew)); put('skew_at', s(d.seen))
  end
  local first, last, recv = tonumber(cur[base + 1]), tonumber(cur[base + 2]), tonumber(cur[base + 3]) or 0
  local expc, recc = tonumber(cur[base + 4]), tonumber(cur[base + 5])
  local function run(r)
    if first == nil then
      first, last, recv = r.min, r.max, r.n
    elseif r.max < last - gap then
      expc = (expc or 0) + (last - first + 1)
      recc = (recc or 0) + recv
      first, last, recv = r.min, r.max, r.n
    else
      first, last, recv = math.min(first, r.min), math.max(last, r.max), recv + r.n
    end
  end
  if d.prev then run(d.prev) end
  if d.seq then run(d.seq) end
  if d.prev or d.seq then
    put('seq_first', s(first)); put('seq_last', s(last)); put('seq_recv', s(recv))
    if expc then put('seq_exp_closed', s(expc)); put('seq_recv_closed', s(recc)) end
  end
  if d.mqttConnected == 1 then
    put('mqtt_instance', inst); put('mqtt_since', s(d.mqttSince))
  elseif d.mqttConnected == 0 and cur[base + 6] == inst then
    redis.call('HDEL', key, 'mqtt_instance', 'mqtt_since')
  end
  if #set > 0 then redis.call('HSET', key, unpack(set)) end
  redis.call('PEXPIRE', key, keep)
end
return #D
`;
