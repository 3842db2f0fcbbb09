/**
 * The production queue backend: Redis Streams for readings and rejects, one Lua call per
 * batch for dedupe + XADD + PUBLISH, pub/sub for cross-instance events and metadata.
 * @module
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { Packr } from 'msgpackr';
import type { Logger } from 'pino';
import type { AppendEntry, AppendResult, QueueBackend, QueueStatus, RejectEntry, RejectFilter, RejectPage, RejectPageRequest, StoredReject } from '../backend.ts';
import { compareIds, rejectFields, rejectFromFields, rejectMatches } from '../reject-fields.ts';
import { createRedis, reconnectWhenUnresponsive, type RedisConnectionOptions } from './connection.ts';
import { type Confirm, type Durability, probeDurability, shortfall } from './durability.ts';
import { INGEST_SCRIPT } from './ingest-script.ts';
import { RedisMetadata } from './metadata.ts';
import { RedisFleetStore } from './fleet-store.ts';
import { readStatus } from './status.ts';
import { dedupeBucket, dedupeBucketTtlMs } from '../dedupe-rule.ts';

export interface RedisBackendOptions extends RedisConnectionOptions {
  stream: string;
  dlq: string;
  rejects: string;
  eventsChannel: string;
  metadataKey: string;
  dedupeWindowMs: number;
  /** 0 = never trim */
  maxLen: number;
  rejectsMaxLen: number;
  /** Key prefix of the fleet state. @default device-state */
  deviceStatePrefix?: string;
  /** A device's fleet state is dropped this long after its last fact. @default 30 days */
  deviceStateKeepMs?: number;
  /** How long an instance counts as alive after its last fleet flush. @default 5000 */
  instanceTtlMs?: number;
  /** When an append counts as stored (ACK_DURABILITY). @default append */
  durability?: Durability;
}

type IngestCommand = (...args: (string | number | Buffer)[]) => Promise<string[]>;

/** Plain arrays of strings, no records/extensions: Redis' cmsgpack reads it. */
const packr = new Packr({ useRecords: false, variableMapSize: true });

export class RedisBackend implements QueueBackend {
  readonly kind = 'redis' as const;
  readonly metadata: RedisMetadata;
  readonly fleet: RedisFleetStore;
  readonly #cmd: Redis;
  readonly #sub: Redis;
  readonly #opts: RedisBackendOptions;
  readonly #log: Logger;
  readonly #events = new EventEmitter();
  readonly #dedupePrefix: string;
  #ready = false;
  readonly #durability: Durability;
  /** What follows every batch to confirm it at the durability level (read from Redis on each connect). */
  #confirm: Confirm;
  #probe: Promise<void> = Promise.resolve();
  readonly #unwatch: (() => void)[];

