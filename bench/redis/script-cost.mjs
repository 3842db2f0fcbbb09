#!/usr/bin/env node
// What one reading costs inside Redis, per way of writing it: Redis' own accounting
// (INFO commandstats, microseconds spent in the command) divided by readings. Runs against a
// private redis-server on a free port, one client, no other load, so the figures are Redis'
// cost alone, not throughput under contention.
//
//   node bench/redis/script-cost.mjs   (READINGS=200000 BATCH=500 by default; writes its section of
//   bench/RESULTS.md unless BENCH_WRITE_RESULTS=0)
//
// Variants: the plain pipelined XADD a bare server would send; XADD + PUBLISH pipelined; the
// same two from a Lua script with one argument per field; the production ingest script
// (src/queue/redis/ingest-script.ts: bucketed dedupe + XADD + PUBLISH, entries as one
// MessagePack argument), read from the bundle so it is the shipped one, with dedupe off and on,
// and with nobody subscribed to the live events (EVENTS_PUBLISH=subscribed: no PUBLISH).
// commandstats counts time inside commands: for pipelined commands it leaves out parsing the
// protocol (~0.3-0.5 µs per command here), for scripts it includes everything inside EVAL.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Redis from 'ioredis';
import { Packr } from 'msgpackr';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const READINGS = Number(process.env.READINGS ?? 200_000);
const START = '<!-- bench:redis:start -->';
const END = '<!-- bench:redis:end -->';
const BATCH = Number(process.env.BATCH ?? 500);

const bundle = readFileSync(path.join(ROOT, 'dist/neurobuild-ingest.cjs'), 'utf8');
const INGEST_SCRIPT = bundle.match(/INGEST_SCRIPT = `([\s\S]*?)`;/)?.[1];
if (!INGEST_SCRIPT) throw new Error('INGEST_SCRIPT not found in dist/neurobuild-ingest.cjs: run npm run bundle');

const port = await new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
const stop = () => server.kill('SIGKILL');
process.on('exit', stop);
const r = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
r.on('error', () => {});
for (let i = 0; i < 50; i++) {
  try {
    await r.connect();
    break;
  } catch {
    await new Promise((res) => setTimeout(res, 100));
  }
}

const json = JSON.stringify({
  device_id: 'esp32-001', timestamp: '2025-10-16T18:33:58.000Z',
  sensors: { ld2410: { presence: true, distance: 150, energy: 75 }, pir: { motion_detected: true }, mq134: { gas_concentration: 250, unit: 'ppm' } },
  received_at: '2025-10-16T18:33:58.123Z', message_id: '0192f3a4-1111-7000-8000-123456789abc',
});
const packr = new Packr({ useRecords: false });
let k = 0;
const entry = () => {
  k++;
  const ts = 1_760_639_638_000 + k;
  return { bucket: String(Math.floor(ts / 60_000)), member: `esp32-${k % 1000}|${new Date(ts).toISOString()}`, deviceId: `esp32-${k % 1000}`, messageId: `m${k}` };
};

