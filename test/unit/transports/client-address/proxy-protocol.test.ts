/**
 * The PROXY protocol reader against annotated bytes of both versions: valid headers (IPv4, IPv6,
 * UNKNOWN, LOCAL, TLVs), the bytes that follow handed back untouched, each kind of bad header,
 * and every header fed one byte at a time.
 */
import { describe, expect, test } from 'bun:test';
import { MAX_V2_LENGTH, type ProxyRead, ProxyHeaderReader, startsLikeProxyHeader, V1_MAX_BYTES } from '../../../../src/transports/client-address/proxy-protocol.ts';

/** MQTT CONNECT's first bytes, as they follow a header. */
const MQTT = Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54]);
const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** A v2 header: signature, version 2 + command, family + transport, length, then `body`. */
function v2(command: number, familyTransport: number, body: Buffer, length = body.length): Buffer {
  const fixed = Buffer.from([0x20 | command, familyTransport, length >> 8, length & 255]);
  return Buffer.concat([SIG, fixed, body]);
}
const V2_INET = Buffer.from([
  203, 0, 113, 9, // source 203.0.113.9
  192, 0, 2, 1, // destination 192.0.2.1
  0x30, 0x39, // source port 12345
  0x07, 0x5b, // destination port 1883
]);
const V2_INET6 = Buffer.concat([
  Buffer.from('20010db8000000000000000000000007', 'hex'), // source 2001:db8::7
  Buffer.from('20010db8000000000000000000000001', 'hex'), // destination 2001:db8::1
  Buffer.from([0x30, 0x39, 0x22, 0xb3]), // ports 12345, 8883
]);

function read(bytes: Buffer, step = bytes.length): ProxyRead {
  const reader = new ProxyHeaderReader();
  let r: ProxyRead = { kind: 'incomplete' };
  for (let i = 0; i < bytes.length && r.kind === 'incomplete'; i += step) r = reader.push(bytes.subarray(i, i + step));
  return r;
}

function header(bytes: Buffer, step?: number) {
  const r = read(bytes, step);
  if (r.kind !== 'header') throw new Error(`expected a header, got ${JSON.stringify(r)}`);
  return r;
}

function malformed(bytes: Buffer, step?: number): string {
  const r = read(bytes, step);
  if (r.kind !== 'malformed') throw new Error(`expected malformed, got ${JSON.stringify(r)}`);
  return r.reason;
}

