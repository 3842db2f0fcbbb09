#!/usr/bin/env node
// PostgreSQL storage benchmark of `neurobuild-ingest consume postgres` (dist/neurobuild-ingest.cjs),
// two measurements against a private redis-server and a private PostgreSQL cluster:
//   drain     N readings (3 sensors each, half with device metadata) preloaded into the stream
//             in the server's field format (data, device_id, message_id; pipelined XADD), then one
//             consume process drains them into an empty sensor_readings: readings/s and rows/s
//             stored (from the consumer's start to the last acknowledgement), CPU of the consumer
//             and of PostgreSQL, and the stored check (rows = readings × 3, every message_id once).
//             Once per BENCH_PG_BATCHES entry (CONSUMER_BATCH_SIZE), the table truncated between.
//   latency   the server (dist/, QUEUE_BACKEND=redis) takes single-reading POSTs at fixed rates
//             while one consume process stores them: time from the HTTP 202 to the commit of the
//             reading's rows (a statement-level AFTER INSERT trigger NOTIFYs the batch's last
//             id at commit; the bench LISTENs), p50/p90/p99/max, and every accepted reading checked.
//
//   npm run bench:postgres   (= node scripts/bundle.mjs && node bench/postgres/run.mjs)
//
// Env knobs: BENCH_PG_READINGS (500000), BENCH_PG_BATCHES (500,2000), BENCH_PG_RATES (1000,2500,5000),
// BENCH_DURATION s per rate (10), BENCH_WARMUP s (2), BENCH_QUICK=1 (20,000 readings, batch 500,
// rate 1000 for 3 s, RESULTS.md left alone), BENCH_WRITE_RESULTS (0|1),
// BENCH_PG_SHARED_BUFFERS (1GB), BENCH_PG_MAX_WAL_SIZE (8GB). See bench/README.md.
//
// Everything listens on and targets 127.0.0.1 only. Every child process is killed on exit, on
// errors and on SIGINT/SIGTERM (PostgreSQL gets an immediate shutdown); a watchdog bounds the run.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { commandLine, fail, intEnv, readSettings, setBenchName } from '../lib/cli.mjs';
import { bundleInfo, ensureTool, machineInfo, packageVersion } from '../lib/machine.mjs';
import { DIST, RESULTS, ROOT } from '../lib/paths.mjs';
import { postgresBinDir, startPostgres } from '../lib/postgres-server.mjs';
import { installCleanup, sleep, startWatchdog, stop, tail, track } from '../lib/processes.mjs';
import { startRedis } from '../lib/redis-server.mjs';
import { sectionHead, tablePart, writeSection } from '../lib/results-md.mjs';
import { scanLog } from '../lib/server-logs.mjs';
import { startNodeServer, unclean } from '../lib/servers.mjs';
import { int, ms, textTable } from '../lib/tables.mjs';
import { cpuSeconds, entry, statFields, TICKS } from './readings.mjs';

const START = '<!-- bench:postgres:start -->';
const END = '<!-- bench:postgres:end -->';
const STREAM = 'sensor-data';
const GROUP = 'storage';
const SENSORS = 3;

