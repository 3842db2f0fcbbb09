/**
 * The production queue backend: Redis Streams for readings and rejects, one Lua call per
 * batch and shard for dedupe + XADD + PUBLISH, pub/sub for cross-instance events and metadata.
 * One Redis or Redis Cluster alike; with STREAM_SHARDS > 1 a batch is split by the readings'
 * shards (../key-layout.ts), one call per shard in parallel, each reading settled from its own
 * shard's reply.
 * @module
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AppendEntry, AppendResult, QueueBackend, QueueStatus, RejectEntry, RejectFilter, RejectPage, RejectPageRequest, StoredReject } from '../backend.ts';
import { compareIds, rejectFields, rejectFromFields, rejectMatches } from '../reject-fields.ts';
import type { KeyLayout } from '../key-layout.ts';
import { bounded, createRedis, isCluster, reconnectWhenUnresponsive, type RedisClient, type RedisConnectionOptions } from './connection.ts';
import { type Confirm, type Durability, probeDurability, shortfall } from './durability.ts';
import { INGEST_SCRIPT } from './ingest-script.ts';
import { IngestScript } from './ingest-command.ts';
import { packStrings } from './pack-strings.ts';
import { RedisMetadata } from './metadata.ts';
import { RedisFleetStore } from './fleet-store.ts';
import { readStatus } from './status.ts';
import { dedupeBucket, dedupeBucketTtlMs } from '../dedupe-rule.ts';
import { connected } from '../../util/redis-connected.ts';

export interface RedisBackendOptions extends RedisConnectionOptions {
  /** Where the readings streams, their DLQs and dedupe keys and the fleet state live. */
  layout: KeyLayout;
  /** The DLQ's base name (a shard's DLQ is layout.name(dlq, shard)). */
  dlq: string;
  rejects: string;
  eventsChannel: string;
  /** classic: PUBLISH eventsChannel; sharded: SPUBLISH on each shard's channel. @default classic */
  eventsPubsub?: 'classic' | 'sharded';
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
  /**
   * always: every stored reading is published; subscribed: only while someone listens (the script
   * asks its node, listening instances mark every shard, every node is counted each second:
   * #watchEventSubscribers). @default always
   */
  eventsPublish?: 'always' | 'subscribed';
}

/** How often the events channel's subscribers are counted (EVENTS_PUBLISH=subscribed). */
export const SUBSCRIBERS_CHECK_MS = 1000;
/**
 * While this instance listens to the events it keeps `<dedupe prefix>listening` set on every
 * shard (refreshed each SUBSCRIBERS_CHECK_MS, gone this long after it stops): the ingest script
 * of every instance publishes while it exists, on Cluster too, where a node counts only its own
 * subscribers.
 */
const LISTENING_TTL_MS = 3 * SUBSCRIBERS_CHECK_MS;



export class RedisBackend implements QueueBackend {
  readonly kind = 'redis' as const;
  readonly metadata: RedisMetadata;
  readonly fleet: RedisFleetStore;
  readonly #cmd: RedisClient;
  /** The ingest script's call as one RESP buffer (ingest-command.ts); `ingestBatch` in a pipeline (ACK_DURABILITY). */
  readonly #ingest = new IngestScript(INGEST_SCRIPT, 2);
  readonly #sub: RedisClient;
  /** The sharded subscriptions on Cluster (a client of its own, which follows the slots' owners). */
  readonly #ssub: RedisClient | undefined;
  readonly #layout: KeyLayout;
  readonly #sharded: boolean;
  readonly #opts: RedisBackendOptions;
  readonly #log: Logger;
  readonly #events = new EventEmitter();
  #ready = false;
  readonly #durability: Durability;
  /** What follows every batch to confirm it at the durability level (read from Redis on each connect). */
  #confirm: Confirm;
  #probe: Promise<void> = Promise.resolve();
  /** The metadata channel's subscription, once made on the subscriber connection. */
  #subscribed: Promise<void> = Promise.resolve();
  readonly #unwatch: (() => void)[];
  /** Whether appends publish their live event: counted subscribers, or this instance listening itself. */
  #publishEvents = true;
  /** The events channel's subscription, once confirmed. */
  #listening: Promise<void> = Promise.resolve();

