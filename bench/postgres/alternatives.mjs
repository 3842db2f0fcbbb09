#!/usr/bin/env node
// What would it take to store 50,000 readings/s into PostgreSQL on this machine (issue 8)?
// The cost inside PostgreSQL of the sink's way against the alternatives, one fresh table per line,
// the same readings (bench/postgres/readings.mjs) in batches of BENCH_PG_BATCH (500), each batch
// one statement = one transaction, CPU of the writing backend from /proc:
//   - the sink today: INSERT … SELECT over one JSON array parameter, the sink's schema (the
//     platform's table and four indexes + UNIQUE (message_id, sensor_type));
//   - COPY (CSV, read by the server from a file per batch: the best case of COPY, no client
//     encoding or network in it), heap only and with the sink's schema;
//   - the sink's statement with the GIN index as jsonb_path_ops, and with no GIN index;
//   - one row per reading (all sensors in one `data`) with the sink's schema.
//
//   npm run bench:postgres-alternatives   (= node bench/postgres/alternatives.mjs; ≈ 2 min)
//
// Env knobs: BENCH_PG_ALT_READINGS (100000), BENCH_PG_BATCH (500), BENCH_QUICK=1 (10,000 readings,
// RESULTS.md left alone), BENCH_WRITE_RESULTS (0|1). PostgreSQL runs private on 127.0.0.1.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { commandLine, fail, intEnv, readSettings, setBenchName } from '../lib/cli.mjs';
import { ensureTool, machineInfo, packageVersion } from '../lib/machine.mjs';
import { RESULTS, ROOT } from '../lib/paths.mjs';
import { postgresBinDir, startPostgres } from '../lib/postgres-server.mjs';
import { installCleanup, startWatchdog } from '../lib/processes.mjs';
import { sectionHead, tablePart, writeSection } from '../lib/results-md.mjs';
import { int, textTable } from '../lib/tables.mjs';
import { cpuSeconds, entry } from './readings.mjs';

const START = '<!-- bench:postgres-alternatives:start -->';
const END = '<!-- bench:postgres-alternatives:end -->';
setBenchName('bench:postgres-alternatives');
const { quick: QUICK, writeResults: WRITE_RESULTS } = readSettings();
const READINGS = QUICK ? 10_000 : intEnv('BENCH_PG_ALT_READINGS', 100_000, 1000, 5_000_000);
const BATCH = intEnv('BENCH_PG_BATCH', 500, 1, 100_000);
const SENSORS = 3;

installCleanup();
startWatchdog(30 * 60);
if (!postgresBinDir()) {
  ensureTool('pg_ctlcluster', 'postgresql');
  if (!postgresBinDir()) fail('PostgreSQL binaries not found under /usr/lib/postgresql/<version>/bin: install Debian\'s postgresql');
}

const TABLE = `CREATE TABLE t (id BIGSERIAL, device_id VARCHAR(100) NOT NULL, timestamp TIMESTAMPTZ NOT NULL, received_at TIMESTAMPTZ NOT NULL,
  sensor_type VARCHAR(50) NOT NULL, data JSONB NOT NULL, metadata JSONB, created_at TIMESTAMPTZ DEFAULT NOW(), message_id TEXT)`;
const BTREES = ['ALTER TABLE t ADD PRIMARY KEY (id)', 'CREATE INDEX ON t(device_id)', 'CREATE INDEX ON t(timestamp)', 'CREATE INDEX ON t(sensor_type)'];
const UNIQUE = 'CREATE UNIQUE INDEX ON t(message_id, sensor_type)';
const SINK_SCHEMA = [...BTREES, 'CREATE INDEX ON t USING GIN(data)', UNIQUE];

