/**
 * What MQTT connections share: the core pipeline, the topic map, the session registry, the
 * router, limits, counters and metrics, handed in by the composition root.
 * @module
 */
import type { Logger } from 'pino';
import type { ThrottledLog } from '../../log/throttled.ts';
import type { PreConnectLimit } from './pre-connect.ts';
import type { Authenticator } from '../../auth/authenticator.ts';
import type { AddressLimit } from '../address-limit.ts';
import type { RateLimiter } from '../../auth/rate/rate-limiter.ts';
import type { Pipeline } from '../../core/pipeline.ts';
import type { DeviceTracker } from '../../core/fleet/device-tracker.ts';
import type { Metrics } from '../../metrics/registry.ts';
import type { MqttAcl } from './acl.ts';
import type { BoundNotifier } from './bounds.ts';
import type { InFlightBudget } from './flow.ts';
import type { MqttRouter } from './router.ts';
import type { SessionRegistry } from './sessions.ts';
import type { TopicMap } from './topics.ts';
import type { Will } from './sessions.ts';
import type { SessionState } from './session.ts';

export interface MqttLimits {
  /** Largest packet accepted (fixed header included); also announced to v5 clients. */
  maxPacketBytes: number;
  /** CONNECT must arrive within this time after the TCP connection opens. */
  connectTimeoutMs: number;
  /** QoS 1/2 publishes per connection awaiting the queue before the socket stops being read (announced to v5 clients). */
  receiveMaximum: number;
  /** Highest topic alias a v5 client may use on one connection (0: none) [MQTT-3.3.2-12]. */
  topicAliasMaximum: number;
  /** Deliveries to subscribers are written out together this often (0: at the end of each event-loop turn). */
  flushMs: number;
  /** A client that does not read its answers for this long is disconnected. */
  drainTimeoutMs: number;
  /** Longest wait between two attempts to store a held publish while the queue is unavailable. */
  retryMaxDelayMs: number;
  /** Subscriptions one session may hold (MQTT_MAX_SUBSCRIPTIONS_PER_CLIENT). */
  maxSubscriptionsPerClient: number;
  /** Subscriptions and their filter bytes, all sessions of one authenticated identity (MQTT_MAX_SUBSCRIPTIONS_PER_IDENTITY, MQTT_MAX_FILTER_BYTES_PER_IDENTITY). */
  maxSubscriptionsPerIdentity: number;
  maxFilterBytesPerIdentity: number;
  /** Largest CONNECT (the first packet, before anyone is authenticated) in bytes (MQTT_MAX_CONNECT_BYTES). */
  maxConnectBytes: number;
  /** Longest topic filter in bytes (MQTT_MAX_FILTER_BYTES). */
  maxFilterBytes: number;
  /** Most levels in a topic name or filter (MQTT_MAX_TOPIC_LEVELS). */
  maxTopicLevels: number;
  /** Longest keep-alive accepted; larger (or, v5, none) is answered with Server Keep Alive (MQTT_MAX_KEEP_ALIVE_S). */
  maxKeepAliveSeconds: number;
}

/** Counters of this instance's MQTT traffic, read by $SYS and the metrics. */
export interface MqttStats {
  /** Clients connected now (CONNACK sent, socket open). */
  connected: number;
  /** PUBLISH packets received from clients. */
  messagesReceived: number;
  /** PUBLISH packets sent to clients. */
  messagesSent: number;
  /** Messages to subscribers not delivered (mqtt_messages_dropped_total, every reason). */
  messagesDropped: number;
  bytesReceived: number;
  bytesSent: number;
}

export interface MqttContext {
  pipeline: Pipeline;
  topics: TopicMap;
  metrics: Metrics;
  log: Logger;
  /** What clients cause as often as they like (refused CONNECTs, disconnections for misbehaviour): logged throttled and clipped. */
  refusals: ThrottledLog;
  limits: MqttLimits;
  router: MqttRouter;
  /** Payload bytes of publishes awaiting the queue, over all connections. */
  budget: InFlightBudget;
  auth: Authenticator;
  acl: MqttAcl;
  /** Connections per source address (MQTT and WebSocket listeners together). */
  perAddress: AddressLimit;
  /** Connections whose CONNECT is not accepted yet (MAX_UNAUTHENTICATED_CONNECTIONS). */
  preConnect: PreConnectLimit;
  /** Per-device token buckets; undefined when RATE_LIMIT is off. */
  limiter: RateLimiter | undefined;
  /** Per-device fleet state (DEVICE_STATE=on): told when a device's MQTT connection opens and closes. */
  devices?: DeviceTracker | undefined;
  /** Sessions by client id, connected or kept for a persistent client. */
  sessions: SessionRegistry;
  /** With other instances (Redis): client ids are claimed across them (cluster-link.ts). */
  share?: { claim(clientId: string, owner: string, resume: boolean): Promise<'owner' | 'claimed'>; release(clientId: string): void; saveWill(clientId: string, w: Will): void } | undefined;
  /** With other instances: route changes made so far are announced (or a bounded wait passed) when this settles; undefined when none is pending. */
  link?: { announced(): Promise<void> | undefined } | undefined;
  stats: MqttStats;
  bounds: BoundNotifier;
}