  constructor(opts: RedisBackendOptions, log: Logger) {
    this.#opts = opts;
    this.#log = log;
    this.#durability = opts.durability ?? { level: 'append', replicas: 1, timeoutMs: 1000 };
    this.#confirm = this.#durability.level === 'replicas' ? { cmd: 'wait', args: [this.#durability.replicas, this.#durability.timeoutMs] } : undefined;
    this.#cmd = createRedis(opts, 'neurobuild-ingest');
    this.#sub = createRedis(opts, 'neurobuild-ingest-sub');
    this.#cmd.defineCommand('ingestBatch', { numberOfKeys: 2, lua: INGEST_SCRIPT });
    this.#dedupePrefix = `${opts.stream}:dedupe:`;
    this.metadata = new RedisMetadata(this.#cmd, opts.metadataKey, log);
    this.fleet = new RedisFleetStore(this.#cmd, opts.deviceStatePrefix ?? 'device-state', opts.instanceTtlMs ?? 5000, opts.deviceStateKeepMs ?? 30 * 86_400_000);
    this.#events.setMaxListeners(0);
    this.#watch();
    this.#unwatch = [this.#cmd, this.#sub].map((r) =>
      reconnectWhenUnresponsive(r, () => this.#log.error({ redis: this.#where(), connection: r.options.connectionName }, 'queue backend connection unresponsive (PINGs timed out): reconnecting')),
    );
  }

  #watch(): void {
    this.#cmd.on('ready', () => {
      this.#ready = true;
      this.#log.info({ redis: this.#where() }, 'queue backend connected');
      this.metadata.reload().catch((err: unknown) => this.#log.warn({ err }, 'device metadata reload failed'));
      this.#probe = this.#probeDurability();
    });
    this.#cmd.on('close', () => {
      if (this.#ready) this.#log.error({ redis: this.#where() }, 'queue backend connection lost: answering 503 until it returns');
      this.#ready = false;
    });
    // ioredis reconnects on its own; errors are reported through the close/ready edges above
    this.#cmd.on('error', () => {});
    this.#sub.on('error', () => {});
    this.#sub.on('ready', () => {
      // the events channel carries every reading: subscribe only while someone listens
      const channels = this.#events.listenerCount('event') > 0 ? [this.metadata.channel, this.#opts.eventsChannel] : [this.metadata.channel];
      this.#sub.subscribe(...channels).catch((err: unknown) => {
        this.#log.warn({ err }, 'subscribe failed');
      });
    });
    this.#sub.on('message', (channel: string, message: string) => {
      if (channel === this.#opts.eventsChannel) this.#events.emit('event', message);
      else this.metadata.applyChange(message);
    });
  }

  #where(): string {
    return this.#opts.url ? this.#opts.url.replace(/\/\/[^@]*@/, '//***@') : `${this.#opts.host ?? '127.0.0.1'}:${this.#opts.port}`;
  }

  async start(): Promise<void> {
    await Promise.allSettled([this.#cmd.connect(), this.#sub.connect()]);
    if (!this.#ready) this.#log.error({ redis: this.#where() }, 'queue backend unreachable at start: answering 503 until it is');
    else await Promise.all([this.metadata.reload().catch(() => {}), this.#probe]);
  }

  /** Checks (again, after a reconnect: Redis may have restarted with another configuration) how appends are confirmed. */
  async #probeDurability(): Promise<void> {
    this.#confirm = await probeDurability(this.#cmd, this.#durability, this.#log).catch(() => this.#confirm);
  }

  healthy(): boolean {
    return this.#ready;
  }

  async appendBatch(entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    const o = this.#opts;
    const window = o.dedupeWindowMs;
    const flat: string[] = new Array(entries.length * 5);
    let j = 0;
    for (const e of entries) {
      flat[j++] = e.dedupeKey === '' ? '' : dedupeBucket(e.timestampMs, window);
      flat[j++] = e.dedupeKey;
      flat[j++] = e.json;
      flat[j++] = e.deviceId;
      flat[j++] = e.messageId;
    }
    const packed = packr.pack(flat);
    const args = [o.stream, o.eventsChannel, dedupeBucketTtlMs(window), o.maxLen, '1', this.#dedupePrefix, packed] as const;
    const confirm = this.#confirm;
    let reply: string[];
    if (confirm === undefined) reply = await (this.#cmd as unknown as { ingestBatch: IngestCommand }).ingestBatch(...args);
    else {
      // the confirmation in the same round trip: WAIT / WAITAOF cover every earlier write of this connection
      const p = this.#cmd.pipeline() as unknown as { ingestBatch(...a: unknown[]): unknown; call(...a: unknown[]): unknown; exec(): Promise<[Error | null, unknown][] | null> };
      p.ingestBatch(...args);
      p.call(confirm.cmd, ...confirm.args);
      const [[err, r], [cerr, c]] = ((await p.exec()) ?? [[new Error('pipeline discarded'), null], [null, null]]) as [[Error | null, unknown], [Error | null, unknown]];
      if (err) throw err;
      if (cerr) throw cerr;
      const short = shortfall(confirm, c);
      if (short !== undefined) throw new Error(`appended but not confirmed at ACK_DURABILITY=${this.#durability.level}: ${short}`);
      reply = r as string[];
    }
    const [flags, ...errors] = reply;
    const results: AppendResult[] = new Array(entries.length);
    let e = 0;
    for (let i = 0; i < entries.length; i++) {
      const f = (flags as string).charCodeAt(i);
      results[i] = f === 49 /* 1 */ ? 'stored' : f === 48 /* 0 */ ? 'duplicate' : new Error(String(errors[e++] ?? 'append failed'));
    }
    return results;
  }

  async appendRejects(entries: readonly RejectEntry[]): Promise<void> {
    const p = this.#cmd.pipeline();
    const trim = this.#opts.rejectsMaxLen;
    for (const r of entries) {
      const flat = Object.entries(rejectFields(r)).flat();
      if (trim > 0) p.xadd(this.#opts.rejects, 'MAXLEN', '~', trim, '*', ...flat);
      else p.xadd(this.#opts.rejects, '*', ...flat);
    }
    const results = await p.exec();
    const failed = results?.find(([err]) => err);
    if (failed) throw failed[0];
  }

  /**
   * Scans the rejects stream with XREVRANGE / XRANGE in pages of up to 500 from the cursor,
   * filtering here (a stream has no index); `since` bounds the id range itself.
   */
  async listRejects(filter: RejectFilter, page: RejectPageRequest): Promise<RejectPage> {
    const key = this.#opts.rejects;
    const newest = page.order === 'newest';
    const scanMax = page.scanMax ?? 10_000;
    const since = filter.sinceMs === undefined ? undefined : `${filter.sinceMs}-0`;
    // the range, both ends inclusive unless written `(id`
    let low = since ?? '-';
    let high = '+';
    if (page.after !== undefined) {
      if (newest) high = `(${page.after}`;
      else if (since === undefined || compareIds(page.after, since) >= 0) low = `(${page.after}`;
    }
    const entries: StoredReject[] = [];
    let examined = 0;
    let last: string | null = null;
    while (examined < scanMax) {
      const count = Math.min(500, scanMax - examined);
      const raw = (newest ? await this.#cmd.xrevrange(key, high, low, 'COUNT', count) : await this.#cmd.xrange(key, low, high, 'COUNT', count)) as [string, string[]][];
      for (const [id, flat] of raw) {
        examined++;
        last = id;
        const f: Record<string, string> = {};
        for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
        if (rejectMatches(id, f, filter)) entries.push(rejectFromFields(id, f));
        if (entries.length === page.limit) return { entries, next: id };
      }
      if (raw.length < count) return { entries, next: null };
      if (newest) high = `(${last}`;
      else low = `(${last}`;
    }
    return { entries, next: last };
  }

  async getReject(id: string): Promise<StoredReject | undefined> {
    const raw = (await this.#cmd.xrange(this.#opts.rejects, id, id)) as [string, string[]][];
    const [hit] = raw;
    if (!hit) return undefined;
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < hit[1].length; i += 2) f[hit[1][i]!] = hit[1][i + 1]!;
    return rejectFromFields(hit[0], f);
  }

  async deleteRejects(ids: readonly string[]): Promise<number> {
    return ids.length === 0 ? 0 : this.#cmd.xdel(this.#opts.rejects, ...ids);
  }

  onEvent(listener: (json: string) => void): () => void {
    if (this.#events.listenerCount('event') === 0 && this.#sub.status === 'ready') {
      this.#sub.subscribe(this.#opts.eventsChannel).catch(() => {});
    }
    this.#events.on('event', listener);
    return () => {
      this.#events.off('event', listener);
      if (this.#events.listenerCount('event') === 0 && this.#sub.status === 'ready') {
        this.#sub.unsubscribe(this.#opts.eventsChannel).catch(() => {});
      }
    };
  }

  status(): Promise<QueueStatus> {
    return readStatus(this.#cmd, this.#opts.stream, this.#opts.dlq, this.#opts.rejects);
  }

  async close(): Promise<void> {
    // a connection we close ourselves is not "lost": no error log, and healthy() says false
    this.#ready = false;
    for (const stop of this.#unwatch) stop();
    this.#events.removeAllListeners();
    await Promise.allSettled([this.#cmd.quit(), this.#sub.quit()]);
    this.#cmd.disconnect();
    this.#sub.disconnect();
  }
}
