/**
 * Many-iteration fuzz of one MQTT connection in process: random and mutated byte streams
 * (test/helpers/mqtt-fuzz.ts) pushed through a real MqttConnection (framer, fast path,
 * mqtt-packet, handlers, sessions, router, pipeline on the embedded queue) on an in-memory
 * socket. Expected: no input throws (nor reaches the connection's safety net, which logs at error
 * level) or leaves a rejected promise, and once every client has gone, nothing is held: no
 * connection, no in-flight bytes, only persistent sessions.
 * The same inputs against the built server over TCP: test/integration/hostile-input.test.ts.
 *
 *   FUZZ_SEED=123 FUZZ_ITERATIONS=100000 npx bun test test/unit/transports/mqtt/connection-fuzz.test.ts
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { Duplex } from 'node:stream';
import { pino } from 'pino';
import { Authenticator } from '../../../../src/auth/authenticator.ts';
import type { KeyStore } from '../../../../src/auth/key-store.ts';
import { Pipeline } from '../../../../src/core/pipeline.ts';
import { builtinSensorTypes } from '../../../../src/core/readings/registry.ts';
import { ReadingValidator } from '../../../../src/core/validate.ts';
import { createMetrics } from '../../../../src/metrics/registry.ts';
import { MemoryBackend } from '../../../../src/queue/memory/index.ts';
import { AddressLimit } from '../../../../src/transports/address-limit.ts';
import { MqttAcl } from '../../../../src/transports/mqtt/acl.ts';
import { ConnectionSet } from '../../../../src/transports/mqtt/connection-set.ts';
import type { MqttContext } from '../../../../src/transports/mqtt/context.ts';
import { InFlightBudget } from '../../../../src/transports/mqtt/flow.ts';
import { MqttRouter } from '../../../../src/transports/mqtt/router.ts';
import { TopicMap } from '../../../../src/transports/mqtt/topics.ts';
import { fuzzInput, fuzzIterations, fuzzSeed, Prng, withSeed, type FuzzInput } from '../../../helpers/mqtt-fuzz.ts';

/** A socket that takes whatever the server writes and gives it the bytes the test pushes. */
class MemorySocket extends Duplex {
  written = 0;
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.written += chunk.length;
    cb();
  }
}

const tick = () => new Promise((r) => setImmediate(r));

/** Error-level log lines: the connection's safety net logs a packet that made it throw (a bug). */
const errors: string[] = [];

function context() {
  const log = pino({ level: 'error' }, { write: (line: string) => errors.push(line) });
  const metrics = createMetrics({ queueSizes: async () => ({}), queueUp: () => true, inFlight: () => 0 }, { defaultMetrics: false });
  const backend = new MemoryBackend({ maxLen: 10_000, dedupeWindowMs: 60_000 });
  const pipeline = new Pipeline({ validator: new ReadingValidator(builtinSensorTypes, 300_000), backend, metrics, log }, { dedupeWindowMs: 60_000, queueBatchSize: 100, maxInFlight: 10_000 });
  const prefix = 'neurobuild/sensors';
  const ctx: MqttContext = {
    pipeline,
    topics: new TopicMap(prefix, builtinSensorTypes.map((s) => s.name)),
    router: new MqttRouter({ feed: (l) => backend.onEvent(l), prefix, maxRetained: 1000, metrics, log }),
    metrics,
    log,
    sessions: new Map(),
    auth: new Authenticator('none', { onRevoked() {} } as unknown as KeyStore, undefined),
    limiter: undefined,
    perAddress: new AddressLimit(0),
    acl: new MqttAcl(prefix),
    budget: new InFlightBudget(64 * 1_048_576),
    // a small packet limit, so "too large" is reached by the mutated lengths too
    limits: { maxPacketBytes: 4096, connectTimeoutMs: 1000, receiveMaximum: 8, topicAliasMaximum: 16, drainTimeoutMs: 1000, maxOfflineMessages: 10, retryMaxDelayMs: 100 },
  };
  return { ctx, pipeline, connections: new ConnectionSet(ctx) };
}

const rejections: unknown[] = [];
const onRejection = (err: unknown) => rejections.push(err);
beforeAll(() => process.on('unhandledRejection', onRejection));
afterAll(() => process.off('unhandledRejection', onRejection));

test('mqtt fuzz (unit) - random and mutated packets never throw, and leave nothing behind', async () => {
  const seed = fuzzSeed();
  const iterations = fuzzIterations(5000);
  const { ctx, pipeline, connections } = context();
  const r = new Prng(seed);
  let i = 0;
  let input: FuzzInput | undefined;
  const kinds: Record<string, { n: number; closedByServer: number }> = {};
  const started = performance.now();
  await withSeed(
    seed,
    async () => {
      for (i = 0; i < iterations; i++) {
        input = fuzzInput(r);
        const socket = new MemorySocket();
        const c = connections.accept(socket);
        for (const chunk of input.chunks) {
          if (socket.destroyed) break;
          socket.push(chunk);
          // the connection's 'readable' handler, now: a throw lands here, with the seed
          socket.emit('readable');
        }
        await tick();
        if (errors.length > 0) throw new Error(`a packet made the connection throw: ${errors[0]}`);
        const k = (kinds[input.kind] ??= { n: 0, closedByServer: 0 });
        k.n++;
        if (c.state === 'closed') k.closedByServer++;
        socket.destroy();
        await tick();
        expect(c.state).toBe('closed');
      }
      await pipeline.drain();
      await tick();
      expect(rejections).toEqual([]);
      expect(errors).toEqual([]);
      expect(connections.size).toBe(0);
      expect(ctx.budget.bytes).toBe(0);
      for (const s of ctx.sessions.values()) expect({ id: s.clientId, persistent: s.persistent, connected: s.connection !== undefined }).toEqual({ id: s.clientId, persistent: true, connected: false });
    },
    () => (input && i < iterations ? `, input #${i} (${input.kind}, v${input.version}): ${input.bytes.toString('hex').slice(0, 400)}` : ''),
  );
  const ms = Math.round(performance.now() - started);
  console.log(`mqtt fuzz (unit): seed ${seed}, ${iterations} inputs in ${ms} ms; closed by the server / inputs per kind: ${Object.entries(kinds).map(([k, v]) => `${k} ${v.closedByServer}/${v.n}`).join(', ')}; persistent sessions left ${ctx.sessions.size}`);
}, 120_000);
