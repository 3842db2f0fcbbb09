/**
 * The usual X-Forwarded-For rule (nginx's real_ip_recursive, express's trust proxy): each proxy
 * appends the address it received the request from, so the list is read from the right, past
 * every address that is itself a trusted proxy; the first one that is not is the client. What
 * lies left of it was written by the client, or by proxies nobody vouches for, and is ignored.
 * Pure: no sockets, no uWebSockets.js.
 * @module
 */
import { type AddressSet, normalizeAddress } from '../../util/ip-address.ts';

/** An X-Forwarded-For element as proxies write it: an address, `[v6]`, `[v6]:port` or `v4:port`. */
export function forwardedAddress(element: string): string | undefined {
  const e = element.trim();
  if (e.startsWith('[')) {
    const close = e.indexOf(']');
    if (close < 0 || (close !== e.length - 1 && !/^:[0-9]{1,5}$/.test(e.slice(close + 1)))) return undefined;
    return normalizeAddress(e.slice(1, close));
  }
  const colon = e.indexOf(':');
  // one colon: v4 with a port (an IPv6 address has at least two)
  if (colon > 0 && colon === e.lastIndexOf(':')) return /^[0-9]{1,5}$/.test(e.slice(colon + 1)) ? normalizeAddress(e.slice(0, colon)) : undefined;
  return normalizeAddress(e);
}

/**
 * The client behind `peer` (a trusted proxy, normalized), from `chain`: one or more
 * X-Forwarded-For values joined by commas, in the order they came. Every trusted address is
 * stepped over from the right; the first one that is not trusted is the client. An element that
 * is not an address stops the walk: the hop that wrote it (the last trusted one) stands. All
 * trusted: the left-most.
 */
export function clientFromForwardedFor(peer: string, chain: string, trusted: AddressSet): string {
  let client = peer;
  let end = chain.length;
  while (end > 0) {
    const comma = chain.lastIndexOf(',', end - 1);
    const element = chain.slice(comma + 1, end);
    end = comma < 0 ? 0 : comma;
    if (element.trim() === '') continue;
    const address = forwardedAddress(element);
    if (address === undefined) return client;
    client = address;
    if (!trusted.has(address)) return address;
  }
  return client;
}
