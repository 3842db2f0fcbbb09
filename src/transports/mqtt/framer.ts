/**
 * Splits a byte stream into whole MQTT control packets, reading only the fixed header:
 * the packet type byte and the Remaining Length [MQTT-2.2.3]. A packet whose declared size
 * exceeds the limit is refused before its body is buffered (mqtt-packet itself has no size
 * limit). Pure: bytes in, frames out, no sockets.
 * @module
 */
import { readVarInt } from './fixed-header.ts';

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

const NO_FRAMES: Buffer[] = [];

export class Framer {
  /** Chunks of an unfinished packet (made on first need: most reads end on a packet boundary). */
  #pending: Buffer[] | undefined;
  #pendingBytes = 0;
  /** Size of the unfinished packet once its fixed header was read: chunks are only gathered until then, never joined again and again. */
  #needed = 0;
  #maxPacketBytes: number;

  /** @param maxPacketBytes largest whole packet (fixed header included) accepted */
  constructor(maxPacketBytes: number) {
    this.#maxPacketBytes = maxPacketBytes;
  }

  /** The largest whole packet accepted from here on (the first packet, CONNECT, has a smaller limit). */
  set maxPacketBytes(n: number) {
    this.#maxPacketBytes = n;
  }

  get maxPacketBytes(): number {
    return this.#maxPacketBytes;
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
      this.#pending!.push(chunk);
      this.#pendingBytes += chunk.length;
      // the packet's size is known and not all of it is here: keep the chunk, join nothing yet
      // (joining on every read made a packet sent in small pieces cost quadratic time)
      if (this.#pendingBytes < this.#needed) return NO_FRAMES;
      buf = Buffer.concat(this.#pending!, this.#pendingBytes);
    }
    let frames = NO_FRAMES;
    let pos = 0;
    let needed = 0;
    while (pos < buf.length) {
      const header = readFixedHeader(buf, pos);
      if (header === undefined) break;
      if ('error' in header) return header;
      const total = header.headerBytes + header.remaining;
      if (total > this.#maxPacketBytes) return { error: FrameError.tooLarge, size: total };
      if (pos + total > buf.length) {
        needed = total;
        break;
      }
      if (frames === NO_FRAMES) frames = [];
      frames.push(buf.subarray(pos, pos + total));
      pos += total;
    }
    const rest = buf.length - pos;
    if (rest === 0) {
      this.#pending = undefined;
      this.#pendingBytes = 0;
      this.#needed = 0;
    } else {
      this.#pending = [buf.subarray(pos)];
      this.#pendingBytes = rest;
      this.#needed = needed;
    }
    return frames;
  }
}

interface FixedHeader {
  headerBytes: number;
  remaining: number;
}

/** Reads the fixed header at `pos`: undefined when more bytes are needed. */
function readFixedHeader(buf: Buffer, pos: number): FixedHeader | FrameProblem | undefined {
  const v = readVarInt(buf, pos + 1, buf.length);
  if (v === 'more') return undefined;
  if (v === 'malformed') return { error: FrameError.malformedLength };
  return { headerBytes: v.next - pos, remaining: v.value };
}
