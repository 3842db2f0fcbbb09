/**
 * Queue status from Redis: stream lengths and, per consumer group, pending and lag
 * (Redis ≥ 7 reports lag in XINFO GROUPS).
 * @module
 */
import type { Redis } from 'ioredis';
import type { ConsumerGroupStatus, QueueStatus } from '../backend.ts';

export async function readStatus(redis: Redis, stream: string, dlq: string, rejects: string): Promise<QueueStatus> {
  const [[, len], [, dlqLen], [, rejLen], [groupsErr, groups]] = (await redis
    .pipeline()
    .xlen(stream)
    .xlen(dlq)
    .xlen(rejects)
    .xinfo('GROUPS', stream)
    .exec()) as [Error | null, unknown][] as [[null, number], [null, number], [null, number], [Error | null, unknown[][]]];
  // XINFO GROUPS fails with "no such key" before the first append
  const parsed = groupsErr ? [] : (groups ?? []).map(parseGroup);
  const backlog = parsed.length === 0 ? len : Math.max(...parsed.map((g) => (g.lag ?? len) + g.pending));
  return { queueSize: backlog, streamLength: len, dlqSize: dlqLen, rejectsSize: rejLen, groups: parsed };
}

function parseGroup(flat: unknown[]): ConsumerGroupStatus {
  const f = new Map<string, unknown>();
  for (let i = 0; i + 1 < flat.length; i += 2) f.set(String(flat[i]), flat[i + 1]);
  const lag = f.get('lag');
  return {
    name: String(f.get('name')),
    consumers: Number(f.get('consumers') ?? 0),
    pending: Number(f.get('pending') ?? 0),
    lag: lag === null || lag === undefined ? null : Number(lag),
  };
}
