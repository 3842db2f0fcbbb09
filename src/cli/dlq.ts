/**
 * `neurobuild-ingest dlq list` prints the dead-lettered entries (one JSON object per line:
 * id, original id, stream, group, error, attempts, failed_at, device_id, message_id);
 * `dlq replay [id ...]` appends them (all, or the given DLQ ids) to their stream again and
 * removes them from the DLQ, printing how many were replayed. With STREAM_SHARDS > 1 every
 * shard's DLQ (or CONSUMER_SHARDS'), shard after shard; each line names its `dlq`.
 * @module
 */
import { redisConfigured, SET_REDIS, shardsServed } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { listDeadLetters, replayDeadLetters } from '../consumer/dead-letter.ts';
import { createRedis } from '../queue/redis/connection.ts';
import { ConsumeUsageError } from './consume.ts';
import { keyLayout, redisConnection } from './redis-connection.ts';

export async function dlq(config: Config, rest: string[], out: (line: string) => void): Promise<void> {
  const [action, ...ids] = rest;
  if (action !== 'list' && action !== 'replay') throw new ConsumeUsageError(`dlq needs an action: list or replay [id ...] (got ${action === undefined ? 'none' : JSON.stringify(action)})`);
  if (action === 'list' && ids.length > 0) throw new ConsumeUsageError('dlq list takes no ids');
  if (!redisConfigured(config)) throw new ConsumeUsageError(`dlq reads Redis: set ${SET_REDIS}`);
  const redis = createRedis(redisConnection(config), 'neurobuild-dlq');
  redis.on('error', () => {});
  try {
    await redis.connect();
    const layout = keyLayout(config);
    const shards = shardsServed(config);
    if (action === 'replay') {
      for (const shard of shards) {
        const dlqName = layout.name(config.DLQ_NAME, shard);
        const n = await replayDeadLetters(redis, dlqName, ids.length ? ids : 'all', layout.stream(shard));
        out(JSON.stringify({ replayed: n, dlq: dlqName }));
      }
      return;
    }
    for (const shard of shards) {
      const dlqName = layout.name(config.DLQ_NAME, shard);
      let cursor = '-';
      for (;;) {
        const page = await listDeadLetters(redis, dlqName, cursor, 500);
        if (page.length === 0) break;
        for (const d of page) {
          out(JSON.stringify({ id: d.id, original_id: d.originalId, stream: d.stream, group: d.group, error: d.error, attempts: d.attempts, failed_at: d.failedAt, device_id: d.fields.device_id, message_id: d.fields.message_id, ...(layout.shards > 1 ? { dlq: dlqName } : {}) }));
        }
        cursor = page.at(-1)!.id;
      }
    }
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}
