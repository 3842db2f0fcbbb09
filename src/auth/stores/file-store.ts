/**
 * API keys of the embedded default: kept in memory and in a JSON file (mode 0600, replaced
 * atomically on every change), so keys survive a restart. One process only.
 * @module
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { KeyEventListener, KeyRecord, KeyStore } from '../key-store.ts';

interface FileShape {
  keys: Record<string, KeyRecord>;
  revoked?: Record<string, number>;
}

export class FileKeyStore implements KeyStore {
  readonly kind = 'file';
  readonly #path: string;
  #keys = new Map<string, KeyRecord>();
  readonly #byId = new Map<string, string>();
  #revoked = new Map<string, number>();
  readonly #listeners: KeyEventListener[] = [];

  constructor(path: string) {
    this.#path = path;
  }

  async start(): Promise<void> {
    if (!existsSync(this.#path)) return;
    const data = JSON.parse(readFileSync(this.#path, 'utf8')) as FileShape;
    this.#keys = new Map(Object.entries(data.keys ?? {}));
    for (const [hash, r] of this.#keys) this.#byId.set(r.id, hash);
    this.#revoked = new Map(Object.entries(data.revoked ?? {}));
  }

  async lookup(hash: string): Promise<KeyRecord | undefined> {
    return this.#keys.get(hash);
  }

  async hashOf(id: string): Promise<string | undefined> {
    return this.#byId.get(id);
  }

  async lookupId(id: string): Promise<KeyRecord | undefined> {
    const hash = await this.hashOf(id);
    return hash ? this.lookup(hash) : undefined;
  }

  async put(hash: string, record: KeyRecord): Promise<void> {
    const old = this.#byId.get(record.id);
    if (old) this.#keys.delete(old);
    this.#keys.set(hash, record);
    this.#byId.set(record.id, hash);
    this.#save();
    if (old) this.#emit(record.id, false);
  }

  async revoke(id: string): Promise<boolean> {
    const old = this.#byId.get(id);
    if (old) this.#keys.delete(old);
    this.#byId.delete(id);
    this.#revoked.set(id, Date.now());
    this.#save();
    this.#emit(id, true);
    return old !== undefined;
  }

  async revokedAt(id: string): Promise<number | undefined> {
    return this.#revoked.get(id);
  }

  onRevoked(listener: KeyEventListener): void {
    this.#listeners.push(listener);
  }

  #emit(id: string, revoked: boolean): void {
    for (const l of this.#listeners) l(id, revoked);
  }

  #save(): void {
    const tmp = `${this.#path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ keys: Object.fromEntries(this.#keys), revoked: Object.fromEntries(this.#revoked) } satisfies FileShape, null, 1), { mode: 0o600 });
    renameSync(tmp, this.#path);
  }

  async close(): Promise<void> {}
}
