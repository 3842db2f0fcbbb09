/**
 * Splits a byte stream into whole MQTT control packets, reading only the fixed header:
 * the packet type byte and the Remaining Length [MQTT-2.2.3]. A packet whose declared size
 * exceeds the limit is refused before its body is buffered (mqtt-packet itself has no size
 * limit). Pure: bytes in, frames out, no sockets.
 * @module
 */

export const FrameError = {
  /** Remaining Length encoded in more than 4 bytes [MQTT-1.5.5]. */
  malformedLength: 'malformed-length',
  tooLarge: 'too-large',
} as const;
export type FrameError = (typeof FrameError)[keyof typeof FrameError];

export interface FrameProblem {
  error: FrameError;
  /** The declared size of the refused packet, when known. */
  size?: number;
}

export class Framer {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  readonly #maxPacketBytes: number;

  /** @param maxPacketBytes largest whole packet (fixed header included) accepted */
  constructor(maxPacketBytes: number) {
    this.#maxPacketBytes = maxPacketBytes;
  }

  /** Bytes received and not yet part of a whole packet. */
  get buffered(): number {
    return this.#pendingBytes;
  }

  /** Appends `chunk`; returns the whole packets now available, or the problem that ends the stream. */
  push(chunk: Buffer): Buffer[] | FrameProblem {
    let buf: Buffer;
    if (this.#pendingBytes === 0) buf = chunk;
    else {
      this.#pending.push(chunk);
      buf = Buffer.concat(this.#pending, this.#pendingBytes + chunk.length);
    }
    const frames: Buffer[] = [];
    let pos = 0;
    while (pos < buf.length) {
      const header = readFixedHeader(buf, pos);
      if (header === undefined) break;
      if ('error' in header) return header;
      const total = header.headerBytes + header.remaining;
      if (total > this.#maxPacketBytes) return { error: FrameError.tooLarge, size: total };
      if (pos + total > buf.length) break;
      frames.push(buf.subarray(pos, pos + total));
      pos += total;
    }
    const rest = buf.length - pos;
    this.#pending = rest === 0 ? [] : [buf.subarray(pos)];
    this.#pendingBytes = rest;
    return frames;
  }
}

interface FixedHeader {
  headerBytes: number;
  remaining: number;
}

/** Reads the fixed header at `pos`: undefined when more bytes are needed. */
function readFixedHeader(buf: Buffer, pos: number): FixedHeader | FrameProblem | undefined {
  let remaining = 0;
  let multiplier = 1;
  for (let i = 1; i <= 4; i++) {
    if (pos + i >= buf.length) return undefined;
    const byte = buf[pos + i]!;
    remaining += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return { headerBytes: 1 + i, remaining };
    multiplier *= 128;
  }
  return { error: FrameError.malformedLength };
}
