/**
 * The MQTT side's bounds, counted every time one is hit (`mqtt_bounds_hit_total{bound}`) and
 * logged once when it starts being hit and once a minute while it still is, with the count
 * (never one line per refused message, connection or subscription).
 * @module
 */
import type { Logger } from 'pino';
import { ThrottledLog } from '../../log/throttled.ts';
import type { Metrics } from '../../metrics/registry.ts';

export const Bound = {
  /** MQTT_MAX_SESSIONS: a CONNECT needing a new session was refused. */
  sessions: 'sessions',
  /** MQTT_MAX_SESSION_EXPIRY_S: a requested session expiry was shortened. */
  sessionExpiry: 'session_expiry',
  /** MQTT_MAX_SESSIONS_PER_IDENTITY: a CONNECT needing a new session for an identity was refused. */
  identitySessions: 'identity_sessions',
  /** MQTT_MAX_SUBSCRIPTIONS_PER_IDENTITY / MQTT_MAX_FILTER_BYTES_PER_IDENTITY: a subscription was refused. */
  identitySubscriptions: 'identity_subscriptions',
  /** MQTT_MAX_SUBSCRIPTIONS_PER_CLIENT: a subscription was refused. */
  subscriptions: 'subscriptions',
  /** MQTT_MAX_FILTER_BYTES: a subscription was refused. */
  filterBytes: 'filter_bytes',
  /** MQTT_MAX_TOPIC_LEVELS: a subscription or publish was refused. */
  topicLevels: 'topic_levels',
  /** MQTT_MAX_OFFLINE_MESSAGES / MQTT_MAX_OFFLINE_BYTES: a session's queue was full. */
  sessionQueue: 'session_queue',
  /** MQTT_OFFLINE_BYTES_BUDGET: the queues of all sessions were full (messages shed, new persistent sessions refused). */
  offlineBudget: 'offline_budget',
  /** MQTT_MAX_RETAINED / MQTT_MAX_RETAINED_BYTES: a retained message was refused. */
  retained: 'retained',
  /** MQTT_MAX_RETAINED_PER_IDENTITY / MQTT_MAX_RETAINED_BYTES_PER_IDENTITY: a retained message was refused. */
  identityRetained: 'identity_retained',
  /** MAX_UNAUTHENTICATED_CONNECTIONS: a new connection was closed at once. */
  preConnect: 'unauthenticated_connections',
  /** MQTT_MAX_KEEP_ALIVE_S: a client's keep-alive was replaced (v5) or its CONNECT refused (3.1.1). */
  keepAlive: 'keep_alive',
} as const;
export type Bound = (typeof Bound)[keyof typeof Bound];

export class BoundNotifier {
  readonly #metrics: Metrics;
  readonly #log: ThrottledLog;

  constructor(metrics: Metrics, log: Logger) {
    this.#metrics = metrics;
    this.#log = new ThrottledLog(log, 'warn');
  }

  hit(bound: Bound, setting: string): void {
    this.#metrics.mqttBoundHit(bound);
    this.#log.note(bound, { bound, setting }, `mqtt bound reached: ${setting} (see mqtt_bounds_hit_total)`);
  }
}
