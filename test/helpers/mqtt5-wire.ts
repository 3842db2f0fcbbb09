/**
 * MQTT 5 on the wire, below what mqtt-packet shows: its parser folds User Properties into an
 * object (a repeated name becomes an array), so the order of interleaved names ("a", "b", "a")
 * cannot be seen through it, nor sent with its generator. RawFrames keeps every packet the
 * server sends as its bytes; encodePublish5 writes a PUBLISH with properties in a given order;
 * publishProperties reads a received PUBLISH's properties in wire order.
 */
import { connect, type Socket } from 'node:net';
import * as mqtt from 'mqtt-packet';
import { waitFor } from './wait.ts';
import { PropertyId } from '../../src/transports/mqtt/property-ids.ts';

/** A v5 property as written on the wire, in order. */
export type WireProperty =
  | { id: 'userProperty'; name: string; value: string }
  | { id: 'contentType' | 'responseTopic'; value: string }
  | { id: 'correlationData'; value: Buffer }
  | { id: 'payloadFormatIndicator'; value: number }
  | { id: 'messageExpiryInterval'; value: number }
  | { id: 'topicAlias'; value: number }
  | { id: 'subscriptionIdentifier'; value: number };

const CODE = PropertyId;

function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function encodeProperty(p: WireProperty): Buffer {
  const code = Buffer.from([CODE[p.id]]);
  switch (p.id) {
    case 'userProperty':
      return Buffer.concat([code, str(p.name), str(p.value)]);
    case 'contentType':
    case 'responseTopic':
    case 'correlationData':
      return Buffer.concat([code, str(p.value)]);
    case 'payloadFormatIndicator':
      return Buffer.concat([code, Buffer.from([p.value])]);
    case 'messageExpiryInterval': {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(p.value);
      return Buffer.concat([code, b]);
    }
    case 'topicAlias': {
      const b = Buffer.alloc(2);
      b.writeUInt16BE(p.value);
      return Buffer.concat([code, b]);
    }
    case 'subscriptionIdentifier':
      return Buffer.concat([code, varint(p.value)]);
  }
}

/** A v5 PUBLISH with `properties` written in the order given. */
export function encodePublish5(o: { topic: string; payload: Buffer | string; qos: 0 | 1 | 2; packetId?: number; retain?: boolean; properties: WireProperty[] }): Buffer {
  const props = Buffer.concat(o.properties.map(encodeProperty));
  const id = Buffer.alloc(o.qos > 0 ? 2 : 0);
  if (o.qos > 0) id.writeUInt16BE(o.packetId ?? 1);
  const body = Buffer.concat([str(o.topic), id, varint(props.length), props, Buffer.from(o.payload)]);
  return Buffer.concat([Buffer.from([0x30 | (o.qos << 1) | (o.retain ? 1 : 0)]), varint(body.length), body]);
}

/** A received PUBLISH frame split up, its properties in wire order. */
export interface WirePublish {
  topic: string;
  qos: number;
  retain: boolean;
  packetId?: number;
  properties: WireProperty[];
  payload: Buffer;
}

/** Reads a whole v5 PUBLISH frame (fixed header included). */
export function decodePublish5(frame: Buffer): WirePublish {
  const b0 = frame[0]!;
  if (b0 >> 4 !== 3) throw new Error(`not a PUBLISH: 0x${b0.toString(16)}`);
  let pos = 1;
  while (frame[pos]! & 0x80) pos++;
  pos++;
  const readVarint = (): number => {
    let n = 0;
    let mul = 1;
    for (;;) {
      const b = frame[pos++]!;
      n += (b & 0x7f) * mul;
      if (!(b & 0x80)) return n;
      mul *= 128;
    }
  };
  const readBin = (): Buffer => {
    const len = frame.readUInt16BE(pos);
    pos += 2;
    const b = frame.subarray(pos, pos + len);
    pos += len;
    return Buffer.from(b);
  };
  const qos = (b0 >> 1) & 3;
  const topic = readBin().toString('utf8');
  let packetId: number | undefined;
  if (qos > 0) {
    packetId = frame.readUInt16BE(pos);
    pos += 2;
  }
  const end = readVarint() + pos;
  const properties: WireProperty[] = [];
  while (pos < end) {
    const code = frame[pos++]!;
    switch (code) {
      case CODE.userProperty: {
        const name = readBin().toString('utf8');
        properties.push({ id: 'userProperty', name, value: readBin().toString('utf8') });
        break;
      }
      case CODE.contentType:
        properties.push({ id: 'contentType', value: readBin().toString('utf8') });
        break;
      case CODE.responseTopic:
        properties.push({ id: 'responseTopic', value: readBin().toString('utf8') });
        break;
      case CODE.correlationData:
        properties.push({ id: 'correlationData', value: readBin() });
        break;
      case CODE.payloadFormatIndicator:
        properties.push({ id: 'payloadFormatIndicator', value: frame[pos++]! });
        break;
      case CODE.messageExpiryInterval:
        properties.push({ id: 'messageExpiryInterval', value: frame.readUInt32BE(pos) });
        pos += 4;
        break;
      case CODE.topicAlias:
        properties.push({ id: 'topicAlias', value: frame.readUInt16BE(pos) });
        pos += 2;
        break;
      case CODE.subscriptionIdentifier:
        properties.push({ id: 'subscriptionIdentifier', value: readVarint() });
        break;
      default:
        throw new Error(`unexpected property 0x${code.toString(16)} in a PUBLISH`);
    }
  }
  return { topic, qos, retain: (b0 & 1) === 1, ...(packetId !== undefined ? { packetId } : {}), properties, payload: Buffer.from(frame.subarray(pos)) };
}

/** A v5 client on a raw socket that keeps every packet from the server as its bytes. */
export class RawFrames {
  readonly frames: Buffer[] = [];
  #buf = Buffer.alloc(0);

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      for (;;) {
        let pos = 1;
        let len = 0;
        let mul = 1;
        for (;;) {
          if (pos >= this.#buf.length) return;
          const b = this.#buf[pos++]!;
          len += (b & 0x7f) * mul;
          mul *= 128;
          if (!(b & 0x80)) break;
        }
        if (this.#buf.length < pos + len) return;
        this.frames.push(Buffer.from(this.#buf.subarray(0, pos + len)));
        this.#buf = this.#buf.subarray(pos + len);
      }
    });
    socket.on('error', () => {});
  }

  /** Connects (v5, clean start) and waits for CONNACK. */
  static async connected(port: number, clientId: string): Promise<RawFrames> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    const c = new RawFrames(socket);
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId, keepalive: 60 });
    await c.next(2);
    return c;
  }

  send(p: mqtt.Packet): void {
    this.socket.write(mqtt.generate(p, { protocolVersion: 5 }));
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next frame of MQTT packet type `type` (3 PUBLISH, 9 SUBACK, ...), removed from the list. */
  next(type: number, timeoutMs = 5000): Promise<Buffer> {
    return waitFor(() => {
      const i = this.frames.findIndex((f) => f[0]! >> 4 === type);
      return i >= 0 ? this.frames.splice(i, 1)[0] : undefined;
    }, timeoutMs, `packet type ${type}`) as Promise<Buffer>;
  }

  close(): void {
    this.socket.destroy();
  }
}
