/**
 * API keys in Redis, shared by every instance: hash `{prefix}` (key hash → record JSON) and
 * hash `{prefix}:by-id` (id → key hash). A revocation or rotation is published on
 * `{prefix}:events` (`{id}` a rotation, `!{id}` a revocation: `!` is never in an id), so every
 * instance forgets the old key at once; when the subscription reconnects (messages may have been
 * missed) every cached key is forgotten. On Redis Cluster the prefix is given in braces
 * (`{api-keys}`), so that the hashes share a slot and a MULTI over them is legal.
 * @module
 */
import type { Cluster, Redis } from 'ioredis';
import type { KeyEventListener, KeyRecord, KeyStore } from '../key-store.ts';
import { connected } from '../../util/redis-connected.ts';

export class RedisKeyStore implements KeyStore {
  readonly kind = 'redis';
  readonly #cmd: Redis | Cluster;
  readonly #sub: Redis | Cluster;
  readonly #key: string;
  readonly #listeners: KeyEventListener[] = [];

  /** @param connect makes a new connection (one for commands, one for the subscription) */
  constructor(connect: (name: string) => Redis | Cluster, prefix: string) {
    this.#cmd = connect('neurobuild-ingest:auth');
    this.#sub = connect('neurobuild-ingest:auth-events');
    this.#key = prefix;
    this.#sub.on('message', (_channel: string, m: string) => (m.startsWith('!') ? this.#emit(m.slice(1), true) : this.#emit(m, false)));
    // '*' = forget everything: after a reconnect, revocations may have been missed
    this.#sub.on('ready', () => {
      this.#sub.subscribe(`${this.#key}:events`).catch(() => {});
      this.#emit('*', false);
    });
  }

  async start(): Promise<void> {
    // like the queue: unreachable at start is not fatal, lookups fail (401) until it is back
    await Promise.allSettled([connected(this.#cmd), connected(this.#sub)]);
  }

  async lookup(hash: string): Promise<KeyRecord | undefined> {
    const json = await this.#cmd.hget(this.#key, hash);
    return json ? (JSON.parse(json) as KeyRecord) : undefined;
  }

  async hashOf(id: string): Promise<string | undefined> {
    return (await this.#cmd.hget(`${this.#key}:by-id`, id)) ?? undefined;
  }

  async lookupId(id: string): Promise<KeyRecord | undefined> {
    const hash = await this.hashOf(id);
    return hash ? this.lookup(hash) : undefined;
  }

  async put(hash: string, record: KeyRecord): Promise<void> {
    const old = await this.hashOf(record.id);
    const m = this.#cmd.multi();
    if (old) m.hdel(this.#key, old);
    m.hset(this.#key, hash, JSON.stringify(record)).hset(`${this.#key}:by-id`, record.id, hash);
    if (old) m.publish(`${this.#key}:events`, record.id);
    await m.exec();
  }

  async revoke(id: string): Promise<boolean> {
    const old = await this.hashOf(id);
    const m = this.#cmd.multi();
    if (old) m.hdel(this.#key, old).hdel(`${this.#key}:by-id`, id);
    await m.hset(`${this.#key}:revoked`, id, String(Date.now())).publish(`${this.#key}:events`, `!${id}`).exec();
    return old !== undefined;
  }

  async revokedAt(id: string): Promise<number | undefined> {
    const v = await this.#cmd.hget(`${this.#key}:revoked`, id);
    return v ? Number(v) : undefined;
  }

  onRevoked(listener: KeyEventListener): void {
    this.#listeners.push(listener);
  }

  #emit(id: string, revoked: boolean): void {
    for (const l of this.#listeners) l(id, revoked);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.#cmd.quit(), this.#sub.quit()]);
    this.#cmd.disconnect();
    this.#sub.disconnect();
  }
}
