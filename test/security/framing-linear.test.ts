/**
 * Attack (issue 16, finding 10): framing cost before authentication. On main a packet sent in
 * small pieces was re-joined on every read, so one 256 KiB packet in 16-byte chunks copied
 * ~2 GB (579 ms of CPU). The framer now gathers chunks until the packet's declared size is
 * there and joins them once: bytes copied stay linear in bytes received. Counted, not timed.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { Framer } from '../../src/transports/mqtt/framer.ts';

const realConcat = Buffer.concat;
afterEach(() => {
  Buffer.concat = realConcat;
});

/** Bytes Buffer.concat copies while `fn` runs. */
function copiedDuring(fn: () => void): number {
  let copied = 0;
  Buffer.concat = ((list: readonly Uint8Array[], total?: number) => {
    const out = realConcat(list, total);
    copied += out.length;
    return out;
  }) as typeof Buffer.concat;
  try {
    fn();
  } finally {
    Buffer.concat = realConcat;
  }
  return copied;
}

describe('security - MQTT framing is linear in bytes received', () => {
  test('security mqtt - a 256 KiB PUBLISH in 16-byte chunks is joined once (≤ 2× its size copied), and comes out whole', () => {
    const body = Buffer.alloc(256 * 1024 - 5, 0x61);
    // PUBLISH QoS 0, remaining length as a 3-byte varint, then the body (topic length 1, "t", payload)
    const remaining = body.length;
    const varint = [(remaining & 0x7f) | 0x80, ((remaining >> 7) & 0x7f) | 0x80, remaining >> 14];
    body.writeUInt16BE(1, 0);
    body[2] = 0x74;
    const packet = Buffer.concat([Buffer.from([0x30, ...varint]), body]);
    const framer = new Framer(1 << 20);
    const frames: Buffer[] = [];
    const copied = copiedDuring(() => {
      for (let i = 0; i < packet.length; i += 16) {
        const out = framer.push(packet.subarray(i, i + 16));
        expect(Array.isArray(out)).toBe(true);
        frames.push(...(out as Buffer[]));
      }
    });
    expect(frames.length).toBe(1);
    expect(frames[0]!.equals(packet)).toBe(true);
    expect(copied).toBeLessThanOrEqual(2 * packet.length);
  });

  test('security mqtt - a CONNECT-sized limit refuses a larger declared packet from its fixed header alone', () => {
    const framer = new Framer(16_384);
    expect(framer.push(Buffer.from([0x10, 0xf0, 0xfe, 0x0f]))).toEqual({ error: 'too-large', size: 262_000 + 4 });
  });
});
