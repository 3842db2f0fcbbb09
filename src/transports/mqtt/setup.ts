/**
 * Builds the shared MQTT context from its parts and limits: the router, the session registry
 * with its queue budget, the counters, the bounds notifier and the metrics that read them.
 * One place, used by the composition root (cli/mqtt-listeners.ts) and by in-process tests.
 * @module
 */
import type { Logger } from 'pino';
import { ThrottledLog } from '../../log/throttled.ts';
import type { Authenticator } from '../../auth/authenticator.ts';
import type { RateLimiter } from '../../auth/rate/rate-limiter.ts';
import type { DeviceTracker } from '../../core/fleet/device-tracker.ts';
import type { Pipeline } from '../../core/pipeline.ts';
import type { Metrics } from '../../metrics/registry.ts';
import type { AddressLimit } from '../address-limit.ts';
import type { MqttAcl } from './acl.ts';
import { BoundNotifier, Bound } from './bounds.ts';
import type { MqttContext, MqttLimits, MqttStats } from './context.ts';
import { InFlightBudget } from './flow.ts';
import { OfflineBudget } from './offline-budget.ts';
import { PreConnectLimit } from './pre-connect.ts';
import type { ReadingFeed } from '../live-feed.ts';
import { MqttRouter } from './router.ts';
import type { RetainedLimits } from './retained.ts';
import type { DropReason } from './session.ts';
import { SessionRegistry } from './sessions.ts';
import type { TopicMap } from './topics.ts';
import type { MqttShareStore } from '../../queue/mqtt-share.ts';
import { ClusterLink } from './cluster-link.ts';

export interface MqttSetup {
  pipeline: Pipeline;
  topics: TopicMap;
  metrics: Metrics;
  log: Logger;
  auth: Authenticator;
  acl: MqttAcl;
  perAddress: AddressLimit;
  /** MAX_UNAUTHENTICATED_CONNECTIONS */
  maxUnauthenticatedConnections: number;
  limiter: RateLimiter | undefined;
  devices?: DeviceTracker | undefined;
  /** Accepted readings, for `{prefix}/{device_id}/data` subscribers. */
  feed: ReadingFeed;
  prefix: string;
  /** MQTT_SENSOR_TOPICS=on: the sensor types also relayed on `{prefix}/{device_id}/{sensor}`. */
  sensorTopics?: readonly string[];
  limits: MqttLimits;
  maxInFlightBytes: number;
  retained: RetainedLimits;
  sessions: { maxSessions: number; maxSessionsPerIdentity: number; maxExpiryMs: number; maxQueuedMessages: number; maxQueuedBytes: number; offlineBytesBudget: number };
  /** The state shared with other instances (Redis; MQTT_SHARED_STATE=auto), if any. */
  share?: MqttShareStore | undefined;
}

/** The bound and its setting behind each refused retained message. */
const RETAIN_BOUND = {
  retained: [Bound.retained, 'MQTT_MAX_RETAINED'],
  retained_bytes: [Bound.retained, 'MQTT_MAX_RETAINED_BYTES'],
  identity_retained: [Bound.identityRetained, 'MQTT_MAX_RETAINED_PER_IDENTITY / MQTT_MAX_RETAINED_BYTES_PER_IDENTITY'],
} as const;

/** The context, and the link to the other instances (to start before listening) when the state is shared. */
export function createMqttContext(o: MqttSetup): MqttContext & { link?: ClusterLink | undefined } {
  const bounds = new BoundNotifier(o.metrics, o.log);
  const router = new MqttRouter({
    feed: o.feed,
    prefix: o.prefix,
    retained: o.retained,
    retainRefused: (why) => bounds.hit(RETAIN_BOUND[why][0], RETAIN_BOUND[why][1]),
    maxTopicLevels: o.limits.maxTopicLevels,
    ...(o.sensorTopics ? { sensorTopics: o.sensorTopics } : {}),
    metrics: o.metrics,
    log: o.log,
  });
  const budget = new OfflineBudget(o.sessions.offlineBytesBudget);
  const stats: MqttStats = { connected: 0, messagesReceived: 0, messagesSent: 0, messagesDropped: 0, bytesReceived: 0, bytesSent: 0 };
  const dropped = (reason: DropReason): void => {
    stats.messagesDropped++;
    o.metrics.mqttDropped(reason);
    if (reason !== 'expired') o.metrics.error('mqtt_message_dropped');
    if (reason === 'session_queue_full') bounds.hit(Bound.sessionQueue, 'MQTT_MAX_OFFLINE_MESSAGES / MQTT_MAX_OFFLINE_BYTES');
    else if (reason === 'offline_budget') bounds.hit(Bound.offlineBudget, 'MQTT_OFFLINE_BYTES_BUDGET');
  };
  const sessions = new SessionRegistry({
    env: { limits: { maxQueuedMessages: o.sessions.maxQueuedMessages, maxQueuedBytes: o.sessions.maxQueuedBytes }, budget, dropped },
    router,
    limits: { maxSessions: o.sessions.maxSessions, maxSessionsPerIdentity: o.sessions.maxSessionsPerIdentity, maxExpiryMs: o.sessions.maxExpiryMs },
  });
  const refusals = new ThrottledLog(o.log);
  let link: ClusterLink | undefined;
  if (o.share !== undefined) {
    link = new ClusterLink({
      store: o.share,
      log: o.log,
      refusals,
      maxTopicLevels: o.limits.maxTopicLevels,
      lost: (n) => {
        for (let i = 0; i < n; i++) dropped('relay_failed');
      },
    });
    router.share(link);
    sessions.share(link);
  }
  o.metrics.mqttSource(() => ({
    sessions: sessions.size,
    subscriptions: router.subscriptionCount,
    retained: router.retainedCount,
    queuedBytes: budget.bytes,
    remoteRoutes: link?.remoteRoutes ?? 0,
    instances: link?.liveInstances ?? 0,
    messagesReceived: stats.messagesReceived,
    messagesSent: stats.messagesSent,
  }));
  return {
    pipeline: o.pipeline,
    topics: o.topics,
    metrics: o.metrics,
    log: o.log,
    refusals,
    limits: o.limits,
    router,
    budget: new InFlightBudget(o.maxInFlightBytes),
    auth: o.auth,
    acl: o.acl,
    perAddress: o.perAddress,
    preConnect: new PreConnectLimit(o.maxUnauthenticatedConnections),
    limiter: o.limiter,
    devices: o.devices,
    sessions,
    share: link,
    link,
    stats,
    bounds,
  };
}
