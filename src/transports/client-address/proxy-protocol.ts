/**
 * The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) that a TCP proxy
 * sends before the client's bytes, naming the client's address. Pure: bytes in, a header or a
 * problem out, no sockets. Incremental and bounded: a v1 line is at most 107 bytes, a v2 header
 * at most 16 + MAX_V2_LENGTH bytes; every byte received is copied once into one buffer of that
 * size (never joined again and again), and the bytes after the header are handed back untouched.
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net';
import { normalizeAddress } from '../../util/ip-address.ts';

/** `PROXY ` (v1 is a text line). */
const V1_SIGNATURE = Buffer.from('PROXY ', 'latin1');
/** The v2 signature: `\r\n\r\n\0\r\nQUIT\n`. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Longest v1 line, CRLF included (the specification's worst case: TCP6 with two full addresses and ports). */
export const V1_MAX_BYTES = 107;
/** v2: signature, version/command, family/transport, 2-byte length. */
const V2_FIXED = 16;
/**
 * Largest v2 length field accepted (addresses and TLVs): the addresses take at most 216 bytes
 * (AF_UNIX); the rest is TLVs (ALPN, authority, a cloud's endpoint id, TLS details), a few hundred
 * bytes from the proxies we know. The field allows 65,535; past this the header is refused.
 */
export const MAX_V2_LENGTH = 2048;

/** What a header says. `source` undefined: the proxy names no client (v1 UNKNOWN, v2 LOCAL or an unspecified or AF_UNIX family); the connection's own peer stands. */
export interface ProxyHeader {
  version: 1 | 2;
  source: string | undefined;
  sourcePort?: number;
  destination?: string;
  destinationPort?: number;
}

export type ProxyRead =
  /** More bytes are needed. */
  | { kind: 'incomplete' }
  /** The stream does not start with a PROXY header (its first byte can start neither version). */
  | { kind: 'absent' }
  /** A whole header; `rest` is what followed it in the last chunk (the client's first bytes). */
  | { kind: 'header'; header: ProxyHeader; rest: Buffer }
  /** Not a valid header: the connection is to be closed. */
  | { kind: 'malformed'; reason: string };

/** Whether `chunk`, the first bytes of a stream, begins like a PROXY header of either version (as far as it goes). */
export function startsLikeProxyHeader(chunk: Buffer): boolean {
  if (chunk.length === 0) return false;
  const sig = chunk[0] === V1_SIGNATURE[0] ? V1_SIGNATURE : chunk[0] === V2_SIGNATURE[0] ? V2_SIGNATURE : undefined;
  if (sig === undefined) return false;
  const n = Math.min(chunk.length, sig.length);
  return chunk.compare(sig, 0, n, 0, n) === 0;
}

/** Reads one PROXY header from the first chunks of a stream: push() each chunk until it answers something other than 'incomplete'. */
export class ProxyHeaderReader {
  /** The header's bytes so far: 107 bytes (a v1 line, or a v2 fixed part), grown once to the v2 header's declared size. */
  #buf = Buffer.allocUnsafe(V1_MAX_BYTES);
  #have = 0;
  #version: 0 | 1 | 2 = 0;
  /** v2: the whole header's size once the fixed part is in. */
  #v2Total = 0;
  #done = false;

  /** Bytes taken so far (for logs). */
  get received(): number {
    return this.#have;
  }

  push(chunk: Buffer): ProxyRead {
    if (this.#done) throw new Error('ProxyHeaderReader: the header was already read');
    if (chunk.length === 0) return { kind: 'incomplete' };
    if (this.#version === 0) {
      if (chunk[0] === V1_SIGNATURE[0]) this.#version = 1;
      else if (chunk[0] === V2_SIGNATURE[0]) this.#version = 2;
      else return this.#finish({ kind: 'absent' });
    }
    return this.#version === 1 ? this.#pushV1(chunk) : this.#pushV2(chunk);
  }

  #finish(r: ProxyRead): ProxyRead {
    this.#done = true;
    return r;
  }

