/**
 * What the HTTP routes need, handed in by the composition root.
 * @module
 */
import type { Logger } from 'pino';
import type { Authenticator } from '../../auth/authenticator.ts';
import type { RateLimiter } from '../../auth/rate/rate-limiter.ts';
import type { Pipeline } from '../../core/pipeline.ts';
import type { ReadingValidator } from '../../core/validate.ts';
import type { Metrics } from '../../metrics/registry.ts';
import type { QueueBackend } from '../../queue/backend.ts';
import type { ClientAddress } from '../client-address/index.ts';

export interface Lifecycle {
  /** Listening, not draining, and the queue accepts appends. */
  ready(): boolean;
  draining(): boolean;
}

/** What the built-in console page is told about this server, besides what HttpContext has. */
export interface ConsoleSettings {
  /** The live WebSocket listener (WS_PORT); undefined when it is off. */
  ws: { port: number; tls: boolean } | undefined;
  /** DEVICE_STATE=on: the device table has data. */
  fleetState: boolean;
  /** Stream names, to label queue_size{queue_name}. */
  queues: { queue: string; dlq: string; rejects: string };
}

export interface HttpContext {
  pipeline: Pipeline;
  /** The pipeline's validator (replay checks a quarantined reading with it first). */
  validator: ReadingValidator;
  backend: QueueBackend;
  metrics: Metrics;
  log: Logger;
  lifecycle: Lifecycle;
  /** State of the other listeners for /health, e.g. { mqtt: 'up' }. */
  listeners(): Record<string, 'up' | 'down'>;
  maxBodyBytes: number;
  batchMaxItems: number;
  retryAfterSeconds: number;
  metricsPath: string;
  auth: Authenticator;
  /** Per-device token buckets; undefined when RATE_LIMIT is off. */
  limiter: RateLimiter | undefined;
  /** Who a request's client is (TRUSTED_PROXIES: X-Forwarded-For from a trusted proxy). */
  addresses: ClientAddress;
  /** Bearer token of the admin API; undefined: the admin API is off. */
  adminToken: string | undefined;
  /** Prometheus text of this process, or of every worker with --workers. */
  scrapeMetrics(): Promise<string>;
  console: ConsoleSettings;
}
