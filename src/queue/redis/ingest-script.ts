/**
 * One Lua script call per batch: for each entry, claim its dedupe key (SET NX PX) and, if
 * new, XADD it and PUBLISH it. Atomic per entry, so a key is never left claimed for a
 * reading that was not stored, and the whole batch is one command on the wire: measured
 * here, ~230k readings/s against ~100k/s for a pipeline of separate SET/XADD/PUBLISH
 * commands, where ioredis' per-command encoding is the bottleneck.
 *
 * KEYS[1] stream, KEYS[2] events channel
 * ARGV[1] dedupe window ms, ARGV[2] MAXLEN (0 = no trim), ARGV[3] "1" to publish,
 * then 4 per entry: dedupe key ('' = none), json, device_id, message_id.
 * Returns one item per entry: the stream id, 0 for a duplicate, or "ERR ..." for a failure.
 * @module
 */
export const INGEST_SCRIPT = `
local window = ARGV[1]
local maxlen = tonumber(ARGV[2])
local publish = ARGV[3] == '1'
local stream, channel = KEYS[1], KEYS[2]
local out = {}
local n = 0
for b = 4, #ARGV, 4 do
  n = n + 1
  local key = ARGV[b]
  if key ~= '' and not redis.call('SET', key, '1', 'NX', 'PX', window) then
    out[n] = 0
  else
    local ok
    if maxlen > 0 then
      ok = redis.pcall('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'data', ARGV[b + 1], 'device_id', ARGV[b + 2], 'message_id', ARGV[b + 3])
    else
      ok = redis.pcall('XADD', stream, '*', 'data', ARGV[b + 1], 'device_id', ARGV[b + 2], 'message_id', ARGV[b + 3])
    end
    if type(ok) == 'table' and ok.err then
      if key ~= '' then redis.call('DEL', key) end
      out[n] = 'ERR ' .. ok.err
    else
      out[n] = ok
      if publish then redis.call('PUBLISH', channel, ARGV[b + 1]) end
    end
  end
end
return out
`;
