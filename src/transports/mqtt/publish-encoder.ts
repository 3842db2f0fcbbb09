/**
 * PUBLISH packets to subscribers, encoded by hand: the one packet the server sends by the
 * million (fan-out), where mqtt-packet's generic generator (an object walk per packet and a
 * copy through a BufferList) would be paid per subscriber. The parts that are the same for every
 * subscriber (topic bytes, the message's forwarded v5 properties) are encoded once per message
 * and cached on it; only the packet identifier, the flags and the per-delivery v5 properties
 * (remaining expiry, topic alias, subscription identifiers) are written per delivery. Pure:
 * values in, bytes out. Checked against mqtt-packet's parser in
 * test/unit/transports/mqtt/publish-encoder.test.ts.
 * @module
 */
import type { Message, MessageProperties } from './message.ts';
import { PropertyId } from './property-ids.ts';


/** What is written per delivery. */
export interface PublishDelivery {
  qos: 0 | 1 | 2;
  retain: boolean;
  dup: boolean;
  /** Only for QoS 1/2. */
  packetId?: number;
  /** v5 only: seconds of Message Expiry left [MQTT-3.3.2-6]. */
  expirySeconds?: number;
  /** v5 only: the alias to send; with `topicOmitted` the topic name is left empty (the alias was set earlier on this connection). */
  topicAlias?: number;
  topicOmitted?: boolean;
  /** v5 only: identifiers of the subscriptions that matched [MQTT-3.3.4-3]. */
  subscriptionIds?: readonly number[];
}

const topicCache = new WeakMap<Message, Buffer>();
const propertyCache = new WeakMap<Message, Buffer>();
const EMPTY = Buffer.alloc(0);

/** Total size of the PUBLISH `encodePublish` would produce, for the client's Maximum Packet Size. */
export function publishSize(m: Message, d: PublishDelivery, v5: boolean): number {
  const remaining = remainingLength(m, d, v5);
  return 1 + varintSize(remaining) + remaining;
}

/** The whole PUBLISH packet for `m` as delivered with `d`, for protocol level 5 (`v5`) or 3.1.1. */
export function encodePublish(m: Message, d: PublishDelivery, v5: boolean): Buffer {
  const topic = d.topicOmitted ? EMPTY : topicBytes(m);
  const props = v5 ? staticProperties(m) : EMPTY;
  const dynamic = v5 ? dynamicPropertiesSize(d) : 0;
  const propsLength = props.length + dynamic;
  const remaining = 2 + topic.length + (d.qos > 0 ? 2 : 0) + (v5 ? varintSize(propsLength) + propsLength : 0) + m.payload.length;
  const out = Buffer.allocUnsafe(1 + varintSize(remaining) + remaining);
  out[0] = 0x30 | (d.dup ? 0x08 : 0) | (d.qos << 1) | (d.retain ? 1 : 0);
  let pos = writeVarint(out, 1, remaining);
  out.writeUInt16BE(topic.length, pos);
  pos += 2;
  pos += topic.copy(out, pos);
  if (d.qos > 0) {
    out.writeUInt16BE(d.packetId!, pos);
    pos += 2;
  }
  if (v5) {
    pos = writeVarint(out, pos, propsLength);
    pos += props.copy(out, pos);
    if (d.expirySeconds !== undefined) {
      out[pos++] = PropertyId.messageExpiryInterval;
      out.writeUInt32BE(d.expirySeconds, pos);
      pos += 4;
    }
    if (d.topicAlias !== undefined) {
      out[pos++] = PropertyId.topicAlias;
      out.writeUInt16BE(d.topicAlias, pos);
      pos += 2;
    }
    if (d.subscriptionIds !== undefined) {
      for (const id of d.subscriptionIds) {
        out[pos++] = PropertyId.subscriptionIdentifier;
        pos = writeVarint(out, pos, id);
      }
    }
  }
  m.payload.copy(out, pos);
  return out;
}

function remainingLength(m: Message, d: PublishDelivery, v5: boolean): number {
  const topic = d.topicOmitted ? 0 : topicBytes(m).length;
  let n = 2 + topic + (d.qos > 0 ? 2 : 0) + m.payload.length;
  if (v5) {
    const propsLength = staticProperties(m).length + dynamicPropertiesSize(d);
    n += varintSize(propsLength) + propsLength;
  }
  return n;
}

function dynamicPropertiesSize(d: PublishDelivery): number {
  let n = 0;
  if (d.expirySeconds !== undefined) n += 5;
  if (d.topicAlias !== undefined) n += 3;
  if (d.subscriptionIds !== undefined) for (const id of d.subscriptionIds) n += 1 + varintSize(id);
  return n;
}

function topicBytes(m: Message): Buffer {
  let b = topicCache.get(m);
  if (b === undefined) {
    b = Buffer.from(m.topic, 'utf8');
    topicCache.set(m, b);
  }
  return b;
}

/** The forwarded properties of `m`, encoded once (every v5 subscriber gets the same bytes). */
function staticProperties(m: Message): Buffer {
  const p = m.properties;
  if (p === undefined) return EMPTY;
  let b = propertyCache.get(m);
  if (b === undefined) {
    b = encodeStaticProperties(p);
    propertyCache.set(m, b);
  }
  return b;
}

function encodeStaticProperties(p: MessageProperties): Buffer {
  const parts: Buffer[] = [];
  if (p.payloadFormatIndicator !== undefined) parts.push(Buffer.from([PropertyId.payloadFormatIndicator, p.payloadFormatIndicator ? 1 : 0]));
  if (p.contentType !== undefined) parts.push(stringProperty(PropertyId.contentType, p.contentType));
  if (p.responseTopic !== undefined) parts.push(stringProperty(PropertyId.responseTopic, p.responseTopic));
  if (p.correlationData !== undefined) parts.push(binaryProperty(PropertyId.correlationData, p.correlationData));
  if (p.userProperties !== undefined) {
    for (const [name, value] of p.userProperties) parts.push(Buffer.concat([stringProperty(PropertyId.userProperty, name), lengthPrefixed(Buffer.from(value, 'utf8'))]));
  }
  return parts.length === 0 ? EMPTY : Buffer.concat(parts);
}

function stringProperty(id: number, s: string): Buffer {
  return Buffer.concat([Buffer.from([id]), lengthPrefixed(Buffer.from(s, 'utf8'))]);
}

function binaryProperty(id: number, b: Buffer): Buffer {
  return Buffer.concat([Buffer.from([id]), lengthPrefixed(b)]);
}

function lengthPrefixed(b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(2 + b.length);
  out.writeUInt16BE(b.length, 0);
  b.copy(out, 2);
  return out;
}

/** Bytes of a Variable Byte Integer [MQTT-1.5.5]. */
export function varintSize(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

function writeVarint(out: Buffer, pos: number, n: number): number {
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out[pos++] = byte;
  } while (n > 0);
  return pos;
}