// ------------------------------------------------------------------------------------ settings
setBenchName('bench:postgres');
const { quick: QUICK, duration: DURATION, warmup: WARMUP, writeResults: WRITE_RESULTS } = readSettings();
function listEnv(envName, def, min, max) {
  const raw = process.env[envName] || def;
  const xs = raw.split(',').map((x) => Number(x.trim()));
  if (xs.some((x) => !Number.isInteger(x) || x < min || x > max)) fail(`${envName} must be a comma list of integers in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  return [...new Set(xs)];
}
const READINGS = QUICK ? 20_000 : intEnv('BENCH_PG_READINGS', 500_000, 1000, 10_000_000);
const BATCHES = QUICK ? [500] : listEnv('BENCH_PG_BATCHES', '500,2000', 1, 100_000);
const RATES = QUICK ? [1000] : listEnv('BENCH_PG_RATES', '1000,2500,5000', 1, 100_000);
// more consumer processes in one group (each count > 1 adds a drain at the first batch size)
const CONSUMERS = QUICK ? [] : listEnv('BENCH_PG_CONSUMERS', '2', 1, 16).filter((c) => c > 1);
const DRAINS = [...BATCHES.map((batch) => ({ batch, consumers: 1 })), ...CONSUMERS.map((consumers) => ({ batch: BATCHES[0], consumers }))];
// the cost of each part of the schema: readings inserted by the bench itself (no Redis, no consumer)
const BREAKDOWN = process.env.BENCH_PG_BREAKDOWN === '0' ? 0 : Math.min(READINGS, QUICK ? 10_000 : intEnv('BENCH_PG_BREAKDOWN', 100_000, 1000, 10_000_000));
const PG_SETTINGS = {
  shared_buffers: process.env.BENCH_PG_SHARED_BUFFERS || '1GB',
  max_wal_size: process.env.BENCH_PG_MAX_WAL_SIZE || '8GB',
};
const STOP_GRACE_S = 30;

installCleanup();
startWatchdog(60 * 60);
ensureTool('redis-server', 'redis-server');
if (!postgresBinDir()) {
  ensureTool('pg_ctlcluster', 'postgresql'); // installs Debian's postgresql when root
  if (!postgresBinDir()) fail('PostgreSQL binaries not found under /usr/lib/postgresql/<version>/bin: install Debian\'s postgresql');
}
const machine = machineInfo();
const bundle = bundleInfo(DIST);
const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nb-bench-postgres-'));

// ------------------------------------------------------------------------------------ helpers
/** CPU seconds of the whole cluster so far: the postmaster, its children, and (cutime/cstime) its children that exited. */
function clusterCpu(postmasterPid) {
  let total = 0;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    const f = statFields(pid);
    if (!f) continue;
    if (pid === postmasterPid) total += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    else if (Number(f[1]) === postmasterPid) total += Number(f[11]) + Number(f[12]);
  }
  return total / TICKS;
}
const pct = (x) => (Number.isFinite(x) ? `${Math.round(x * 100)} %` : '—');
function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}


async function preload(redis, n) {
  const started = performance.now();
  const t0 = Date.now() - 3_600_000;
  const CHUNK = 5000;
  for (let i = 0; i < n; i += CHUNK) {
    const p = redis.pipeline();
    for (let j = i; j < Math.min(n, i + CHUNK); j++) p.xadd(STREAM, '*', ...entry(j, t0));
    const res = await p.exec();
    const bad = res.find(([err]) => err);
    if (bad) throw bad[0];
  }
  return (performance.now() - started) / 1000;
}

/** Spawns `consume postgres` (output to logFile) and resolves once it logs "consuming …". */
async function startConsumer(env, logFile) {
  const fd = fs.openSync(logFile, 'a');
  const child = track(
    spawn(process.execPath, [DIST, 'consume', 'postgres'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME ?? '/tmp', NODE_ENV: 'production', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', fd, fd],
    }),
  );
  fs.closeSync(fd);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`consume postgres exited at start (code ${child.exitCode}); log ${logFile}:\n${tail(logFile)}`);
    if (fs.readFileSync(logFile, 'utf8').includes('"msg":"consuming ')) return child;
    await sleep(20);
  }
  await stop(child, 2000);
  throw new Error(`consume postgres not consuming within 30 s; log ${logFile}:\n${tail(logFile)}`);
}

/** The group's entries read and pending (Redis 7 XINFO GROUPS). */
async function groupState(redis) {
  const groups = await redis.xinfo('GROUPS', STREAM);
  const g = groups.find((x) => x[x.indexOf('name') + 1] === GROUP);
  if (!g) return { read: 0, pending: 0 };
  return { read: Number(g[g.indexOf('entries-read') + 1] ?? 0), pending: Number(g[g.indexOf('pending') + 1] ?? 0) };
}

// ------------------------------------------------------------------------------------ drain
async function drain({ redis, redisPort, db, dbq, batch, consumers }) {
  await dbq.query('TRUNCATE sensor_readings').catch(() => {}); // absent before the first run
  await redis.xgroup('DESTROY', STREAM, GROUP).catch(() => {});
  const name = `b${batch}-c${consumers}`;
  const logFiles = [];
  const children = [];
  const startCpu = []; // each consumer's CPU once it consumes (its start-up not counted)
  let t0;
  let pgCpu0;
  for (let k = 0; k < consumers; k++) {
    const logFile = path.join(logDir, `consume-drain-${name}-${k}.log`);
    logFiles.push(logFile);
    const child = await startConsumer({ REDIS_URL: `redis://127.0.0.1:${redisPort}`, DATABASE_URL: db.url, CONSUMER_BATCH_SIZE: String(batch), CONSUMER_NAME: `drain-${name}-${k}` }, logFile);
    children.push(child);
    startCpu.push(cpuSeconds(child.pid));
    // the clock starts with the first consumer: the others start while it already works
    if (k === 0) {
      t0 = performance.now();
      pgCpu0 = clusterCpu(db.postmasterPid());
    }
  }
  const consumerCpu = () => children.reduce((a, c, k) => a + cpuSeconds(c.pid) - startCpu[k], 0);
  const perSecond = [];
  let last = { t: t0, acked: 0 };
  for (;;) {
    const state = await groupState(redis);
    const acked = state.read - state.pending;
    const now = performance.now();
    if (now - last.t >= 1000) {
      perSecond.push(((acked - last.acked) * 1000) / (now - last.t));
      last = { t: now, acked };
    }
    if (acked >= READINGS) break;
    const dead = children.findIndex((c) => c.exitCode !== null || c.signalCode !== null);
    if (dead >= 0) throw new Error(`consume postgres exited during the drain; log ${logFiles[dead]}:\n${tail(logFiles[dead])}`);
    if (now - t0 > 30 * 60_000) throw new Error(`drain not done after 30 min (${acked} of ${READINGS}); logs in ${logDir}`);
    await sleep(50);
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = { consumer: consumerCpu() / seconds, pg: (clusterCpu(db.postmasterPid()) - pgCpu0) / seconds };
  const exits = await Promise.all(children.map((c) => stop(c, STOP_GRACE_S * 1000)));
  const [{ rows, ids }] = (await dbq.query('SELECT count(*)::int AS rows, count(DISTINCT message_id)::int AS ids FROM sensor_readings')).rows;
  const size = (await dbq.query(`SELECT pg_size_pretty(pg_total_relation_size('sensor_readings')) AS s`)).rows[0].s;
  const ok = rows === READINGS * SENSORS && ids === READINGS;
  const r = { batch, consumers, seconds, readingsPerSec: READINGS / seconds, rowsPerSec: rows / seconds, rows, ids, ok, cpu, perSecond, size, exits, logFiles };
  console.log(
    `drain batch ${batch}, ${consumers} consumer(s): ${int(READINGS)} readings in ${seconds.toFixed(2)} s = ${int(r.readingsPerSec)} readings/s, ${int(r.rowsPerSec)} rows/s; ` +
      `consumer CPU ${pct(cpu.consumer)}, PostgreSQL CPU ${pct(cpu.pg)}; per-second min/max ${int(Math.min(...perSecond))}/${int(Math.max(...perSecond))}; ` +
      `table ${size}; stored check ${ok ? 'ok' : `FAILED (${rows} rows, ${ids} message_ids)`}`,
  );
  return r;
}

// ------------------------------------------------------------------------------------ breakdown
// The sink's statements (src/consumer/sinks/postgres.ts, INSERT_SQL and INSERT_SKIPPING_SQL) on a table of their own.
const insertInto = (table, conflict) => `INSERT INTO ${table} (message_id, device_id, timestamp, received_at, sensor_type, data, metadata)
SELECT r->>'message_id', r->>'device_id', (r->>'timestamp')::timestamptz, (r->>'received_at')::timestamptz, s.key, s.value, NULLIF(r->'device_metadata', 'null'::jsonb)
FROM jsonb_array_elements($1::jsonb) AS r, jsonb_each(r->'sensors') AS s${conflict ? '\nON CONFLICT (message_id, sensor_type) DO NOTHING' : ''}`;

/** Each part of the schema added in turn; the readings inserted by the bench in batches of the first batch size, timed with the backend's CPU. */
async function breakdown({ db }) {
  // [label, DDL added to the line above, ON CONFLICT]
  const steps = [
    ['heap only (no index, no primary key)', [], false],
    ['+ primary key (id)', ['ALTER TABLE t ADD PRIMARY KEY (id)'], false],
    ['+ btree device_id, timestamp, sensor_type', ['CREATE INDEX ON t(device_id)', 'CREATE INDEX ON t(timestamp)', 'CREATE INDEX ON t(sensor_type)'], false],
    ['+ GIN on data (= the platform schema)', ['CREATE INDEX ON t USING GIN(data)'], false],
    ['+ UNIQUE (message_id, sensor_type) (= the sink: a batch with no redelivered entry)', ['CREATE UNIQUE INDEX ON t(message_id, sensor_type)'], false],
    ['the same with ON CONFLICT DO NOTHING (= the sink: a batch that met a stored row)', [], true],
  ];
  const t0 = Date.now() - 7_200_000;
  const batches = [];
  const size = BATCHES[0];
  for (let i = 0; i < BREAKDOWN; i += size) {
    const a = [];
    for (let j = i; j < Math.min(BREAKDOWN, i + size); j++) a.push(entry(j, t0)[1]);
    batches.push(`[${a.join(',')}]`);
  }
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  const [{ pid }] = (await c.query('SELECT pg_backend_pid() AS pid')).rows;
  const ddl = [];
  const out = [];
  for (const [label, add, conflict] of steps) {
    ddl.push(...add);
    await c.query('DROP TABLE IF EXISTS t');
    await c.query(`CREATE TABLE t (id BIGSERIAL, device_id VARCHAR(100) NOT NULL, timestamp TIMESTAMPTZ NOT NULL, received_at TIMESTAMPTZ NOT NULL, sensor_type VARCHAR(50) NOT NULL, data JSONB NOT NULL, metadata JSONB, created_at TIMESTAMPTZ DEFAULT NOW(), message_id TEXT)`);
    for (const sql of ddl) await c.query(sql);
    await c.query('CHECKPOINT');
    const sql = insertInto('t', conflict);
    const cpu0 = cpuSeconds(pid);
    const s0 = performance.now();
    for (const b of batches) await c.query({ text: sql, values: [b] });
    const seconds = (performance.now() - s0) / 1000;
    const cpu = cpuSeconds(pid) - cpu0;
    const r = { label, seconds, readingsPerSec: BREAKDOWN / seconds, usPerReading: (cpu * 1e6) / BREAKDOWN };
    out.push(r);
    console.log(`breakdown ${label}: ${int(r.readingsPerSec)} readings/s, backend CPU ${r.usPerReading.toFixed(1)} µs/reading`);
  }
  await c.query('DROP TABLE IF EXISTS t');
  await c.end();
  return out;
}

// ------------------------------------------------------------------------------------ latency
async function latency({ redisPort, db, dbq, rate }) {
  const label = `latency-${rate}`;
  const serverLog = path.join(logDir, `server-${label}.log`);
  const srv = await startNodeServer({
    label: 'neurobuild-ingest',
    script: DIST,
    env: (ports) => ({ QUEUE_BACKEND: 'redis', LOG_LEVEL: 'warn', METRICS_PORT: '0', MQTT_PORT: String(ports.mqtt), WS_PORT: String(ports.ws), RATE_LIMIT: 'off', WORKERS: '1' }),
    redisPort,
    logFile: serverLog,
  });
  const consumerLog = path.join(logDir, `consume-${label}.log`);
  const consumer = await startConsumer({ REDIS_URL: `redis://127.0.0.1:${redisPort}`, DATABASE_URL: db.url, CONSUMER_NAME: label }, consumerLog);

  // commit times: the trigger NOTIFYs the last id of each INSERT statement at commit
  const [{ start }] = (await dbq.query('SELECT coalesce(max(id), 0)::bigint AS start FROM sensor_readings')).rows;
  const listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  const commits = []; // [t, maxId]
  listener.on('notification', (n) => commits.push([performance.now(), Number(n.payload)]));
  await listener.query('LISTEN bench_rows');

  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const sent = new Map(); // message_id → {send, ack, measured}
  let failures = 0;
  let seq = 0;
  const t0 = Date.now();
  const post = (measured) =>
    new Promise((resolve) => {
      const i = seq++;
      const body = JSON.stringify({
        device_id: `lat-${rate}-${String(i % 1000).padStart(4, '0')}`,
        timestamp: new Date(t0 - 60_000 + i).toISOString(),
        sensors: { ld2410: { presence: true, distance: i % 600, energy: i % 100 }, pir: { motion_detected: i % 2 === 0 }, mq134: { gas_concentration: 250, unit: 'ppm' } },
      });
      const send = performance.now();
      const req = http.request({ host: '127.0.0.1', port: srv.port, path: '/api/v1/sensor-data', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          const ack = performance.now();
          if (res.statusCode === 202) sent.set(JSON.parse(text).message_id, { send, ack, measured });
          else failures++;
          resolve();
        });
      });
      req.on('error', () => {
        failures++;
        resolve();
      });
      req.end(body);
    });

  const inflight = new Set();
  const runFor = async (seconds, measured) => {
    const begin = performance.now();
    let due = 0;
    while (performance.now() - begin < seconds * 1000) {
      const target = Math.floor(((performance.now() - begin) / 1000) * rate);
      for (; due < target; due++) {
        const p = post(measured);
        inflight.add(p);
        p.then(() => inflight.delete(p));
      }
      await sleep(2);
    }
  };
  const cpu0 = { consumer: cpuSeconds(consumer.pid), pg: clusterCpu(db.postmasterPid()) };
  await runFor(WARMUP, false);
  const mt0 = performance.now();
  await runFor(DURATION, true);
  const measuredSeconds = (performance.now() - mt0) / 1000;
  await Promise.all(inflight);
  const cpu = { consumer: (cpuSeconds(consumer.pid) - cpu0.consumer) / (WARMUP + measuredSeconds), pg: (clusterCpu(db.postmasterPid()) - cpu0.pg) / (WARMUP + measuredSeconds) };

  // every accepted reading's rows, then its commit time from the notifications
  const want = sent.size * SENSORS;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const [{ n }] = (await dbq.query('SELECT count(*)::int AS n FROM sensor_readings WHERE id > $1', [start])).rows;
    if (n >= want) break;
    await sleep(200);
  }
  await sleep(200); // the last notifications
  const { rows } = await dbq.query('SELECT id::bigint AS id, message_id FROM sensor_readings WHERE id > $1 AND sensor_type = $2', [start, 'pir']);
  commits.sort((a, b) => a[1] - b[1]);
  const commitOf = (id) => {
    let lo = 0;
    let hi = commits.length - 1;
    let best;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (commits[mid][1] >= id) {
        best = commits[mid][0];
        hi = mid - 1;
      } else lo = mid + 1;
    }
    return best;
  };
  const ackToCommit = [];
  const sendToAck = [];
  let stored = 0;
  for (const { id, message_id } of rows) {
    const s = sent.get(message_id);
    if (!s) continue;
    stored++;
    if (!s.measured) continue;
    const c = commitOf(Number(id));
    if (c !== undefined) ackToCommit.push(c - s.ack);
    sendToAck.push(s.ack - s.send);
  }
  const [{ n: allRows }] = (await dbq.query('SELECT count(*)::int AS n FROM sensor_readings WHERE id > $1', [start])).rows;
  ackToCommit.sort((a, b) => a - b);
  sendToAck.sort((a, b) => a - b);
  const measured = [...sent.values()].filter((s) => s.measured).length;
  await listener.end();
  agent.destroy();
  const consumerExit = await stop(consumer, STOP_GRACE_S * 1000);
  const serverExit = await stop(srv.child, STOP_GRACE_S * 1000);
  const r = {
    rate,
    achieved: measured / measuredSeconds,
    accepted: sent.size,
    failures,
    stored,
    rowsOk: allRows === want && stored === sent.size,
    allRows,
    want,
    commit: { p50: quantile(ackToCommit, 0.5), p90: quantile(ackToCommit, 0.9), p99: quantile(ackToCommit, 0.99), max: ackToCommit.at(-1), n: ackToCommit.length },
    http: { p50: quantile(sendToAck, 0.5), p99: quantile(sendToAck, 0.99) },
    cpu,
    consumerExit,
    serverExit,
    consumerLog,
    serverLog,
  };
  console.log(
    `latency at ${int(rate)} readings/s (achieved ${int(r.achieved)}): 202 → committed p50 ${ms(r.commit.p50)} ms, p90 ${ms(r.commit.p90)}, p99 ${ms(r.commit.p99)}, max ${ms(r.commit.max)} (${int(r.commit.n)} readings); ` +
      `POST → 202 p50 ${ms(r.http.p50)} ms, p99 ${ms(r.http.p99)}; consumer CPU ${pct(cpu.consumer)}, PostgreSQL CPU ${pct(cpu.pg)}; ` +
      `stored check ${r.rowsOk ? 'ok' : `FAILED (${stored}/${sent.size} readings, ${allRows}/${want} rows)`}${failures ? `, ${failures} POSTs not 202` : ''}`,
  );
  return r;
}

