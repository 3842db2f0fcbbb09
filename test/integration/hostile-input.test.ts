/**
 * Hostile input against the built server (issue 6, point 6), each case with the answer it must
 * get (the table is in docs/errors.md, "Hostile input"):
 *
 * - MQTT fuzz: random and mutated packet streams (test/helpers/mqtt-fuzz.ts) over many TCP
 *   connections; the server stays up, closes each bad connection (within the CONNECT deadline or
 *   the keep-alive) instead of leaving it hanging, keeps ingesting, and its heap stays bounded;
 * - MQTT: packets without a packet identifier, ill-formed UTF-8 in CONNECT and SUBSCRIBE,
 *   oversized packets and topics, silent and slow (byte-by-byte) clients, deeply nested payloads;
 * - HTTP: bodies nested 10,000 deep (JSON and MessagePack), ill-formed UTF-8, oversized header
 *   sections and URLs, slow-loris clients (headers or body one byte a second);
 * - WebSocket: oversized frames and ill-formed UTF-8 text frames.
 *
 * Already covered elsewhere, not repeated here: random bytes before CONNECT, a huge Remaining
 * Length and a wildcard topic (mqtt-ingest.test.ts), an ill-formed UTF-8 topic name and 10,000
 * connect/disconnect cycles (mqtt-churn.test.ts), bodies over MAX_BODY_BYTES (http-ingest.test.ts),
 * clients hanging up mid-body (aborted-requests.test.ts).
 *
 *   FUZZ_SEED=123 FUZZ_ITERATIONS=20000 npx bun test --timeout 600000 test/integration/hostile-input.test.ts
 */
import { describe, expect, test } from 'bun:test';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import mqtt from 'mqtt';
import * as mqttPacket from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import WebSocket from 'ws';
import { Framer } from '../../src/transports/mqtt/framer.ts';
import { connectLevel } from '../../src/transports/mqtt/utf8.ts';
import { reading } from '../fixtures/readings.ts';
import { memoryReport } from '../helpers/memory-report.ts';
import { fuzzInput, fuzzIterations, fuzzSeed, Prng, withSeed, type FuzzInput } from '../helpers/mqtt-fuzz.ts';
import { useStack } from '../helpers/stack.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const CONNECT_TIMEOUT_MS = 1000;
const stack = useStack({ NODE_OPTIONS: '--expose-gc', MQTT_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS) });

