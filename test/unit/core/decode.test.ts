import { describe, expect, test } from 'bun:test';
import { pack } from 'msgpackr';
import { decode, mediaKind } from '../../../src/core/decode.ts';
import { ErrorCode, IngestError } from '../../../src/core/errors.ts';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('decode - media types', () => {
  test('JSON variants, MessagePack variants, missing header means JSON', () => {
    expect(mediaKind(undefined)).toBe('json');
    expect(mediaKind('application/json; charset=utf-8')).toBe('json');
    expect(mediaKind('Application/JSON')).toBe('json');
    expect(mediaKind('application/msgpack')).toBe('msgpack');
    expect(mediaKind('application/x-msgpack')).toBe('msgpack');
  });
  test('anything else is unsupported, naming the type', () => {
    const e = mediaKind('application/x-www-form-urlencoded') as IngestError;
    expect(e.code).toBe(ErrorCode.UNSUPPORTED_MEDIA_TYPE);
    expect(e.details).toContain('application/x-www-form-urlencoded');
  });
});

describe('decode - payloads', () => {
  test('JSON object', () => {
    expect(decode(bytes('{"a":1}'), 'json')).toEqual({ a: 1 });
  });
  test('malformed JSON, empty body and invalid UTF-8 are typed errors', () => {
    expect((decode(bytes('{"a":'), 'json') as IngestError).code).toBe(ErrorCode.MALFORMED_PAYLOAD);
    expect((decode(new Uint8Array(), 'json') as IngestError).details).toBe('body is empty');
    expect((decode(new Uint8Array([0x22, 0xff, 0xfe, 0x22]), 'json') as IngestError).details).toBe('body is not valid UTF-8');
  });
  test('deeply nested JSON does not crash the decoder', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const r = decode(bytes(deep), 'json');
    expect(Array.isArray(r) || r instanceof IngestError).toBe(true);
  });
  test('MessagePack map, with a msgpack timestamp turned into ISO text', () => {
    const when = new Date('2025-10-16T18:33:58.000Z');
    expect(decode(pack({ device_id: 'x', timestamp: when }), 'msgpack')).toEqual({ device_id: 'x', timestamp: '2025-10-16T18:33:58.000Z' });
  });
  test('truncated MessagePack is a typed error', () => {
    const packed = pack({ device_id: 'x', sensors: { pir: { motion_detected: true } } });
    expect((decode(packed.subarray(0, packed.length - 3), 'msgpack') as IngestError).code).toBe(ErrorCode.MALFORMED_PAYLOAD);
  });
});
