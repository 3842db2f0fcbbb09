/**
 * The dead-letter stream: an entry that kept failing is appended there with its last error,
 * and acknowledged in its own stream, atomically (MULTI), so it is never in neither place.
 * Dead letters can be listed and replayed (appended to the readings stream again).
 * @module
 */
import type { RedisClient } from '../queue/redis/connection.ts';
import type { ConsumedEntry } from './entry.ts';

export interface DeadLetter {
  /** Id in the DLQ stream. */
  id: string;
  /** The entry's id in its own stream. */
  originalId: string;
  stream: string;
  group: string;
  error: string;
  attempts: number;
  failedAt: string;
  /** The original entry's fields (data, device_id, message_id). */
  fields: Record<string, string>;
}

/** Moves `entry` to `dlq` with its error and acknowledges it in `stream` for `group`. */
export async function deadLetter(redis: RedisClient, o: { stream: string; group: string; dlq: string }, entry: ConsumedEntry, error: string, attempts: number): Promise<void> {
  const meta = ['dlq_original_id', entry.id, 'dlq_stream', o.stream, 'dlq_group', o.group, 'dlq_error', error.slice(0, 2000), 'dlq_attempts', String(attempts), 'dlq_failed_at', new Date().toISOString()];
  const own = Object.entries(entry.fields).flat();
  const res = await redis.multi().xadd(o.dlq, '*', ...meta, ...own).xack(o.stream, o.group, entry.id).exec();
  const failed = res?.find(([err]) => err);
  if (!res || failed) throw failed?.[0] ?? new Error('DLQ transaction discarded');
}

/** Dead letters, oldest first, from `start` (exclusive cursor: the last id seen; '-' from the beginning). */
export async function listDeadLetters(redis: RedisClient, dlq: string, start = '-', count = 100): Promise<DeadLetter[]> {
  const from = start === '-' ? '-' : `(${start}`;
  const raw = (await redis.xrange(dlq, from, '+', 'COUNT', count)) as [string, string[]][];
  return raw.map(([id, flat]) => {
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(f)) if (!k.startsWith('dlq_')) fields[k] = v;
    return {
      id,
      originalId: f.dlq_original_id ?? '',
      stream: f.dlq_stream ?? '',
      group: f.dlq_group ?? '',
      error: f.dlq_error ?? '',
      attempts: Number(f.dlq_attempts ?? 0),
      failedAt: f.dlq_failed_at ?? '',
      fields,
    };
  });
}

/**
 * Appends dead letters back to their stream (new ids, the same fields) and removes them from
 * the DLQ, each atomically. Every consumer group of that stream sees the replayed entry again:
 * sinks must be idempotent (the PostgreSQL sink is, on message_id + sensor_type).
 */
export async function replayDeadLetters(redis: RedisClient, dlq: string, ids: readonly string[] | 'all', fallbackStream: string): Promise<number> {
  let replayed = 0;
  let cursor = '-';
  for (;;) {
    const page = await listDeadLetters(redis, dlq, cursor, 100);
    if (page.length === 0) return replayed;
    for (const d of page) {
      if (ids !== 'all' && !ids.includes(d.id)) continue;
      const res = await redis
        .multi()
        .xadd(d.stream || fallbackStream, '*', ...Object.entries(d.fields).flat())
        .xdel(dlq, d.id)
        .exec();
      if (res && !res.some(([err]) => err)) replayed++;
    }
    cursor = page.at(-1)!.id;
  }
}
