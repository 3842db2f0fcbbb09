/**
 * The checker: reads the whole readings stream (XRANGE in pages) and sets it against the ack
 * tracker: offered, acknowledged, stored, lost (acknowledged but absent), duplicated (one
 * device_id + timestamp stored more than once), and 202 message_ids that are not the stored one.
 * @module
 */
import type { Redis } from 'ioredis';
import { keyOf, type AckTracker, type Transport } from './tracker.ts';

export interface Stored {
  /** Entries per device_id|timestamp, with their message_ids. */
  byKey: Map<string, string[]>;
  entries: number;
}

/** Every entry of `stream`, in pages of `page` (exclusive start ids, Redis ≥ 6.2). */
export async function readStream(redis: Redis, stream = 'sensor-data', page = 5000): Promise<Stored> {
  const byKey = new Map<string, string[]>();
  let entries = 0;
  let start = '-';
  for (;;) {
    const rows = (await redis.xrange(stream, start, '+', 'COUNT', page)) as [string, string[]][];
    for (const [, f] of rows) {
      entries++;
      let data = '';
      let deviceId = '';
      let messageId = '';
      for (let i = 0; i < f.length; i += 2) {
        if (f[i] === 'data') data = f[i + 1]!;
        else if (f[i] === 'device_id') deviceId = f[i + 1]!;
        else if (f[i] === 'message_id') messageId = f[i + 1]!;
      }
      const timestamp = (JSON.parse(data) as { timestamp: string }).timestamp;
      const key = keyOf(deviceId, timestamp);
      const ids = byKey.get(key);
      if (ids) ids.push(messageId);
      else byKey.set(key, [messageId]);
    }
    if (rows.length < page) break;
    start = `(${rows[rows.length - 1]![0]}`;
  }
  return { byKey, entries };
}

/** Every entry of several streams (the shards of a sharded stream), as one. */
export async function readStreams(redis: Redis, streams: readonly string[]): Promise<Stored> {
  const all: Stored = { byKey: new Map(), entries: 0 };
  for (const stream of streams) {
    const one = await readStream(redis, stream);
    all.entries += one.entries;
    for (const [key, ids] of one.byKey) all.byKey.set(key, [...(all.byKey.get(key) ?? []), ...ids]);
  }
  return all;
}

export interface Counts {
  offered: number;
  acknowledged: number;
  /** Offered readings present in the stream (once or more). */
  stored: number;
  /** Acknowledged and not in the stream. */
  lost: number;
  /** Offered readings stored more than once. */
  duplicated: number;
}

export interface CheckResult extends Counts {
  byTransport: Record<Transport, Counts>;
  /** Acknowledged as "already stored" (409 / batch duplicate) after a resend. */
  ackedAsDuplicate: number;
  /** Offered, stored, but never acknowledged (outcome unknown to the client: a timed-out or cut append). */
  storedUnacknowledged: number;
  /** 202 message_ids that differ from the stored entry's. */
  messageIdMismatch: number;
  /** Stream entries no generator offered (should be 0: the stream is the scenario's alone). */
  foreign: number;
  entries: number;
  /** Up to 10 lost keys, for the failure message. */
  lostSample: string[];
  duplicatedSample: string[];
}

export function check(tracker: AckTracker, stored: Stored): CheckResult {
  const zero = (): Counts => ({ offered: 0, acknowledged: 0, stored: 0, lost: 0, duplicated: 0 });
  const byTransport: Record<Transport, Counts> = { http: zero(), mqtt: zero() };
  const r: CheckResult = { ...zero(), byTransport, ackedAsDuplicate: 0, storedUnacknowledged: 0, messageIdMismatch: 0, foreign: 0, entries: stored.entries, lostSample: [], duplicatedSample: [] };
  for (const [key, o] of tracker.offered) {
    const t = byTransport[o.transport];
    const ids = stored.byKey.get(key);
    const ack = tracker.acked.get(key);
    r.offered++;
    t.offered++;
    if (ids) {
      r.stored++;
      t.stored++;
      if (ids.length > 1) {
        r.duplicated++;
        t.duplicated++;
        if (r.duplicatedSample.length < 10) r.duplicatedSample.push(`${key} ×${ids.length}`);
      }
    }
    if (!ack) {
      if (ids) r.storedUnacknowledged++;
      continue;
    }
    r.acknowledged++;
    t.acknowledged++;
    if (ack.asDuplicate) r.ackedAsDuplicate++;
    if (!ids) {
      r.lost++;
      t.lost++;
      if (r.lostSample.length < 10) r.lostSample.push(`${key} (${ack.transport}, acknowledged ${new Date(ack.ackedAt).toISOString()}${ack.messageId ? `, message_id ${ack.messageId}` : ''})`);
    } else if (ack.messageId !== undefined && !ids.includes(ack.messageId)) r.messageIdMismatch++;
  }
  for (const key of stored.byKey.keys()) if (!tracker.offered.has(key)) r.foreign++;
  return r;
}
