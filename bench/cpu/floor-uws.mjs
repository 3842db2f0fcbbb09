#!/usr/bin/env node
// The floor of the HTTP single-POST load (bench:cpu): uWebSockets.js reading each POST's body,
// JSON.parse and a UUID, and answering 202 with a body shaped like the server's own, nothing
// stored. What a request costs here before any validation, queue or Redis work.
//   PORT=3000 node bench/cpu/floor-uws.mjs   (GET /ready → 200)
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';

const { App } = createRequire(import.meta.url)('uWebSockets.js');
const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';

const app = App()
  .get('/ready', (res) => res.end('ok'))
  .post('/api/v1/sensor-data', (res) => {
    const chunks = [];
    let aborted = false;
    res.onAborted(() => (aborted = true));
    res.onData((ab, last) => {
      chunks.push(Buffer.from(ab.slice(0)));
      if (!last || aborted) return;
      const r = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const body = `{"message":"Sensor data accepted","message_id":"${randomUUID()}","device_id":"${r.device_id}","timestamp":"${r.timestamp}"}`;
      res.cork(() => res.writeStatus('202 Accepted').writeHeader('Content-Type', 'application/json').end(body));
    });
  })
  .listen(host, port, (token) => {
    if (!token) {
      console.error(`floor-uws: cannot listen on ${host}:${port}`);
      process.exit(1);
    }
  });
const quit = () => process.exit(0);
process.on('SIGTERM', quit);
process.on('SIGINT', quit);
void app;
