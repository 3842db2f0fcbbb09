/**
 * `neurobuild-ingest consume postgres`: the readings stream into the platform's
 * `sensor_readings` table (INTEGRATION.md §2), one row per sensor per reading.
 *
 * - Schema: created when missing (the platform's table and its four indexes) plus the one
 *   addition idempotency needs: a `message_id` column and a UNIQUE index on
 *   (message_id, sensor_type). An existing platform table gets the column added (its old
 *   rows keep NULL there, which never conflicts). The DDL runs under an advisory lock, so
 *   consumers starting together do not trip over each other.
 * - Writes: one INSERT … SELECT per batch (one statement, so one transaction): the batch's
 *   `data` fields are sent as one JSON array parameter, and PostgreSQL expands it with
 *   jsonb_array_elements × jsonb_each(sensors), so the statement has a single parameter
 *   whatever the batch size (no 65,535-parameter limit) and Node does no per-row work.
 *   The unique index refuses a second row for a (message_id, sensor_type): a batch that meets
 *   one (a consumer died between its commit and XACK, a dead letter replayed) is rolled back
 *   and written again with `ON CONFLICT (message_id, sensor_type) DO NOTHING`, skipping the
 *   rows already there. (A plain INSERT first because ON CONFLICT costs ~10 % more per row.)
 * - Errors: when the database is unreachable or refuses for a passing reason (connection
 *   lost, shutting down, too many connections, disk full, deadlock, read-only after a
 *   failover) the batch waits and is tried again until PostgreSQL answers: the entries stay
 *   pending in the stream instead of going to the DLQ. Any other error (a reading the table
 *   cannot take) is thrown: the consumer retries, then dead-letters the entries that fail.
 * @module
 */
import type { Logger } from 'pino';
import pg from 'pg';
import type { Config } from '../../config/schema.ts';
import { backoffDelay } from '../../util/backoff.ts';
import type { ConsumedEntry } from '../entry.ts';
import { type Sink, type SinkInstance, SinkConfigError } from './sink.ts';

export const TABLE = 'sensor_readings';
const UNIQUE_INDEX = 'idx_sensor_readings_message_id_sensor_type';

/** The platform's schema (INTEGRATION.md §2) and the idempotency addition; every statement is a no-op when already there. */
export const SCHEMA_SQL = [
  `CREATE TABLE IF NOT EXISTS ${TABLE} (
    id BIGSERIAL PRIMARY KEY,
    device_id VARCHAR(100) NOT NULL,
    timestamp TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    sensor_type VARCHAR(50) NOT NULL,
    data JSONB NOT NULL,
    metadata JSONB,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    message_id TEXT
  )`,
  `CREATE INDEX IF NOT EXISTS idx_sensor_readings_device_id ON ${TABLE}(device_id)`,
  `CREATE INDEX IF NOT EXISTS idx_sensor_readings_timestamp ON ${TABLE}(timestamp)`,
  `CREATE INDEX IF NOT EXISTS idx_sensor_readings_sensor_type ON ${TABLE}(sensor_type)`,
  `CREATE INDEX IF NOT EXISTS idx_sensor_readings_data ON ${TABLE} USING GIN(data)`,
  // the addition: what makes a redelivered entry a no-op
  `ALTER TABLE ${TABLE} ADD COLUMN IF NOT EXISTS message_id TEXT`,
  `CREATE UNIQUE INDEX IF NOT EXISTS ${UNIQUE_INDEX} ON ${TABLE}(message_id, sensor_type)`,
];

/** One statement per batch: $1 is a JSON array of enriched readings. */
export const INSERT_SQL = `INSERT INTO ${TABLE} (message_id, device_id, timestamp, received_at, sensor_type, data, metadata)
SELECT r->>'message_id', r->>'device_id', (r->>'timestamp')::timestamptz, (r->>'received_at')::timestamptz, s.key, s.value, NULLIF(r->'device_metadata', 'null'::jsonb)
FROM jsonb_array_elements($1::jsonb) AS r, jsonb_each(r->'sensors') AS s`;
/** The same, skipping the rows already there: for a batch that met one (a redelivered entry). */
export const INSERT_SKIPPING_SQL = `${INSERT_SQL}
ON CONFLICT (message_id, sensor_type) DO NOTHING`;

const SCHEMA_LOCK = 'neurobuild-ingest:sensor_readings:schema';

/**
 * Errors that say "not now" rather than "not this reading": the connection (Node socket
 * errors, pg's own connection errors) or SQLSTATE classes 08 (connection), 53 (insufficient
 * resources), 57P01-03 (shutdown, cannot connect now), 58 (system error), 40001/40P01
 * (serialization failure, deadlock), 55P03 (lock not available), 25006 (read-only: a standby
 * after failover).
 */
export function isTransient(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (/^[0-9][0-9A-Z]{4}$/.test(code)) return /^(08|53|58)/.test(code) || ['57P01', '57P02', '57P03', '40001', '40P01', '55P03', '25006'].includes(code);
  if (code.startsWith('E')) return true; // ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE, ENOTFOUND, EAI_AGAIN, EHOSTUNREACH…
  const msg = typeof e?.message === 'string' ? e.message : '';
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended|not queryable/i.test(msg);
}

