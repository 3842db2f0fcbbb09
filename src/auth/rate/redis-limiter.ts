/**
 * Token buckets in Redis, shared by every instance. The checks of one event-loop turn go to
 * Redis together, as one script call per key prefix (one round trip however many requests
 * arrived; on Redis Cluster, a prefix per shard, whose buckets share a slot), and the script
 * does the same arithmetic as the in-memory limiter. If Redis does not answer, the
 * request is let through (the queue itself then refuses it with 503): a limiter outage must not
 * turn into refusing every device.
 * @module
 */
import type { Cluster, Redis } from 'ioredis';
import { type Bucket, type RateLimiter, type Take } from './rate-limiter.ts';

// KEYS: one hash per bucket and identity; ARGV: now, then perMinute per key. Returns, per key,
// 0 (taken) or the seconds to wait.
const SCRIPT = `
local now = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local per = tonumber(ARGV[i + 1])
  local s = redis.call('HMGET', key, 't', 'at')
  local tokens = per
  if s[1] then tokens = math.min(per, tonumber(s[1]) + (now - tonumber(s[2])) * per / 60000) end
  if tokens >= 1 then
    tokens = tokens - 1
    out[i] = 0
  else
    out[i] = math.max(1, math.ceil((1 - tokens) * 60 / per))
  end
  redis.call('HSET', key, 't', tostring(tokens), 'at', tostring(now))
  redis.call('PEXPIRE', key, 120000)
end
return out
`;

interface Pending {
  prefix: string;
  key: string;
  perMinute: number;
  resolve: (t: Take) => void;
}

export class RedisRateLimiter implements RateLimiter {
  #pending: Pending[] = [];
  #scheduled = false;

  /** @param prefixOf the key prefix of an identity's buckets (one script call per prefix and turn) */
  constructor(
    private readonly redis: Redis | Cluster,
    readonly buckets: Record<string, Bucket>,
    private readonly prefixOf: (identity: string) => string,
  ) {
    redis.defineCommand('nbRateTake', { lua: SCRIPT });
  }

  take(bucket: string, key: string): Promise<Take> {
    return new Promise((resolve) => {
      this.#pending.push({ prefix: this.prefixOf(key), key: `${this.prefixOf(key)}:${bucket}:${key}`, perMinute: this.buckets[bucket]!.perMinute, resolve });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.#flush);
      }
    });
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const pending = this.#pending;
    this.#pending = [];
    const groups = new Map<string, Pending[]>();
    for (const p of pending) {
      const g = groups.get(p.prefix);
      if (g) g.push(p);
      else groups.set(p.prefix, [p]);
    }
    const now = Date.now();
    for (const batch of groups.values()) {
      const keys = batch.map((p) => p.key);
      const args = [now, ...batch.map((p) => p.perMinute)];
      (this.redis as unknown as { nbRateTake(n: number, ...a: (string | number)[]): Promise<number[]> })
        .nbRateTake(keys.length, ...keys, ...args)
        .then(
          (waits) => batch.forEach((p, i) => p.resolve(waits[i] === 0 ? { ok: true } : { ok: false, retryAfterSeconds: Number(waits[i]) })),
          () => batch.forEach((p) => p.resolve({ ok: true })),
        );
    }
  };

  async close(): Promise<void> {
    await this.redis.quit().catch(() => {});
    this.redis.disconnect();
  }
}
