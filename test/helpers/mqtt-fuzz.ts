/**
 * Hostile MQTT byte streams from a seeded PRNG, the same for a given seed everywhere (unit
 * fuzz of MqttConnection and the integration fuzz against the built server):
 *
 * - fully random bytes (sometimes after a valid CONNECT, so they reach the connected state);
 * - valid sessions (CONNECT v3.1.1 or v5, then PUBLISH QoS 0/1/2, SUBSCRIBE, UNSUBSCRIBE,
 *   PINGREQ, acks, DISCONNECT, built with mqtt-packet's generate) mutated by bit flips,
 *   truncation, Remaining Length corruption, duplication, splicing, and byte inserts/deletes.
 *
 * FUZZ_SEED reproduces a run (the tests print the seed they used, and again on failure);
 * FUZZ_ITERATIONS raises the number of inputs. Readings in the payloads carry timestamps
 * relative to now (so they validate): their digits differ between runs, nothing else does.
 */
import * as mqtt from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';

/** mulberry32: small, fast, good enough to explore bytes; deterministic per seed. */
export class Prng {
  #s: number;

  constructor(seed: number) {
    this.#s = seed >>> 0;
  }

  /** A uint32. */
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.next() / 0x1_0000_0000) * n);
  }

  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.next() & 0xff;
    return b;
  }
}

/** The seed for this run: FUZZ_SEED, or a fresh one. */
export function fuzzSeed(): number {
  const given = process.env.FUZZ_SEED;
  return given ? Number(given) >>> 0 : (Math.random() * 0x1_0000_0000) >>> 0;
}

/** FUZZ_ITERATIONS, or `fallback`. */
export function fuzzIterations(fallback: number): number {
  const given = Number(process.env.FUZZ_ITERATIONS);
  return Number.isInteger(given) && given > 0 ? given : fallback;
}

/** Runs `body`; on failure the error names the seed (and the input index, if `where` tells it). */
export async function withSeed(seed: number, body: () => unknown, where: () => string = () => ''): Promise<void> {
  try {
    await body();
  } catch (err) {
    const e = err as Error;
    e.message = `[reproduce with FUZZ_SEED=${seed}${where()}] ${e.message}`;
    throw e;
  }
}

const PREFIX = 'neurobuild/sensors';
const SENSORS = ['data', 'pir', 'ld2410', 'mq134', 'status'];

function topic(r: Prng): string {
  switch (r.int(5)) {
    case 0:
    case 1:
      return `${PREFIX}/fuzz-${r.int(20)}/${r.pick(SENSORS)}`;
    case 2:
      return `relay/${r.int(10)}/x`;
    case 3:
      return `${PREFIX}/${'d'.repeat(1 + r.int(200))}/data`;
    default:
      return r.bytes(1 + r.int(12)).toString('latin1');
  }
}

function filter(r: Prng): string {
  return r.pick([`${PREFIX}/#`, `${PREFIX}/+/data`, 'relay/#', '#', '+/+', `relay/${r.int(10)}/x`, '$SYS/#', `$share/g/${PREFIX}/#`, 'a/#/b']);
}

function payload(r: Prng, t: string): Buffer {
  if (!t.startsWith(PREFIX) || r.chance(0.3)) return r.bytes(r.int(64));
  const device = t.split('/')[2];
  const reading = {
    device_id: r.chance(0.8) ? device : `other-${r.int(5)}`,
    timestamp: new Date(Date.now() - r.int(120_000)).toISOString(),
    sensors: r.pick([{ pir: { motion_detected: r.chance(0.5) } }, { ld2410: { presence: true, distance: r.int(900), energy: r.int(120) } }, { mq134: { gas_concentration: r.int(2000), unit: 'ppm' } }]),
  };
  return Buffer.from(JSON.stringify(reading));
}

/** A well-formed CONNECT (keep-alive short, so open sessions end by themselves). */
export function connectPacket(r: Prng, version: 4 | 5): Packet {
  const clean = r.chance(0.9);
  const p: Record<string, unknown> = {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: version,
    clean,
    // an empty id asks the server to assign one (v3.1.1: only with a clean session)
    clientId: clean && r.chance(0.1) ? '' : `fuzz-${r.next().toString(36)}`,
    keepalive: 1 + r.int(3),
  };
  if (r.chance(0.3)) {
    p.username = `fuzz-${r.int(100)}`;
    p.password = r.bytes(r.int(16));
  }
  if (r.chance(0.3)) {
    const t = topic(r);
    p.will = { topic: t, payload: payload(r, t), qos: r.int(3), retain: r.chance(0.2), ...(version === 5 && r.chance(0.5) ? { properties: { willDelayInterval: r.int(3) } } : {}) };
  }
  if (version === 5 && r.chance(0.6)) {
    p.properties = {
      sessionExpiryInterval: r.chance(0.8) ? 0 : r.int(5),
      receiveMaximum: 1 + r.int(100),
      topicAliasMaximum: r.int(10),
      ...(r.chance(0.3) ? { userProperties: { k: `v${r.int(9)}` } } : {}),
    };
  }
  return p as unknown as Packet;
}