/** A plain TCP client: writes what it is told, keeps every byte it receives, notes when it is closed. */
class RawConn {
  readonly openedAt = Date.now();
  closedAt: number | undefined;
  /** The server's FIN came (it closed its side). */
  ended = false;
  readonly #chunks: Buffer[] = [];

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => this.#chunks.push(d));
    socket.on('end', () => (this.ended = true));
    socket.on('error', () => {});
    socket.on('close', () => (this.closedAt = Date.now()));
  }

  /** @param allowHalfOpen keep this side writable after the server's FIN (default: end it too, as Node does) */
  static open(port: number, allowHalfOpen = false): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1', allowHalfOpen }, () => resolve(new RawConn(s)));
      s.setNoDelay(true);
      s.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.closedAt !== undefined;
  }

  received(): Buffer {
    return Buffer.concat(this.#chunks);
  }

  write(bytes: Uint8Array | string): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Writes `bytes` one byte every `everyMs` until done or closed. */
  async trickle(bytes: Buffer, everyMs: number): Promise<void> {
    for (const b of bytes) {
      if (this.closed) return;
      this.write(Buffer.from([b]));
      await sleep(everyMs);
    }
  }

  /** Whether the server closed the connection within `ms`. */
  async closesWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await sleep(20);
    return this.closed;
  }

  /** The MQTT packets received, decoded for protocol `version`. */
  packets(version: number): Packet[] {
    return decodePackets(this.received(), version);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function decodePackets(bytes: Buffer, version: number): Packet[] {
  const out: Packet[] = [];
  const parser = mqttPacket.parser({ protocolVersion: version });
  parser.on('packet', (p: Packet) => out.push(p));
  parser.on('error', () => {});
  parser.parse(bytes);
  return out;
}

const gen = (p: object, version: 4 | 5) => mqttPacket.generate(p as Packet, { protocolVersion: version });
const connectBytes = (version: 4 | 5, extra: object = {}) =>
  gen({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clean: true, clientId: `h-${Math.random().toString(36).slice(2)}`, keepalive: 30, ...extra }, version);
/** The packet's bytes with the marker "ZZ" replaced by C3 28 (a UTF-8 lead byte without its continuation). */
function illFormed(bytes: Buffer): Buffer {
  const i = bytes.indexOf('ZZ');
  bytes[i] = 0xc3;
  bytes[i + 1] = 0x28;
  return bytes;
}
const code = (p: Packet | undefined) => (p as { reasonCode?: number; returnCode?: number } | undefined)?.reasonCode ?? (p as { returnCode?: number } | undefined)?.returnCode;

/** A connected MQTT client (v3.1.1 or v5) on raw TCP: its CONNACK already received. */
async function session(version: 4 | 5, keepalive = 30, allowHalfOpen = false): Promise<RawConn> {
  const c = await RawConn.open(stack.server.mqttPort, allowHalfOpen);
  c.write(connectBytes(version, { keepalive }));
  await waitFor(() => c.packets(version).some((p) => p.cmd === 'connack'), 5000, 'CONNACK');
  return c;
}

async function storedDevices(): Promise<string[]> {
  const rows = (await stack.client.xrange('sensor-data', '-', '+')) as [string, string[]][];
  return rows.map(([, f]) => f[f.indexOf('device_id') + 1]!);
}

/** A normal client still gets its reading stored: MQTT.js v5, QoS 1. */
async function mqttStillIngests(): Promise<void> {
  const c = stack.track(await mqtt.connectAsync(`mqtt://127.0.0.1:${stack.server.mqttPort}`, { protocolVersion: 5, reconnectPeriod: 0 }));
  const one = reading();
  await c.publishAsync(`neurobuild/sensors/${one.device_id}/data`, JSON.stringify(one), { qos: 1 });
  expect(await storedDevices()).toContain(one.device_id as string);
  await c.endAsync();
}

async function metric(line: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${stack.server.metricsPort}/metrics`)).text();
  const m = text.split('\n').find((l) => l.startsWith(line + ' '));
  return m ? Number(m.slice(line.length + 1)) : 0;
}

/** The server is up and healthy, and has logged nothing at error level (the MQTT safety net logs there). */
async function serverUnharmed(): Promise<void> {
  expect(stack.server.proc.exitCode).toBeNull();
  expect((await fetch(stack.server.base + '/health')).status).toBe(200);
  expect(stack.server.logs.filter((l) => (l.level as number) >= 50)).toEqual([]);
}

// ---------------------------------------------------------------------------------------------

function asTheServerReads(bytes: Buffer, version: number): Packet[] {
  const out: Packet[] = [];
  let failed = false;
  const parser = mqttPacket.parser({ protocolVersion: version });
  parser.on('packet', (p: Packet) => out.push(p));
  parser.on('error', () => (failed = true));
  // byte by byte: the whole packets before a bad fixed header, however the reads fell
  const framer = new Framer(262_144);
  for (let i = 0; i < bytes.length && !failed; i++) {
    const frames = framer.push(bytes.subarray(i, i + 1));
    if (!Array.isArray(frames)) break;
    for (const frame of frames) if (!failed) parser.parse(frame);
  }
  return out;
}

interface Verdict {
  /** closed by the server; or open, holding a session with a keep-alive too long (or 0) to wait for */
  outcome: 'closed' | 'open';
  /** How it was closed: v5 DISCONNECT or CONNACK reason code, v3.1.1 CONNACK return code, or none. */
  how: string;
  violation?: string;
}

/**
 * Sends one input on a fresh connection, keeps the connection open and watches. Expected: the
 * server closes it within the CONNECT deadline (+ the 1 s sweep) unless it accepted a CONNECT,
 * and then within the keep-alive the CONNECT asked for (1.5 × it, + the sweep) after the last
 * whole packet; a keep-alive of 0 (none) or one over 10 s is not waited for.
 */
async function fuzzOne(port: number, input: FuzzInput): Promise<Verdict> {
  // the packets as the server reads them (framer, then one parser, up to its first error): the
  // CONNECT's version and keep-alive, and whether the client said DISCONNECT itself
  const sent = asTheServerReads(input.bytes, input.version);
  const first = sent[0]?.cmd === 'connect' ? sent[0] : undefined;
  const version = connectLevel(input.bytes) === 5 ? 5 : 4;
  const keepalive = first?.keepalive ?? 0;
  const c = await RawConn.open(port);
  for (const chunk of input.chunks) {
    c.write(chunk);
    await new Promise((r) => setImmediate(r));
  }
  const lastWrite = Date.now();
  const slack = 3000;
  while (!c.closed) {
    const got = c.packets(version);
    const accepted = got[0]?.cmd === 'connack' && code(got[0]) === 0;
    if (accepted && (keepalive === 0 || keepalive > 10)) {
      c.destroy();
      return { outcome: 'open', how: `keep-alive ${keepalive}` };
    }
    const deadline = accepted ? lastWrite + keepalive * 1500 + slack : c.openedAt + CONNECT_TIMEOUT_MS + slack;
    if (Date.now() > deadline) {
      c.destroy();
      const what = accepted ? `open ${Date.now() - lastWrite} ms after its last packet with a keep-alive of ${keepalive} s` : `open ${Date.now() - c.openedAt} ms without a CONNECT accepted`;
      return { outcome: 'open', how: 'hanging', violation: what };
    }
    await sleep(50);
  }
  const got = c.packets(version);
  const last = got.at(-1);
  const how =
    last?.cmd === 'disconnect' ? `DISCONNECT 0x${code(last)!.toString(16)}` : last?.cmd === 'connack' && code(last) !== 0 ? `CONNACK 0x${code(last)!.toString(16)}` : 'close';
  // a v5 session the server accepted and then ended says why, unless the client itself said DISCONNECT
  const accepted = got[0]?.cmd === 'connack' && code(got[0]) === 0;
  if (version === 5 && accepted && how === 'close' && !sent.some((p) => p.cmd === 'disconnect')) {
    return { outcome: 'closed', how, violation: 'a v5 session closed by the server without a DISCONNECT reason code' };
  }
  return { outcome: 'closed', how: version === 5 ? how : `${how} (v3.1.1)` };
}

describe('hostile input - MQTT fuzz', () => {
  test('mqtt fuzz - random and mutated packets over many connections: no crash, no hanging connection, bounded memory, still ingesting', async () => {
    const seed = fuzzSeed();
    const iterations = fuzzIterations(600);
    const parallel = 200;
    const r = new Prng(seed);
    const inputs = Array.from({ length: iterations }, () => fuzzInput(r));
    const warmup = new Prng(seed ^ 0x5eed);
    const run = async (list: FuzzInput[], onVerdict: (v: Verdict, i: number) => void) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(parallel, list.length) }, async () => {
          while (next < list.length) {
            const i = next++;
            onVerdict(await fuzzOne(stack.server.mqttPort, list[i]!), i);
          }
        }),
      );
      await waitFor(async () => (await metric('active_connections{connection_type="mqtt"}')) === 0, 10_000, 'every MQTT connection closed');
    };
    const started = Date.now();
    const tally = new Map<string, number>();
    const violations: string[] = [];
    await withSeed(seed, async () => {
      // warm up (JIT, pools, buffers), then measure around the run proper
      await run(Array.from({ length: 200 }, () => fuzzInput(warmup)), () => {});
      const before = await memoryReport(stack.server);
      expect(before.after_gc).toBe(true);
      await run(inputs, (v, i) => {
        const key = `${v.outcome}: ${v.how}`;
        tally.set(key, (tally.get(key) ?? 0) + 1);
        if (v.violation) violations.push(`input #${i} (${inputs[i]!.kind}, v${inputs[i]!.version}) ${v.violation}: ${inputs[i]!.bytes.toString('hex').slice(0, 300)}`);
      });
      const after = await memoryReport(stack.server);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const summary = [...tally].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ');
      console.log(`mqtt fuzz: seed ${seed}, ${iterations} inputs over ${parallel} parallel connections in ${seconds} s; ${summary}`);
      console.log(`mqtt fuzz: heap used after GC ${before.heap_used} → ${after.heap_used} bytes, RSS ${before.rss} → ${after.rss}; sessions kept ${after.mqtt_sessions}, retained ${after.mqtt_retained}`);
      expect(violations.slice(0, 5)).toEqual([]);
      // persistent sessions and retained messages the inputs asked for stay (a few KiB each); the
      // rest must be gone: 16 MiB of slack is ~16 KiB per input at the default 1,000
      const kept = (after.mqtt_sessions! + after.mqtt_retained!) * 4096;
      expect(after.heap_used! - before.heap_used!).toBeLessThan(16 * 1_048_576 + kept);
      expect(after.in_flight).toBe(0);
      await serverUnharmed();
      await mqttStillIngests();
    });
  }, 600_000);
});

