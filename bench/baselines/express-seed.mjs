#!/usr/bin/env node
// Seed-style baseline for the HTTP benchmark (bench/http/run.mjs).
//
// Reproduces the shape of the platform's previous ingestion service on purpose, costs included:
// express + express.json(), minimal validation, and two Redis round trips per reading
// (LPUSH, then LLEN to report the queue size), awaited one after the other; a batch is
// processed reading by reading, sequentially. It is a yardstick, not a model to follow.
//
// Env: PORT (default 3000), HOST (default 127.0.0.1), REDIS_URL (default redis://127.0.0.1:6379),
//      BASELINE_QUEUE (default sensor-data-baseline).
import express from 'express';
import Redis from 'ioredis';
import { randomUUID } from 'node:crypto';

const PORT = Number(process.env.PORT ?? 3000);
const HOST = process.env.HOST ?? '127.0.0.1';
const QUEUE = process.env.BASELINE_QUEUE ?? 'sensor-data-baseline';
const BATCH_MAX = 100;

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 3 });
redis.on('error', (err) => console.error(JSON.stringify({ level: 'error', msg: 'redis error', err: String(err) })));

/** @returns {string | null} an error message, or null when the reading is acceptable */
function validate(r) {
  if (r === null || typeof r !== 'object' || Array.isArray(r)) return 'reading must be a JSON object';
  if (typeof r.device_id !== 'string' || r.device_id.length === 0) return 'device_id must be a non-empty string';
  if (typeof r.timestamp !== 'string' || Number.isNaN(Date.parse(r.timestamp))) return 'timestamp must be an ISO 8601 string';
  if (r.sensors === null || typeof r.sensors !== 'object' || Array.isArray(r.sensors)) return 'sensors must be an object';
  return null;
}

/** One reading: LPUSH, then LLEN — one round trip each, as the seed did. */
async function enqueue(reading) {
  const enriched = { ...reading, received_at: new Date().toISOString(), message_id: randomUUID() };
  await redis.lpush(QUEUE, JSON.stringify(enriched));
  const queueSize = await redis.llen(QUEUE);
  return { messageId: enriched.message_id, queueSize };
}

const app = express();
app.disable('x-powered-by');
app.use(express.json({ limit: '1mb' }));

app.post('/api/v1/sensor-data', async (req, res) => {
  const reading = req.body;
  const error = validate(reading);
  if (error) return res.status(400).json({ error: 'Invalid sensor data', details: error });
  const { messageId } = await enqueue(reading);
  res.status(202).json({
    message: 'Sensor data accepted',
    message_id: messageId,
    device_id: reading.device_id,
    timestamp: reading.timestamp,
  });
});

app.post('/api/v1/sensor-data/batch', async (req, res) => {
  const batch = req.body;
  if (!Array.isArray(batch)) return res.status(400).json({ error: 'Invalid sensor data', details: 'body must be an array' });
  if (batch.length > BATCH_MAX) return res.status(400).json({ error: 'Invalid sensor data', details: `at most ${BATCH_MAX} readings` });
  const results = [];
  for (const reading of batch) {
    const error = validate(reading);
    if (error) {
      results.push({ device_id: reading?.device_id, status: 'failed', error });
      continue;
    }
    try {
      const { messageId } = await enqueue(reading);
      results.push({ device_id: reading.device_id, status: 'accepted', message_id: messageId });
    } catch (err) {
      results.push({ device_id: reading.device_id, status: 'failed', error: String(err?.message ?? err) });
    }
  }
  res.status(202).json({ message: 'Batch processed', total: batch.length, results });
});

app.get('/ready', (_req, res) => {
  const ready = redis.status === 'ready';
  res.status(ready ? 200 : 503).json({ ready, timestamp: new Date().toISOString() });
});

app.get('/health', (_req, res) => {
  const up = redis.status === 'ready';
  res.status(up ? 200 : 503).json({
    status: up ? 'healthy' : 'unhealthy',
    timestamp: new Date().toISOString(),
    services: { redis: up ? 'up' : 'down' },
  });
});

// express 5 forwards rejected async handlers here; body-parser errors carry a status (400/413).
app.use((err, _req, res, _next) => {
  const status = Number.isInteger(err?.status) && err.status >= 400 && err.status < 600 ? err.status : 500;
  if (status >= 500) console.error(JSON.stringify({ level: 'error', msg: 'request failed', err: String(err?.stack ?? err) }));
  res.status(status).json({ error: status >= 500 ? 'Internal server error' : 'Invalid sensor data', details: String(err?.message ?? err) });
});

const server = app.listen(PORT, HOST, (err) => {
  if (err) {
    console.error(JSON.stringify({ level: 'fatal', msg: 'listen failed', err: String(err) }));
    process.exit(1);
  }
  console.error(JSON.stringify({ level: 'info', msg: `express-seed baseline listening on http://${HOST}:${PORT}`, pid: process.pid }));
});

function shutdown() {
  server.close();
  server.closeAllConnections?.();
  redis.quit().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
