/**
 * A fast path for the one packet that arrives by the million: PUBLISH (v3.1.1, and v5 with the
 * properties a client may send, User Properties kept in order). Profiled under QoS 1 load,
 * mqtt-packet's general parser (a BufferList, copies, a state machine) took ~10 % of the
 * server's CPU; this reads the frame in place. Anything else returns undefined and goes to
 * mqtt-packet. Pure: a whole frame in (from the framer), a packet out [MQTT-3.3].
 * @module
 */
import { isUtf8 } from 'node:buffer';
import type { IPublishPacket } from 'mqtt-packet';
import { fixedHeaderLength, readVarInt } from './fixed-header.ts';
import { PropertyId } from './property-ids.ts';

export function parsePublish(frame: Buffer, protocolVersion: number): PublishPacket | undefined {
  const b0 = frame[0]!;
  if (b0 >> 4 !== 3) return undefined;
  const qos = (b0 >> 1) & 3;
  if (qos === 3) return undefined; // malformed: mqtt-packet reports it
  let pos = fixedHeaderLength(frame);
  if (pos + 2 > frame.length) return undefined;
  const topicLength = frame.readUInt16BE(pos);
  pos += 2;
  if (pos + topicLength > frame.length) return undefined;
  const topic = frame.toString('utf8', pos, pos + topicLength);
  pos += topicLength;
  let messageId: number | undefined;
  if (qos > 0) {
    if (pos + 2 > frame.length) return undefined;
    messageId = frame.readUInt16BE(pos);
    pos += 2;
  }
  let properties: PublishProperties | undefined;
  if (protocolVersion === 5) {
    if (frame[pos] === 0) pos++;
    else {
      const parsed = readProperties(frame, pos);
      if (parsed === undefined) return undefined;
      properties = parsed.properties;
      pos = parsed.end;
    }
  }
  const packet: PublishPacket = {
    cmd: 'publish',
    topic,
    payload: frame.subarray(pos),
    qos: qos as 0 | 1 | 2,
    dup: (b0 & 0x08) !== 0,
    retain: (b0 & 0x01) !== 0,
  };
  if (messageId !== undefined) packet.messageId = messageId;
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

/** The properties of a PUBLISH as the fast path decodes them: User Properties also as pairs in wire order [MQTT-3.3.2-18]. */
export type PublishProperties = NonNullable<IPublishPacket['properties']> & { userPropertyPairs?: [string, string][] };

export type PublishPacket = IPublishPacket & { properties?: PublishProperties };


/**
 * The property list of a v5 PUBLISH at `pos` (its Variable Byte Integer length first). Only the
 * properties a client may send in PUBLISH, each once (User Property any number of times, kept
 * in order as mqtt-packet's object cannot); anything else (unknown, repeated, truncated, a
 * Subscription Identifier) returns undefined and mqtt-packet reports it.
 */
function readProperties(frame: Buffer, start: number): { properties: PublishProperties; end: number } | undefined {
  const v = readVarInt(frame, start, frame.length);
  if (typeof v === 'string') return undefined;
  let pos = v.next;
  const end = pos + v.value;
  if (end > frame.length) return undefined;
  const p: PublishProperties = {};
  let seenLow = 0;
  let seenHigh = 0;
  const str = (): string | undefined => {
    if (pos + 2 > end) return undefined;
    const n = frame.readUInt16BE(pos);
    if (pos + 2 + n > end) return undefined;
    const v = frame.toString('utf8', pos + 2, pos + 2 + n);
    pos += 2 + n;
    return v;
  };
  while (pos < end) {
    const id = frame[pos++]!;
    if (id !== PropertyId.userProperty) {
      // each of these at most once (ids are below 64: two 32-bit masks)
      const bit = 1 << (id & 31);
      if (id < 32) {
        if (seenLow & bit) return undefined;
        seenLow |= bit;
      } else {
        if (seenHigh & bit) return undefined;
        seenHigh |= bit;
      }
    }
    switch (id) {
      case PropertyId.payloadFormatIndicator: {
        if (pos + 1 > end || frame[pos]! > 1) return undefined;
        p.payloadFormatIndicator = frame[pos++] === 1;
        break;
      }
      case PropertyId.messageExpiryInterval:
        if (pos + 4 > end) return undefined;
        p.messageExpiryInterval = frame.readUInt32BE(pos);
        pos += 4;
        break;
      case PropertyId.topicAlias:
        if (pos + 2 > end) return undefined;
        p.topicAlias = frame.readUInt16BE(pos);
        pos += 2;
        break;
      case PropertyId.contentType:
      case PropertyId.responseTopic: {
        const v = str();
        if (v === undefined) return undefined;
        if (id === PropertyId.contentType) p.contentType = v;
        else p.responseTopic = v;
        break;
      }
      case PropertyId.correlationData: {
        if (pos + 2 > end) return undefined;
        const n = frame.readUInt16BE(pos);
        if (pos + 2 + n > end) return undefined;
        p.correlationData = Buffer.from(frame.subarray(pos + 2, pos + 2 + n));
        pos += 2 + n;
        break;
      }
      case PropertyId.userProperty: {
        const name = str();
        const value = name === undefined ? undefined : str();
        if (name === undefined || value === undefined) return undefined;
        (p.userPropertyPairs ??= []).push([name, value]);
        const byName = (p.userProperties ??= Object.create(null) as Record<string, string | string[]>);
        const had = byName[name];
        byName[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
        break;
      }
      default:
        return undefined;
    }
  }
  return { properties: p, end };
}

/** For a PUBLISH frame: whether its topic name bytes are well-formed UTF-8 (other packets: true). */
export function publishTopicIsUtf8(frame: Buffer): boolean {
  if (frame[0]! >> 4 !== 3) return true;
  const h = fixedHeaderLength(frame);
  if (frame.length < h + 2) return true; // too short: the parser reports it
  const len = frame.readUInt16BE(h);
  // most topics are ASCII: checked in place, without a view of the bytes
  const end = Math.min(h + 2 + len, frame.length);
  let i = h + 2;
  while (i < end && frame[i]! < 0x80) i++;
  return i === end || isUtf8(frame.subarray(h + 2, h + 2 + len));
}
