/**
 * Composition of AUTH_MODE for `serve`: the key store next to the queue (Redis, or a file with
 * the embedded queue), the JWT verifier when tokens are allowed, and the authenticator.
 * @module
 */
import type { Logger } from 'pino';
import { Authenticator } from '../auth/authenticator.ts';
import { JwtVerifier } from '../auth/jwt.ts';
import type { KeyStore } from '../auth/key-store.ts';
import { FileKeyStore } from '../auth/stores/file-store.ts';
import { RedisKeyStore } from '../auth/stores/redis-store.ts';
import type { Redis } from 'ioredis';
import type { RateLimiter } from '../auth/rate/rate-limiter.ts';
import { createRateLimiter } from '../auth/rate/setup.ts';
import { queueBackendOf, rateLimitsOn } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { createRedis, reconnectWhenUnresponsive } from '../queue/redis/connection.ts';
import { redisConnection } from './redis-connection.ts';

function connector(config: Config): ((name: string) => Redis) | undefined {
  if (queueBackendOf(config) !== 'redis') return undefined;
  const o = redisConnection(config);
  return (name) => {
    // a connection gone silent (peer lost without FIN) would stall every rate-limit check, or stop revocations arriving
    const r = createRedis(o, name);
    const stop = reconnectWhenUnresponsive(r, () => {});
    r.once('end', stop);
    return r;
  };
}

/** Per-device token buckets when RATE_LIMIT is on: in Redis (shared) or in this process. */
export function createLimiter(config: Config): RateLimiter | undefined {
  const connect = connector(config);
  return createRateLimiter({
    on: rateLimitsOn(config),
    perMinute: config.RATE_LIMIT_PER_MINUTE,
    batchPerMinute: config.RATE_LIMIT_BATCH_PER_MINUTE,
    backfillPerMinute: config.RATE_LIMIT_BACKFILL_PER_MINUTE,
    prefix: 'rate',
    ...(connect ? { redis: () => connect('neurobuild-ingest:rate') } : {}),
  });
}

export function createAuth(config: Config, log: Logger): Authenticator {
  const connect = connector(config);
  const store: KeyStore = connect ? new RedisKeyStore(connect, config.API_KEYS_KEY) : new FileKeyStore(config.API_KEYS_FILE);
  const jwt =
    config.AUTH_MODE === 'jwt' || config.AUTH_MODE === 'any'
      ? new JwtVerifier({ secret: config.JWT_SECRET, publicKeyFile: config.JWT_PUBLIC_KEY_FILE, jwksFile: config.JWT_JWKS_FILE, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE })
      : undefined;
  if (config.AUTH_MODE === 'none') {
    log.warn('AUTH_MODE=none: anyone who reaches the ports may write any device\'s readings; set AUTH_MODE=api-key, jwt or any before exposing this server');
  } else if (!config.ADMIN_TOKEN) {
    log.warn({ auth_mode: config.AUTH_MODE }, 'ADMIN_TOKEN is not set: the admin API is off, so no API key can be registered here');
  }
  return new Authenticator(config.AUTH_MODE, store, jwt);
}