  constructor(opts: RedisBackendOptions, log: Logger) {
    this.#opts = opts;
    this.#log = log;
    this.#durability = opts.durability ?? { level: 'append', replicas: 1, timeoutMs: 1000 };
    this.#confirm = this.#durability.level === 'replicas' ? { cmd: 'wait', args: [this.#durability.replicas, this.#durability.timeoutMs] } : undefined;
    this.#layout = opts.layout;
    this.#sharded = opts.eventsPubsub === 'sharded';
    this.#cmd = createRedis(opts, 'neurobuild-ingest');
    this.#sub = createRedis(opts, 'neurobuild-ingest-sub');
    this.#ssub = this.#sharded && isCluster(this.#sub) ? createRedis(opts, 'neurobuild-ingest-ssub', { shardedSubscribers: true }) : undefined;
    this.#cmd.defineCommand('ingestBatch', { numberOfKeys: 2, lua: INGEST_SCRIPT });
    this.metadata = new RedisMetadata(this.#cmd, opts.layout.global(opts.metadataKey), log);
    this.fleet = new RedisFleetStore(this.#cmd, opts.layout, opts.deviceStatePrefix ?? 'device-state', opts.instanceTtlMs ?? 5000, opts.deviceStateKeepMs ?? 30 * 86_400_000);
    this.#events.setMaxListeners(0);
    this.#watch();
    this.#unwatch = [this.#cmd, this.#sub].map((r) =>
      reconnectWhenUnresponsive(r, () => this.#log.error({ redis: this.#where(), connection: (r as { options: { connectionName?: string } }).options.connectionName }, 'queue backend connection unresponsive (PINGs timed out): reconnecting')),
    );
    if (isCluster(this.#sub)) this.#unwatch.push(this.#watchClusterSubscriber());
    if (opts.eventsPublish === 'subscribed') this.#unwatch.push(this.#watchEventSubscribers());
    const marker = setInterval(() => {
      if (this.#events.listenerCount('event') > 0) void this.#markListening();
    }, SUBSCRIBERS_CHECK_MS);
    marker.unref();
    this.#unwatch.push(() => clearInterval(marker));
  }

  /**
   * EVENTS_PUBLISH=subscribed: PUBLISH costs Redis a call per reading (~0.5 µs from the script
   * with nobody listening). While no subscriber is known the script asks its own node once per
   * call (PUBSUB NUMSUB / SHARDNUMSUB) and publishes only when it counts one: exact on one Redis.
   * On Cluster a node counts only its own clients, so every SUBSCRIBERS_CHECK_MS the channel's
   * subscribers are also counted on every node, primaries and replicas, and appends publish
   * unasked while there is one anywhere (a subscriber on another node than the stream's is seen
   * within a check). This instance's own listeners (WebSocket, MQTT subscribers) count at once.
   * Unknown (a check failed): publish.
   */
  #watchEventSubscribers(): () => void {
    const channels = this.#eventChannels();
    const count = async (node: Redis): Promise<number> => {
      const reply = (await node.call('PUBSUB', this.#sharded ? 'SHARDNUMSUB' : 'NUMSUB', ...channels)) as (string | number)[];
      let n = 0;
      for (let i = 1; i < reply.length; i += 2) n += Number(reply[i]);
      return n;
    };
    let running = false;
    const check = (): void => {
      if (running || !this.#ready) return;
      running = true;
      const nodes = isCluster(this.#cmd) ? this.#cmd.nodes('all') : [this.#cmd as Redis];
      void Promise.all(nodes.map(count))
        .then(
          (counts) => counts.some((n) => n > 0),
          () => true,
        )
        .then((elsewhere) => {
          running = false;
          this.#publishEvents = elsewhere || this.#events.listenerCount('event') > 0;
        });
    };
    const timer = setInterval(check, SUBSCRIBERS_CHECK_MS);
    timer.unref();
    // at once on every (re)connection: publishing until the first count says otherwise
    this.#cmd.on('ready', check);
    return () => {
      clearInterval(timer);
      this.#cmd.off('ready', check);
    };
  }

  /**
   * Subscribes the metadata change channel and, while someone listens, the live events (their
   * channel carries every reading: not subscribed for nobody). Subscribing again is harmless.
   * `reload`: then load the metadata copy again, for changes announced while not subscribed.
   */
  #subscribe(reload: boolean): void {
    this.#subscribed = this.#sub
      .subscribe(this.metadata.channel)
      .then(
        () => (reload ? this.metadata.reload() : undefined),
        (err: unknown) => this.#log.warn({ err }, 'subscribe failed'),
      )
      .catch((err: unknown) => this.#log.warn({ err }, 'device metadata reload failed'));
    if (this.#events.listenerCount('event') > 0) this.#listening = this.#startListening();
  }

  /**
   * ioredis' Cluster client keeps classic pub/sub on one node it picks at random, and picks
   * another when that node leaves its pool: right after connecting (the first slot map replaces
   * the seeds), after a failover or a reshard. It subscribes the new connection again only to
   * what the old one had confirmed, so a SUBSCRIBE in flight at that moment is lost (seen with
   * DEBUG=ioredis:*: the subscriber replaced ~12 ms after connect; the cluster contract suite, ~70
   * backends started, failed one run in three on metadata changes or events never arriving).
   * Every second this checks whether that connection changed and, if so, subscribes again and
   * reloads the metadata. One check per second per instance, whatever the load. (SSUBSCRIBE goes
   * through ioredis' per-slot sharded subscribers, which follow the slot map themselves.)
   */
  #watchClusterSubscriber(): () => void {
    const current = (): unknown => (this.#sub as unknown as { subscriber?: { getInstance(): unknown } }).subscriber?.getInstance();
    let seen = current();
    const timer = setInterval(() => {
      const now = current();
      if (now === seen || this.#sub.status !== 'ready') return;
      seen = now;
      this.#subscribe(true);
    }, 1000);
    timer.unref();
    return () => clearInterval(timer);
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
    this.#ssub?.on('error', () => {});
    this.#sub.on('ready', () => this.#subscribe(false));
    this.#ssub?.on('ready', () => {
      if (this.#events.listenerCount('event') > 0) this.#listening = this.#startListening();
    });
    this.#sub.on('message', (channel: string, message: string) => {
      if (channel === this.#opts.eventsChannel) this.#events.emit('event', message);
      else this.metadata.applyChange(message);
    });
    (this.#ssub ?? this.#sub).on('smessage', (_channel: string, message: string) => this.#events.emit('event', message));
  }

  /** The channels the live events go out on: the classic one, or one per shard. */
  #eventChannels(): string[] {
    return this.#sharded ? this.#layout.all().map((i) => this.#layout.name(this.#opts.eventsChannel, i)) : [this.#opts.eventsChannel];
  }

  /** Subscribes the live events and marks this instance as listening; resolves once both are done. */
  #startListening(): Promise<void> {
    return Promise.all([this.#listen(true), this.#markListening()]).then(() => {});
  }

  /** Sets every shard's listening marker (LISTENING_TTL_MS); a failure is logged (the counts remain). */
  #markListening(): Promise<void> {
    if (this.#cmd.status !== 'ready') return Promise.resolve();
    const layout = this.#layout;
    return Promise.all(layout.all().map((shard) => this.#cmd.set(`${layout.dedupePrefix(shard)}listening`, '1', 'PX', LISTENING_TTL_MS))).then(
      () => {},
      (err: unknown) => this.#log.warn({ err }, 'marking this instance as listening to the live events failed'),
    );
  }

  /**
   * (Un)subscribes the live events, when the connection for them is up (a reconnect subscribes
   * again). Resolves once Redis confirmed it (or it failed, logged).
   */
  #listen(on: boolean): Promise<void> {
    const conn = this.#ssub ?? this.#sub;
    if (conn.status !== 'ready') return Promise.resolve();
    const channels = this.#eventChannels();
    // shard channels one call each: on Cluster each is in its own slot, and SSUBSCRIBE takes one slot at a time
    const done = this.#sharded
      ? Promise.all(channels.map((c) => (on ? conn.ssubscribe(c) : conn.sunsubscribe(c))))
      : on
        ? conn.subscribe(...channels)
        : conn.unsubscribe(...channels);
    return done.then(
      () => {},
      (err: unknown) => this.#log.warn({ err, channels }, on ? 'subscribe failed' : 'unsubscribe failed'),
    );
  }

  #where(): string {
    if (this.#opts.clusterNodes) return `cluster ${this.#opts.clusterNodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
    return this.#opts.url ? this.#opts.url.replace(/\/\/[^@]*@/, '//***@') : `${this.#opts.host ?? '127.0.0.1'}:${this.#opts.port}`;
  }

  async start(): Promise<void> {
    await Promise.allSettled([connected(this.#cmd), connected(this.#sub), this.#ssub && connected(this.#ssub)]);
    // a Cluster client emits 'ready' after connect() resolved: its status says it already
    if (this.#cmd.status === 'ready') this.#ready = true;
    if (!this.#ready) {
      this.#log.error({ redis: this.#where() }, 'queue backend unreachable at start: answering 503 until it is');
      return;
    }
    // the change announcements are listened to before the copy is loaded: no change falls between
    // (subscribing again when the 'ready' handler runs later is harmless)
    const subscribed = this.#sub.status === 'ready' ? this.#sub.subscribe(this.metadata.channel).then(() => {}) : this.#subscribed;
    await Promise.all([subscribed.then(() => this.metadata.reload()).catch((err: unknown) => this.#log.warn({ err }, 'device metadata load failed')), this.#probe]);
  }

  /** Checks (again, after a reconnect: Redis may have restarted with another configuration) how appends are confirmed. */
  async #probeDurability(): Promise<void> {
    this.#confirm = await probeDurability(this.#cmd, this.#durability, this.#log).catch(() => this.#confirm);
  }

  healthy(): boolean {
    return this.#ready;
  }

  async appendBatch(entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    const layout = this.#layout;
    if (layout.shards === 1) return this.#appendShard(0, entries);
    // split by shard, keeping each shard's readings in batch order
    const parts = new Map<number, { entries: AppendEntry[]; at: number[] }>();
    for (let i = 0; i < entries.length; i++) {
      const shard = layout.shardOf(entries[i]!.deviceId);
      let part = parts.get(shard);
      if (!part) parts.set(shard, (part = { entries: [], at: [] }));
      part.entries.push(entries[i]!);
      part.at.push(i);
    }
    const shards = [...parts.keys()];
    const replies = await Promise.allSettled(shards.map((shard) => this.#appendShard(shard, parts.get(shard)!.entries)));
    if (replies.every((r) => r.status === 'rejected')) throw (replies[0] as PromiseRejectedResult).reason;
    const results: AppendResult[] = new Array(entries.length);
    replies.forEach((reply, k) => {
      const part = parts.get(shards[k]!)!;
      for (let j = 0; j < part.at.length; j++) {
        results[part.at[j]!] = reply.status === 'fulfilled' ? reply.value[j]! : reply.reason instanceof Error ? reply.reason : new Error(String(reply.reason));
      }
    });
    return results;
  }

  /** One script call (and its confirmation) for readings of one shard. */
  async #appendShard(shard: number, entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    const o = this.#opts;
    const layout = this.#layout;
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
    const channel = this.#sharded ? layout.name(o.eventsChannel, shard) : o.eventsChannel;
    // a subscriber known (counted, or this instance's own), or the script asks its node
    const publish = this.#publishEvents ? (this.#sharded ? '2' : '1') : this.#sharded ? '4' : '3';
    const args = [layout.stream(shard), layout.dedupePrefix(shard), dedupeBucketTtlMs(window), o.maxLen, publish, channel] as const;
    const sent = this.#send(args, flat, this.#confirm);
    return this.#settle(entries, await (isCluster(this.#cmd) ? bounded(sent, o.commandTimeoutMs, 'append') : sent));
  }

  /** The script call, with its confirmation when the durability level asks for one. */
  async #send(args: readonly (string | number)[], entries: string[], confirm: Confirm): Promise<string[]> {
    let reply: string[];
    if (confirm === undefined) reply = await this.#ingest.call(this.#cmd, args, entries);
    else {
      // the confirmation in the same round trip: WAIT / WAITAOF cover every earlier write of this
      // connection (on Cluster, the connection to the shard's own primary: the pipeline goes there)
      const p = this.#cmd.pipeline() as unknown as { ingestBatch(...a: unknown[]): unknown; call(...a: unknown[]): unknown; exec(): Promise<[Error | null, unknown][] | null> };
      p.ingestBatch(...args, packStrings(entries));
      p.call(confirm.cmd, ...confirm.args);
      const [[err, r], [cerr, c]] = ((await p.exec()) ?? [[new Error('pipeline discarded'), null], [null, null]]) as [[Error | null, unknown], [Error | null, unknown]];
      if (err) throw err;
      if (cerr) throw cerr;
      const short = shortfall(confirm, c);
      if (short !== undefined) throw new Error(`appended but not confirmed at ACK_DURABILITY=${this.#durability.level}: ${short}`);
      reply = r as string[];
    }
    return reply;
  }

  /** Each entry's result from the script's reply. */
  #settle(entries: readonly AppendEntry[], reply: string[]): AppendResult[] {
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

  onEvent(listener: (json: string) => void, listening?: () => void): () => void {
    if (this.#events.listenerCount('event') === 0) this.#listening = this.#startListening();
    this.#publishEvents = true;
    if (listening) void this.#listening.then(listening);
    this.#events.on('event', listener);
    return () => {
      this.#events.off('event', listener);
      if (this.#events.listenerCount('event') === 0) void this.#listen(false);
    };
  }

  status(): Promise<QueueStatus> {
    return readStatus(this.#cmd, this.#layout, this.#opts.dlq, this.#opts.rejects);
  }

  async close(): Promise<void> {
    // a connection we close ourselves is not "lost": no error log, and healthy() says false
    this.#ready = false;
    for (const stop of this.#unwatch) stop();
    this.#events.removeAllListeners();
    const all = [this.#cmd, this.#sub, ...(this.#ssub ? [this.#ssub] : [])];
    await Promise.allSettled(all.map((r) => r.quit()));
    for (const r of all) r.disconnect();
  }
}
