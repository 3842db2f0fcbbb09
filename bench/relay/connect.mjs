#!/usr/bin/env node
// What MQTT across instances costs per connection: persistent-session CONNECTs with the shared
// state (MQTT_SHARED_STATE=auto: a client-id claim, a session record, the away-queue list) against
// the same server with it off, side by side in each round.
//
//   npm run bench:connect   (BENCH_ROUNDS=3; BENCH_QUICK=1 for one round without writing
//   bench/RESULTS.md; BENCH_CONNECT_DEVICES=5000)
//
// A private redis-server and one neurobuild-ingest instance (the bundle under Node, one worker).
// N devices (v5, clean start 0, Session Expiry Interval 300 s), 100 at a time, each on a raw
// socket: "new": CONNECT, SUBSCRIBE to its own command topic, DISCONNECT (a new session, kept);
// "resume": CONNECT (session present), DISCONNECT. Per phase: devices per second and the CPU time
// (utime+stime from /proc) of the server and of Redis per device. Same machine, same run: the
// ratios between the variants are the figures to read.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mqttPacket from 'mqtt-packet';
import { commandLine, fail, intEnv, readSettings, setBenchName } from '../lib/cli.mjs';
import { ensureTool } from '../lib/machine.mjs';
import { DIST, RESULTS } from '../lib/paths.mjs';
import { installCleanup, startWatchdog, stop } from '../lib/processes.mjs';
import { startRedis } from '../lib/redis-server.mjs';
import { oursEnv, startNodeServer } from '../lib/servers.mjs';
import { median } from '../lib/stats.mjs';
import { mdTable } from '../lib/tables.mjs';
import { writeSection } from '../lib/results-md.mjs';
import { cpuSeconds } from '../ws/procstat.mjs';

setBenchName('bench:connect');
installCleanup();
ensureTool('redis-server', 'redis-server');
if (!fs.existsSync(DIST)) fail('dist/neurobuild-ingest.cjs missing: run npm run bundle (npm run bench:connect does)');

const settings = readSettings();
const DEVICES = intEnv('BENCH_CONNECT_DEVICES', 5000, 100, 100_000);
const PARALLEL = 100;
const VARIANTS = [
  { id: 'off', label: 'MQTT_SHARED_STATE=off', env: { MQTT_SHARED_STATE: 'off' } },
  { id: 'shared', label: 'MQTT_SHARED_STATE=auto', env: { MQTT_SHARED_STATE: 'auto' } },
];
startWatchdog(120 + settings.rounds * VARIANTS.length * (60 + DEVICES / 50));
const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nb-bench-connect-'));

/** One device's exchange on a raw socket: CONNECT (+ SUBSCRIBE), DISCONNECT; resolves with the CONNACK's session-present flag. */
function cycle(port, id, subscribe) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    let present = false;
    const send = (p) => s.write(mqttPacket.generate(p, { protocolVersion: 5 }));
    const done = () => {
      send({ cmd: 'disconnect', reasonCode: 0 });
      s.end();
      resolve(present);
    };
    parser.on('packet', (p) => {
      if (p.cmd === 'connack') {
        if (p.reasonCode !== 0) return reject(new Error(`CONNACK 0x${p.reasonCode.toString(16)} for ${id}`));
        present = p.sessionPresent;
        if (subscribe) send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `fleet/${id}/cmd`, qos: 1 }] });
        else done();
      } else if (p.cmd === 'suback') done();
    });
    s.on('data', (d) => parser.parse(d));
    s.on('error', reject);
    s.on('connect', () => send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: false, clientId: id, keepalive: 60, properties: { sessionExpiryInterval: 300 } }));
  });
}

async function phase(port, pids, subscribe) {
  const before = pids.map(cpuSeconds);
  const t0 = performance.now();
  let next = 0;
  let present = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < DEVICES) {
        const id = `dev-${next++}`;
        if (await cycle(port, id, subscribe)) present++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = pids.map(cpuSeconds).map((a, i) => ((a - before[i]) * 1e6) / DEVICES);
  return { perSecond: DEVICES / seconds, serverUs: cpu[1], redisUs: cpu[0], present };
}

async function runVariant(v, round) {
  const redis = await startRedis(logDir);
  const server = await startNodeServer({
    label: v.id,
    script: DIST,
    redisPort: redis.port,
    logFile: path.join(logDir, `r${round}-${v.id}.log`),
    env: (ports) => oursEnv(ports, { WORKERS: '1', MQTT_SYS_INTERVAL_S: '0', ...v.env }),
  });
  try {
    const pids = [redis.proc.pid, server.child.pid];
    const fresh = await phase(server.ports.mqtt, pids, true);
    const resumed = await phase(server.ports.mqtt, pids, false);
    if (fresh.present !== 0 || resumed.present !== DEVICES) throw new Error(`${v.id}: sessions present ${fresh.present} on the first connect, ${resumed.present} of ${DEVICES} on the second`);
    return { round, variant: v.id, fresh, resumed };
  } finally {
    await stop(server.child, 10_000);
    await redis.close();
  }
}

const runs = [];
for (let round = 1; round <= settings.rounds; round++) {
  for (const v of VARIANTS) {
    const r = await runVariant(v, round);
    runs.push(r);
    console.log(`round ${round} ${v.id}: new ${r.fresh.perSecond.toFixed(0)}/s server ${r.fresh.serverUs.toFixed(1)} µs Redis ${r.fresh.redisUs.toFixed(1)} µs; resume ${r.resumed.perSecond.toFixed(0)}/s server ${r.resumed.serverUs.toFixed(1)} µs Redis ${r.resumed.redisUs.toFixed(1)} µs`);
  }
}

const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '—');
const rows = [['phase', 'variant', 'devices/s', 'vs off', 'server µs / device', 'Redis µs / device']];
for (const ph of ['fresh', 'resumed']) {
  for (const v of VARIANTS) {
    const rs = runs.filter((r) => r.variant === v.id);
    const ratio = median(rs.map((r) => r[ph].perSecond / runs.find((o) => o.round === r.round && o.variant === 'off')[ph].perSecond));
    rows.push([
      ph === 'fresh' ? 'new session (CONNECT, SUBSCRIBE, DISCONNECT)' : 'resume (CONNECT, DISCONNECT)',
      v.label,
      f(median(rs.map((r) => r[ph].perSecond)), 0),
      `${ratio.toFixed(2)}×`,
      f(median(rs.map((r) => r[ph].serverUs))),
      f(median(rs.map((r) => r[ph].redisUs))),
    ]);
  }
}
const table = mdTable(rows);
console.log(table);
if (settings.writeResults) {
  const section = [
    '## MQTT across instances: the cost per connection (bench/relay/connect.mjs)',
    '',
    `- ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, Node ${process.version}; command: \`${commandLine('bench:connect', 'bench/relay/connect.mjs')}\``,
    `- ${DEVICES} devices, ${PARALLEL} at a time, v5 persistent sessions (300 s); one instance on one Redis; ${settings.rounds} rounds, medians; the two variants side by side in each round.`,
    '',
    table,
    '',
  ].join('\n');
  writeSection(RESULTS, '<!-- bench:connect:start -->', '<!-- bench:connect:end -->', section);
  console.log(`written to ${path.relative(process.cwd(), RESULTS)}`);
}
process.exit(0);
