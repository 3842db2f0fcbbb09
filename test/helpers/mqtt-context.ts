/**
 * An in-process MQTT context (the same createMqttContext the server uses) on the embedded
 * queue, for unit tests that drive MqttConnection over in-memory sockets: no uWS, no network.
 */
import { Duplex } from 'node:stream';
import { pino, type Logger } from 'pino';
import { Authenticator } from '../../src/auth/authenticator.ts';
import type { KeyStore } from '../../src/auth/key-store.ts';
import { Pipeline } from '../../src/core/pipeline.ts';
import { builtinSensorTypes } from '../../src/core/readings/registry.ts';
import { ReadingValidator } from '../../src/core/validate.ts';
import { createMetrics } from '../../src/metrics/registry.ts';
import { MemoryBackend } from '../../src/queue/memory/index.ts';
import { AddressLimit } from '../../src/transports/address-limit.ts';
import { MqttAcl } from '../../src/transports/mqtt/acl.ts';
import { ConnectionSet } from '../../src/transports/mqtt/connection-set.ts';
import type { MqttContext, MqttLimits } from '../../src/transports/mqtt/context.ts';
import { createMqttContext, type MqttSetup } from '../../src/transports/mqtt/setup.ts';
import { TopicMap } from '../../src/transports/mqtt/topics.ts';

export const PREFIX = 'neurobuild/sensors';

/** A socket that takes whatever the server writes (kept in `out`) and gives it the bytes the test pushes. */
export class MemorySocket extends Duplex {
  written = 0;
  readonly out: Buffer[] = [];
  keep = false;
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.written += chunk.length;
    if (this.keep) this.out.push(chunk);
    cb();
  }
}

export interface TestMqtt {
  ctx: MqttContext;
  pipeline: Pipeline;
  backend: MemoryBackend;
  connections: ConnectionSet;
  metrics: ReturnType<typeof createMetrics>;
}

export function mqttContext(o: { log?: Logger; limits?: Partial<MqttLimits>; sessions?: Partial<MqttSetup['sessions']>; retained?: Partial<MqttSetup['retained']> } = {}): TestMqtt {
  const log = o.log ?? pino({ level: 'silent' });
  const metrics = createMetrics({ queueSizes: async () => ({}), queueUp: () => true, inFlight: () => 0 }, { defaultMetrics: false });
  const backend = new MemoryBackend({ maxLen: 10_000, dedupeWindowMs: 60_000 });
  const pipeline = new Pipeline({ validator: new ReadingValidator(builtinSensorTypes, 300_000), backend, metrics, log }, { dedupeWindowMs: 60_000, queueBatchSize: 100, maxInFlight: 10_000 });
  const ctx = createMqttContext({
    pipeline,
    topics: new TopicMap(PREFIX, builtinSensorTypes.map((s) => s.name)),
    metrics,
    log,
    auth: new Authenticator('none', { onRevoked() {} } as unknown as KeyStore, undefined),
    acl: new MqttAcl(PREFIX),
    perAddress: new AddressLimit(0),
    maxUnauthenticatedConnections: 100_000,
    limiter: undefined,
    feed: (l, listening) => backend.onEvent(l, listening),
    prefix: PREFIX,
    maxInFlightBytes: 64 * 1_048_576,
    retained: { max: 1000, maxBytes: 64 * 1_048_576, maxPerOwner: 100, maxBytesPerOwner: 1_048_576, ...o.retained },
    limits: {
      maxPacketBytes: 262_144,
      maxConnectBytes: 262_144,
      connectTimeoutMs: 1000,
      receiveMaximum: 64,
      topicAliasMaximum: 16,
      drainTimeoutMs: 1000,
      flushMs: 0,
      retryMaxDelayMs: 100,
      maxSubscriptionsPerClient: 100,
      maxSubscriptionsPerIdentity: 10_000,
      maxFilterBytesPerIdentity: 1_048_576,
      maxFilterBytes: 1024,
      maxTopicLevels: 128,
      maxKeepAliveSeconds: 65_535,
      ...o.limits,
    },
    sessions: { maxSessions: 10_000, maxSessionsPerIdentity: 100, maxExpiryMs: 3_600_000, maxQueuedMessages: 100, maxQueuedBytes: 1_048_576, offlineBytesBudget: 16 * 1_048_576, ...o.sessions },
  });
  return { ctx, pipeline, backend, connections: new ConnectionSet(ctx), metrics };
}
