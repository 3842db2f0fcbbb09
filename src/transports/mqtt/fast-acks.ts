/**
 * A fast path for what subscribers send back by the million: PUBACK, PUBREC and PUBCOMP in
 * their short forms (packet identifier, and for v5 at most a reason code) and PINGREQ. Fan-out
 * to 1,000 subscribers means 1,000 acknowledgements per message; mqtt-packet's general parser
 * would be paid for each. Anything longer or odd returns undefined and goes to mqtt-packet.
 * Pure: a whole frame in (from the framer), a packet out.
 * @module
 */
import type { IPingreqPacket, IPubackPacket, IPubcompPacket, IPubrecPacket } from 'mqtt-packet';

const PUBACK = 4;
const PUBREC = 5;
const PUBCOMP = 7;
const CMD = { [PUBACK]: 'puback', [PUBREC]: 'pubrec', [PUBCOMP]: 'pubcomp' } as const;
const PUBACK_REASONS = new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]);
const PUBCOMP_REASONS = new Set([0x00, 0x92]);
const PINGREQ: IPingreqPacket = Object.freeze({ cmd: 'pingreq' });

export function parseAck(frame: Buffer, protocolVersion: number): IPubackPacket | IPubrecPacket | IPubcompPacket | IPingreqPacket | undefined {
  const b0 = frame[0]!;
  if (b0 === 0xc0) return frame.length === 2 && frame[1] === 0 ? PINGREQ : undefined;
  const type = b0 >> 4;
  // [MQTT-2.1.3-1] the flags of these three are 0
  if ((type !== PUBACK && type !== PUBREC && type !== PUBCOMP) || (b0 & 0x0f) !== 0) return undefined;
  const remaining = frame[1]!;
  if (frame.length !== remaining + 2) return undefined;
  if (remaining === 2) return { cmd: CMD[type], messageId: frame.readUInt16BE(2), ...(protocolVersion === 5 ? { reasonCode: 0 } : {}) };
  // v5: a reason code valid for the packet (MQTT 5 §3.4.2.1, §3.5.2.1, §3.7.2.1; others: mqtt-packet
  // reports them), without properties or with an empty property list
  if (protocolVersion === 5 && (remaining === 3 || (remaining === 4 && frame[5] === 0))) {
    const reasonCode = frame[4]!;
    if (!(type === PUBCOMP ? PUBCOMP_REASONS : PUBACK_REASONS).has(reasonCode)) return undefined;
    return { cmd: CMD[type], messageId: frame.readUInt16BE(2), reasonCode };
  }
  return undefined;
}