// the sink's statement (src/consumer/sinks/postgres.ts INSERT_SQL), and the same with one row per reading
const PER_SENSOR = `INSERT INTO t (message_id, device_id, timestamp, received_at, sensor_type, data, metadata)
SELECT r->>'message_id', r->>'device_id', (r->>'timestamp')::timestamptz, (r->>'received_at')::timestamptz, s.key, s.value, NULLIF(r->'device_metadata', 'null'::jsonb)
FROM jsonb_array_elements($1::jsonb) AS r, jsonb_each(r->'sensors') AS s`;
const PER_READING = `INSERT INTO t (message_id, device_id, timestamp, received_at, sensor_type, data, metadata)
SELECT r->>'message_id', r->>'device_id', (r->>'timestamp')::timestamptz, (r->>'received_at')::timestamptz, 'all', r->'sensors', NULLIF(r->'device_metadata', 'null'::jsonb)
FROM jsonb_array_elements($1::jsonb) AS r`;

const LINES = [
  { id: 'sink', label: 'the sink today: INSERT … SELECT, the sink\'s schema (= bench:postgres line 5)', ddl: SINK_SCHEMA, load: 'insert', sql: PER_SENSOR },
  { id: 'copy-heap', label: 'COPY, heap only (no index, no primary key)', ddl: [], load: 'copy' },
  { id: 'copy-sink', label: 'COPY, the sink\'s schema', ddl: SINK_SCHEMA, load: 'copy' },
  { id: 'path-ops', label: 'INSERT … SELECT, GIN as jsonb_path_ops (not the platform\'s index)', ddl: [...BTREES, 'CREATE INDEX ON t USING GIN(data jsonb_path_ops)', UNIQUE], load: 'insert', sql: PER_SENSOR },
  { id: 'no-gin', label: 'INSERT … SELECT, no GIN index', ddl: [...BTREES, UNIQUE], load: 'insert', sql: PER_SENSOR },
  { id: 'per-reading', label: 'INSERT … SELECT, one row per reading (all sensors in data), the sink\'s schema', ddl: SINK_SCHEMA, load: 'insert', sql: PER_READING },
];

/** A CSV field: quoted, quotes doubled; undefined → empty (NULL in CSV format). */
const csv = (v) => (v === undefined ? '' : `"${String(v).replaceAll('"', '""')}"`);

/** Per batch: the JSON array parameter of the INSERTs, and the path of its CSV file (one row per sensor). */
function prepare(dir) {
  const t0 = Date.now() - 7_200_000;
  const batches = [];
  for (let i = 0, b = 0; i < READINGS; i += BATCH, b++) {
    const json = [];
    const rows = [];
    for (let j = i; j < Math.min(READINGS, i + BATCH); j++) {
      const data = entry(j, t0)[1];
      json.push(data);
      const r = JSON.parse(data);
      const md = r.device_metadata === undefined ? undefined : JSON.stringify(r.device_metadata);
      for (const [type, value] of Object.entries(r.sensors)) rows.push([r.message_id, r.device_id, r.timestamp, r.received_at, type, JSON.stringify(value), md].map(csv).join(','));
    }
    const file = path.join(dir, `batch-${b}.csv`);
    fs.writeFileSync(file, `${rows.join('\n')}\n`, { mode: 0o644 });
    batches.push({ param: `[${json.join(',')}]`, file });
  }
  return batches;
}

async function measure(c, pid, line, batches) {
  await c.query('DROP TABLE IF EXISTS t');
  await c.query(TABLE);
  for (const sql of line.ddl) await c.query(sql);
  await c.query('CHECKPOINT');
  const cpu0 = cpuSeconds(pid);
  const s0 = performance.now();
  for (const b of batches) {
    if (line.load === 'copy') await c.query(`COPY t (message_id, device_id, timestamp, received_at, sensor_type, data, metadata) FROM '${b.file}' WITH (FORMAT csv)`);
    else await c.query({ text: line.sql, values: [b.param] });
  }
  const seconds = (performance.now() - s0) / 1000;
  const cpu = cpuSeconds(pid) - cpu0;
  const rows = Number((await c.query('SELECT count(*) AS n FROM t')).rows[0].n);
  const want = line.sql === PER_READING ? READINGS : READINGS * SENSORS;
  const size = (await c.query(`SELECT pg_size_pretty(pg_total_relation_size('t')) AS s`)).rows[0].s;
  return { ...line, seconds, readingsPerSec: READINGS / seconds, usPerReading: (cpu * 1e6) / READINGS, rows, ok: rows === want, size };
}

