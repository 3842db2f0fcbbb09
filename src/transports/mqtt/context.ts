/**
 * What MQTT connections share: the core pipeline, the topic map, the session registry,
 * limits and metrics, handed in by the composition root.
 * @module
 */
import type { Logger } from 'pino';
import type { Authenticator } from '../../auth/authenticator.ts';
import type { AddressLimit } from '../address-limit.ts';
import type { RateLimiter } from '../../auth/rate/rate-limiter.ts';
import type { Pipeline } from '../../core/pipeline.ts';
import type { DeviceTracker } from '../../core/fleet/device-tracker.ts';
import type { Metrics } from '../../metrics/registry.ts';
import type { MqttAcl } from './acl.ts';
import type { InFlightBudget } from './flow.ts';
import type { MqttRouter } from './router.ts';
import type { Session } from './session.ts';
import type { TopicMap } from './topics.ts';

export interface MqttLimits {
  /** Largest packet accepted (fixed header included); also announced to v5 clients. */
  maxPacketBytes: number;
  /** CONNECT must arrive within this time after the TCP connection opens. */
  connectTimeoutMs: number;
  /** QoS 1/2 publishes awaiting the queue per connection before the socket stops being read. */
  receiveMaximum: number;
  /** Highest topic alias a v5 client may use on one connection (0: none) [MQTT-3.3.2.3.4]. */
  topicAliasMaximum: number;
  /** A client that does not read its answers for this long is disconnected. */
  drainTimeoutMs: number;
  /** QoS 1/2 messages kept per persistent session while its client is away. */
  maxOfflineMessages: number;
  /** Longest wait between two attempts to store a held publish while the queue is unavailable. */
  retryMaxDelayMs: number;
}

export interface MqttContext {
  pipeline: Pipeline;
  topics: TopicMap;
  metrics: Metrics;
  log: Logger;
  limits: MqttLimits;
  router: MqttRouter;
  /** Payload bytes of publishes awaiting the queue, over all connections. */
  budget: InFlightBudget;
  auth: Authenticator;
  acl: MqttAcl;
  /** Connections per source address (MQTT and WebSocket listeners together). */
  perAddress: AddressLimit;
  /** Per-device token buckets; undefined when RATE_LIMIT is off. */
  limiter: RateLimiter | undefined;
  /** Per-device fleet state (DEVICE_STATE=on): told when a device's MQTT connection opens and closes. */
  devices?: DeviceTracker | undefined;
  /** Sessions by client id, connected or kept for a persistent client. */
  sessions: Map<string, Session>;
}
