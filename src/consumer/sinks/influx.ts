/**
 * `neurobuild-ingest consume influx`: the readings stream into the platform's time-series
 * storage (InfluxDB, bucket `sensor_data`), one point per sensor per reading in that service's
 * schema (../influx/storage-schema.ts), as line protocol over HTTP (../influx/write-api.ts).
 *
 * - Batches: the consumer gathers entries for up to INFLUX_FLUSH_INTERVAL_MS (or until
 *   CONSUMER_BATCH_SIZE); the sink writes them in requests of at most INFLUX_BATCH_LINES lines
 *   and INFLUX_BATCH_BYTES bytes (a reading's lines are never split between two requests), and
 *   returns, so that the consumer acknowledges the entries, only after InfluxDB answered 2xx
 *   to every request.
 * - Idempotent: a point is (measurement, tags, device timestamp); a redelivered entry writes
 *   the same lines, which overwrite themselves.
 * - Entries that are their own problem go to the DLQ at once (FailedEntriesError): a reading
 *   that cannot be encoded; a request InfluxDB refuses (400, 422, other 4xx) is split in two
 *   and each half written again, down to the entries refused alone; a 413 the same way.
 * - Not the entries' fault: 5xx, 408, 429, timeouts, network errors, and 401 / 403 / 404 (a
 *   token, org or bucket setting): the request waits and is tried again with backoff (and
 *   Retry-After) until InfluxDB takes it; the entries stay pending and nothing goes to the DLQ.
 * - Counters in the Redis hash `influx-stats:<group>`: writes, points, bytes, retries,
 *   refused, too_large, dead_lettered.
 * @module
 */
import type { RedisClient } from '../../queue/redis/connection.ts';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.ts';
import { backoffDelay } from '../../util/backoff.ts';
import type { ConsumedEntry } from '../entry.ts';
import { FailedEntriesError } from '../failed-entries.ts';
import { readingLines, UnencodableReadingError } from '../influx/storage-schema.ts';
import { createDatabase, describeInflux, type InfluxTarget, ping, writeLines } from '../influx/write-api.ts';
import { type Sink, type SinkInstance, SinkConfigError } from './sink.ts';

export const DEFAULT_GROUP = 'influx';

/** The counters of the stats hash. */
export type InfluxStat = 'writes' | 'points' | 'bytes' | 'retries' | 'refused' | 'too_large' | 'dead_lettered';

export interface InfluxSinkOptions extends InfluxTarget {
  log: Logger;
  /** Most lines in one request. */
  batchLines: number;
  /** Most bytes in one request (a single reading larger than this still goes alone). */
  batchBytes: number;
  /** Counts into the stats hash (best effort: a failure is logged, never fails a batch). */
  count?: (counts: Partial<Record<InfluxStat, number>>) => Promise<void>;
  /** First wait after an unavailable InfluxDB, doubled up to maxWaitMs. @default 250 */
  firstWaitMs?: number;
  /** @default 5000 */
  maxWaitMs?: number;
}