describe('hostile input - MQTT', () => {
  test('mqtt - a PUBREL, PUBACK, SUBSCRIBE or QoS 1 PUBLISH too short for its packet identifier: closed (v5: DISCONNECT 0x81); identifier 0: 0x82', async () => {
    const cases: [string, Buffer, number][] = [
      // PUBREL (0x62) with remaining length 1: this one crashed the server (mqtt-packet read the id as -1)
      ['PUBREL', Buffer.from([0x62, 0x01, 0x00]), 0x81],
      ['PUBACK', Buffer.from([0x40, 0x00]), 0x81],
      ['SUBSCRIBE', Buffer.from([0x82, 0x01, 0x00]), 0x81],
      // PUBLISH QoS 1, topic "a", no room left for the packet identifier
      ['PUBLISH QoS 1', Buffer.from([0x32, 0x03, 0x00, 0x01, 0x61]), 0x81],
      // PUBLISH QoS 1, topic "a", packet identifier 0 [MQTT-2.3.1-1]
      ['PUBLISH id 0', Buffer.from([0x32, 0x06, 0x00, 0x01, 0x61, 0x00, 0x00, 0x78]), 0x82],
    ];
    for (const [name, bytes, reason] of cases) {
      for (const version of [4, 5] as const) {
        const c = await session(version);
        // v5 packets carry a property length after the id: a zero-length list where there is room
        c.write(version === 5 && name === 'PUBLISH id 0' ? Buffer.from([0x32, 0x07, 0x00, 0x01, 0x61, 0x00, 0x00, 0x00, 0x78]) : bytes);
        expect({ name, version, closed: await c.closesWithin(3000) }).toEqual({ name, version, closed: true });
        const last = c.packets(version).at(-1);
        if (version === 5) expect({ name, cmd: last?.cmd, reason: code(last) }).toEqual({ name, cmd: 'disconnect', reason });
        else expect({ name, cmd: last?.cmd }).toEqual({ name, cmd: 'connack' });
      }
    }
    await serverUnharmed();
  });

  test('mqtt - more bytes after the client\'s DISCONNECT, then the client goes: the server socket is closed too (it stayed open for good)', async () => {
    const gauge = 'active_connections{connection_type="mqtt"}';
    const before = await metric(gauge);
    for (const version of [4, 5] as const) {
      // half-open: this client may still write once the server has closed its side
      const c = await session(version, 30, true);
      c.write(gen({ cmd: 'disconnect' }, version));
      // the server's FIN: it has read the DISCONNECT and reads nothing more
      await waitFor(() => c.ended, 5000, "the server's FIN after the DISCONNECT");
      // bytes it will not read, then this side's FIN behind them
      c.socket.end('bytes after the DISCONNECT, in a later read');
    }
    await waitFor(async () => (await metric(gauge)) === before, 5000, 'the server to close both sockets');
  });

  test('mqtt - ill-formed UTF-8 in the CONNECT client id, user name or will topic: v3.1.1 closed without CONNACK, v5 CONNACK 0x81', async () => {
    const fields: Record<string, object> = {
      'client id': { clientId: 'idZZ' },
      'user name': { username: 'uZZ', password: Buffer.from('secret') },
      'will topic': { will: { topic: 'willZZ', payload: Buffer.from('gone'), qos: 0, retain: false } },
    };
    for (const [field, extra] of Object.entries(fields)) {
      for (const version of [4, 5] as const) {
        const c = await RawConn.open(stack.server.mqttPort);
        c.write(illFormed(connectBytes(version, extra)));
        expect({ field, version, closed: await c.closesWithin(3000) }).toEqual({ field, version, closed: true });
        const got = c.packets(version).map((p) => `${p.cmd} ${code(p)}`);
        expect({ field, version, got }).toEqual({ field, version, got: version === 5 ? [`connack ${0x81}`] : [] });
      }
    }
  });

  test('mqtt - ill-formed UTF-8 in a SUBSCRIBE or UNSUBSCRIBE filter: v3.1.1 closed, v5 DISCONNECT 0x81', async () => {
    for (const version of [4, 5] as const) {
      for (const packet of [
        { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'okay/#', qos: 1 }, { topic: 'aZZ/#', qos: 0 }] },
        { cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['aZZ/#'] },
      ]) {
        const c = await session(version);
        c.write(illFormed(gen(packet, version)));
        expect(await c.closesWithin(3000)).toBe(true);
        const after = c.packets(version).slice(1).map((p) => `${p.cmd} ${code(p) ?? ''}`.trim());
        expect({ version, cmd: packet.cmd, after }).toEqual({ version, cmd: packet.cmd, after: version === 5 ? [`disconnect ${0x81}`] : [] });
      }
    }
  });

  test('mqtt - a 1 MiB PUBLISH over MQTT_MAX_PACKET_BYTES (256 KiB): v5 DISCONNECT 0x95 with the sizes, v3.1.1 closed', async () => {
    for (const version of [4, 5] as const) {
      const c = await session(version);
      const big = gen({ cmd: 'publish', topic: 'neurobuild/sensors/big-1/data', payload: Buffer.alloc(1_100_000, 0x20), qos: 1, messageId: 1 }, version);
      c.write(big);
      expect(await c.closesWithin(3000)).toBe(true);
      const after = c.packets(version).slice(1);
      if (version === 5) {
        expect(after.map((p) => [p.cmd, code(p)])).toEqual([['disconnect', 0x95]]);
        expect((after[0] as { properties?: { reasonString?: string } }).properties?.reasonString).toBe(`packet of ${big.length} bytes exceeds the maximum of 262144`);
      } else expect(after).toEqual([]);
    }
  });

  test('mqtt - topics as long as the format allows: a 65,000-character device id is no sensor topic (relayed, not stored); a 65,535-byte filter is refused past MQTT_MAX_FILTER_BYTES (0x8F), the connection stays', async () => {
    const c = await session(5);
    const device = 'd'.repeat(65_000);
    const one = reading({ device_id: device });
    c.write(gen({ cmd: 'publish', topic: `neurobuild/sensors/${device}/data`, payload: Buffer.from(JSON.stringify(one)), qos: 1, messageId: 7 }, 5));
    c.write(gen({ cmd: 'subscribe', messageId: 8, subscriptions: [{ topic: 'x/' + 'y'.repeat(65_533), qos: 1 }] }, 5));
    await waitFor(() => c.packets(5).some((p) => p.cmd === 'suback'), 5000, 'SUBACK');
    const got = c.packets(5);
    expect(got.filter((p) => p.cmd === 'puback').map((p) => [p.messageId, code(p)])).toEqual([[7, 0]]);
    expect((got.find((p) => p.cmd === 'suback') as { granted: number[] }).granted).toEqual([0x8f]);
    expect(await storedDevices()).not.toContain(device);
    expect(c.closed).toBe(false);
    c.destroy();
  });

  test('mqtt - payloads nested 10,000 deep or not UTF-8: v5 PUBACK 0x99 with the reason, the connection stays', async () => {
    const c = await session(5);
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    c.write(gen({ cmd: 'publish', topic: 'neurobuild/sensors/deep-1/data', payload: Buffer.from(deep), qos: 1, messageId: 1 }, 5));
    c.write(gen({ cmd: 'publish', topic: 'neurobuild/sensors/deep-1/data', payload: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), qos: 1, messageId: 2 }, 5));
    // the PUBACKs themselves: a PINGRESP is no marker behind them (it is written as the PINGREQ is
    // read, a refusal's PUBACK once the pipeline's answer comes, a turn later)
    await waitFor(() => c.packets(5).filter((p) => p.cmd === 'puback').length >= 2, 5000, 'both PUBACKs');
    // and then the connection still answers
    c.write(gen({ cmd: 'pingreq' }, 5));
    await waitFor(() => c.packets(5).some((p) => p.cmd === 'pingresp'), 5000, 'PINGRESP');
    const acks = c.packets(5).filter((p) => p.cmd === 'puback') as { messageId: number; reasonCode: number; properties?: { reasonString?: string } }[];
    // (a refusal is acknowledged as soon as it is known: not necessarily in publish order)
    expect(acks.map((a) => [a.messageId, a.reasonCode, a.properties?.reasonString]).sort()).toEqual([
      [1, 0x99, 'body must be an object'],
      [2, 0x99, 'body is not valid UTF-8'],
    ]);
    expect(c.closed).toBe(false);
    c.destroy();
    await serverUnharmed();
  });

  test('mqtt slow-loris - silent after connecting, or a CONNECT one byte at a time: closed at MQTT_CONNECT_TIMEOUT_MS (+ the 1 s sweep), no CONNACK; a PUBLISH one byte at a time: v5 DISCONNECT 0x8D at 1.5 × keep-alive', async () => {
    const silent = await RawConn.open(stack.server.mqttPort);
    const slow = await RawConn.open(stack.server.mqttPort);
    const trickling = slow.trickle(connectBytes(4), 250);
    const connected = await session(5, 1);
    const publish = gen({ cmd: 'publish', topic: 'neurobuild/sensors/slow-1/data', payload: Buffer.from(JSON.stringify(reading())), qos: 1, messageId: 1 }, 5);
    const publishing = connected.trickle(publish, 250);
    expect(await silent.closesWithin(CONNECT_TIMEOUT_MS + 2500)).toBe(true);
    expect(await slow.closesWithin(CONNECT_TIMEOUT_MS + 2500)).toBe(true);
    await trickling;
    for (const c of [silent, slow]) {
      expect(c.closedAt! - c.openedAt).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 50);
      expect(c.received().length).toBe(0);
    }
    expect(await connected.closesWithin(1500 + 2500)).toBe(true);
    await publishing;
    expect(connected.packets(5).slice(1).map((p) => [p.cmd, code(p)])).toEqual([['disconnect', 0x8d]]);
  });
});

