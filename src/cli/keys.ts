/**
 * `neurobuild-ingest keys import <file.json | ->`: API keys issued elsewhere (the platform's
 * device-management service) stored hashed in this configuration's key store (Redis with
 * REDIS_URL/REDIS_HOST, else API_KEYS_FILE), the same rule as POST /api/v1/admin/keys/import.
 * Running servers hear of each replaced key at once (Redis) and forget the old one.
 * Exit codes: 0 imported, 1 the store failed, 2 bad usage or a bad document (nothing stored).
 * @module
 */
import { readFileSync } from 'node:fs';
import { importKeys, parseKeyImport } from '../auth/key-import.ts';
import type { Config } from '../config/schema.ts';
import { createKeyStore } from './auth-setup.ts';
import { ConsumeUsageError } from './consume.ts';

export async function keys(config: Config, rest: readonly string[], out: (line: string) => void): Promise<number> {
  const [action, file, ...extra] = rest;
  if (action !== 'import' || file === undefined || extra.length > 0) throw new ConsumeUsageError('usage: keys import <file.json | -> (the document: {"keys": [{"device_id", "key", "role"?}, ...]})');
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file === '-' ? 0 : file, 'utf8'));
  } catch (err) {
    throw new ConsumeUsageError(`keys import: cannot read ${file === '-' ? 'stdin' : file} as JSON: ${(err as Error).message}`);
  }
  const entries = parseKeyImport(doc);
  if (typeof entries === 'string') throw new ConsumeUsageError(`keys import: nothing stored: ${entries}`);
  const store = createKeyStore(config);
  try {
    await store.start();
    const n = await importKeys(store, entries);
    out(`imported ${n} key${n === 1 ? '' : 's'} into ${store.kind === 'redis' ? `Redis (${config.API_KEYS_KEY})` : config.API_KEYS_FILE}`);
    return 0;
  } finally {
    await store.close();
  }
}
