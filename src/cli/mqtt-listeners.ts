/**
 * Composition of the MQTT side for `serve`: one shared context (sessions, router, budget),
 * the listeners the config asks for (TCP on MQTT_PORT, TLS on MQTT_TLS_PORT) and the bridge
 * to an upstream broker when MQTT_BROKER_URL is set.
 * @module
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator.ts';
import { ownerOf, ROLES } from '../auth/identity.ts';
import type { RateLimiter } from '../auth/rate/rate-limiter.ts';
import type { AddressLimit } from '../transports/address-limit.ts';
import type { ClientAddress } from '../transports/client-address/index.ts';
import type { Config } from '../config/schema.ts';
import type { Pipeline } from '../core/pipeline.ts';
import type { DeviceTracker } from '../core/fleet/device-tracker.ts';
import type { Metrics } from '../metrics/registry.ts';
import type { QueueBackend } from '../queue/backend.ts';
import { RedisMqttShare } from '../queue/redis/mqtt-share.ts';
import { queueBackendOf } from '../config/load.ts';
import { redisConnection } from './redis-connection.ts';
import { MqttAcl } from '../transports/mqtt/acl.ts';
import { MqttBridge } from '../transports/mqtt/bridge.ts';
import { ConnectionSet } from '../transports/mqtt/connection-set.ts';
import { MqttListener } from '../transports/mqtt/listener.ts';
import { Reason } from '../transports/mqtt/reason-codes.ts';
import { createMqttContext } from '../transports/mqtt/setup.ts';
import { willMessage } from '../transports/mqtt/sessions.ts';
import { SysTopics } from '../transports/mqtt/sys-topics.ts';
import { VERSION } from './version.ts';
import { TopicMap } from '../transports/mqtt/topics.ts';

export interface MqttParts {
  auth: Authenticator;
  limiter: RateLimiter | undefined;
  perAddress: AddressLimit;
  /** Who a connection's client is (TRUSTED_PROXIES): the listeners read it through this. */
  addresses: ClientAddress;
  pipeline: Pipeline;
  backend: QueueBackend;
  metrics: Metrics;
  log: Logger;
  sensorNames: readonly string[];
  /** Per-device fleet state: MQTT connections are reported to it. */
  devices?: DeviceTracker | undefined;
}

