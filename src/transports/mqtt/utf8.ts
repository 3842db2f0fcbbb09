/**
 * [MQTT-1.5.4-1] A UTF-8 Encoded String with ill-formed UTF-8 (or, [MQTT-1.5.4-2], the null
 * character U+0000) makes the packet malformed. mqtt-packet decodes such bytes to U+FFFD
 * without a word, so the strings that name things are checked on the frame, before parsing:
 * the PUBLISH topic (fast-publish.ts), and here the CONNECT protocol name, client identifier,
 * will topic and user name and the SUBSCRIBE / UNSUBSCRIBE topic filters. v5 property strings
 * are not checked. A frame too short for the field it should hold passes: mqtt-packet
 * reports it. Pure: a whole frame in (from the framer), the offending field out.
 * @module
 */
import { isUtf8 } from 'node:buffer';
import { publishTopicIsUtf8 } from './fast-publish.ts';
import { fixedHeaderLength, readVarInt } from './fixed-header.ts';

const PUBLISH = 3;
const CONNECT = 1;
const SUBSCRIBE = 8;
const UNSUBSCRIBE = 10;

/** The name of the first ill-formed string field of `frame`, or undefined when they are all well-formed. */
export function illFormedString(frame: Buffer, protocolVersion: number): string | undefined {
  const type = frame[0]! >> 4;
  if (type === PUBLISH) return publishTopicIsUtf8(frame) ? undefined : 'topic name';
  if (type !== CONNECT && type !== SUBSCRIBE && type !== UNSUBSCRIBE) return undefined;
  const r = new Reader(frame);
  if (type === CONNECT) return connectStrings(r);
  r.pos += 2; // packet identifier
  if (protocolVersion === 5) r.skipProperties();
  while (r.pos < frame.length) {
    const bad = r.string('topic filter');
    if (bad !== false) return bad;
    if (type === SUBSCRIBE) r.pos += 1; // subscription options
  }
  return undefined;
}

/** The protocol level of a CONNECT frame (4: 3.1.1, 5: 5), or undefined when it is too short. */
export function connectLevel(frame: Buffer): number | undefined {
  const r = new Reader(frame);
  const nameLength = r.u16();
  if (nameLength === undefined) return undefined;
  const level = frame[r.pos + nameLength];
  return level === undefined ? undefined : level & 0x7f;
}

function connectStrings(r: Reader): string | undefined {
  let bad = r.string('protocol name');
  if (bad !== false) return bad;
  const levelByte = r.byte();
  const flags = r.byte();
  if (levelByte === undefined || flags === undefined) return undefined;
  const level = levelByte & 0x7f; // 0x80: a broker bridging in (mosquitto's try_private)
  r.pos += 2; // keep alive
  if (level === 5) r.skipProperties();
  if ((bad = r.string('client identifier')) !== false) return bad;
  if (flags & 0x04) {
    if (level === 5) r.skipProperties();
    if ((bad = r.string('will topic')) !== false) return bad;
    const payloadLength = r.u16();
    if (payloadLength === undefined) return undefined;
    r.pos += payloadLength;
  }
  if (flags & 0x80 && (bad = r.string('user name')) !== false) return bad;
  return undefined;
}

/** Reads a frame from just past its fixed header; every read past the end yields undefined. */
class Reader {
  pos: number;

  constructor(readonly frame: Buffer) {
    this.pos = fixedHeaderLength(frame);
  }

  byte(): number | undefined {
    return this.pos < this.frame.length ? this.frame[this.pos++] : undefined;
  }

  u16(): number | undefined {
    if (this.pos + 2 > this.frame.length) return undefined;
    const v = this.frame.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  /** Skips a v5 property list (a variable byte integer length, then that many bytes). */
  skipProperties(): void {
    const v = readVarInt(this.frame, this.pos, this.frame.length);
    // cut short: the rest is not ours to report (every later read yields undefined)
    this.pos = typeof v === 'string' ? this.frame.length : v.next + v.value;
  }

  /**
   * A UTF-8 Encoded String: `field` when its bytes are ill-formed or hold U+0000, false when
   * it is fine, undefined when the frame ends first (not ours to report). The reader moves past it.
   */
  string(field: string): string | false | undefined {
    const length = this.u16();
    if (length === undefined || this.pos + length > this.frame.length) {
      this.pos = this.frame.length;
      return undefined;
    }
    const bytes = this.frame.subarray(this.pos, this.pos + length);
    this.pos += length;
    return isUtf8(bytes) && !bytes.includes(0) ? false : field;
  }
}
