/**
 * The shared MQTT state on Redis (one Redis or Redis Cluster alike):
 *
 * - `{mqtt}:instances`: sorted set, instance → deadline of its heartbeat (ms since epoch). An
 *   instance renews it every HEARTBEAT_MS; one whose deadline passed is gone, and the instance
 *   whose ZREM removes it (exactly one) deletes what it left (its route set and inbox).
 * - `{mqtt}:log`: stream, the control log every instance tails in order: hello / bye, route
 *   changes, retained messages set or removed. Bounded (MAXLEN ~ LOG_MAXLEN); an instance that
 *   falls behind past the trim (checked with XINFO each heartbeat) takes a snapshot again.
 * - `{mqtt}:routes:{instance}`: set, the route keys an instance holds (for an instance joining).
 * - `{mqtt}:retained`: hash, topic → encoded retained message.
 * - `mqtt:inbox:{instance}`: stream, what other instances route to this one (bounded).
 * - `mqtt:client:{client id}`: string, `instance \n owner`: which instance holds a client id
 *   (`instance \n owner \n from` while a stopping instance `from` hands its session over).
 * - `mqtt:session:{client id}`: hash (instance, record) of a persistent session: its owner,
 *   expiry and subscriptions (not its messages), and `mqtt:sessions:{instance}`: those client ids
 *   per instance. The instance that cleans up after a dead one takes each record (once) and
 *   adopts the session; a CONNECT whose takeover got no answer takes its own.
 * - `mqtt:away:{client id}`: list, the messages of a recorded session kept while its client is
 *   away (unacknowledged ones with their packet ids, then the queue), for whoever takes it up.
 * - `mqtt:will:{client id}`: hash (instance, will) of a live connection with a will, and
 *   `mqtt:wills:{instance}`: the set of those client ids per instance. An instance that dies
 *   leaves them; the one that cleans up after it takes each will out (once) and fires it.
 *
 * Every key of the control plane carries the hash tag `{mqtt}` so the multi-key writes (a route
 * change and its log entry, a retained message and its log entry) are one MULTI in one slot; the
 * control plane is written on SUBSCRIBE / UNSUBSCRIBE, retained publishes and joins, never per
 * reading. Inboxes and claims are tagged by instance and by client id: spread over the slots.
 *
 * Joining: note the log's last id, register, read the live instances' route sets and the
 * retained hash, then tail the log from the noted id: a change made during the snapshot is in
 * the log after that id and applied again, in order, after it (each entry sets a final state).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { backoffDelay } from '../../util/backoff.ts';
import type { ClaimResult, MqttShareStore, ShareHandlers, ShareLogEntry } from '../mqtt-share.ts';
import { compareIds } from '../reject-fields.ts';
import { createRedis, type RedisClient, type RedisConnectionOptions } from './connection.ts';
import { connected } from '../../util/redis-connected.ts';

const HEARTBEAT_MS = 1000;
const LOG_MAXLEN = 100_000;
const INBOX_MAXLEN = 100_000;
/** How long a blocking read waits before it reads again (it must stay under the command timeout). */
const BLOCK_MS = 1000;
const READ_COUNT = 512;
/** What an inbox or a route set of an instance outlives its last heartbeat by, should nobody clean up. */
const ORPHAN_TTL_MS = 60_000;

const K = {
  instances: '{mqtt}:instances',
  log: '{mqtt}:log',
  routes: (i: string) => `{mqtt}:routes:${i}`,
  retained: '{mqtt}:retained',
  inbox: (i: string) => `mqtt:inbox:{${i}}`,
  client: (id: string) => `mqtt:client:{${id}}`,
  will: (id: string) => `mqtt:will:{${id}}`,
  wills: (i: string) => `mqtt:wills:{${i}}`,
  session: (id: string) => `mqtt:session:{${id}}`,
  away: (id: string) => `mqtt:away:{${id}}`,
  sessions: (i: string) => `mqtt:sessions:{${i}}`,
};

/** Deletes a will only while this instance (ARGV[1]) holds it; returns it (taken), or nil. */
const TAKE_WILL = `
if redis.call('HGET', KEYS[1], 'i') ~= ARGV[1] then return false end
local d = redis.call('HGET', KEYS[1], 'd')
redis.call('DEL', KEYS[1])
return d`;

