/**
 * Where API keys live: Redis (shared by every instance) with the Redis backend, a JSON file
 * with the embedded one. Keys are stored only as hashes.
 * @module
 */
import type { Role } from './identity.ts';

export interface KeyRecord {
  id: string;
  role: Role;
  created_at: string;
}

export type KeyEventListener = (id: string, revoked: boolean) => void;

export interface KeyStore {
  readonly kind: 'redis' | 'file';
  start(): Promise<void>;
  /** The record of a key hash, if any. */
  lookup(hash: string): Promise<KeyRecord | undefined>;
  /** The identity's current key hash, if it has one. */
  hashOf(id: string): Promise<string | undefined>;
  /** The record of the identity's current key, if it has one. */
  lookupId(id: string): Promise<KeyRecord | undefined>;
  /** Stores `hash` as the one key of `record.id`, replacing (and revoking) its previous key. */
  put(hash: string, record: KeyRecord): Promise<void>;
  /**
   * Removes the key of `id` and records the time, so tokens issued before it are refused too;
   * true when there was a key. Every instance hears of it (onRevoked).
   */
  revoke(id: string): Promise<boolean>;
  /** When `id` was last revoked (ms), if ever. */
  revokedAt(id: string): Promise<number | undefined>;
  /**
   * Called (on every instance) when a key of `id` is revoked (`revoked` true: the identity is
   * gone) or replaced (false: its old key is). `'*'`: forget every cached key (events may have
   * been missed).
   */
  onRevoked(listener: KeyEventListener): void;
  close(): Promise<void>;
}
