/**
 * An MQTT-over-WebSocket connection as a byte stream, so that the very same MqttConnection
 * (framer, handlers, sessions, flow control) serves `/mqtt` as serves TCP and TLS. WebSocket
 * messages are only a transport: MQTT packets may span or share messages [MQTT-6.0.0-2]
 * and the framer reassembles them.
 *
 * Writes: corked packets leave as one binary message; a write the socket cannot take yet
 * (uWS backpressure) completes only on uWS' drain, so `write()` returns false and the
 * connection's drain timeout applies as on TCP. Reads: uWS cannot pause a WebSocket, so
 * what the MQTT connection has not read yet is bounded by `maxUnread` (see `receive`).
 * @module
 */
import { Duplex } from 'node:stream';

/** What this stream needs from a uWS WebSocket. */
export interface BinarySocket {
  /** 1 sent, 0 buffered (backpressure), 2 dropped. */
  send(message: Uint8Array, isBinary: boolean): number;
  end(code?: number, reason?: string): void;
  close(): void;
}

export class WsByteStream extends Duplex {
  #ws: BinarySocket | undefined;
  #waiting: (() => void) | undefined;
  readonly #maxUnread: number;

  constructor(ws: BinarySocket, maxUnread: number) {
    super({ allowHalfOpen: false, decodeStrings: true });
    this.#ws = ws;
    this.#maxUnread = maxUnread;
  }

  /** A message from the client (copied: uWS reuses its buffer). False: more is unread than allowed. */
  receive(data: ArrayBuffer): boolean {
    this.push(Buffer.from(new Uint8Array(data)));
    return this.readableLength <= this.#maxUnread;
  }

  /** uWS drained the socket: a write waiting for it completes. */
  drained(): void {
    const done = this.#waiting;
    this.#waiting = undefined;
    done?.();
  }

  /** uWS closed the WebSocket. */
  socketClosed(): void {
    this.#ws = undefined;
    this.push(null);
    this.drained();
    this.destroy();
  }

  override _read(): void {
    // messages are pushed as they arrive (uWS has no pause for WebSockets)
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#send(chunk, done);
  }

  override _writev(chunks: { chunk: Buffer }[], done: (err?: Error | null) => void): void {
    this.#send(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), done);
  }

  #send(bytes: Buffer, done: (err?: Error | null) => void): void {
    const ws = this.#ws;
    if (!ws) return done(new Error('WebSocket closed'));
    const status = ws.send(bytes, true);
    if (status === 1) done();
    else if (status === 0) this.#waiting = done;
    else done(new Error('WebSocket backpressure limit reached'));
  }

  override _final(done: (err?: Error | null) => void): void {
    this.#ws?.end(1000);
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    const ws = this.#ws;
    this.#ws = undefined;
    ws?.close();
    done(err);
  }
}
