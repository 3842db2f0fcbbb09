/**
 * IP addresses as the server counts and logs them, and sets of them (TRUSTED_PROXIES).
 * One spelling per address: per-address limits are keyed by it, and node:net, uWebSockets.js,
 * X-Forwarded-For and the PROXY protocol each write addresses their own way (uWS writes IPv6 in
 * full, `0000:…:ffff:7f00:0001`; node:net on a dual-stack listener `::ffff:127.0.0.1`).
 * Matching uses node:net's BlockList (CIDR ranges of both families), not a hand-written one.
 * @module
 */
import { BlockList, isIP } from 'node:net';

/** An IPv4-mapped IPv6 address as WHATWG URL writes it (`::ffff:7f00:1`). */
const MAPPED = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

/**
 * The one spelling of an IP address: IPv4 dotted-decimal (IPv4-mapped IPv6 included), IPv6 in
 * the RFC 5952 form (lower case, longest zero run compressed) without a zone. Undefined when
 * `text` is not an IP address.
 */
export function normalizeAddress(text: string): string | undefined {
  const family = isIP(text);
  if (family === 4) return text;
  if (family !== 6) return undefined;
  const zone = text.indexOf('%');
  // the WHATWG URL host serializer is RFC 5952's form; a zone id is not part of the address
  const host = new URL(`http://[${zone < 0 ? text : text.slice(0, zone)}]/`).hostname.slice(1, -1);
  const mapped = MAPPED.exec(host);
  if (mapped === null) return host;
  const hi = parseInt(mapped[1]!, 16);
  const lo = parseInt(mapped[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/**
 * A set of addresses and CIDR ranges of both families, e.g. TRUSTED_PROXIES. Parsed once;
 * membership is asked with a normalized address (normalizeAddress).
 */
export class AddressSet {
  readonly #list = new BlockList();
  /** The entries as given, for logs and messages. */
  readonly entries: readonly string[];

  private constructor(entries: string[]) {
    this.entries = entries;
  }

  /** Nothing in it: every address is outside. */
  get empty(): boolean {
    return this.entries.length === 0;
  }

  /**
   * Entries separated by commas or white space: `203.0.113.7`, `10.0.0.0/8`, `::1`, `fd00::/8`.
   * @throws Error naming the first entry that is neither an address nor a CIDR range
   */
  static parse(text: string | undefined): AddressSet {
    const entries = (text ?? '').split(/[\s,]+/).filter((e) => e !== '');
    const set = new AddressSet(entries);
    for (const entry of entries) {
      const slash = entry.indexOf('/');
      const address = entry.includes('%') ? undefined : normalizeAddress(slash < 0 ? entry : entry.slice(0, slash));
      if (address === undefined) throw new Error(`"${entry}" is not an IP address or CIDR range (e.g. 10.0.0.0/8, fd00::/8)`);
      const family = address.includes(':') ? 'ipv6' : 'ipv4';
      if (slash < 0) {
        set.#list.addAddress(address, family);
        continue;
      }
      const prefixText = entry.slice(slash + 1);
      const prefix = Number(prefixText);
      const max = family === 'ipv4' ? 32 : 128;
      if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || prefix > max) throw new Error(`"${entry}": the prefix length must be 0 to ${max}`);
      set.#list.addSubnet(address, prefix, family);
    }
    return set;
  }

  /** Whether `address` (normalized) is in the set. */
  has(address: string): boolean {
    if (this.entries.length === 0) return false;
    const family = isIP(address);
    return family !== 0 && this.#list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }
}