// ------------------------------------------------------------------------------------ main
async function main() {
  console.log(`bench:postgres: logs in ${logDir}`);
  console.log(`machine: ${machine.nproc} cores (${machine.cpu}), node ${machine.node}, redis ${machine.redis}, pg ${packageVersion('pg')}`);
  console.log(`bundle: dist/neurobuild-ingest.cjs sha256:${bundle.sha} built ${bundle.built}${bundle.stale ? '  WARNING: src/ has newer files than the bundle (run npm run bundle)' : ''}`);
  const { port: redisPort, redis, close: closeRedis } = await startRedis(logDir);
  const db = await startPostgres(logDir, { settings: PG_SETTINGS });
  console.log(`${db.version} on 127.0.0.1:${db.port} (${Object.entries(PG_SETTINGS).map(([k, v]) => `${k}=${v}`).join(', ')}, other settings at their defaults)\n`);
  const dbq = new pg.Client({ connectionString: db.url });
  await dbq.connect();
  const drains = [];
  const lat = [];
  let parts = [];
  try {
    const preloadS = await preload(redis, READINGS);
    console.log(`preloaded ${int(READINGS)} readings into ${STREAM} in ${preloadS.toFixed(1)} s (${int(READINGS / preloadS)}/s)`);
    for (const d of DRAINS) drains.push(await drain({ redis, redisPort, db, dbq, ...d }));
    await dbq.query('TRUNCATE sensor_readings');
    await redis.del(STREAM);
    await dbq.query(`CREATE OR REPLACE FUNCTION bench_notify() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('bench_rows', (SELECT max(id)::text FROM new_rows)); RETURN NULL; END $$`);
    await dbq.query('CREATE TRIGGER bench_notify AFTER INSERT ON sensor_readings REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bench_notify()');
    for (const rate of RATES) lat.push(await latency({ redisPort, db, dbq, rate }));
    if (BREAKDOWN) parts = await breakdown({ db });
  } finally {
    await dbq.end().catch(() => {});
    await db.close();
    await closeRedis();
  }

  const drainRows = [['batch (CONSUMER_BATCH_SIZE)', 'consumers', 'readings', 'seconds', 'readings/s', 'rows/s', 'per-second min / max readings/s', 'consumer CPU', 'PostgreSQL CPU', 'table + indexes', 'stored check']];
  for (const d of drains) drainRows.push([String(d.batch), String(d.consumers), int(READINGS), d.seconds.toFixed(2), int(d.readingsPerSec), int(d.rowsPerSec), `${int(Math.min(...d.perSecond))} / ${int(Math.max(...d.perSecond))}`, pct(d.cpu.consumer), pct(d.cpu.pg), d.size, d.ok ? `${int(d.rows)} rows, ${int(d.ids)} message_ids: ok` : `FAILED: ${int(d.rows)} rows, ${int(d.ids)} message_ids`]);
  const latRows = [['offered readings/s', 'achieved', '202 → committed p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'POST → 202 p50 ms', 'p99 ms', 'consumer CPU', 'PostgreSQL CPU', 'stored check']];
  for (const l of lat) latRows.push([int(l.rate), int(l.achieved), ms(l.commit.p50), ms(l.commit.p90), ms(l.commit.p99), ms(l.commit.max), ms(l.http.p50), ms(l.http.p99), pct(l.cpu.consumer), pct(l.cpu.pg), l.rowsOk ? `${int(l.stored)}/${int(l.accepted)} readings, ${int(l.allRows)} rows: ok` : `FAILED: ${int(l.stored)}/${int(l.accepted)} readings, ${int(l.allRows)}/${int(l.want)} rows`]);
  const partRows = [['schema', 'readings/s', 'PostgreSQL backend CPU µs per reading', 'µs per row']];
  for (const p of parts) partRows.push([p.label, int(p.readingsPerSec), p.usPerReading.toFixed(1), (p.usPerReading / SENSORS).toFixed(1)]);
  console.log(`\n${textTable(drainRows)}\n\n${textTable(latRows)}${parts.length ? `\n\n${textTable(partRows)}` : ''}`);

  const problems = [];
  for (const d of drains) {
    for (const [k, exit] of d.exits.entries()) {
      const u = unclean(exit, `consume postgres (drain, batch ${d.batch}, consumer ${k + 1} of ${d.consumers})`, STOP_GRACE_S);
      if (u) problems.push(u);
      const lines = scanLog(d.logFiles[k]);
      if (lines.length) problems.push(`drain batch ${d.batch}, consumer ${k + 1} of ${d.consumers}: ${lines.length} log line(s) at warn or above, first: \`${lines[0].replaceAll('`', "'")}\``);
    }
  }
  for (const l of lat) {
    for (const [exit, what] of [[l.consumerExit, 'consume postgres'], [l.serverExit, 'the server']]) {
      const u = unclean(exit, `${what} (latency at ${l.rate}/s)`, STOP_GRACE_S);
      if (u) problems.push(u);
    }
    for (const [file, what] of [[l.consumerLog, 'consumer'], [l.serverLog, 'server']]) {
      const lines = scanLog(file, { ignore: [/AUTH_MODE=none/] });
      if (lines.length) problems.push(`latency at ${l.rate}/s: ${lines.length} ${what} log line(s) at warn or above, first: \`${lines[0].replaceAll('`', "'")}\``);
    }
  }
  for (const p of problems) console.log(`WARNING: ${p}`);
  const failed = drains.some((d) => !d.ok) || lat.some((l) => !l.rowsOk);

  if (WRITE_RESULTS) {
    const facts = [
      `date: ${new Date().toISOString()}`,
      `machine: ${machine.nproc} cores, ${machine.cpu}, ${machine.memGiB} GiB RAM, ${machine.kernel}`,
      `software: node ${machine.node}, redis-server ${machine.redis} (\`--save '' --appendonly no\`), ${db.version} (private cluster: ${Object.entries(PG_SETTINGS).map(([k, v]) => `${k}=${v}`).join(', ')}; fsync, synchronous_commit and full_page_writes at their defaults, on), pg ${packageVersion('pg')}`,
      `ours: dist/neurobuild-ingest.cjs sha256:${bundle.sha} (built ${bundle.built})${bundle.stale ? ' — WARNING: src/ was newer than the bundle' : ''}; \`consume postgres\` processes (NODE_ENV=production, LOG_LEVEL=info), the platform's schema with its four indexes (GIN on data) + the unique (message_id, sensor_type) index`,
      `command: \`${commandLine('bench:postgres', 'bench/postgres/run.mjs')}\``,
      `drain: ${int(READINGS)} readings of 3 sensors (ld2410, pir, mq134; half with device_metadata) preloaded with pipelined XADD in the server's field format, then drained by the consumer(s) into an empty table (truncated between drains); time from the (first) consumer's "consuming" line to the last acknowledgement (XINFO GROUPS polled every 50 ms); CPU from /proc (100 % = one core; PostgreSQL = all its processes)`,
      `latency: the server (WORKERS=1, RATE_LIMIT=off, QUEUE_BACKEND=redis) takes single-reading POSTs at the offered rate over keep-alive connections while a consumer (default CONSUMER_BATCH_SIZE) stores them; ${WARMUP} s warm-up then ${DURATION} s measured per rate; commit time = when the bench receives the NOTIFY of a statement-level AFTER INSERT trigger (sent at commit) covering the reading's rows; the table starts empty`,
      `caveat: redis-server, PostgreSQL, the consumer, the server and the load generator share the ${machine.nproc} cores; figures are bound to this machine and its load.`,
    ];
    const notes = problems.length ? problems.map((p) => `- ${p}`).join('\n') : '- every consumer and server stopped cleanly (SIGTERM, exit 0), nothing at warn level or above in their logs.';
    const md = [
      ...sectionHead('## PostgreSQL storage (bench/postgres)', facts),
      ...tablePart(
        '### Drain: preloaded stream → sensor_readings',
        [`Target (issue 8): at least 50,000 readings/s stored by one consumer. Best here: ${int(Math.max(...drains.filter((d) => d.consumers === 1).map((d) => d.readingsPerSec)))} readings/s with one consumer${drains.some((d) => d.consumers > 1) ? `, ${int(Math.max(...drains.filter((d) => d.consumers > 1).map((d) => d.readingsPerSec)))} with ${Math.max(...drains.map((d) => d.consumers))} in the group` : ''}; not reached. rows/s = readings/s × 3.`],
        drainRows,
      ),
      ...tablePart('### End-to-end latency: HTTP 202 → rows committed', [], latRows),
      ...(parts.length
        ? tablePart(
            '### Where PostgreSQL spends it: the schema part by part',
            [
              `${int(BREAKDOWN)} readings (3 rows each) inserted by the bench with the sink's statement in batches of ${BATCHES[0]}, into a fresh table per line, each line adding to the one above; CPU of the inserting backend only (WAL writer, checkpointer and autovacuum not counted).`,
              '',
              `One backend writes one consumer's batches, one after the other: ${parts.at(-2).usPerReading.toFixed(1)} µs per reading caps one consumer at ~${int(1e6 / parts.at(-2).usPerReading)} readings/s with a core to itself. 50,000 readings/s from one consumer would need ≤ 20 µs per reading in its backend, and ≤ ${Math.round((machine.nproc * 1e6) / 50_000)} µs for PostgreSQL, the consumer and Redis together on ${machine.nproc} cores; the platform's indexes alone cost ${(parts[3].usPerReading - parts[0].usPerReading).toFixed(1)} µs per reading here (line 4 − line 1).`,
            ],
            partRows,
          )
        : []),
      '### Health',
      '',
      notes,
    ].join('\n');
    writeSection(RESULTS, START, END, md);
    console.log(`\nwrote the bench:postgres section of ${path.relative(ROOT, RESULTS)}`);
  }
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  console.error(`bench:postgres: ${err?.stack ?? err}`);
  process.exit(1);
});