async function main() {
  const machine = machineInfo();
  // the files must be readable by the server (it runs as the postgres user): a world-readable directory
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nb-bench-pg-alt-'));
  fs.chmodSync(dir, 0o755);
  const db = await startPostgres(dir, { settings: { shared_buffers: '1GB', max_wal_size: '8GB' } });
  console.log(`bench:postgres-alternatives: ${int(READINGS)} readings in batches of ${BATCH}; ${db.version} on 127.0.0.1:${db.port}`);
  const batches = prepare(dir);
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  const [{ pid }] = (await c.query('SELECT pg_backend_pid() AS pid')).rows;
  const out = [];
  try {
    for (const line of LINES) {
      const r = await measure(c, pid, line, batches);
      out.push(r);
      console.log(`${r.label}: ${int(r.readingsPerSec)} readings/s, backend CPU ${r.usPerReading.toFixed(1)} µs/reading, ${int(r.rows)} rows${r.ok ? '' : ' (WRONG COUNT)'}, ${r.size}`);
    }
  } finally {
    await c.end().catch(() => {});
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const sink = out[0];
  const rows = [['how', 'readings/s', 'backend CPU µs per reading', 'vs the sink today', 'one backend at 100 % of a core: readings/s', 'table + indexes', 'rows']];
  for (const r of out) rows.push([r.label, int(r.readingsPerSec), r.usPerReading.toFixed(1), `${(r.usPerReading / sink.usPerReading).toFixed(2)}×`, int(1e6 / r.usPerReading), r.size, `${int(r.rows)}${r.ok ? '' : ' WRONG'}`]);
  console.log(`\n${textTable(rows)}`);
  const failed = out.some((r) => !r.ok);
  if (WRITE_RESULTS && !failed) {
    const facts = [
      `date: ${new Date().toISOString()}`,
      `machine: ${machine.nproc} cores (${machine.cpu}), ${machine.memGiB} GiB`,
      `software: node ${machine.node}, ${db.version} (private cluster: shared_buffers=1GB, max_wal_size=8GB; fsync and synchronous_commit on), pg ${packageVersion('pg')}`,
      `command: \`${commandLine('bench:postgres-alternatives', 'bench/postgres/alternatives.mjs')}\``,
      `${int(READINGS)} readings (3 sensors each, half with device metadata) in batches of ${BATCH}, each batch one statement and one transaction, into a fresh table per line; CPU of the writing backend only. COPY reads a CSV file per batch on the server: its best case (no client-side encoding or network).`,
    ];
    const best = out.filter((r) => r.id !== 'copy-heap').reduce((a, b) => (b.usPerReading < a.usPerReading ? b : a));
    const md = [
      ...sectionHead('## PostgreSQL: the sink against the alternatives (bench/postgres/alternatives.mjs, issue 8)', facts),
      ...tablePart(
        '### Cost inside PostgreSQL per reading',
        [
          `50,000 readings/s from one consumer needs ≤ 20 µs per reading in its backend (and ≤ ${Math.round((machine.nproc * 1e6) / 50_000)} µs for PostgreSQL, the consumer and Redis together on ${machine.nproc} cores). Cheapest way here that keeps one row per sensor and the platform's GIN index: ${out.find((r) => r.id === 'copy-sink').usPerReading.toFixed(1)} µs (COPY); cheapest of all lines: ${best.usPerReading.toFixed(1)} µs (${best.label}).`,
        ],
        rows,
      ),
    ].join('\n');
    writeSection(RESULTS, START, END, md);
    console.log(`\nwrote the bench:postgres-alternatives section of ${path.relative(ROOT, RESULTS)}`);
  }
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  console.error(`bench:postgres-alternatives: ${err?.stack ?? err}`);
  process.exit(1);
});
