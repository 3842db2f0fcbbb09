/**
 * Keys issued elsewhere (the platform's device-management service hands its devices opaque keys)
 * brought into this server's key store: the one rule for what an import may contain, shared by
 * `POST /api/v1/admin/keys/import` and the `keys import` command. A document is
 * `{"keys": [{"device_id": "...", "key": "...", "role"?: "device" | "subscriber"}, ...]}` (or the
 * bare array); every entry is checked before anything is stored, so a bad document stores nothing.
 * @module
 */
import { hashApiKey } from './api-key.ts';
import { MAX_FOREIGN_KEY_LENGTH, MIN_FOREIGN_KEY_LENGTH } from './authenticator.ts';
import type { KeyStore } from './key-store.ts';
import { identityIdRefusal, type Role } from './identity.ts';

export interface KeyImport {
  id: string;
  role: Role;
  key: string;
}

/** Most entries in one import (a document past it is split by the caller). */
export const MAX_IMPORT_ENTRIES = 10_000;
/** What a key may contain: printable ASCII without spaces (what fits an x-api-key header and an MQTT password alike). */
const KEY_CHARS = /^[\x21-\x7e]+$/;

/** The entries of an import document, or why it is refused (naming the entry). */
export function parseKeyImport(doc: unknown): KeyImport[] | string {
  const list = Array.isArray(doc) ? doc : doc !== null && typeof doc === 'object' ? (doc as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(list)) return 'expected {"keys": [{"device_id", "key", "role"?}, ...]}';
  if (list.length === 0) return 'no keys to import';
  if (list.length > MAX_IMPORT_ENTRIES) return `more than ${MAX_IMPORT_ENTRIES} keys in one import`;
  const out: KeyImport[] = [];
  const ids = new Set<string>();
  for (let i = 0; i < list.length; i++) {
    const e = list[i] as { device_id?: unknown; key?: unknown; role?: unknown } | null;
    const at = `keys[${i}]`;
    if (e === null || typeof e !== 'object') return `${at} must be an object`;
    const role = e.role ?? 'device';
    if (role !== 'device' && role !== 'subscriber') return `${at}.role must be "device" or "subscriber"`;
    const refused = identityIdRefusal(e.device_id, role, `${at}.device_id`);
    if (refused !== undefined) return refused;
    const key = e.key;
    if (typeof key !== 'string' || key.length < MIN_FOREIGN_KEY_LENGTH || key.length > MAX_FOREIGN_KEY_LENGTH || !KEY_CHARS.test(key)) {
      return `${at}.key must be ${MIN_FOREIGN_KEY_LENGTH} to ${MAX_FOREIGN_KEY_LENGTH} printable characters without spaces`;
    }
    const id = e.device_id as string;
    if (ids.has(id)) return `${at}.device_id ${id} appears twice (an identity has one key)`;
    ids.add(id);
    out.push({ id, role, key });
  }
  return out;
}

/**
 * Stores the entries hashed like this server's own keys (a few at a time: one Redis round trip
 * each), each replacing its identity's key; resolves with how many.
 */
export async function importKeys(store: KeyStore, entries: readonly KeyImport[]): Promise<number> {
  const created_at = new Date().toISOString();
  let next = 0;
  const worker = async () => {
    while (next < entries.length) {
      const e = entries[next++]!;
      await store.put(hashApiKey(e.key), { id: e.id, role: e.role, created_at });
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, entries.length) }, worker));
  return entries.length;
}
