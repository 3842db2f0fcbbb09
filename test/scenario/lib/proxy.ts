/**
 * A TCP proxy on node:net for fault injection between the server and Redis (the server's
 * REDIS_URL points at proxy.url). Switchable at run time, for every open connection at once:
 *
 * - latency(ms, dir): each chunk is held `ms` before it is forwarded (order kept);
 *   'up' is server → Redis, 'down' Redis → server. 200 ms 'up' adds 200 ms to every round trip.
 * - bandwidth(bytesPerSecond, dir): a token bucket per direction shared by all connections
 *   (the scenarios' way to give the service a small, known capacity).
 * - blackhole(true): every byte in both directions is silently dropped, connections stay open
 *   (a partition without resets). The byte streams are broken afterwards: cut() after lifting it.
 * - silence(): the connections open now go silent for good (their bytes are dropped both ways,
 *   no FIN, no RST) while new connections work: a peer gone without a word (host lost, failover
 *   to another address, NAT state dropped). Only a client that gives up on it gets through again.
 * - cut(): closes every open connection on both sides at once (the server's client sees it drop).
 * - refuse(true): new connections are closed as soon as they are accepted.
 *
 * A direction holding more than 4 MiB stops reading its source (TCP backpressure), so the
 * proxy's own memory stays bounded.
 * @module
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export type Direction = 'up' | 'down' | 'both';

const HIGH_WATER = 4 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;

class Bucket {
  rate = 0;
  #tokens = 0;
  #last = performance.now();

  /** Bytes that may go now (Infinity without a limit); a burst is at most 20 ms of the rate. */
  available(): number {
    if (this.rate <= 0) return Infinity;
    const now = performance.now();
    this.#tokens = Math.min(this.#tokens + ((now - this.#last) * this.rate) / 1000, Math.max(this.rate / 50, 1460));
    this.#last = now;
    return Math.floor(this.#tokens);
  }

  take(n: number): void {
    if (this.rate > 0) this.#tokens -= n;
  }

  /** Milliseconds until `n` bytes are available. */
  waitMs(n: number): number {
    return this.rate <= 0 ? 0 : Math.max(1, Math.ceil(((n - this.#tokens) * 1000) / this.rate));
  }
}

export interface ProxyStats {
  /** Connections accepted so far. */
  accepted: number;
  /** Connections open now. */
  open: number;
  bytesUp: number;
  bytesDown: number;
  /** Bytes dropped while blackholed. */
  dropped: number;
  /** Connections destroyed by cut() or refused. */
  cut: number;
}

/** One direction of one connection: chunks wait for their due time and the bucket, then are written in order. */
class Pipe {
  #queue: { buf: Buffer; due: number }[] = [];
  #bytes = 0;
  #timer: NodeJS.Timeout | undefined;
  #paused = false;
  /** Set by TcpProxy.silence(): every byte from now on is dropped. */
  silenced = false;

  constructor(
    private readonly proxy: TcpProxy,
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly dir: 'up' | 'down',
  ) {
    from.on('data', (d: Buffer) => this.push(d));
  }

  push(buf: Buffer): void {
    if (this.proxy.isBlackholed || this.silenced) {
      this.proxy.stats.dropped += buf.length;
      return;
    }
    this.#queue.push({ buf, due: performance.now() + this.proxy.latencyOf(this.dir) });
    this.#bytes += buf.length;
    if (this.#bytes > HIGH_WATER && !this.#paused) {
      this.#paused = true;
      this.from.pause();
    }
    this.pump();
  }

  pump(): void {
    if (this.#timer) return;
    const bucket = this.proxy.bucketOf(this.dir);
    while (this.#queue.length > 0) {
      if (this.to.destroyed) {
        this.#queue = [];
        this.#bytes = 0;
        return;
      }
      const head = this.#queue[0]!;
      const wait = head.due - performance.now();
      if (wait > 0) return this.#later(wait);
      const room = bucket.available();
      if (room <= 0) return this.#later(bucket.waitMs(Math.min(head.buf.length, 1460)));
      const n = Math.min(room, head.buf.length);
      const part = n === head.buf.length ? head.buf : head.buf.subarray(0, n);
      if (n === head.buf.length) this.#queue.shift();
      else head.buf = head.buf.subarray(n);
      bucket.take(n);
      this.#bytes -= n;
      if (this.dir === 'up') this.proxy.stats.bytesUp += n;
      else this.proxy.stats.bytesDown += n;
      this.to.write(part);
    }
    if (this.#paused && this.#bytes < LOW_WATER) {
      this.#paused = false;
      this.from.resume();
    }
  }

  #later(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.pump();
    }, Math.max(1, Math.ceil(ms)));
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
  }
}

export class TcpProxy {
  readonly stats: ProxyStats = { accepted: 0, open: 0, bytesUp: 0, bytesDown: 0, dropped: 0, cut: 0 };
  #latency = { up: 0, down: 0 };
  readonly #buckets = { up: new Bucket(), down: new Bucket() };
  #blackholed = false;
  #refusing = false;
  readonly #pairs = new Set<{ client: Socket; upstream: Socket; pipes: Pipe[] }>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
    readonly targetPort: number,
    readonly targetHost: string,
  ) {}

  /** Listens on a free port of 127.0.0.1 and forwards to targetHost:targetPort. */
  static start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    return new Promise((resolve, reject) => {
      let proxy: TcpProxy;
      const server = createServer({ noDelay: true }, (client) => proxy.#accept(client));
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const addr = server.address();
        proxy = new TcpProxy(server, typeof addr === 'object' && addr ? addr.port : 0, targetPort, targetHost);
        resolve(proxy);
      });
    });
  }

  /** redis://127.0.0.1:<port>: what the server's REDIS_URL should be. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get isBlackholed(): boolean {
    return this.#blackholed;
  }

  latencyOf(dir: 'up' | 'down'): number {
    return this.#latency[dir];
  }

  bucketOf(dir: 'up' | 'down'): Bucket {
    return this.#buckets[dir];
  }

  /** Holds each chunk `ms` before forwarding it (0: off); applies to chunks that arrive from now on. */
  latency(ms: number, dir: Direction = 'up'): this {
    if (dir !== 'down') this.#latency.up = ms;
    if (dir !== 'up') this.#latency.down = ms;
    return this;
  }

  /** At most `bytesPerSecond` (0: unlimited) in `dir`, shared by all connections. */
  bandwidth(bytesPerSecond: number, dir: Direction = 'up'): this {
    if (dir !== 'down') this.#buckets.up.rate = bytesPerSecond;
    if (dir !== 'up') this.#buckets.down.rate = bytesPerSecond;
    for (const p of this.#pairs) for (const pipe of p.pipes) pipe.pump();
    return this;
  }

  /** Drops every byte in both directions while on. */
  blackhole(on: boolean): this {
    this.#blackholed = on;
    return this;
  }

  /** The connections open now drop every byte from now on (without closing); returns how many. */
  silence(): number {
    for (const p of this.#pairs) for (const pipe of p.pipes) pipe.silenced = true;
    return this.#pairs.size;
  }

  /** Closes new connections at once while on. */
  refuse(on: boolean): this {
    this.#refusing = on;
    return this;
  }

  /** Destroys every open connection; returns how many. */
  cut(): number {
    const n = this.#pairs.size;
    for (const p of [...this.#pairs]) this.#close(p);
    this.stats.cut += n;
    return n;
  }

  /** Back to a plain pipe: no latency, no limit, no blackhole, accepting. */
  heal(): this {
    this.latency(0, 'both').bandwidth(0, 'both').blackhole(false).refuse(false);
    return this;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.stats.accepted++;
    if (this.#refusing) {
      this.stats.cut++;
      client.destroy();
      return;
    }
    const upstream = connect({ port: this.targetPort, host: this.targetHost, noDelay: true });
    const pair = { client, upstream, pipes: [] as Pipe[] };
    pair.pipes.push(new Pipe(this, client, upstream, 'up'), new Pipe(this, upstream, client, 'down'));
    this.#pairs.add(pair);
    this.stats.open++;
    const close = () => this.#close(pair);
    for (const s of [client, upstream]) {
      s.on('error', close);
      s.on('close', close);
    }
  }

  #close(pair: { client: Socket; upstream: Socket; pipes: Pipe[] }): void {
    if (!this.#pairs.delete(pair)) return;
    this.stats.open--;
    for (const p of pair.pipes) p.stop();
    pair.client.destroy();
    pair.upstream.destroy();
  }
}