interface Item {
  entry: ConsumedEntry;
  body: string;
  lines: number;
  bytes: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Consecutive runs of `items` within the line and byte limits (an item larger than them alone). */
export function chunk<T extends { lines: number; bytes: number }>(items: readonly T[], maxLines: number, maxBytes: number): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let lines = 0;
  let bytes = 0;
  for (const it of items) {
    if (cur.length > 0 && (lines + it.lines > maxLines || bytes + it.bytes > maxBytes)) {
      out.push(cur);
      cur = [];
      lines = 0;
      bytes = 0;
    }
    cur.push(it);
    lines += it.lines;
    bytes += it.bytes;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** Checks the server and prepares (v1: the database), then returns the batch handler. */
export async function openInflux(o: InfluxSinkOptions): Promise<SinkInstance> {
  const where = describeInflux(o.url);
  let version: string;
  try {
    version = await ping(o);
  } catch (err) {
    throw new Error(`influx: cannot reach InfluxDB at ${where}: ${(err as Error).message}`);
  }
  const major = /^v?(\d+)\.(\d+)/.exec(version);
  // /api/v2/write came to 1.x with 1.8
  if (o.api === 'v2' && major && Number(major[1]) === 1 && Number(major[2]) < 8) {
    throw new SinkConfigError(`InfluxDB ${version} at ${where} has no /api/v2/write (1.8 added it): set INFLUX_API=v1`);
  }
  if (o.api === 'v1' && major && Number(major[1]) === 1) {
    await createDatabase(o).then(
      () => o.log.info({ database: o.bucket }, `influx: database ${o.bucket} ready`),
      (err: Error) => o.log.warn({ err: { message: err.message } }, `influx: CREATE DATABASE ${o.bucket} failed (writes will tell whether it exists)`),
    );
  }
  o.log.info({ influx: where, api: o.api, version, bucket: o.bucket }, `influx: writing to ${where} (InfluxDB ${version || 'version unknown'}, ${o.api === 'v2' ? `/api/v2/write, bucket ${o.bucket}` : `/write, database ${o.bucket}`})`);

  const firstWait = o.firstWaitMs ?? 250;
  const maxWait = o.maxWaitMs ?? 5000;
  const count = (c: Partial<Record<InfluxStat, number>>) => {
    if (!o.count) return Promise.resolve();
    return o.count(c).catch((err: Error) => o.log.debug({ err: { message: err.message } }, 'influx: counting failed'));
  };

  /** Writes `items` (one request, split on refusal); entries InfluxDB refuses alone go to `failed`. */
  async function write(items: Item[], failed: Map<string, string>): Promise<void> {
    const body = items.map((i) => i.body).join('\n');
    for (let attempt = 0; ; attempt++) {
      const res = await writeLines(o, body);
      switch (res.kind) {
        case 'written': {
          const points = items.reduce((n, i) => n + i.lines, 0);
          await count({ writes: 1, points, bytes: Buffer.byteLength(body) });
          if (attempt > 0) o.log.info({ attempts: attempt + 1 }, `influx: ${where} answers again; batch written`);
          return;
        }
        case 'refused':
        case 'too-large': {
          await count(res.kind === 'refused' ? { refused: 1 } : { too_large: 1 });
          if (items.length === 1) {
            failed.set(items[0]!.entry.id, `InfluxDB refused the reading's points: ${res.status} ${res.message}`);
            return;
          }
          // halves until the refused entries stand alone; the rest is written (again: the same points)
          o.log.info({ status: res.status, entries: items.length, error: res.message }, `influx: ${res.status} for a request of ${items.length} readings; writing it in halves to find the refused ones`);
          const half = Math.ceil(items.length / 2);
          await write(items.slice(0, half), failed);
          await write(items.slice(half), failed);
          return;
        }
        case 'misconfigured':
        case 'unavailable': {
          const wait = Math.max(backoffDelay({ firstMs: firstWait, maxMs: maxWait, jitter: 0.5 }, attempt + 1), res.kind === 'unavailable' ? (res.retryAfterMs ?? 0) : 0);
          await count({ retries: 1 });
          const noisy = attempt === 0 || attempt % 10 === 0;
          const what = res.status === undefined ? res.message : `${res.status} ${res.message}`;
          if (res.kind === 'misconfigured') {
            o.log[noisy ? 'error' : 'debug']({ status: res.status, error: res.message, attempt: attempt + 1, wait_ms: wait }, `influx: ${where} refuses the write (${what}): check INFLUX_TOKEN, INFLUX_ORG and INFLUX_BUCKET; the batch waits (its entries stay pending)`);
          } else {
            o.log[noisy ? 'warn' : 'debug']({ status: res.status, error: res.message, attempt: attempt + 1, wait_ms: wait }, `influx: ${where} unavailable (${what}); the batch waits (its entries stay pending)`);
          }
          await sleep(wait);
          break;
        }
      }
    }
  }

  async function handle(entries: ConsumedEntry[]): Promise<void> {
    const failed = new Map<string, string>();
    const items: Item[] = [];
    for (const entry of entries) {
      try {
        const lines = readingLines(entry.reading);
        if (lines.length === 0) continue;
        const body = lines.join('\n');
        items.push({ entry, body, lines: lines.length, bytes: Buffer.byteLength(body) + 1 });
      } catch (err) {
        if (!(err instanceof UnencodableReadingError)) throw err;
        failed.set(entry.id, `cannot be written to InfluxDB: ${err.message}`);
      }
    }
    for (const part of chunk(items, o.batchLines, o.batchBytes)) await write(part, failed);
    if (failed.size > 0) {
      await count({ dead_lettered: failed.size });
      throw new FailedEntriesError(failed);
    }
  }

  return { handle, close: async () => {} };
}

function target(config: Config): InfluxTarget {
  return { url: config.INFLUX_URL ?? '', api: config.INFLUX_API, org: config.INFLUX_ORG, bucket: config.INFLUX_BUCKET, token: config.INFLUX_TOKEN, timeoutMs: config.INFLUX_TIMEOUT_MS };
}

export const influxSink: Sink = {
  group: DEFAULT_GROUP,
  describe: 'InfluxDB (the platform\'s time-series storage schema: ld2410_presence, pir_motion, mq134_gas in sensor_data), line protocol over /api/v2/write or 1.x /write',
  check(config: Config) {
    if (!config.INFLUX_URL) throw new SinkConfigError('consume influx needs INFLUX_URL (or --influx-url http://influxdb:8086)');
    if (config.INFLUX_API === 'v2' && !config.INFLUX_ORG) throw new SinkConfigError('consume influx with INFLUX_API=v2 needs INFLUX_ORG (the organization of the bucket; INFLUX_API=v1 for InfluxDB 1.x /write)');
    if (config.INFLUX_API === 'v2' && !config.INFLUX_TOKEN) throw new SinkConfigError('consume influx with INFLUX_API=v2 needs INFLUX_TOKEN (an API token that may write to the bucket)');
  },
  async open(config: Config, log: Logger, redis: RedisClient) {
    influxSink.check!(config, []);
    const statsKey = `influx-stats:${config.CONSUMER_GROUP ?? DEFAULT_GROUP}`;
    const instance = await openInflux({
      ...target(config),
      log,
      batchLines: config.INFLUX_BATCH_LINES,
      batchBytes: config.INFLUX_BATCH_BYTES,
      count: async (c) => {
        const m = redis.multi();
        for (const [k, n] of Object.entries(c)) if (n) m.hincrby(statsKey, k, n);
        await m.exec();
      },
    });
    return { ...instance, lingerMs: config.INFLUX_FLUSH_INTERVAL_MS };
  },
};