export interface MqttSide {
  listeners: MqttListener[];
  bridge: MqttBridge | undefined;
  /** The connections of MQTT over WebSocket (served by the WebSocket listener on /mqtt). */
  overWebSocket: ConnectionSet;
  /** Sizes of the shared tables, for the memory report. */
  tables(): Record<string, number>;
  /** Joins the other instances (MQTT_SHARED_STATE=auto with Redis) before listening; leaves them last. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createMqtt(config: Config, p: MqttParts): MqttSide {
  const topics = new TopicMap(config.MQTT_TOPIC_PREFIX, p.sensorNames);
  const ctx = createMqttContext({
    pipeline: p.pipeline,
    topics,
    metrics: p.metrics,
    log: p.log,
    auth: p.auth,
    acl: config.MQTT_ACL_FILE ? MqttAcl.fromFile(config.MQTT_TOPIC_PREFIX, config.MQTT_ACL_FILE) : new MqttAcl(config.MQTT_TOPIC_PREFIX),
    perAddress: p.perAddress,
    maxUnauthenticatedConnections: config.MAX_UNAUTHENTICATED_CONNECTIONS,
    limiter: p.limiter,
    devices: p.devices,
    feed: (listener, listening) => p.backend.onEvent(listener, listening),
    prefix: config.MQTT_TOPIC_PREFIX,
    ...(config.MQTT_SENSOR_TOPICS === 'on' ? { sensorTopics: p.sensorNames } : {}),
    maxInFlightBytes: config.MQTT_MAX_IN_FLIGHT_BYTES,
    retained: {
      max: config.MQTT_MAX_RETAINED,
      maxBytes: config.MQTT_MAX_RETAINED_BYTES,
      maxPerOwner: config.MQTT_MAX_RETAINED_PER_IDENTITY,
      maxBytesPerOwner: config.MQTT_MAX_RETAINED_BYTES_PER_IDENTITY,
    },
    limits: {
      maxPacketBytes: config.MQTT_MAX_PACKET_BYTES,
      maxConnectBytes: config.MQTT_MAX_CONNECT_BYTES,
      connectTimeoutMs: config.MQTT_CONNECT_TIMEOUT_MS,
      receiveMaximum: config.MQTT_RECEIVE_MAXIMUM,
      topicAliasMaximum: config.MQTT_TOPIC_ALIAS_MAXIMUM,
      drainTimeoutMs: config.MQTT_DRAIN_TIMEOUT_MS,
      flushMs: config.MQTT_FLUSH_MS,
      retryMaxDelayMs: config.MQTT_RETRY_MAX_DELAY_MS,
      maxSubscriptionsPerClient: config.MQTT_MAX_SUBSCRIPTIONS_PER_CLIENT,
      maxSubscriptionsPerIdentity: config.MQTT_MAX_SUBSCRIPTIONS_PER_IDENTITY,
      maxFilterBytesPerIdentity: config.MQTT_MAX_FILTER_BYTES_PER_IDENTITY,
      maxFilterBytes: config.MQTT_MAX_FILTER_BYTES,
      maxTopicLevels: config.MQTT_MAX_TOPIC_LEVELS,
      maxKeepAliveSeconds: config.MQTT_MAX_KEEP_ALIVE_S,
    },
    share: config.MQTT_SHARED_STATE === 'auto' && queueBackendOf(config) === 'redis' ? new RedisMqttShare(redisConnection(config), p.log, config.MQTT_INSTANCE_TIMEOUT_MS) : undefined,
    sessions: {
      maxSessions: config.MQTT_MAX_SESSIONS,
      maxSessionsPerIdentity: config.MQTT_MAX_SESSIONS_PER_IDENTITY,
      maxExpiryMs: config.MQTT_MAX_SESSION_EXPIRY_S * 1000,
      maxQueuedMessages: config.MQTT_MAX_OFFLINE_MESSAGES,
      maxQueuedBytes: config.MQTT_MAX_OFFLINE_BYTES,
      offlineBytesBudget: config.MQTT_OFFLINE_BYTES_BUDGET,
    },
  });
  if (config.MQTT_SYS_INTERVAL_S > 0) new SysTopics(ctx, VERSION).start(config.MQTT_SYS_INTERVAL_S);
  // on every instance: a revoked identity loses its sessions (connected or kept), their
  // subscriptions and queues, and the retained messages it set; a rotated key, the connections it
  // opened (the sessions stay for the new key)
  p.auth.onRevoked((id, revoked) => {
    if (id === '*') return;
    for (const role of ROLES) {
      const owner = ownerOf({ id, role, via: 'api-key' });
      if (revoked) {
        ctx.sessions.endOwnedBy(owner, (c) => c.disconnect(Reason.administrativeAction, 'credentials revoked'));
        ctx.router.removeRetainedOf(owner);
      }
      else ctx.sessions.connectionsOf(owner, (c) => c.disconnect(Reason.administrativeAction, 'credentials rotated'));
    }
  });
  const listeners: MqttListener[] = [];
  if (config.MQTT_PORT !== 0) listeners.push(new MqttListener(ctx, config.HOST, config.MQTT_PORT, undefined, p.addresses));
  if (config.MQTT_TLS_PORT !== 0 && config.MQTT_TLS_CERT_FILE && config.MQTT_TLS_KEY_FILE) {
    const tls = { cert: config.MQTT_TLS_CERT_FILE, key: config.MQTT_TLS_KEY_FILE, ca: config.MQTT_TLS_CA_FILE, clientCert: config.MQTT_TLS_CLIENT_CERT };
    listeners.push(new MqttListener(ctx, config.HOST, config.MQTT_TLS_PORT, tls, p.addresses));
  }
  const bridge = config.MQTT_BROKER_URL
    ? new MqttBridge(
        {
          url: config.MQTT_BROKER_URL,
          clientId: config.MQTT_BRIDGE_CLIENT_ID ?? `neurobuild-ingest-${hostname()}`,
          prefix: config.MQTT_TOPIC_PREFIX,
          sensorNames: p.sensorNames,
          retryMaxDelayMs: config.MQTT_RETRY_MAX_DELAY_MS,
        },
        { pipeline: p.pipeline, topics, log: p.log },
      )
    : undefined;
  return {
    listeners,
    bridge,
    overWebSocket: new ConnectionSet(ctx),
    tables: () => ({
      mqtt_sessions: ctx.sessions.size,
      mqtt_subscriptions: ctx.router.subscriptionCount,
      mqtt_retained: ctx.router.retainedCount,
      mqtt_queued_bytes: ctx.sessions.queuedBytes,
      ...(ctx.link ? { mqtt_remote_routes: ctx.link.remoteRoutes } : {}),
    }),
    start: async () => {
      const link = ctx.link;
      if (link === undefined) return;
      await link.start({
        deliverRouted: (m, plain, groups) => ctx.router.deliverRouted(m, plain, groups),
        applyRetained: (topic, m) => ctx.router.applyRetained(topic, m),
        clearRetained: () => ctx.router.clearRetained(),
        takenOver: (clientId, forward) => ctx.sessions.takenOverElsewhere(clientId, forward),
        adopt: (clientId, state, remainingMs, will) => ctx.sessions.adopt(clientId, state, remainingMs, will),
        deliverForwarded: (clientId, d) => ctx.sessions.deliverForwarded(clientId, d),
        claimedPersistent: () => ctx.sessions.claimedPersistent(),
        handOver: (clientId, forward) => ctx.sessions.handOver(clientId, forward),
        fireWill: (w) => ctx.router.publish(willMessage(w)),
      });
      p.log.info({ instance: link.instance }, 'MQTT state shared with the other instances through Redis');
    },
    stop: async () => {
      // the connections are closed by now: the persistent sessions go to the other instances
      await ctx.link?.handOver().catch((err: unknown) => p.log.warn({ err }, 'handing MQTT sessions over failed'));
      await ctx.link?.stop();
    },
  };
}