/** host:port/database of a connection URL, without credentials (for messages). */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname || '/'}`;
  } catch {
    return '(unparsable DATABASE_URL)';
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Why a reading cannot become rows, or undefined when it can. */
function unstorable(e: ConsumedEntry): string | undefined {
  const r = e.reading as unknown as Record<string, unknown> | undefined;
  if (!r || Array.isArray(r)) return 'the reading is not a JSON object';
  if (typeof r.message_id !== 'string' || r.message_id === '') return 'the reading has no message_id';
  if (typeof r.device_id !== 'string' || typeof r.timestamp !== 'string' || typeof r.received_at !== 'string') return 'the reading lacks device_id, timestamp or received_at';
  const s = r.sensors;
  if (s === null || typeof s !== 'object' || Array.isArray(s)) return 'the reading has no sensors object';
  return undefined;
}

export interface PostgresSinkOptions {
  connectionString: string;
  log: Logger;
  /** First wait after a transient error, doubled up to maxWaitMs. @default 250 */
  firstWaitMs?: number;
  /** @default 5000 */
  maxWaitMs?: number;
}

/** Runs SCHEMA_SQL in one transaction under an advisory lock (consumers starting together wait for each other). */
async function ensureSchema(pool: pg.Pool): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [SCHEMA_LOCK]);
    for (const sql of SCHEMA_SQL) await c.query(sql);
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    c.release();
  }
}

/** Connects, creates the schema when missing, and returns the batch handler. */
export async function openPostgres(o: PostgresSinkOptions): Promise<SinkInstance & { pool: pg.Pool }> {
  const where = describeUrl(o.connectionString);
  const pool = new pg.Pool({
    connectionString: o.connectionString,
    max: 1,
    idleTimeoutMillis: 0,
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
    application_name: 'neurobuild-ingest consume postgres',
  });
  // an idle connection that breaks (server restart): the pool drops it, the next batch reconnects
  pool.on('error', (err) => o.log.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, `postgres: connection to ${where} lost`));

  try {
    await ensureSchema(pool);
  } catch (err) {
    await pool.end().catch(() => {});
    throw new Error(`postgres: cannot prepare ${TABLE} at ${where}: ${(err as Error).message}`);
  }
  o.log.info({ table: TABLE, database: where }, `postgres: ${TABLE} ready`);

  const firstWait = o.firstWaitMs ?? 250;
  const maxWait = o.maxWaitMs ?? 5000;
  let closed = false;

  async function handle(entries: ConsumedEntry[]): Promise<void> {
    const bad = entries.map((e) => [e.id, unstorable(e)] as const).filter(([, why]) => why !== undefined);
    // thrown: the consumer retries, then tries the entries one by one and dead-letters these
    if (bad.length > 0) throw new Error(bad.map(([id, why]) => `entry ${id}: ${why}`).join('; '));
    let rows = 0;
    for (const e of entries) rows += Object.keys(e.reading!.sensors).length;
    const param = `[${entries.map((e) => e.fields.data).join(',')}]`;
    let recreated = false;
    // a plain INSERT first (the unique index refuses a second row either way): ON CONFLICT's
    // speculative insertion costs ~10 % more per row, paid only by a batch that meets a stored row
    let skipping = false;
    for (let attempt = 0; ; attempt++) {
      try {
        const res = skipping
          ? await pool.query({ name: 'nb_insert_sensor_readings_skipping', text: INSERT_SKIPPING_SQL, values: [param] })
          : await pool.query({ name: 'nb_insert_sensor_readings', text: INSERT_SQL, values: [param] });
        const skipped = rows - (res.rowCount ?? 0);
        if (skipped > 0) o.log.info({ rows, inserted: res.rowCount, skipped }, `postgres: ${skipped} row(s) already stored (redelivered entries), skipped`);
        if (attempt > 0) o.log.info({ attempts: attempt + 1 }, `postgres: ${where} answers again; batch stored`);
        return;
      } catch (err) {
        // unique_violation: a row of the batch is there already (the statement was rolled back
        // as a whole); again, skipping those. (A violation of another unique index fails again.)
        if (!skipping && (err as { code?: string }).code === '23505') {
          skipping = true;
          attempt--;
          continue;
        }
        // the table went away under us (dropped, a database restored without it): created again, once per batch
        if (!closed && (err as { code?: string }).code === '42P01' && !recreated) {
          recreated = true;
          o.log.warn(`postgres: ${TABLE} missing at ${where}; creating it again`);
          await ensureSchema(pool).catch((e: Error) => o.log.warn({ err: { message: e.message } }, `postgres: creating ${TABLE} again failed`));
          continue;
        }
        if (closed || !isTransient(err)) throw err;
        const wait = backoffDelay({ firstMs: firstWait, maxMs: maxWait, jitter: 0.5 }, attempt + 1);
        const level = attempt === 0 || attempt % 10 === 0 ? 'warn' : 'debug';
        o.log[level]({ err: { message: (err as Error).message, code: (err as { code?: string }).code }, attempt: attempt + 1, wait_ms: wait }, `postgres: ${where} unavailable; the batch waits (its entries stay pending)`);
        await sleep(wait);
      }
    }
  }

  return {
    pool,
    handle,
    async close() {
      closed = true;
      await pool.end();
    },
  };
}

export const postgresSink: Sink = {
  group: 'storage',
  describe: `PostgreSQL ${TABLE} (the platform's schema), one row per sensor per reading, idempotent on (message_id, sensor_type)`,
  check(config: Config) {
    if (!config.DATABASE_URL) throw new SinkConfigError('consume postgres needs DATABASE_URL (or --database-url postgres://user:password@host:5432/db)');
  },
  async open(config: Config, log: Logger) {
    if (!config.DATABASE_URL) throw new SinkConfigError('consume postgres needs DATABASE_URL (or --database-url postgres://user:password@host:5432/db)');
    const { handle, close } = await openPostgres({ connectionString: config.DATABASE_URL, log });
    return { handle, close };
  },
};
