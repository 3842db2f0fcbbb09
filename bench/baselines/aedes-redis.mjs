#!/usr/bin/env node
// Baseline for the MQTT benchmark: an Aedes broker that appends every PUBLISH on the sensor
// topics to the Redis stream `sensor-data` (ioredis XADD, fields `data` + `device_id`) and lets
// Aedes send the QoS 1 PUBACK only after the XADD was confirmed.
//
//   AEDES_PORT=1884 REDIS_URL=redis://127.0.0.1:6379 node bench/baselines/aedes-redis.mjs
//
// How the PUBACK waits: Aedes runs `authorizePublish(client, packet, cb)` before its QoS 1
// handler writes the PUBACK (lib/handlers/publish.js: authorizePublish → enqueuePublish →
// write PUBACK → broker.publish), so the XADD is issued in authorizePublish and cb is called when
// Redis answered. A failed XADD calls cb(error): Aedes then closes the connection without a
// PUBACK (MQTT 3.1.1 has no negative PUBACK) and the device retransmits after reconnecting.
// Aedes reads the next socket chunk only when every packet of the previous chunk is handled,
// which bounds the work in flight per connection. Subscribers (e.g. `neurobuild/sensors/#`)
// get the raw payload through Aedes' own fan-out after the XADD.
//
// Not the product: validation is only "payload is a JSON object whose device_id matches the
// topic"; no dedupe, no enrichment. A publish that fails it is refused (connection closed).
//
// Env: AEDES_PORT (1884), AEDES_HOST (127.0.0.1), REDIS_URL (redis://127.0.0.1:6379),
// AEDES_STREAM (sensor-data), AEDES_TOPIC_PREFIX (neurobuild/sensors),
// AEDES_AUTOPIPELINE (1: ioredis enableAutoPipelining, several XADDs per write; 0: one write each).
// Prints one line "aedes-redis listening on HOST:PORT" when ready; SIGTERM/SIGINT close it.
import net from 'node:net';
import { Aedes } from 'aedes';
import Redis from 'ioredis';

const PORT = Number(process.env.AEDES_PORT ?? 1884);
const HOST = process.env.AEDES_HOST ?? '127.0.0.1';
const STREAM = process.env.AEDES_STREAM ?? 'sensor-data';
const PREFIX = `${process.env.AEDES_TOPIC_PREFIX ?? 'neurobuild/sensors'}/`;
const AUTOPIPELINE = (process.env.AEDES_AUTOPIPELINE ?? '1') === '1';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
  enableAutoPipelining: AUTOPIPELINE,
  maxRetriesPerRequest: 1,
  enableOfflineQueue: true,
});
let redisErrors = 0;
redis.on('error', (e) => {
  if (redisErrors++ % 1000 === 0) console.error(`aedes-redis: redis error (${redisErrors} so far): ${e.message}`);
});

const broker = await Aedes.createBroker({ concurrency: 1000, drainTimeout: 30_000 });
let rejected = 0;

/** Sensor topic → device id, or null for any other topic. */
function sensorDevice(topic) {
  if (!topic.startsWith(PREFIX)) return null;
  const rest = topic.slice(PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || rest.indexOf('/', slash + 1) !== -1) return null;
  const kind = rest.slice(slash + 1);
  return kind === 'data' || kind === 'ld2410' || kind === 'pir' || kind === 'mq134' ? rest.slice(0, slash) : null;
}

broker.authorizePublish = (client, packet, callback) => {
  if (packet.topic.startsWith('$SYS/')) return callback(new Error('$SYS topic is reserved'));
  if (!client) return callback(null); // will messages published by the broker itself
  const deviceId = sensorDevice(packet.topic);
  if (deviceId === null) return callback(null); // plain relay for other topics
  const text = packet.payload.toString('utf8');
  let reading;
  try {
    reading = JSON.parse(text);
  } catch {
    reading = null;
  }
  if (!reading || typeof reading !== 'object' || reading.device_id !== deviceId) {
    if (rejected++ % 1000 === 0) console.error(`aedes-redis: refused publish on ${packet.topic} (${rejected} so far): payload is not a JSON reading of that device`);
    return callback(new Error('invalid reading'));
  }
  redis.xadd(STREAM, '*', 'data', text, 'device_id', deviceId).then(
    () => callback(null),
    (err) => callback(err),
  );
};

broker.on('clientError', (client, err) => {
  if (err.message !== 'invalid reading' && !/ECONNRESET|EPIPE/.test(err.message)) console.error(`aedes-redis: client ${client?.id}: ${err.message}`);
});

const server = net.createServer({ noDelay: true }, broker.handle); // TCP_NODELAY, like ours and mosquitto (set_tcp_nodelay)
server.maxConnections = 1_000_000;
await redis.ping();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen({ port: PORT, host: HOST, backlog: 4096 }, resolve);
});
console.log(`aedes-redis listening on ${HOST}:${server.address().port} (aedes ${broker.version ?? ''}, stream ${STREAM}, autopipelining ${AUTOPIPELINE ? 'on' : 'off'})`);

let closing = false;
async function shutdown(sig) {
  if (closing) return;
  closing = true;
  server.close();
  await new Promise((r) => broker.close(r));
  await redis.quit().catch(() => redis.disconnect());
  process.exit(sig === 'SIGTERM' || sig === 'SIGINT' ? 0 : 1);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
