#!/usr/bin/env node
// Paced HTTP batch sender for the WebSocket benchmark: POSTs readings to
// /api/v1/sensor-data/batch at a fixed rate for a fixed time, over keep-alive connections.
//
//   node bench/ws/sender.mjs --port 3000 --rate 1000 --duration 12 [--tick 10] [--devices 100]
//        [--max-inflight 16] [--run <id>]
//
// Every --tick ms it sends what the rate has made due since the start (in batches of at most
// 100), unless --max-inflight requests are already waiting; readings not sent on time are sent
// later (how far it fell behind is reported). Reading i is device "<run>-d<i mod devices>" at
// start − 2 s − floor(i / devices) ms, so no (device_id, timestamp) pair repeats and none is in
// the future. Accepted / duplicate / failed are counted from the 202 answers' per-item results.
//
// stdout, JSON lines: {"event":"started","at":<epoch ms>}, then {"event":"done",...} with the
// counts, after the last answer. Only 127.0.0.1 is used.
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({
  options: {
    port: { type: 'string' },
    rate: { type: 'string' },
    duration: { type: 'string' },
    tick: { type: 'string', default: '10' },
    devices: { type: 'string', default: '100' },
    'max-inflight': { type: 'string', default: '16' },
    run: { type: 'string', default: `s${Date.now().toString(36)}` },
  },
});
const PORT = Number(a.port);
const RATE = Number(a.rate);
const DURATION_MS = Number(a.duration) * 1000;
const TICK = Number(a.tick);
const DEVICES = Number(a.devices);
const MAX_INFLIGHT = Number(a['max-inflight']);
const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
if (!PORT || !RATE || !DURATION_MS || !TICK || !DEVICES || !MAX_INFLIGHT) {
  emit({ event: 'error', message: `bad arguments ${process.argv.slice(2).join(' ')}` });
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: MAX_INFLIGHT });
const base = Date.now() - 2000;
const c = { sent: 0, accepted: 0, duplicates: 0, failed: 0, requests: 0, non202: 0, errors: 0, firstBad: null, maxBehind: 0 };
const latencies = [];
let inflight = 0;

function reading(i) {
  const ts = new Date(base - Math.floor(i / DEVICES)).toISOString();
  return (
    `{"device_id":"${a.run}-d${i % DEVICES}","timestamp":"${ts}","sensors":{"ld2410":{"presence":${i % 2 === 0},"distance":${i % 601},"energy":${i % 101}},` +
    `"pir":{"motion_detected":${i % 3 === 0}},"mq134":{"gas_concentration":${i % 1000},"unit":"ppm"}}}`
  );
}

function occurrences(text, needle) {
  let n = 0;
  for (let i = text.indexOf(needle); i !== -1; i = text.indexOf(needle, i + needle.length)) n++;
  return n;
}

function post(from, n) {
  const parts = new Array(n);
  for (let k = 0; k < n; k++) parts[k] = reading(from + k);
  const body = `[${parts.join(',')}]`;
  inflight++;
  c.requests++;
  const t0 = performance.now();
  const req = http.request(
    { host: '127.0.0.1', port: PORT, method: 'POST', path: '/api/v1/sensor-data/batch', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
    (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        inflight--;
        latencies.push(performance.now() - t0);
        if (res.statusCode !== 202) {
          c.non202++;
          c.firstBad ??= `${res.statusCode} ${text.slice(0, 300)}`;
        }
        c.accepted += occurrences(text, '"status":"accepted"');
        c.duplicates += occurrences(text, '"status":"duplicate"');
        c.failed += occurrences(text, '"status":"failed"');
      });
    },
  );
  req.on('error', (e) => {
    inflight--;
    c.errors++;
    c.firstBad ??= e.message;
  });
  req.end(body);
}

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : null);

const start = performance.now();
emit({ event: 'started', at: performance.timeOrigin + start, rate: RATE });
const timer = setInterval(() => {
  const elapsed = Math.min(performance.now() - start, DURATION_MS);
  const due = Math.floor((RATE * elapsed) / 1000);
  while (c.sent < due && inflight < MAX_INFLIGHT) {
    const n = Math.min(100, due - c.sent);
    post(c.sent, n);
    c.sent += n;
  }
  c.maxBehind = Math.max(c.maxBehind, due - c.sent);
  if (elapsed >= DURATION_MS && c.sent >= due) {
    clearInterval(timer);
    const sendMs = performance.now() - start;
    const wait = setInterval(() => {
      if (inflight > 0) return;
      clearInterval(wait);
      agent.destroy();
      latencies.sort((x, y) => x - y);
      const secs = sendMs / 1000;
      emit({
        event: 'done',
        sent: c.sent,
        accepted: c.accepted,
        duplicates: c.duplicates,
        failed: c.failed,
        requests: c.requests,
        non202: c.non202,
        errors: c.errors,
        first_bad: c.firstBad,
        max_behind: c.maxBehind,
        seconds: Number(secs.toFixed(3)),
        sent_per_s: Number((c.sent / secs).toFixed(1)),
        accepted_per_s: Number((c.accepted / secs).toFixed(1)),
        request_p50_ms: Number(pct(latencies, 50)?.toFixed(2)),
        request_p99_ms: Number(pct(latencies, 99)?.toFixed(2)),
        cpu_s: Number(((process.cpuUsage().user + process.cpuUsage().system) / 1e6).toFixed(2)),
      });
      process.exit(0);
    }, 20);
  }
}, TICK);