// ---------------------------------------------------------------------------------------------

const N = 10_000;
const deepObject = '{"a":'.repeat(N) + '1' + '}'.repeat(N);
const deepArray = '['.repeat(N) + ']'.repeat(N);
/** MessagePack: 10,000 nested one-entry maps {"a": …} (fixmap 0x81, fixstr "a"), then 1. */
const deepMsgpackMap = Buffer.concat([Buffer.alloc(N * 3, Buffer.from([0x81, 0xa1, 0x61])), Buffer.from([0x01])]);
/** MessagePack: 10,000 nested one-element arrays (fixarray 0x91), then an empty one. */
const deepMsgpackArray = Buffer.concat([Buffer.alloc(N, 0x91), Buffer.from([0x90])]);
const SINGLE = '/api/v1/sensor-data';
const BATCH = '/api/v1/sensor-data/batch';
const json = { 'content-type': 'application/json' };
const msgpack = { 'content-type': 'application/msgpack' };

describe('hostile input - HTTP', () => {
  const deepCases: [string, string, string | Uint8Array, Record<string, string>, number, string, string][] = [
    ['JSON object nested 10,000 deep', SINGLE, deepObject, json, 400, 'INGEST_ERR_INVALID_READING', 'device_id is required'],
    ['JSON array nested 10,000 deep', SINGLE, deepArray, json, 400, 'INGEST_ERR_INVALID_READING', 'body must be an object'],
    ['a reading whose sensors nest 10,000 deep', SINGLE, `{"device_id":"deep-1","timestamp":"${new Date().toISOString()}","sensors":${deepObject}}`, json, 400, 'INGEST_ERR_INVALID_READING', 'sensors.a is not a known sensor type'],
    ['MessagePack maps nested 10,000 deep', SINGLE, deepMsgpackMap, msgpack, 400, 'INGEST_ERR_MALFORMED_PAYLOAD', 'malformed MessagePack'],
    ['batch: MessagePack arrays nested 10,000 deep', BATCH, deepMsgpackArray, msgpack, 400, 'INGEST_ERR_MALFORMED_PAYLOAD', 'malformed MessagePack'],
  ];
  for (const [name, path, body, headers, status, errCode, details] of deepCases) {
    test(`http - ${name} → ${status} ${errCode}`, async () => {
      const res = await stack.server.post(path, body, headers);
      const answer = (await res.json()) as { code: string; details: string };
      expect({ status: res.status, code: answer.code }).toEqual({ status, code: errCode });
      expect(answer.details).toStartWith(details);
    });
  }

  test('http - batch: a JSON object nested 10,000 deep is one reading object, a batch of one → 202 with that item failed', async () => {
    const res = await stack.server.post(BATCH, deepObject);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ message: 'Batch processed', total: 1, results: [{ device_id: null, status: 'failed', error: 'Invalid sensor data', details: 'device_id is required' }] });
    await serverUnharmed();
  });

  test('http - batch: a JSON array nested 10,000 deep is one item → 202 with that item failed (the batch contract)', async () => {
    const res = await stack.server.post(BATCH, deepArray);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ message: 'Batch processed', total: 1, results: [{ device_id: null, status: 'failed', error: 'Invalid sensor data', details: 'body must be an object' }] });
  });

  test('http - a refused body too deep to serialise is kept in the rejects stream as received (it crashed the server before)', async () => {
    const before = await stack.client.xlen('sensor-data-invalid');
    expect((await stack.server.post(SINGLE, deepArray)).status).toBe(400);
    await waitFor(async () => (await stack.client.xlen('sensor-data-invalid')) > before, 5000, 'reject entry');
    const [, fields] = ((await stack.client.xrevrange('sensor-data-invalid', '+', '-', 'COUNT', 1)) as [string, string[]][])[0]!;
    const payload = fields[fields.indexOf('payload') + 1]!;
    expect(payload).toBe(deepArray.slice(0, 4096));
    await serverUnharmed();
  });

  test('http - a JSON body that is not UTF-8 → 400 INGEST_ERR_MALFORMED_PAYLOAD, single and batch', async () => {
    const one = Buffer.concat([Buffer.from('{"device_id":"utf-'), Buffer.from([0xff, 0xfe]), Buffer.from(`","timestamp":"${new Date().toISOString()}","sensors":{"pir":{"motion_detected":true}}}`)]);
    for (const [path, body] of [[SINGLE, one], [BATCH, Buffer.concat([Buffer.from('['), one, Buffer.from(']')])]] as const) {
      const res = await stack.server.post(path, body);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: 'Invalid sensor data', code: 'INGEST_ERR_MALFORMED_PAYLOAD', details: 'body is not valid UTF-8' });
    }
  });

  test('http - a header section over 4 KiB that arrives over more than one read (a 64 KiB header, a 64 KiB URL): closed without an answer (uWS: no 431); under 4 KiB: served', async () => {
    const big = 'a'.repeat(65_536);
    const inTwoReads = async (head: string, rest: string) => {
      const c = await RawConn.open(stack.server.port);
      c.write(head);
      await sleep(100);
      c.write(rest);
      const closed = await c.closesWithin(3000);
      c.destroy();
      return { closed, answer: c.received().toString().split('\r\n')[0] };
    };
    const request = (target: string, header: string) => `GET ${target} HTTP/1.1\r\nHost: x\r\n${header}Connection: close\r\n\r\n`;
    const header = request('/health', `X-Big: ${big}\r\n`);
    expect(await inTwoReads(header.slice(0, 40), header.slice(40))).toEqual({ closed: true, answer: '' });
    const url = request(`/health?${big}`, '');
    expect(await inTwoReads(url.slice(0, 20), url.slice(20))).toEqual({ closed: true, answer: '' });
    const small = request('/health', `X-Small: ${'a'.repeat(3000)}\r\n`);
    expect(await inTwoReads(small.slice(0, 40), small.slice(40))).toEqual({ closed: true, answer: 'HTTP/1.1 200 OK' });
    await serverUnharmed();
  });

  test('http slow-loris - headers one byte a second, a body one byte a second, 100 headers: closed by uWS at its 10 s idle timeout without an answer, while others are served', async () => {
    const post = (contentLength: number) => `POST ${SINGLE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${contentLength}\r\n\r\n`;
    const slowHeaders = await RawConn.open(stack.server.port);
    const slowBody = await RawConn.open(stack.server.port);
    const manyHeaders = await RawConn.open(stack.server.port);
    const trickles = [slowHeaders.trickle(Buffer.from(post(2)), 1000), (async () => {
      slowBody.write(post(1000));
      await slowBody.trickle(Buffer.alloc(1000, 0x20), 1000);
    })()];
    manyHeaders.write(`GET /health HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 100 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`);
    // meanwhile, normal clients are served
    let served = 0;
    while (!(slowHeaders.closed && slowBody.closed && manyHeaders.closed) && Date.now() - slowHeaders.openedAt < 20_000) {
      const res = await stack.server.post(SINGLE, reading());
      expect(res.status).toBe(202);
      served++;
      await sleep(500);
    }
    await Promise.all(trickles);
    for (const [name, c] of [['headers', slowHeaders], ['body', slowBody], ['100 headers', manyHeaders]] as const) {
      const after = c.closed ? c.closedAt! - c.openedAt : Infinity;
      expect({ name, answer: c.received().toString(), closedAfterS: after >= 8000 && after <= 16_000 }).toEqual({ name, answer: '', closedAfterS: true });
    }
    expect(served).toBeGreaterThan(10);
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------

describe('hostile input - WebSocket', () => {
  /** A raw WebSocket client: the upgrade done, whatever the server sends kept (frames unparsed). */
  async function rawWebSocket(path: string): Promise<RawConn> {
    const c = await RawConn.open(stack.server.wsPort);
    c.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await waitFor(() => c.received().includes('\r\n\r\n'), 5000, 'the upgrade answer');
    expect(c.received().toString().split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
    return c;
  }

  /** One masked client frame (FIN set) [RFC 6455 §5.2]. */
  function clientFrame(opcode: number, payload: Buffer): Buffer {
    const n = payload.length;
    const head = n < 126 ? Buffer.from([0x80 | opcode, 0x80 | n]) : Buffer.alloc(n < 65_536 ? 4 : 10);
    if (n >= 126) {
      head[0] = 0x80 | opcode;
      head[1] = 0x80 | (n < 65_536 ? 126 : 127);
      if (n < 65_536) head.writeUInt16BE(n, 2);
      else head.writeBigUInt64BE(BigInt(n), 2);
    }
    const mask = randomBytes(4);
    return Buffer.concat([head, mask, payload.map((b, i) => b ^ mask[i % 4]!)]);
  }

  /** The opcodes (and a close frame's code) of the server's frames after the upgrade answer. */
  function serverFrames(c: RawConn): string[] {
    const all = c.received();
    const out: string[] = [];
    for (let pos = all.indexOf('\r\n\r\n') + 4; pos + 2 <= all.length; ) {
      const opcode = all[pos]! & 0x0f;
      let n = all[pos + 1]! & 0x7f;
      let at = pos + 2;
      if (n === 126) [n, at] = [all.readUInt16BE(at), at + 2];
      else if (n === 127) [n, at] = [Number(all.readBigUInt64BE(at)), at + 8];
      out.push(opcode === 8 ? `close ${n >= 2 ? all.readUInt16BE(at) : ''}`.trim() : `opcode ${opcode}`);
      pos = at + n;
    }
    return out;
  }

  test('ws - a frame over the limit (live: 64 KiB, MQTT: MQTT_MAX_PACKET_BYTES), or a text frame that is not UTF-8: the TCP connection is dropped without a close frame (a client sees 1006; uWS), the others are unaffected', async () => {
    const gauge = 'active_connections{connection_type="websocket"}';
    const before = await metric(gauge);
    const illFormedText = clientFrame(0x1, Buffer.from([0x7b, 0xc3, 0x28, 0x7d]));
    const cases: [string, string, Buffer][] = [
      ['live: 100 KB text', '/', clientFrame(0x1, Buffer.alloc(100_000, 0x78))],
      ['live: 100 KB binary', '/', clientFrame(0x2, Buffer.alloc(100_000))],
      ['live: ill-formed UTF-8 text', '/', illFormedText],
      ['mqtt: ill-formed UTF-8 text', '/mqtt', illFormedText],
      // MQTT over WebSocket takes frames up to MQTT_MAX_PACKET_BYTES (+ 8)
      ['mqtt: 300 KB binary', '/mqtt', clientFrame(0x2, Buffer.alloc(300_000))],
    ];
    // side by side: each case takes uWS about 2.4 s to drop
    const outcomes = await Promise.all(
      cases.map(async ([name, path, frame]) => {
        const c = await rawWebSocket(path);
        c.write(frame);
        const closed = await c.closesWithin(3000);
        return { name, closed, frames: serverFrames(c), path };
      }),
    );
    // the live endpoint greets with one text frame; no close frame follows
    for (const { name, closed, frames, path } of outcomes) expect({ name, closed, frames }).toEqual({ name, closed: true, frames: path === '/' ? ['opcode 1'] : [] });
    await waitFor(async () => (await metric(gauge)) === before, 5000, 'the WebSocket connections counted closed');
    const ok = new WebSocket(stack.server.wsUrl('/'));
    const pong = await new Promise<string>((resolve) => {
      ok.on('message', (m) => String(m).includes('"pong"') && resolve(String(m)));
      ok.on('open', () => ok.send(JSON.stringify({ type: 'ping' })));
    });
    expect(JSON.parse(pong).type).toBe('pong');
    ok.terminate();
    await serverUnharmed();
  });
});
