/**
 * One entry of the readings stream as a consumer sees it: the stream id, the enriched reading
 * (the `data` field, parsed) and how many times it was delivered so far.
 * @module
 */
import type { RedisClient } from '../queue/redis/connection.ts';
import type { EnrichedReading } from '../core/readings/reading.ts';

export interface ConsumedEntry {
  /** Stream entry id (`<ms>-<seq>`). */
  id: string;
  /** The enriched reading; undefined when the entry's `data` is not JSON (it then goes to the DLQ). */
  reading: EnrichedReading | undefined;
  /** The entry's raw fields, as stored. */
  fields: Record<string, string>;
  /** Deliveries to a consumer of this group, this one included (from the pending entries list). */
  deliveries: number;
}

/** `[id, [k, v, k, v, …]]` as XREADGROUP / XAUTOCLAIM return it. */
export type RawEntry = [string, string[]];

export function toEntry([id, flat]: RawEntry, deliveries = 1): ConsumedEntry {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
  let reading: EnrichedReading | undefined;
  try {
    const v = JSON.parse(fields.data ?? '') as unknown;
    if (v !== null && typeof v === 'object') reading = v as EnrichedReading;
  } catch {
    reading = undefined;
  }
  return { id, reading, fields, deliveries };
}

/** Creates `group` on `stream` (and the stream) when missing; `startId` '$' = new entries only, '0' = the whole stream. */
export async function ensureGroup(redis: RedisClient, stream: string, group: string, startId: string): Promise<void> {
  try {
    await redis.xgroup('CREATE', stream, group, startId, 'MKSTREAM');
  } catch (err) {
    if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
  }
}
