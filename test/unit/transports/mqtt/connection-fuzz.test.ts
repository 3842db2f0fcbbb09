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
import { pino } from 'pino';
import { MemorySocket, mqttContext } from '../../../helpers/mqtt-context.ts';
import { fuzzInput, fuzzIterations, fuzzSeed, Prng, withSeed, type FuzzInput } from '../../../helpers/mqtt-fuzz.ts';

const tick = () => new Promise((r) => setImmediate(r));

/** Error-level log lines: the connection's safety net logs a packet that made it throw (a bug). */
const errors: string[] = [];

function context() {
  const log = pino({ level: 'error' }, { write: (line: string) => errors.push(line) });
  // a small packet limit, so "too large" is reached by the mutated lengths too
  return mqttContext({ log, limits: { maxPacketBytes: 4096, receiveMaximum: 8 }, sessions: { maxQueuedMessages: 10 } });
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
        const c = connections.accept(socket)!;
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
