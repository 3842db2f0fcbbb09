/**
 * The client's address, as every per-address limit, rate limit and log line sees it: one place
 * that reads it for HTTP requests, WebSocket upgrades and MQTT connections (TCP and TLS). From a
 * peer in TRUSTED_PROXIES it is the one X-Forwarded-For (HTTP, WebSocket) or the PROXY protocol
 * header (MQTT) names; from anyone else, the TCP peer itself, whatever it claims. Resolved once per
 * connection or request, never per message; with TRUSTED_PROXIES unset it is the peer's address,
 * normalized, and no header is read.
 * @module
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { type AddressSet, normalizeAddress } from '../../util/ip-address.ts';
import { clientFromForwardedFor } from './forwarded-for.ts';
import type { HeaderMode } from './preamble.ts';

export { readPreamble, watchFirstBytes, PreambleProblem, type Preamble } from './preamble.ts';

export class ClientAddress {
  readonly #trusted: AddressSet;
  readonly #mqttHeader: 'required' | 'optional';

  /** @param mqttHeader MQTT_PROXY_PROTOCOL: whether MQTT connections from a trusted proxy must carry a PROXY header */
  constructor(trusted: AddressSet, mqttHeader: 'required' | 'optional' = 'required') {
    this.#trusted = trusted;
    this.#mqttHeader = mqttHeader;
  }

  /** Whether `peer` (normalized) is a trusted proxy. */
  trusts(peer: string): boolean {
    return this.#trusted.has(peer);
  }

  /**
   * The rule, for every transport: the client behind `peer` (normalized). `claimed` is read only
   * when `peer` is a trusted proxy: the X-Forwarded-For values joined by commas, or the PROXY
   * header's source address; undefined (none sent, or a header naming no client): `peer`.
   */
  resolve(peer: string, claimed: () => string | undefined): string {
    if (!this.#trusted.has(peer)) return peer;
    const chain = claimed();
    return chain === undefined ? peer : clientFromForwardedFor(peer, chain, this.#trusted);
  }

  /** A uWS request (HTTP, or a WebSocket upgrade); call it in the handler itself (uWS frees `req` after). */
  ofRequest(res: HttpResponse, req: HttpRequest): string {
    const peer = peerAddress(Buffer.from(res.getRemoteAddressAsText()).toString());
    return this.resolve(peer, () => forwardedFor(req));
  }

  /** What the first bytes of an MQTT TCP or TLS connection from `peer` (normalized) may be. */
  headerMode(peer: string): HeaderMode {
    return this.#trusted.has(peer) ? this.#mqttHeader : 'refused';
  }
}

/** A socket's peer address as the server counts it (normalized; the text itself when it is not an address, e.g. empty). */
export function peerAddress(text: string | undefined): string {
  if (text === undefined) return '';
  return normalizeAddress(text) ?? text;
}

/** The peer of a node:net or node:tls socket (normalized). */
export function peerOf(socket: { remoteAddress?: string | undefined }): string {
  return peerAddress(socket.remoteAddress);
}

/**
 * Every X-Forwarded-For header of `req`, in order, joined by commas (RFC 9110 §5.3): a proxy may
 * append its own header line instead of extending the client's, and reading only the first line
 * would then take the client's claim.
 */
function forwardedFor(req: HttpRequest): string | undefined {
  let joined: string | undefined;
  req.forEach((key, value) => {
    if (key === 'x-forwarded-for') joined = joined === undefined ? value : `${joined},${value}`;
  });
  return joined;
}
