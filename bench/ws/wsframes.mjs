// A minimal WebSocket client (RFC 6455) on node:net for the WebSocket benchmark: the HTTP
// upgrade by hand, masked client frames, and a frame walker that counts server frames from
// their headers alone (opcode, length) without copying or decoding payloads, unless asked to.
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 };

/** A client frame (FIN set, masked as RFC 6455 §5.3 requires of clients). */
export function clientFrame(opcode, payload = Buffer.alloc(0)) {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const len = data.length;
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + 4 + len);
  out[0] = 0x80 | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(len), 2);
  }
  const mask = randomBytes(4);
  mask.copy(out, head);
  for (let i = 0; i < len; i++) out[head + 4 + i] = data[i] ^ mask[i & 3];
  return out;
}

/**
 * Walks the server's frames of one connection. `onFrame(opcode, length, payload)` is called once
 * per complete frame; `payload` is a Buffer only when `want(opcode, index)` returned true for it
 * when its header was read (index counts frames from 0), else undefined: the payload bytes are
 * skipped without being copied. Server frames must be unmasked and unfragmented (uWS sends
 * whole messages); anything else is reported through onFrame with opcode -1.
 */
export class FrameWalker {
  constructor(want, onFrame) {
    this.want = want;
    this.onFrame = onFrame;
    this.index = 0;
    this.skip = 0; // payload bytes of the current frame still to come
    this.op = 0;
    this.len = 0;
    this.parts = null; // collected payload pieces of the current frame, when wanted
    this.rest = null; // a partial header carried over from the previous chunk
  }

  push(chunk) {
    let buf = chunk;
    if (this.rest) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    let i = 0;
    const n = buf.length;
    while (i < n) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, n - i);
        if (this.parts) this.parts.push(buf.subarray(i, i + take));
        this.skip -= take;
        i += take;
        if (this.skip === 0) this.#done();
        continue;
      }
      if (n - i < 2) break;
      const b0 = buf[i];
      const b1 = buf[i + 1];
      let len = b1 & 0x7f;
      let head = 2;
      if (len === 126) head = 4;
      else if (len === 127) head = 10;
      if (n - i < head) break;
      if (len === 126) len = buf.readUInt16BE(i + 2);
      else if (len === 127) len = Number(buf.readBigUInt64BE(i + 2));
      i += head;
      if ((b1 & 0x80) !== 0 || (b0 & 0x80) === 0 || (b0 & 0x70) !== 0) {
        // masked, fragmented or with reserved bits: not what uWS sends us; give up on this stream
        this.onFrame(-1, len, undefined);
        return;
      }
      this.op = b0 & 0x0f;
      this.len = len;
      this.parts = this.want(this.op, this.index) ? [] : null;
      this.skip = len;
      if (len === 0) this.#done();
    }
    if (i < n) this.rest = Buffer.from(buf.subarray(i));
  }

  #done() {
    const payload = this.parts ? (this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts)) : undefined;
    this.parts = null;
    this.index++;
    this.onFrame(this.op, this.len, payload);
  }
}

/**
 * Opens a WebSocket to ws://127.0.0.1:<port><path> by hand and checks the 101 answer and its
 * Sec-WebSocket-Accept. Resolves with the socket and the bytes already received after the
 * answer's header (frames that came with it); the socket is paused, to be resumed once the
 * caller listens for 'data'. Rejects after timeoutMs.
 * @returns {Promise<{socket: net.Socket, leftover: Buffer}>}
 */
export function wsConnect(port, urlPath = '/', timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const key = randomBytes(16).toString('base64');
    const expect = createHash('sha1').update(key + GUID).digest('base64');
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    let head = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error(`no WebSocket upgrade answer within ${timeoutMs} ms`)), timeoutMs);
    const finish = (err, leftover) => {
      clearTimeout(timer);
      socket.pause(); // the caller attaches its own 'data' listener, then resumes
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (err) {
        socket.destroy();
        reject(err);
      } else resolve({ socket, leftover });
    };
    const onError = (e) => finish(e);
    const onClose = () => finish(new Error('connection closed during the WebSocket upgrade'));
    const onData = (d) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) {
        if (head.length > 16384) finish(new Error('upgrade answer header too long'));
        return;
      }
      const text = head.subarray(0, end).toString('latin1');
      const status = text.split('\r\n', 1)[0];
      if (!/^HTTP\/1\.1 101 /.test(status)) return finish(new Error(`upgrade refused: ${status}`));
      const accept = text.match(/^sec-websocket-accept:\s*(\S+)/im)?.[1];
      if (accept !== expect) return finish(new Error(`bad Sec-WebSocket-Accept ${accept}`));
      finish(null, head.subarray(end + 4));
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.write(
      `GET ${urlPath} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
  });
}
