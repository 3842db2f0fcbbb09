/** The rate limiter the config asks for: none, in this process, or shared through Redis. */
import type { Cluster, Redis } from 'ioredis';
import { MemoryRateLimiter } from './memory-limiter.ts';
import type { RateLimiter } from './rate-limiter.ts';
import { RedisRateLimiter } from './redis-limiter.ts';

export const Buckets = { single: 'single', batch: 'batch', backfill: 'backfill' } as const;

export function createRateLimiter(o: { on: boolean; perMinute: number; batchPerMinute: number; backfillPerMinute: number; redis?: () => Redis | Cluster; prefixOf: (identity: string) => string }): RateLimiter | undefined {
  if (!o.on) return undefined;
  const buckets = { [Buckets.single]: { perMinute: o.perMinute }, [Buckets.batch]: { perMinute: o.batchPerMinute }, [Buckets.backfill]: { perMinute: o.backfillPerMinute } };
  if (o.redis) {
    const r = o.redis();
    r.connect().catch(() => {});
    return new RedisRateLimiter(r, buckets, o.prefixOf);
  }
  return new MemoryRateLimiter(buckets);
}