/** One packet a connected client might send. */
export function clientPacket(r: Prng, version: 4 | 5): Packet {
  const messageId = 1 + r.int(65_535);
  switch (r.int(10)) {
    case 0:
    case 1:
    case 2:
    case 3: {
      const t = topic(r);
      const qos = r.int(3) as 0 | 1 | 2;
      const p: Record<string, unknown> = { cmd: 'publish', topic: t, payload: payload(r, t), qos, retain: r.chance(0.1), dup: r.chance(0.1) };
      if (qos > 0) p.messageId = messageId;
      if (version === 5 && r.chance(0.4)) {
        p.properties = {
          ...(r.chance(0.5) ? { topicAlias: r.int(70) } : {}),
          ...(r.chance(0.3) ? { contentType: r.pick(['application/json', 'application/msgpack', 'text/plain']) } : {}),
          ...(r.chance(0.3) ? { messageExpiryInterval: r.int(10) } : {}),
          ...(r.chance(0.2) ? { payloadFormatIndicator: r.chance(0.5) } : {}),
        };
      }
      return p as unknown as Packet;
    }
    case 4:
      return { cmd: 'subscribe', messageId, subscriptions: Array.from({ length: 1 + r.int(3) }, () => ({ topic: filter(r), qos: r.int(3) as 0 | 1 | 2 })) } as Packet;
    case 5:
      return { cmd: 'unsubscribe', messageId, unsubscriptions: [filter(r)] } as Packet;
    case 6:
      return { cmd: 'pingreq' } as Packet;
    case 7:
      return { cmd: r.pick(['puback', 'pubrec', 'pubrel', 'pubcomp'] as const), messageId } as Packet;
    case 8:
      return { cmd: 'disconnect', ...(version === 5 ? { reasonCode: r.pick([0, 4, 0x80]) } : {}) } as Packet;
    default:
      return connectPacket(r, version);
  }
}

/** A valid session's bytes: CONNECT, then 0 to 8 packets; with the packets' boundaries. */
export function validSession(r: Prng, version: 4 | 5): { bytes: Buffer; packets: Buffer[] } {
  const packets = [mqtt.generate(connectPacket(r, version), { protocolVersion: version })];
  const n = r.int(9);
  for (let i = 0; i < n; i++) packets.push(mqtt.generate(clientPacket(r, version), { protocolVersion: version }));
  return { bytes: Buffer.concat(packets), packets };
}

export const Mutation = ['bit-flip', 'truncate', 'length', 'duplicate', 'splice', 'insert', 'delete'] as const;
export type Mutation = (typeof Mutation)[number];

/** Applies one mutation; `packets` are the boundaries of `bytes`, `other` a second stream to splice in. */
export function mutate(r: Prng, m: Mutation, bytes: Buffer, packets: Buffer[], other: Buffer): Buffer {
  const b = Buffer.from(bytes);
  switch (m) {
    case 'bit-flip': {
      const flips = 1 + r.int(8);
      for (let i = 0; i < flips; i++) b[r.int(b.length)]! ^= 1 << r.int(8);
      return b;
    }
    case 'truncate':
      return b.subarray(0, r.int(b.length));
    case 'length': {
      // one packet's Remaining Length replaced: smaller, larger, huge, or over 4 bytes long
      const i = r.int(packets.length);
      const at = packets.slice(0, i).reduce((n, p) => n + p.length, 0);
      const corrupt = r.pick([[0x00], [r.int(128)], [0xff, 0x7f], [0xff, 0xff, 0xff, 0x7f], [0xff, 0xff, 0xff, 0xff, 0x01], [0x80, 0x80, 0x80, 0x80, 0x80]]);
      let h = 1;
      while (h < 5 && b[at + h]! & 0x80) h++;
      return Buffer.concat([b.subarray(0, at + 1), Buffer.from(corrupt), b.subarray(at + h + 1)]);
    }
    case 'duplicate': {
      const i = r.int(packets.length);
      return Buffer.concat([...packets.slice(0, i + 1), ...packets.slice(i)]);
    }
    case 'splice': {
      const cut = r.int(b.length + 1);
      const from = r.int(other.length + 1);
      return Buffer.concat([b.subarray(0, cut), other.subarray(from, from + r.int(other.length - from + 1))]);
    }
    case 'insert': {
      const at = r.int(b.length + 1);
      return Buffer.concat([b.subarray(0, at), r.bytes(1 + r.int(16)), b.subarray(at)]);
    }
    case 'delete': {
      const at = r.int(b.length);
      return Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + r.int(16))]);
    }
  }
}

export interface FuzzInput {
  kind: 'random' | 'connect+random' | Mutation;
  version: 4 | 5;
  bytes: Buffer;
  /** `bytes` cut where the client writes (exercises reassembly across reads). */
  chunks: Buffer[];
}

/** One hostile input: about 20% random bytes, the rest mutated valid sessions. */
export function fuzzInput(r: Prng): FuzzInput {
  const version = r.chance(0.5) ? 5 : 4;
  let kind: FuzzInput['kind'];
  let bytes: Buffer;
  const roll = r.int(10);
  if (roll === 0) {
    kind = 'random';
    bytes = r.bytes(1 + r.int(512));
  } else if (roll === 1) {
    kind = 'connect+random';
    bytes = Buffer.concat([mqtt.generate(connectPacket(r, version), { protocolVersion: version }), r.bytes(1 + r.int(256))]);
  } else {
    const s = validSession(r, version);
    kind = r.pick(Mutation);
    bytes = mutate(r, kind, s.bytes, s.packets, validSession(r, r.chance(0.5) ? 5 : 4).bytes);
    // sometimes a second mutation on top
    if (r.chance(0.3)) bytes = mutate(r, r.pick(['bit-flip', 'insert', 'delete', 'truncate'] as const), bytes, [bytes], s.bytes);
  }
  const chunks: Buffer[] = [];
  for (let pos = 0; pos < bytes.length; ) {
    const n = r.chance(0.5) ? bytes.length - pos : 1 + r.int(bytes.length - pos);
    chunks.push(bytes.subarray(pos, pos + n));
    pos += n;
  }
  return { kind, version, bytes, chunks };
}
