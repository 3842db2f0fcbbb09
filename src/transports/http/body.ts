/**
 * Reads a request body with a hard size cap: a declared Content-Length over the cap is
 * refused before any byte is read, and a body that streams past it is cut off at the cap.
 * @module
 */
import type { HttpResponse } from 'uWebSockets.js';

export type BodyResult = Buffer | 'too-large';

/**
 * @param declared the Content-Length header ('' when absent)
 * @param done called once, with the body or 'too-large'; never after an abort
 */
export function readBody(res: HttpResponse, declared: string, max: number, done: (body: BodyResult) => void): void {
  const length = declared === '' ? -1 : Number(declared);
  if (length > max) {
    done('too-large');
    return;
  }
  // Content-Length known: one exact allocation, chunks copied in place
  let buf: Buffer | undefined = length >= 0 ? Buffer.allocUnsafe(length) : undefined;
  let chunks: Buffer[] | undefined = length >= 0 ? undefined : [];
  let received = 0;
  res.onData((chunk, isLast) => {
    if (received < 0) return;
    const bytes = new Uint8Array(chunk);
    if (received + bytes.length > (buf ? buf.length : max)) {
      received = -1;
      done('too-large');
      return;
    }
    if (buf) buf.set(bytes, received);
    else chunks!.push(Buffer.from(bytes));
    received += bytes.length;
    if (isLast) {
      const body = buf ? buf.subarray(0, received) : Buffer.concat(chunks!, received);
      buf = undefined;
      chunks = undefined;
      done(body);
    }
  });
}
