/**
 * A client of the live WebSocket protocol for tests: collects every frame (JSON text or
 * MessagePack binary, decoded) and waits for the ones a test expects.
 */
import { request } from 'node:http';
import { unpack } from 'msgpackr';
import WebSocket from 'ws';
import { waitFor } from './wait.ts';

export type Frame = { type: string; [k: string]: unknown };

export class LiveClient {
  readonly frames: Frame[] = [];
  closeCode: number | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => this.frames.push((isBinary ? unpack(data) : JSON.parse(String(data))) as Frame));
    ws.on('close', (code: number) => (this.closeCode = code));
  }

  /** Opens a connection and waits for the `connected` frame. */
  static async open(url: string, protocols?: string | string[]): Promise<LiveClient> {
    const ws = new WebSocket(url, protocols);
    // listen before the upgrade completes: the `connected` frame can arrive in the same
    // chunk as the 101 answer and be emitted before a promise continuation would attach
    const c = new LiveClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req: unknown, res: { statusCode: number }) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
    await c.next('connected');
    return c;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** Subscribes and waits for the answer. */
  async subscribe(filters?: unknown, mode?: string): Promise<Frame> {
    this.send({ type: 'subscribe', ...(filters === undefined ? {} : { filters }), ...(mode ? { mode } : {}) });
    return this.next('subscribed');
  }

  /**
   * The next frame of `type` (and passing `where`), removed from the list. The bound is generous
   * (a loaded CI machine), and a miss says what did arrive, so that a failure can be read.
   */
  async next(type: string, where: (f: Frame) => boolean = () => true, timeoutMs = 15_000): Promise<Frame> {
    try {
      return (await waitFor(() => {
        const i = this.frames.findIndex((f) => f.type === type && where(f));
        return i >= 0 ? this.frames.splice(i, 1)[0] : undefined;
      }, timeoutMs, `${type} frame`)) as Frame;
    } catch (err) {
      const seen = this.frames.map((f) => f.type).join(', ') || 'none';
      throw new Error(`${(err as Error).message} (frames waiting: ${seen}; readyState ${this.ws.readyState}; close code ${this.closeCode ?? '-'})`);
    }
  }

  /** `sensor-data` readings received so far (not removed). */
  readings(): Record<string, unknown>[] {
    return this.frames.filter((f) => f.type === 'sensor-data').map((f) => f.data as Record<string, unknown>);
  }

  close(): void {
    this.ws.terminate();
  }
}

/**
 * A WebSocket upgrade request on `path` answered with something else than 101 (node:http; Bun's
 * `ws` does not report the refused response): its status, headers and body.
 */
export function upgrade(port: number, path = '/', protocol?: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' };
    if (protocol !== undefined) headers['Sec-WebSocket-Protocol'] = protocol;
    const req = request({ port, host: '127.0.0.1', path, headers });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      reject(new Error('upgraded'));
    });
    req.on('error', reject);
    req.end();
  });
}