/** A persistent session's record, taken by this instance (ARGV[2]) only while instance ARGV[1] holds it; returns it and its key's PTTL, or nil. */
const TAKE_SESSION = `
if redis.call('HGET', KEYS[1], 'i') ~= ARGV[1] then return false end
redis.call('HSET', KEYS[1], 'i', ARGV[2])
return {redis.call('HGET', KEYS[1], 'd'), redis.call('PTTL', KEYS[1])}`;

/** Deletes a session record only while this instance (ARGV[1]) holds it. */
const DROP_SESSION = `
if redis.call('HGET', KEYS[1], 'i') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * A claim is `instance \n owner`, or `instance \n owner \n from` while `from` (a stopping
 * instance) hands the session to `instance` (MOVE). claimOf(value) → instance, owner, from ('').
 */
const CLAIM_OF = `
local function claimOf(v)
  local a = string.find(v, '\\n', 1, true)
  local rest = string.sub(v, a + 1)
  local b = string.find(rest, '\\n', 1, true)
  if b then return string.sub(v, 1, a - 1), string.sub(rest, 1, b - 1), string.sub(rest, b + 1) end
  return string.sub(v, 1, a - 1), rest, ''
end
`;

/** Claim a client id: refused while an identity other than ARGV[2] holds it, unless ARGV[3] = '1'. Returns {claimed, previous instance, from}. */
const CLAIM = `${CLAIM_OF}
local v = redis.call('GET', KEYS[1])
local prev, owner, from = '', '', ''
if v then
  prev, owner, from = claimOf(v)
  if ARGV[3] ~= '1' and owner ~= ARGV[2] then return {0, prev, from} end