describe('PROXY protocol', () => {
  test('proxy-protocol - v1 TCP4 and TCP6: the source address, the bytes after the line handed back', () => {
    const r = header(Buffer.concat([Buffer.from('PROXY TCP4 203.0.113.9 192.0.2.1 12345 1883\r\n'), MQTT]));
    expect(r.header).toEqual({ version: 1, source: '203.0.113.9', sourcePort: 12345, destination: '192.0.2.1', destinationPort: 1883 });
    expect(r.rest).toEqual(MQTT);
    const r6 = header(Buffer.from('PROXY TCP6 2001:DB8::7 2001:db8::1 65535 0\r\n'));
    expect(r6.header).toEqual({ version: 1, source: '2001:db8::7', sourcePort: 65535, destination: '2001:db8::1', destinationPort: 0 });
    expect(r6.rest.length).toBe(0);
  });
  test('proxy-protocol - v1 UNKNOWN names no client, with or without addresses after it', () => {
    expect(header(Buffer.from('PROXY UNKNOWN\r\n')).header).toEqual({ version: 1, source: undefined });
    expect(header(Buffer.from('PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n')).header.source).toBeUndefined();
  });
  test('proxy-protocol - v1 of the longest size (107 bytes) is read; one byte more without CRLF is refused', () => {
    // the specification's worst case: UNKNOWN followed by two full IPv6 addresses and ports
    const longest = 'PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n';
    expect(longest.length).toBe(V1_MAX_BYTES);
    expect(header(Buffer.from(longest)).header.source).toBeUndefined();
    const tcp6 = 'PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n';
    expect(header(Buffer.from(tcp6)).header.source).toBe('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
    expect(malformed(Buffer.from('PROXY UNKNOWN ' + 'x'.repeat(200) + '\r\n'))).toContain('no CRLF within 107 bytes');
  });
  test('proxy-protocol - v1 refusals: each kind of bad line', () => {
    const bad: [string, string][] = [
      ['PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n', 'unknown protocol'],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', 'single spaces'],
      ['PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n', 'single spaces'],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n', 'single spaces'],
      ['PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n', 'are not IPv4'],
      ['PROXY TCP6 1.2.3.4 2001:db8::1 1 2\r\n', 'are not IPv6'],
      ['PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n', 'are not IPv4'],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n', 'are not 0 to 65535'],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n', 'are not 0 to 65535'],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n', 'are not 0 to 65535'],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', 'does not end with CRLF'],
      ['PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n', 'does not start with "PROXY "'],
      ['PRO\r\n', 'does not start with "PROXY "'],
      ['proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n', 'absent'],
    ];
    for (const [line, why] of bad) {
      const r = read(Buffer.from(line));
      if (why === 'absent') expect(r.kind).toBe('absent');
      else {
        expect(r.kind).toBe('malformed');
        expect(r.kind === 'malformed' && r.reason).toContain(why);
      }
    }
  });
  test('proxy-protocol - v2 PROXY over IPv4 and IPv6, TLVs skipped, the bytes after the header handed back', () => {
    const r = header(Buffer.concat([v2(0x1, 0x11, V2_INET), MQTT]));
    expect(r.header).toEqual({ version: 2, source: '203.0.113.9', sourcePort: 12345, destination: '192.0.2.1', destinationPort: 1883 });
    expect(r.rest).toEqual(MQTT);
    const tlv = Buffer.from([0x02, 0x00, 0x0b, ...Buffer.from('example.com')]); // PP2_TYPE_AUTHORITY
    const r6 = header(Buffer.concat([v2(0x1, 0x21, Buffer.concat([V2_INET6, tlv])), MQTT]));
    expect(r6.header).toEqual({ version: 2, source: '2001:db8::7', sourcePort: 12345, destination: '2001:db8::1', destinationPort: 8883 });
    expect(r6.rest).toEqual(MQTT);
  });
  test('proxy-protocol - v2 LOCAL (the proxy\'s own health check), UNSPEC and AF_UNIX name no client', () => {
    expect(header(v2(0x0, 0x00, Buffer.alloc(0))).header).toEqual({ version: 2, source: undefined });
    // LOCAL with addresses: they are ignored
    expect(header(v2(0x0, 0x11, V2_INET)).header.source).toBeUndefined();
    expect(header(v2(0x1, 0x00, Buffer.alloc(0))).header.source).toBeUndefined();
    expect(header(v2(0x1, 0x31, Buffer.alloc(216))).header.source).toBeUndefined();
  });
  test('proxy-protocol - v2 refusals: each kind of bad header', () => {
    const sig = Buffer.from(SIG);
    sig[7] = 0x52;
    expect(malformed(Buffer.concat([sig, Buffer.alloc(8)]))).toContain('bad signature');
    expect(malformed(Buffer.concat([SIG, Buffer.from([0x11, 0x11, 0, 12]), V2_INET]))).toContain('version 1, not 2');
    expect(malformed(v2(0x2, 0x11, V2_INET))).toContain('unknown command 2');
    expect(malformed(v2(0x1, 0x41, V2_INET))).toContain('unknown address family 4');
    expect(malformed(v2(0x1, 0x13, V2_INET))).toContain('unknown transport 3');
    expect(malformed(v2(0x1, 0x12, V2_INET))).toContain('datagrams');
    expect(malformed(v2(0x1, 0x21, V2_INET))).toContain('shorter than the 36 bytes');
  });
  test('proxy-protocol - v2 oversized: a length field past the bound is refused before its bytes are awaited or kept', () => {
    const reason = malformed(Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0xff, 0xff])]));
    expect(reason).toContain(`length 65535 exceeds the ${MAX_V2_LENGTH} accepted`);
    // the bound itself is accepted (TLV padding)
    expect(header(v2(0x1, 0x11, Buffer.concat([V2_INET, Buffer.alloc(MAX_V2_LENGTH - 12)]))).header.source).toBe('203.0.113.9');
  });
  test('proxy-protocol - truncated headers wait for more bytes (the caller\'s deadline ends them)', () => {
    expect(read(Buffer.from('PROXY TCP4 203.0.113.9 19')).kind).toBe('incomplete');
    expect(read(SIG.subarray(0, 5)).kind).toBe('incomplete');
    expect(read(v2(0x1, 0x11, V2_INET).subarray(0, 20)).kind).toBe('incomplete');
  });
  test('proxy-protocol - garbage and plain MQTT or TLS: absent (not a header) or malformed (a header gone wrong)', () => {
    expect(read(MQTT).kind).toBe('absent');
    expect(read(Buffer.from([0x16, 0x03, 0x01])).kind).toBe('absent'); // a TLS ClientHello
    expect(read(Buffer.from('GET / HTTP/1.1\r\n')).kind).toBe('absent');
    expect(malformed(Buffer.from('PXQ'))).toContain('does not start');
    expect(malformed(Buffer.from([0x0d, 0x0a, 0x0d, 0x0b]))).toContain('bad signature');
    // a megabyte without CRLF: refused at 107 bytes
    expect(malformed(Buffer.concat([Buffer.from('PROXY '), Buffer.alloc(1 << 20, 0x41)]))).toContain('no CRLF');
  });
  test('proxy-protocol - every header read one byte at a time gives the same answer as in one piece', () => {
    const cases = [
      Buffer.concat([Buffer.from('PROXY TCP4 203.0.113.9 192.0.2.1 12345 1883\r\n'), MQTT]),
      Buffer.concat([v2(0x1, 0x21, V2_INET6), MQTT]),
      Buffer.concat([v2(0x1, 0x11, Buffer.concat([V2_INET, Buffer.alloc(300)])), MQTT]),
    ];
    for (const bytes of cases) {
      const whole = header(bytes);
      const reader = new ProxyHeaderReader();
      let r: ProxyRead = { kind: 'incomplete' };
      let i = 0;
      for (; r.kind === 'incomplete'; i++) r = reader.push(bytes.subarray(i, i + 1));
      expect(r.kind).toBe('header');
      if (r.kind !== 'header') continue;
      expect(r.header).toEqual(whole.header);
      // the header ended exactly at the last byte pushed: MQTT's bytes are all still to come
      expect(r.rest.length).toBe(0);
      expect(bytes.length - i).toBe(MQTT.length);
    }
  });
  test('proxy-protocol - a reader reads one header only', () => {
    const reader = new ProxyHeaderReader();
    expect(reader.push(Buffer.from('PROXY UNKNOWN\r\n')).kind).toBe('header');
    expect(() => reader.push(Buffer.from('PROXY UNKNOWN\r\n'))).toThrow('already read');
  });
  test('proxy-protocol - the first bytes of a stream look like a header of either version, as far as they go', () => {
    expect(startsLikeProxyHeader(Buffer.from('PROXY TCP4 '))).toBe(true);
    expect(startsLikeProxyHeader(Buffer.from('PRO'))).toBe(true);
    expect(startsLikeProxyHeader(SIG.subarray(0, 3))).toBe(true);
    expect(startsLikeProxyHeader(Buffer.concat([SIG, Buffer.from([0x21])]))).toBe(true);
    expect(startsLikeProxyHeader(MQTT)).toBe(false);
    expect(startsLikeProxyHeader(Buffer.from('PUT '))).toBe(false);
    expect(startsLikeProxyHeader(Buffer.alloc(0))).toBe(false);
  });
});
