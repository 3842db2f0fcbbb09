/**
 * The bytes an MQTT TCP or TLS connection starts with, before MQTT (or TLS) sees any: a PROXY
 * protocol header from a trusted proxy is read off the socket here (bounded, see
 * proxy-protocol.ts), and what follows it is put back (`unshift`) for the MQTT connection or the
 * TLS handshake to read as if nothing had come before. Once per connection; nothing here runs per
 * message.
 * @module
 */
import type { Socket } from 'node:net';
import { type ProxyHeader, ProxyHeaderReader, startsLikeProxyHeader } from './proxy-protocol.ts';

/**
 * What a connection's first bytes may be: `required` a PROXY header (a trusted proxy with
 * MQTT_PROXY_PROTOCOL=required); `optional` a header or none; `refused` anything but a header
 * (a peer that is no trusted proxy).
 */
export type HeaderMode = 'required' | 'optional' | 'refused';

/** Why a connection was closed before MQTT or TLS saw it (the metric's error_type is `proxy_protocol_<problem>`). */
export const PreambleProblem = {
  /** A PROXY header from a peer not in TRUSTED_PROXIES. */
  untrusted: 'untrusted',
  /** A trusted proxy's connection without the header MQTT_PROXY_PROTOCOL=required asks for. */
  missing: 'missing',
  /** A header that is not valid: bad syntax, oversized, truncated. */
  malformed: 'malformed',
} as const;
export type PreambleProblem = (typeof PreambleProblem)[keyof typeof PreambleProblem];

export type Preamble =
  /** Go on: `header` when one was read (undefined: none came). */
  | { ok: true; header: ProxyHeader | undefined }
  | { ok: false; problem: PreambleProblem; detail: string }
  /** The peer sent nothing in time, or left: nothing to report, the socket is to be destroyed. */
  | { ok: false; problem: 'silent' | 'gone'; detail: string };

/**
 * Reads the first bytes of `socket` as `mode` says and calls `done` once, with the socket's
 * listeners removed and the bytes after any header put back. `done` is not called after the
 * socket closed, except with 'gone'.
 * @param timeoutMs how long the peer may take to send its first bytes (a proxy sends its header at once)
 */
export function readPreamble(socket: Socket, mode: HeaderMode, timeoutMs: number, done: (p: Preamble) => void): void {
  const reader = mode === 'refused' ? undefined : new ProxyHeaderReader();
  let settled = false;
  const finish = (p: Preamble, putBack?: Buffer) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.removeListener('readable', onReadable);
    socket.removeListener('error', onGone);
    socket.removeListener('close', onGone);
    socket.removeListener('end', onEnd);
    if (putBack !== undefined && putBack.length > 0) socket.unshift(putBack);
    done(p);
  };
  const onGone = () => finish({ ok: false, problem: 'gone', detail: 'closed before its first bytes' });
  const onEnd = () => {
    if (reader !== undefined && reader.received > 0) finish({ ok: false, problem: PreambleProblem.malformed, detail: `truncated: the connection ended after ${reader.received} bytes of a PROXY header` });
    else onGone();
  };
  const onReadable = () => {
    for (;;) {
      if (settled) return;
      const chunk = socket.read() as Buffer | null;
      if (chunk === null) return;
      if (reader === undefined) {
        // not a trusted proxy: its bytes are the client's own, and must not claim another address
        if (startsLikeProxyHeader(chunk)) finish({ ok: false, problem: PreambleProblem.untrusted, detail: 'a PROXY protocol header from a peer not in TRUSTED_PROXIES' });
        else finish({ ok: true, header: undefined }, chunk);
        return;
      }
      const r = reader.push(chunk);
      switch (r.kind) {
        case 'incomplete':
          continue;
        case 'header':
          return finish({ ok: true, header: r.header }, r.rest);
        case 'malformed':
          return finish({ ok: false, problem: PreambleProblem.malformed, detail: r.reason });
        case 'absent':
          if (mode === 'required') return finish({ ok: false, problem: PreambleProblem.missing, detail: 'no PROXY protocol header (MQTT_PROXY_PROTOCOL=required)' });
          return finish({ ok: true, header: undefined }, chunk);
      }
    }
  };
  const timer = setTimeout(() => {
    if (reader !== undefined && reader.received > 0) finish({ ok: false, problem: PreambleProblem.malformed, detail: `truncated: ${reader.received} bytes of a PROXY header, then nothing for ${timeoutMs} ms` });
    else finish({ ok: false, problem: 'silent', detail: `nothing received for ${timeoutMs} ms` });
  }, timeoutMs);
  timer.unref();
  socket.on('readable', onReadable);
  socket.on('error', onGone);
  socket.on('close', onGone);
  socket.on('end', onEnd);
}

/**
 * For a socket handed to the MQTT connection at once (a peer that is no trusted proxy, plain
 * TCP): `onHeader` when its first bytes are a PROXY header. Registered before the connection's own
 * 'readable' listener, it sees the first chunk first, puts it back and steps aside; the
 * connection is counted in its limits from the start, as before.
 */
export function watchFirstBytes(socket: Socket, onHeader: () => void): void {
  const onReadable = () => {
    const chunk = socket.read() as Buffer | null;
    if (chunk === null) return;
    socket.removeListener('readable', onReadable);
    if (startsLikeProxyHeader(chunk)) onHeader();
    else socket.unshift(chunk);
  };
  socket.on('readable', onReadable);
}