end
redis.call('SET', KEYS[1], ARGV[1] .. '\\n' .. ARGV[2])
return {1, prev, from}`;

/** Moves a claim this instance (ARGV[1]) holds to ARGV[2], noting where it comes from; 1 if moved. */
const MOVE = `${CLAIM_OF}
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local instance, owner = claimOf(v)
if instance ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2] .. '\\n' .. owner .. '\\n' .. ARGV[1])
return 1`;

/** A claim moved to this instance (ARGV[1]) forgets where it came from: a takeover now comes here directly. */
const SETTLE = `${CLAIM_OF}
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local instance, owner, from = claimOf(v)
if instance ~= ARGV[1] or from == '' then return 0 end
redis.call('SET', KEYS[1], instance .. '\\n' .. owner)
return 1`;

/** Deletes a claim only while this instance holds it. */
const RELEASE = `
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. '\\n' then redis.call('DEL', KEYS[1]) end
return 0`;

type Entry = [Buffer, Buffer[]];

export class RedisMqttShare implements MqttShareStore {
  readonly instance = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  readonly #live = new Set<string>([this.instance]);
  readonly #cmd: RedisClient;
  readonly #logReader: RedisClient;
  readonly #inboxReader: RedisClient;
  readonly #log: Logger;
  #h: ShareHandlers | undefined;
  #logId = '0-0';
  #inboxId = '0-0';
  #timer: NodeJS.Timeout | undefined;
  #stopping = false;
  #beating = false;

  /** An instance that has not renewed its registration for this long is gone (MQTT_INSTANCE_TIMEOUT_MS). */
  readonly #ttlMs: number;

  constructor(o: RedisConnectionOptions, log: Logger, instanceTimeoutMs = 5000) {
    this.#ttlMs = instanceTimeoutMs;
    this.#log = log.child({ part: 'mqtt-share' });
    this.#cmd = createRedis(o, 'neurobuild-ingest-mqtt');
    // blocking readers: their command timeout covers the block
    const reader = { ...o, commandTimeoutMs: o.commandTimeoutMs + BLOCK_MS };
    this.#logReader = createRedis(reader, 'neurobuild-ingest-mqtt-log');
    this.#inboxReader = createRedis(reader, 'neurobuild-ingest-mqtt-inbox');
    for (const r of [this.#cmd, this.#logReader, this.#inboxReader]) r.on('error', () => {});
    this.#cmd.defineCommand('mqttClaim', { numberOfKeys: 1, lua: CLAIM });
    this.#cmd.defineCommand('mqttRelease', { numberOfKeys: 1, lua: RELEASE });
    this.#cmd.defineCommand('mqttMove', { numberOfKeys: 1, lua: MOVE });
    this.#cmd.defineCommand('mqttSettle', { numberOfKeys: 1, lua: SETTLE });
    this.#cmd.defineCommand('mqttTakeWill', { numberOfKeys: 1, lua: TAKE_WILL });
    this.#cmd.defineCommand('mqttTakeSession', { numberOfKeys: 1, lua: TAKE_SESSION });
    this.#cmd.defineCommand('mqttDropSession', { numberOfKeys: 1, lua: DROP_SESSION });
  }

  get live(): ReadonlySet<string> {
    return this.#live;
  }

  /**
   * Joins (first attempt awaited); while Redis cannot be reached it goes on trying in the
   * background, and the instance serves as an island meanwhile.
   */
  async start(h: ShareHandlers): Promise<void> {
    this.#h = h;
    await Promise.allSettled([connected(this.#cmd), connected(this.#logReader), connected(this.#inboxReader)]);
    for (let attempt = 1; !this.#stopping; attempt++) {
      try {
        await this.#join();
        break;
      } catch (err) {
        if (attempt === 1) this.#log.warn({ err }, 'joining the shared MQTT state failed: serving MQTT on this instance alone until Redis answers');
        const retry = new Promise((resolve) => setTimeout(resolve, backoffDelay({ firstMs: 200, maxMs: 2000, jitter: 0.5 }, attempt)));
        // the first failure does not hold up the start; the following attempts run in the background
        if (attempt === 1) {
          void retry.then(() => this.#retryJoin(2));
          return;
        }
        await retry;
      }
    }
    this.#begin();
  }

  async #retryJoin(attempt: number): Promise<void> {
    for (; !this.#stopping; attempt++) {
      try {
        await this.#join();
        this.#log.info('joined the shared MQTT state');
        this.#h!.rejoined();
        return this.#begin();
      } catch {
        await new Promise((resolve) => setTimeout(resolve, backoffDelay({ firstMs: 200, maxMs: 2000, jitter: 0.5 }, attempt)));
      }
    }
  }

  /** Tails the log and the inbox, and beats. */
  #begin(): void {
    void this.#tail(this.#logReader, K.log, () => this.#logId, (entries) => this.#onLog(entries));
    void this.#tail(this.#inboxReader, K.inbox(this.instance), () => this.#inboxId, (entries) => this.#onInbox(entries));
    this.#timer = setInterval(() => void this.#heartbeat(), HEARTBEAT_MS);
    this.#timer.unref();
  }

  /** Registers, takes the snapshot and notes where the log is to be read from. */
  async #join(): Promise<void> {
    const last = (await this.#cmd.xrevrange(K.log, '+', '-', 'COUNT', 1))[0];
    this.#logId = last?.[0] ?? '0-0';
    await this.#cmd.zadd(K.instances, Date.now() + this.#ttlMs, this.instance);
    await this.#cmd.xadd(K.log, 'MAXLEN', '~', LOG_MAXLEN, '*', 'k', 'hello', 'i', this.instance);
    const routes = new Map<string, string[]>();
    for (const i of await this.#cmd.zrangebyscore(K.instances, Date.now(), '+inf')) {
      this.#live.add(i);
      if (i !== this.instance) routes.set(i, await this.#members(K.routes(i)));
    }
    this.#h!.snapshot({ routes, retained: await this.#retained() });
  }

  async #members(key: string): Promise<string[]> {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.#cmd.sscan(key, cursor, 'COUNT', 1000);
      cursor = next;
      out.push(...keys);
    } while (cursor !== '0');
    return out;
  }

  async #retained(): Promise<Buffer[]> {
    const out: Buffer[] = [];
    let cursor = '0';
    do {
      const [next, pairs] = await this.#cmd.hscanBuffer(K.retained, cursor, 'COUNT', 1000);
      cursor = next.toString();
      for (let i = 1; i < pairs.length; i += 2) out.push(pairs[i]!);
    } while (cursor !== '0');
    return out;
  }

  /** Reads `key` from the id `from()` gives, forever, handing each batch to `apply` (which moves the id on). */
  async #tail(r: RedisClient, key: string, from: () => string, apply: (entries: Entry[]) => void): Promise<void> {
    let failures = 0;
    while (!this.#stopping) {
      try {
        const reply = (await r.xreadBuffer('COUNT', READ_COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', key, from())) as [Buffer, Entry[]][] | null;
        failures = 0;
        if (reply !== null) apply(reply[0]![1]);
      } catch (err) {
        if (this.#stopping) return;
        if (failures++ === 0) this.#log.warn({ err, key }, 'reading the shared MQTT state failed: retrying');
        await new Promise((resolve) => setTimeout(resolve, backoffDelay({ firstMs: 100, maxMs: 2000, jitter: 0.5 }, failures)));
      }
    }
  }

  #onLog(entries: Entry[]): void {
    for (const [id, fields] of entries) {
      this.#logId = id.toString();
      const f = fieldsOf(fields);
      const instance = f.i?.toString() ?? '';
      const kind = f.k?.toString();
      let e: ShareLogEntry | undefined;
      try {
        if (kind === 'hello') {
          this.#live.add(instance);
          e = { kind, instance };
        } else if (kind === 'leaving') e = { kind, instance }; else if (kind === 'bye') {
          this.#gone(instance);
          continue;
        } else if (kind === 'routes') {
          const d = JSON.parse(f.d!.toString()) as { a: string[]; r: string[] };
          e = { kind, instance, add: d.a, remove: d.r };
        } else if (kind === 'resync') e = { kind, instance, keys: JSON.parse(f.d!.toString()) as string[] };
        else if (kind === 'retained') e = { kind, instance, topic: f.t!.toString(), message: f.d !== undefined && f.d.length > 0 ? f.d : undefined };
      } catch (err) {
        this.#log.warn({ err, id: this.#logId }, 'unreadable entry in the shared MQTT log: skipped');
      }
      if (e !== undefined) this.#h!.log(e);
    }
  }

  #onInbox(entries: Entry[]): void {
    for (const [id, fields] of entries) {
      this.#inboxId = id.toString();
      const d = fieldsOf(fields).b;
      if (d !== undefined) this.#h!.inbox(d);
    }
  }

  #gone(instance: string): void {
    if (instance === this.instance || !this.#live.delete(instance)) return;
    this.#h!.gone(instance);
  }

  async #heartbeat(): Promise<void> {
    if (this.#beating || this.#stopping) return;
    this.#beating = true;
    try {
      const now = Date.now();
      const added = await this.#cmd.zadd(K.instances, now + this.#ttlMs, this.instance);
      await this.#cmd.pexpire(K.inbox(this.instance), ORPHAN_TTL_MS);
      await this.#cmd.pexpire(K.routes(this.instance), ORPHAN_TTL_MS);
      await this.#cmd.pexpire(K.wills(this.instance), ORPHAN_TTL_MS);
      await this.#cmd.pexpire(K.sessions(this.instance), ORPHAN_TTL_MS);
      if (added === 1) {
        // our registration had lapsed: the others forgot our routes
        this.#log.warn({ instance: this.instance }, 'this instance had been taken for gone: announcing its MQTT routes again');
        await this.#cmd.xadd(K.log, 'MAXLEN', '~', LOG_MAXLEN, '*', 'k', 'hello', 'i', this.instance);
        this.#h!.rejoined();
      }
      const scores = await this.#cmd.zrange(K.instances, 0, -1, 'WITHSCORES');
      const seen = new Set<string>();
      for (let i = 0; i < scores.length; i += 2) {
        const inst = scores[i]!;
        if (Number(scores[i + 1]) >= now) {
          seen.add(inst);
          this.#live.add(inst);
          continue;
        }
        // exactly one instance removes it, and cleans up after it
        if ((await this.#cmd.zrem(K.instances, inst)) === 1) {
          this.#log.warn({ instance: inst }, 'an instance missed its heartbeats: forgetting its MQTT routes');
          await this.#cmd.del(K.routes(inst));
          await this.#cmd.del(K.inbox(inst));
          await this.#cmd.xadd(K.log, 'MAXLEN', '~', LOG_MAXLEN, '*', 'k', 'bye', 'i', inst);
          await this.#reapWills(inst);
          await this.#reapSessions(inst);
        }
      }
      for (const inst of [...this.#live]) if (!seen.has(inst) && inst !== this.instance) this.#gone(inst);
      await this.#checkLogGap();
    } catch (err) {
      this.#log.warn({ err }, 'shared MQTT state heartbeat failed');
    } finally {
      this.#beating = false;
    }
  }

  /** Takes the wills a dead instance left, each only if still its own, and hands them over. */
  async #reapWills(instance: string): Promise<void> {
    const wills: { clientId: string; will: Buffer }[] = [];
    for (const clientId of await this.#members(K.wills(instance))) {
      const will = await this.#takeWill(clientId, instance);
      if (will !== null) wills.push({ clientId, will });
    }
    await this.#cmd.del(K.wills(instance));
    if (wills.length > 0) this.#h!.orphanedWills(instance, wills);
  }

  /** Hands over the client ids of the persistent sessions a dead instance recorded (their records are taken one by one, see takeSession). */
  async #reapSessions(instance: string): Promise<void> {
    const ids = await this.#members(K.sessions(instance));
    await this.#cmd.del(K.sessions(instance));
    if (ids.length > 0) this.#h!.orphanedSessions(instance, ids);
  }

  takeSession(clientId: string, from: string): Promise<[Buffer, number] | null> {
    return (this.#cmd as unknown as { mqttTakeSessionBuffer(k: string, from: string, to: string): Promise<[Buffer, number] | null> }).mqttTakeSessionBuffer(K.session(clientId), from, this.instance);
  }

  async saveSession(clientId: string, record: Buffer, expiresAt: number | undefined, index: boolean): Promise<void> {
    const key = K.session(clientId);
    const m = this.#cmd.multi().hset(key, 'i', this.instance, 'd', record);
    if (expiresAt === undefined) m.persist(key);
    else m.pexpireat(key, Math.max(Date.now() + 1, expiresAt));
    await m.exec();
    if (index) await this.#cmd.sadd(K.sessions(this.instance), clientId);
  }

  async touchSession(clientId: string, expiresAt: number | undefined): Promise<void> {
    const key = K.session(clientId);
    if (expiresAt === undefined) await this.#cmd.persist(key);
    else await this.#cmd.pexpireat(key, Math.max(Date.now() + 1, expiresAt));
  }

  async dropSession(clientId: string, forget: boolean): Promise<void> {
    if (!forget) await (this.#cmd as unknown as { mqttDropSession(k: string, i: string): Promise<number> }).mqttDropSession(K.session(clientId), this.instance);
    await this.#cmd.srem(K.sessions(this.instance), clientId);
  }

  async replaceAway(clientId: string, entries: readonly Buffer[], expiresAt: number | undefined): Promise<void> {
    const key = K.away(clientId);
    const m = this.#cmd.multi().del(key);
    if (entries.length > 0) {
      m.rpush(key, ...entries);
      if (expiresAt !== undefined) m.pexpireat(key, Math.max(Date.now() + 1, expiresAt));
    }
    await m.exec();
  }

  async appendAway(clientId: string, entries: readonly Buffer[], expiresAt: number | undefined): Promise<void> {
    const key = K.away(clientId);
    const m = this.#cmd.multi().rpush(key, ...entries);
    if (expiresAt !== undefined) m.pexpireat(key, Math.max(Date.now() + 1, expiresAt));
    await m.exec();
  }

  readAway(clientId: string): Promise<Buffer[]> {
    return this.#cmd.lrangeBuffer(K.away(clientId), 0, -1);
  }

  #takeWill(clientId: string, instance: string): Promise<Buffer | null> {
    return (this.#cmd as unknown as { mqttTakeWillBuffer(k: string, i: string): Promise<Buffer | null> }).mqttTakeWillBuffer(K.will(clientId), instance);
  }

  async saveWill(clientId: string, will: Buffer): Promise<void> {
    await this.#cmd.hset(K.will(clientId), 'i', this.instance, 'd', will);
    await this.#cmd.sadd(K.wills(this.instance), clientId);
  }

  async dropWill(clientId: string): Promise<void> {
    await this.#takeWill(clientId, this.instance);
    await this.#cmd.srem(K.wills(this.instance), clientId);
  }

  async holderOf(clientId: string): Promise<string | undefined> {
    const v = await this.#cmd.get(K.client(clientId));
    return v === null ? undefined : v.slice(0, v.indexOf('\n'));
  }

  /** Whether entries we have not read were trimmed off the log: then start again from a snapshot. */
  async #checkLogGap(): Promise<void> {
    const info = (await this.#cmd.xinfo('STREAM', K.log)) as unknown[];
    const i = info.indexOf('max-deleted-entry-id');
    const deleted = i >= 0 ? String(info[i + 1]) : '0-0';
    if (compareIds(deleted, this.#logId) <= 0) return;
    this.#log.warn({ read: this.#logId, trimmed: deleted }, 'the shared MQTT log was trimmed past what this instance had read: taking a snapshot again');
    await this.#join();
  }

  async changeRoutes(add: readonly string[], remove: readonly string[]): Promise<void> {
    const key = K.routes(this.instance);
    const m = this.#cmd.multi();
    if (add.length > 0) m.sadd(key, ...add);
    if (remove.length > 0) m.srem(key, ...remove);
    m.xadd(K.log, 'MAXLEN', '~', LOG_MAXLEN, '*', 'k', 'routes', 'i', this.instance, 'd', JSON.stringify({ a: add, r: remove }));
    await m.exec();
  }

  async resyncRoutes(keys: readonly string[]): Promise<void> {
    const key = K.routes(this.instance);
    const m = this.#cmd.multi().del(key);
    if (keys.length > 0) m.sadd(key, ...keys);
    m.xadd(K.log, 'MAXLEN', '~', LOG_MAXLEN, '*', 'k', 'resync', 'i', this.instance, 'd', JSON.stringify(keys));
    await m.exec();
  }

  async send(instance: string, data: Buffer): Promise<void> {
    await this.#cmd.xadd(K.inbox(instance), 'MAXLEN', '~', INBOX_MAXLEN, '*', 'b', data);
  }

  async claim(clientId: string, owner: string, force = false): Promise<ClaimResult> {
    const [ok, prev, from] = await (this.#cmd as unknown as { mqttClaim(k: string, i: string, o: string, f: string): Promise<[number, string, string]> }).mqttClaim(
      K.client(clientId),
      this.instance,
      owner,
      force ? '1' : '0',
    );
    if (ok !== 1) return { claimed: false, instance: prev };
    return { claimed: true, previous: prev === '' ? undefined : prev, ...(from !== '' ? { from } : {}) };
  }

  async move(clientIds: readonly string[], to: readonly string[], holder = this.instance): Promise<boolean[]> {
    // not a pipeline: on Cluster the claims live in different slots; sent without waiting all the same
    const c = this.#cmd as unknown as { mqttMove(k: string, i: string, to: string): Promise<number> };
    return Promise.all(clientIds.map((id, i) => c.mqttMove(K.client(id), holder, to[i]!).then((r) => r === 1, () => false)));
  }

  async settle(clientIds: readonly string[]): Promise<void> {
    const c = this.#cmd as unknown as { mqttSettle(k: string, i: string): Promise<number> };
    await Promise.all(clientIds.map((id) => c.mqttSettle(K.client(id), this.instance).catch(() => 0)));
  }

  async release(clientId: string): Promise<void> {
    await (this.#cmd as unknown as { mqttRelease(k: string, i: string): Promise<number> }).mqttRelease(K.client(clientId), this.instance);
  }

  async setRetained(topic: string, message: Buffer | undefined): Promise<void> {
    const m = this.#cmd.multi();
    if (message === undefined) m.hdel(K.retained, topic);
    else m.hset(K.retained, topic, message);
    m.xadd(K.log, 'MAXLEN', '~', LOG_MAXLEN, '*', 'k', 'retained', 'i', this.instance, 't', topic, 'd', message ?? '');
    await m.exec();
  }

  async leaving(): Promise<void> {
    await this.#cmd.xadd(K.log, 'MAXLEN', '~', LOG_MAXLEN, '*', 'k', 'leaving', 'i', this.instance);
  }

  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    clearInterval(this.#timer);
    try {
      await this.#cmd.zrem(K.instances, this.instance);
      // one key per DEL: on Cluster they live in different slots
      await this.#cmd.del(K.routes(this.instance));
      await this.#cmd.del(K.inbox(this.instance));
      await this.#cmd.xadd(K.log, 'MAXLEN', '~', LOG_MAXLEN, '*', 'k', 'bye', 'i', this.instance);
    } catch (err) {
      this.#log.warn({ err }, 'leaving the shared MQTT state failed: the others forget this instance when its heartbeat lapses');
    }
    await this.#cmd.quit().catch(() => {});
    for (const r of [this.#cmd, this.#logReader, this.#inboxReader]) r.disconnect();
  }
}

function fieldsOf(fields: Buffer[]): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i]!.toString()] = fields[i + 1]!;
  return out;
}
