/**
 * `neurobuild-ingest dlq list` prints the dead-lettered entries (one JSON object per line:
 * id, original id, stream, group, error, attempts, failed_at, device_id, message_id);
 * `dlq replay [id ...]` appends them (all, or the given DLQ ids) to their stream again and
 * removes them from the DLQ, printing how many were replayed.
 * @module
 */
import type { Config } from '../config/schema.ts';
import { listDeadLetters, replayDeadLetters } from '../consumer/dead-letter.ts';
import { createRedis } from '../queue/redis/connection.ts';
import { ConsumeUsageError } from './consume.ts';
import { redisConnection } from './redis-connection.ts';

export async function dlq(config: Config, rest: string[], out: (line: string) => void): Promise<void> {
  const [action, ...ids] = rest;
  if (action !== 'list' && action !== 'replay') throw new ConsumeUsageError(`dlq needs an action: list or replay [id ...] (got ${action === undefined ? 'none' : JSON.stringify(action)})`);
  if (action === 'list' && ids.length > 0) throw new ConsumeUsageError('dlq list takes no ids');
  if (!config.REDIS_URL && !config.REDIS_HOST) throw new ConsumeUsageError('dlq reads Redis: set REDIS_URL or REDIS_HOST');
  const redis = createRedis(redisConnection(config), 'neurobuild-dlq');
  redis.on('error', () => {});
  try {
    await redis.connect();
    if (action === 'replay') {
      const n = await replayDeadLetters(redis, config.DLQ_NAME, ids.length ? ids : 'all', config.QUEUE_NAME);
      out(JSON.stringify({ replayed: n, dlq: config.DLQ_NAME }));
      return;
    }
    let cursor = '-';
    for (;;) {
      const page = await listDeadLetters(redis, config.DLQ_NAME, cursor, 500);
      if (page.length === 0) return;
      for (const d of page) {
        out(JSON.stringify({ id: d.id, original_id: d.originalId, stream: d.stream, group: d.group, error: d.error, attempts: d.attempts, failed_at: d.failedAt, device_id: d.fields.device_id, message_id: d.fields.message_id }));
      }
      cursor = page.at(-1)!.id;
    }
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}
