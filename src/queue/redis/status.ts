/**
 * Queue status from Redis: stream lengths and, per consumer group, pending and lag
 * (Redis ≥ 7 reports lag in XINFO GROUPS).
 * @module
 */
import type { ConsumerGroupStatus, QueueStatus, ShardStatus } from '../backend.ts';
import type { KeyLayout } from '../key-layout.ts';
import type { RedisClient } from './connection.ts';

/**
 * Every shard's stream, DLQ and groups (one pipeline per shard: its keys share a slot), and the
 * rejects stream; the totals are summed over the shards.
 */
export async function readStatus(redis: RedisClient, layout: KeyLayout, dlqBase: string, rejects: string): Promise<QueueStatus> {
  const [shards, rejLen] = await Promise.all([Promise.all(layout.all().map((i) => readShard(redis, i, layout.stream(i), layout.name(dlqBase, i)))), redis.xlen(rejects)]);
  const sum = (f: (s: ShardStatus) => number) => shards.reduce((n, s) => n + f(s), 0);
  return { queueSize: sum((s) => s.queueSize), streamLength: sum((s) => s.streamLength), dlqSize: sum((s) => s.dlqSize), rejectsSize: rejLen, groups: shards[0]?.groups ?? [], shards };
}

async function readShard(redis: RedisClient, shard: number, stream: string, dlq: string): Promise<ShardStatus> {
  const [[, len], [, dlqLen], [groupsErr, groups]] = (await redis.pipeline().xlen(stream).xlen(dlq).xinfo('GROUPS', stream).exec()) as [Error | null, unknown][] as [[null, number], [null, number], [Error | null, unknown[][]]];
  // XINFO GROUPS fails with "no such key" before the first append
  const parsed = groupsErr ? [] : (groups ?? []).map(parseGroup);
  await Promise.all(parsed.filter((g) => g.lag === null).map((g) => countLag(redis, stream, g)));
  const backlog = parsed.length === 0 ? len : Math.max(...parsed.map((g) => (g.lag ?? len) + g.pending));
  const groupsOut = parsed.map(({ lastId: _, ...g }) => g);
  return { shard, stream, queueSize: backlog, streamLength: len, dlq, dlqSize: dlqLen, groups: groupsOut };
}

/** Entries counted past a group's last-delivered id when Redis cannot tell the lag itself. */
export const LAG_COUNT_CAP = 1000;

/**
 * Redis 7.0 reports lag as null for a group created at an id inside the stream until its
 * consumers have read; count what follows the last-delivered id instead, at most
 * LAG_COUNT_CAP entries (above the platform's backlog alert threshold).
 */
async function countLag(redis: RedisClient, stream: string, g: ConsumerGroupStatus & { lastId?: string }): Promise<void> {
  if (!g.lastId) return;
  const rows = await redis.xrange(stream, '(' + g.lastId, '+', 'COUNT', LAG_COUNT_CAP);
  g.lag = rows.length;
  if (rows.length === LAG_COUNT_CAP) g.lagCapped = true;
}

function parseGroup(flat: unknown[]): ConsumerGroupStatus & { lastId?: string } {
  const f = new Map<string, unknown>();
  for (let i = 0; i + 1 < flat.length; i += 2) f.set(String(flat[i]), flat[i + 1]);
  const lag = f.get('lag');
  return {
    lastId: f.get('last-delivered-id') as string | undefined,
    name: String(f.get('name')),
    consumers: Number(f.get('consumers') ?? 0),
    pending: Number(f.get('pending') ?? 0),
    lag: lag === null || lag === undefined ? null : Number(lag),
  };
}