const variants = {
  'XADD, pipelined (a bare server)': async (batch) => {
    const p = r.pipeline();
    for (const e of batch) p.xadd('s', '*', 'data', json, 'device_id', e.deviceId, 'message_id', e.messageId);
    await p.exec();
  },
  'XADD + PUBLISH, pipelined': async (batch) => {
    const p = r.pipeline();
    for (const e of batch) p.xadd('s', '*', 'data', json, 'device_id', e.deviceId, 'message_id', e.messageId).publish('ch', json);
    await p.exec();
  },
  'XADD + PUBLISH in Lua, one argument per field': async (batch) => {
    const args = [];
    for (const e of batch) args.push(json, e.deviceId, e.messageId);
    await r.eval("for b = 1, #ARGV, 3 do redis.call('XADD', KEYS[1], '*', 'data', ARGV[b], 'device_id', ARGV[b+1], 'message_id', ARGV[b+2]); redis.call('PUBLISH', 'ch', ARGV[b]) end return 1", 1, 's', ...args);
  },
  'ingest script, dedupe off (DEDUPE_WINDOW_MS=0)': async (batch) => {
    const flat = [];
    for (const e of batch) flat.push('', '', json, e.deviceId, e.messageId);
    await r.eval(INGEST_SCRIPT, 2, 's', 's:dedupe:', 0, 0, '1', 'ch', packr.pack(flat));
  },
  'ingest script (dedupe + XADD + PUBLISH, MessagePack entries)': async (batch) => {
    const flat = [];
    for (const e of batch) flat.push(e.bucket, e.member, json, e.deviceId, e.messageId);
    await r.eval(INGEST_SCRIPT, 2, 's', 's:dedupe:', 120_000, 0, '1', 'ch', packr.pack(flat));
  },
  // EVENTS_PUBLISH=subscribed with nobody listening: the script asks once per call, publishes nothing
  'ingest script, nobody subscribed (dedupe + XADD, EVENTS_PUBLISH=subscribed)': async (batch) => {
    const flat = [];
    for (const e of batch) flat.push(e.bucket, e.member, json, e.deviceId, e.messageId);
    await r.eval(INGEST_SCRIPT, 2, 's', 's:dedupe:', 120_000, 0, '3', 'ch', packr.pack(flat));
  },
};

const rows = [];
for (const [name, run] of Object.entries(variants)) {
  await r.flushall();
  await r.config('RESETSTAT');
  const started = process.hrtime.bigint();
  for (let done = 0; done < READINGS; done += BATCH) await run(Array.from({ length: BATCH }, entry));
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const stats = await r.info('commandstats');
  const usec = [...stats.matchAll(/usec=(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
  const len = await r.xlen('s');
  if (len !== READINGS) throw new Error(`${name}: stream has ${len} entries, expected ${READINGS}`);
  rows.push({ name, usPerReading: usec / READINGS, ceiling: READINGS / (usec / 1e6), wallPerSec: READINGS / wall });
}
await r.quit();
stop();

const version = (await new Promise((res) => {
  const p = spawn('redis-server', ['--version']);
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  p.on('close', () => res(out));
})).match(/v=(\S+)/)?.[1];
const table = [
  '| variant | Redis µs per reading | Redis-only ceiling (readings/s) | this run, one client (readings/s) |',
  '|---|---:|---:|---:|',
  ...rows.map((x) => `| ${x.name} | ${x.usPerReading.toFixed(2)} | ${Math.round(x.ceiling).toLocaleString('en')} | ${Math.round(x.wallPerSec).toLocaleString('en')} |`),
].join('\n');
console.log(`redis-server ${version}: ${READINGS} readings per variant, ${BATCH} per round trip, ${json.length}-byte readings\n\n${table}`);

if (process.env.BENCH_WRITE_RESULTS !== '0') {
  const section = [
    START,
    '## Redis cost per reading (bench/redis)',
    '',
    `- date: ${new Date().toISOString()}; redis-server ${version} (\`--save '' --appendonly no\`), node ${process.version}, ${os.cpus().length} cores`,
    `- command: \`node bench/redis/script-cost.mjs\` (READINGS=${READINGS}, BATCH=${BATCH}; one client, no other load)`,
    '- "Redis µs per reading" is INFO commandstats time divided by readings: the Redis core this way of writing costs, whatever the client does. The ceiling is what one fully busy Redis core could take at that cost.',
    '',
    table,
    END,
  ].join('\n');
  const file = path.join(ROOT, 'bench/RESULTS.md');
  const old = readFileSync(file, 'utf8');
  const next = old.includes(START) ? old.slice(0, old.indexOf(START)) + section + old.slice(old.indexOf(END) + END.length) : `${old.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, next);
  console.log('\nbench/RESULTS.md updated (section bench:redis)');
}