  #pushV1(chunk: Buffer): ProxyRead {
    const start = this.#have;
    const take = Math.min(chunk.length, V1_MAX_BYTES - start);
    chunk.copy(this.#buf, start, 0, take);
    this.#have += take;
    const signed = Math.min(this.#have, V1_SIGNATURE.length);
    if (this.#buf.compare(V1_SIGNATURE, 0, signed, 0, signed) !== 0) return this.#finish({ kind: 'malformed', reason: 'v1: does not start with "PROXY "' });
    // only the new bytes are searched for the line's end
    const lf = this.#buf.subarray(0, this.#have).indexOf(0x0a, start);
    if (lf < 0) {
      return this.#have >= V1_MAX_BYTES ? this.#finish({ kind: 'malformed', reason: `v1: no CRLF within ${V1_MAX_BYTES} bytes` }) : { kind: 'incomplete' };
    }
    if (lf === 0 || this.#buf[lf - 1] !== 0x0d) return this.#finish({ kind: 'malformed', reason: 'v1: the line does not end with CRLF' });
    const line = this.#buf.toString('latin1', 0, lf - 1);
    const parsed = parseV1(line);
    if (typeof parsed === 'string') return this.#finish({ kind: 'malformed', reason: `v1: ${parsed}` });
    return this.#finish({ kind: 'header', header: parsed, rest: chunk.subarray(lf + 1 - start) });
  }

  #pushV2(chunk: Buffer): ProxyRead {
    let used = 0;
    if (this.#have < V2_FIXED) {
      used = Math.min(chunk.length, V2_FIXED - this.#have);
      chunk.copy(this.#buf, this.#have, 0, used);
      this.#have += used;
      const signed = Math.min(this.#have, V2_SIGNATURE.length);
      if (this.#buf.compare(V2_SIGNATURE, 0, signed, 0, signed) !== 0) return this.#finish({ kind: 'malformed', reason: 'v2: bad signature' });
      if (this.#have < V2_FIXED) return { kind: 'incomplete' };
      if (this.#buf[12]! >> 4 !== 2) return this.#finish({ kind: 'malformed', reason: `v2: version ${this.#buf[12]! >> 4}, not 2` });
      const length = this.#buf.readUInt16BE(14);
      if (length > MAX_V2_LENGTH) return this.#finish({ kind: 'malformed', reason: `v2: length ${length} exceeds the ${MAX_V2_LENGTH} accepted` });
      this.#v2Total = V2_FIXED + length;
      if (this.#v2Total > this.#buf.length) {
        const grown = Buffer.allocUnsafe(this.#v2Total);
        this.#buf.copy(grown, 0, 0, this.#have);
        this.#buf = grown;
      }
    }
    const take = Math.min(chunk.length - used, this.#v2Total - this.#have);
    chunk.copy(this.#buf, this.#have, used, used + take);
    this.#have += take;
    if (this.#have < this.#v2Total) return { kind: 'incomplete' };
    const parsed = parseV2(this.#buf.subarray(0, this.#v2Total));
    if (typeof parsed === 'string') return this.#finish({ kind: 'malformed', reason: `v2: ${parsed}` });
    return this.#finish({ kind: 'header', header: parsed, rest: chunk.subarray(used + take) });
  }
}

const PORT = /^(0|[1-9][0-9]{0,4})$/;

/** A v1 line without its CRLF → the header, or what is wrong with it. */
function parseV1(line: string): ProxyHeader | string {
  const parts = line.split(' ');
  // "PROXY UNKNOWN" may be followed by anything up to the CRLF, which the receiver ignores
  if (parts[1] === 'UNKNOWN') return { version: 1, source: undefined };
  if (parts[1] !== 'TCP4' && parts[1] !== 'TCP6') return `unknown protocol ${JSON.stringify(parts[1] ?? '')}`;
  if (parts.length !== 6) return 'expected "PROXY TCP4|TCP6 <source> <destination> <source port> <destination port>" with single spaces';
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const valid = proto === 'TCP4' ? isIPv4 : isIPv6;
  if (!valid(src) || !valid(dst)) return `addresses ${JSON.stringify(src)} ${JSON.stringify(dst)} are not ${proto === 'TCP4' ? 'IPv4' : 'IPv6'}`;
  if (!PORT.test(sport) || !PORT.test(dport) || Number(sport) > 65535 || Number(dport) > 65535) return `ports ${JSON.stringify(sport)} ${JSON.stringify(dport)} are not 0 to 65535`;
  return { version: 1, source: normalizeAddress(src), sourcePort: Number(sport), destination: normalizeAddress(dst), destinationPort: Number(dport) };
}

const Command = { local: 0x0, proxy: 0x1 } as const;
const Family = { unspec: 0x0, inet: 0x1, inet6: 0x2, unix: 0x3 } as const;
const Transport = { unspec: 0x0, stream: 0x1, dgram: 0x2 } as const;
/** Bytes of the address block per family. */
const ADDRESS_BYTES: Record<number, number> = { [Family.unspec]: 0, [Family.inet]: 12, [Family.inet6]: 36, [Family.unix]: 216 };

/** A whole v2 header (signature checked) → the header, or what is wrong with it. TLVs are skipped. */
function parseV2(h: Buffer): ProxyHeader | string {
  const command = h[12]! & 0x0f;
  const family = h[13]! >> 4;
  const transport = h[13]! & 0x0f;
  if (command !== Command.local && command !== Command.proxy) return `unknown command ${command}`;
  const addressBytes = ADDRESS_BYTES[family];
  if (addressBytes === undefined) return `unknown address family ${family}`;
  if (transport > Transport.dgram) return `unknown transport ${transport}`;
  const length = h.length - V2_FIXED;
  if (length < addressBytes) return `length ${length} is shorter than the ${addressBytes} bytes of its addresses`;
  // LOCAL: the proxy's own connection (a health check): its addresses, if any, are to be ignored
  if (command === Command.local) return { version: 2, source: undefined };
  if (family === Family.unspec || family === Family.unix) return { version: 2, source: undefined };
  if (transport !== Transport.stream) return 'a TCP connection announced as datagrams';
  const a = V2_FIXED;
  if (family === Family.inet) {
    return { version: 2, source: ipv4(h, a), destination: ipv4(h, a + 4), sourcePort: h.readUInt16BE(a + 8), destinationPort: h.readUInt16BE(a + 10) };
  }
  return { version: 2, source: ipv6(h, a), destination: ipv6(h, a + 16), sourcePort: h.readUInt16BE(a + 32), destinationPort: h.readUInt16BE(a + 34) };
}

function ipv4(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

function ipv6(b: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(at + i).toString(16));
  return normalizeAddress(groups.join(':'))!;
}
