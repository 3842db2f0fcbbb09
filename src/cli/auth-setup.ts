/**
 * Composition of AUTH_MODE for `serve`: the key store next to the queue (Redis, or a file with
 * the embedded queue), the JWT verifier when tokens are allowed, and the authenticator.
 * @module
 */
import type { Logger } from 'pino';
import { Authenticator } from '../auth/authenticator.ts';
import { DeviceAuthClient } from '../auth/device-auth.ts';
import { JwtVerifier } from '../auth/jwt.ts';
import type { KeyStore } from '../auth/key-store.ts';
import { FileKeyStore } from '../auth/stores/file-store.ts';
import { RedisKeyStore } from '../auth/stores/redis-store.ts';
import type { RateLimiter } from '../auth/rate/rate-limiter.ts';
import { createRateLimiter } from '../auth/rate/setup.ts';
import { queueBackendOf, rateLimitsOn } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { Metrics } from '../metrics/registry.ts';
import { createRedis, reconnectWhenUnresponsive, type RedisClient } from '../queue/redis/connection.ts';
import { keyLayout, redisConnection } from './redis-connection.ts';

function connector(config: Config): ((name: string) => RedisClient) | undefined {
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
  const layout = keyLayout(config);
  return createRateLimiter({
    on: rateLimitsOn(config),
    perMinute: config.RATE_LIMIT_PER_MINUTE,
    batchPerMinute: config.RATE_LIMIT_BATCH_PER_MINUTE,
    backfillPerMinute: config.RATE_LIMIT_BACKFILL_PER_MINUTE,
    // an identity's buckets in its shard (a device's, when the identity is a device): one call per shard and turn
    prefixOf: (identity) => layout.name('rate', layout.shardOf(identity)),
    ...(connect ? { redis: () => connect('neurobuild-ingest:rate') } : {}),
  });
}

/** The key store next to the queue: Redis (shared by every instance), or a file with the embedded queue. */
export function createKeyStore(config: Config): KeyStore {
  const connect = connector(config);
  return connect ? new RedisKeyStore(connect, keyLayout(config).global(config.API_KEYS_KEY)) : new FileKeyStore(config.API_KEYS_FILE);
}

/** DEVICE_AUTH_URL's client, reporting to the metrics and (at most once a minute per reason) the log. */
function createDeviceAuth(config: Config, log: Logger, metrics: Metrics | undefined): DeviceAuthClient | undefined {
  if (!config.DEVICE_AUTH_URL) return undefined;
  const logged = new Map<string, number>();
  return new DeviceAuthClient(
    {
      url: config.DEVICE_AUTH_URL,
      idFields: config.DEVICE_AUTH_ID_FIELD.split(','),
      roleField: config.DEVICE_AUTH_ROLE_FIELD,
      cacheMs: config.DEVICE_AUTH_CACHE_S * 1000,
      negativeCacheMs: config.DEVICE_AUTH_NEGATIVE_CACHE_S * 1000,
      timeoutMs: config.DEVICE_AUTH_TIMEOUT_MS,
      maxPending: config.DEVICE_AUTH_MAX_PENDING,
      breakerThreshold: config.DEVICE_AUTH_BREAKER_THRESHOLD,
      breakerMs: config.DEVICE_AUTH_BREAKER_MS,
      onFailure: config.DEVICE_AUTH_ON_FAILURE,
      staleMs: config.DEVICE_AUTH_STALE_S * 1000,
    },
    {
      call: (outcome, seconds) => metrics?.deviceAuthCall(outcome, seconds),
      cache: (result) => metrics?.deviceAuthCache(result),
      breaker: (to) => {
        metrics?.deviceAuthBreaker(to !== 'closed');
        if (to === 'open') log.error({ url: config.DEVICE_AUTH_URL }, 'DEVICE_AUTH_URL failing: its circuit breaker opened');
        else if (to === 'closed') log.info({ url: config.DEVICE_AUTH_URL }, 'DEVICE_AUTH_URL answers again: its circuit breaker closed');
      },
      problem: (reason, status) => {
        // one line per reason a minute: a failing service must not flood the log
        const now = Date.now();
        if ((logged.get(reason) ?? 0) > now - 60_000) return;
        if (logged.size > 100) logged.clear();
        logged.set(reason, now);
        log.warn({ url: config.DEVICE_AUTH_URL, reason, status }, 'DEVICE_AUTH_URL check failed');
      },
    },
  );
}

export function createAuth(config: Config, log: Logger, metrics?: Metrics): Authenticator {
  const store = createKeyStore(config);
  const localJwt = Boolean(config.JWT_SECRET || config.JWT_PUBLIC_KEY_FILE || config.JWT_JWKS_FILE);
  const jwt =
    (config.AUTH_MODE === 'jwt' || config.AUTH_MODE === 'any') && localJwt
      ? new JwtVerifier({
          secret: config.JWT_SECRET,
          publicKeyFile: config.JWT_PUBLIC_KEY_FILE,
          jwksFile: config.JWT_JWKS_FILE,
          issuer: config.JWT_ISSUER,
          audience: config.JWT_AUDIENCE,
          identityClaims: config.JWT_DEVICE_CLAIM.split(','),
        })
      : undefined;
  if (config.AUTH_MODE === 'none') {
    log.warn('AUTH_MODE=none: anyone who reaches the ports may write any device\'s readings; set AUTH_MODE=api-key, jwt or any before exposing this server');
  } else if (!config.ADMIN_TOKEN) {
    log.warn({ auth_mode: config.AUTH_MODE }, 'ADMIN_TOKEN is not set: the admin API is off, so no API key can be registered here');
  }
  return new Authenticator(config.AUTH_MODE, store, jwt, undefined, createDeviceAuth(config, log, metrics));
}
