import { describe, expect, test } from 'bun:test';
import { FrameError, Framer } from '../../../../src/transports/mqtt/framer.ts';

// PINGREQ: type 12 << 4 = 0xC0, remaining length 0
const PINGREQ = Buffer.from([0xc0, 0x00]);
// PUBLISH QoS 0 (0x30), remaining length 5: topic length 0x0001, topic "a", payload "hi"
const PUBLISH = Buffer.from([0x30, 0x05, 0x00, 0x01, 0x61, 0x68, 0x69]);

describe('mqtt framer', () => {
  test('framer - whole packets in one chunk come out one by one', () => {
    const f = new Framer(1024);
    expect(f.push(Buffer.concat([PINGREQ, PUBLISH]))).toEqual([PINGREQ, PUBLISH]);
    expect(f.buffered).toBe(0);
  });

  test('framer - a packet split across chunks, byte by byte, is reassembled', () => {
    const f = new Framer(1024);
    const out: Buffer[] = [];
    for (const b of PUBLISH) out.push(...(f.push(Buffer.from([b])) as Buffer[]));
    expect(out).toEqual([PUBLISH]);
  });

  test('framer - a multi-byte remaining length (200 = 0xC8 0x01)', () => {
    const body = Buffer.alloc(200, 1);
    const packet = Buffer.concat([Buffer.from([0x30, 0xc8, 0x01]), body]);
    expect(new Framer(1024).push(packet)).toEqual([packet]);
  });

  test('framer - a declared size over the limit is refused from the header alone', () => {
    // 0x30, remaining length 268,435,455 (0xFF 0xFF 0xFF 0x7F): no body needed to refuse it
    expect(new Framer(1024).push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]))).toEqual({ error: FrameError.tooLarge, size: 268_435_460 });
  });

  test('framer - a remaining length longer than 4 bytes is malformed', () => {
    expect(new Framer(1 << 30).push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]))).toEqual({ error: FrameError.malformedLength });
  });

  test('framer - a random byte stream never throws and holds at most one partial packet', () => {
    for (let run = 0; run < 500; run++) {
      const f = new Framer(512);
      for (let i = 0; i < 50; i++) {
        const chunk = Buffer.from(Array.from({ length: 1 + Math.floor(Math.random() * 100) }, () => Math.floor(Math.random() * 256)));
        const r = f.push(chunk);
        if (!Array.isArray(r)) break; // refused: the connection would close here
        for (const frame of r) expect(frame.length).toBeLessThanOrEqual(512);
        expect(f.buffered).toBeLessThan(512);
      }
    }
  });
});

import { publishTopicIsUtf8 } from '../../../../src/transports/mqtt/fast-publish.ts';

describe('mqtt publish topic encoding', () => {
  test('topic utf-8 - well-formed topics pass, ill-formed bytes are caught', () => {
    // PUBLISH QoS 0, remaining length 6, topic length 2, topic "é" (C3 A9), payload "x"
    expect(publishTopicIsUtf8(Buffer.from([0x30, 0x05, 0x00, 0x02, 0xc3, 0xa9, 0x78]))).toBe(true);
    // topic bytes C3 28: a lead byte without its continuation
    expect(publishTopicIsUtf8(Buffer.from([0x30, 0x05, 0x00, 0x02, 0xc3, 0x28, 0x78]))).toBe(false);
    // not a PUBLISH: not checked here
    expect(publishTopicIsUtf8(Buffer.from([0xc0, 0x00]))).toBe(true);
  });
});
