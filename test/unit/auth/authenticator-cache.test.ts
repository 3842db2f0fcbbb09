/** The verified-credential cache: bounded by least-recent use, so a full cache evicts one entry, not all. */
import { describe, expect, test } from 'bun:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Authenticator } from '../../../src/auth/authenticator.ts';
import type { KeyRecord } from '../../../src/auth/key-store.ts';
import { FileKeyStore } from '../../../src/auth/stores/file-store.ts';

/** The embedded key store, counting the lookups that reach it. */
class CountingStore extends FileKeyStore {
  lookups = 0;
  override async lookup(hash: string): Promise<KeyRecord | undefined> {
    this.lookups++;
    return super.lookup(hash);
  }
}

describe('authenticator cache', () => {
  test('authenticator cache - past its size the least recently used key is evicted; the others stay cached', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nb-auth-cache-'));
    const store = new CountingStore(path.join(dir, 'keys.json'));
    await store.start();
    const auth = new Authenticator('api-key', store, undefined, 3);
    const keys = await Promise.all(['d1', 'd2', 'd3', 'd4'].map((id) => auth.issueKey(id, 'device')));
    const as = async (i: number) => {
      const who = await auth.authenticate({ apiKey: keys[i] });
      expect(who).toMatchObject({ id: `d${i + 1}` });
    };
    await as(0);
    await as(1);
    await as(2);
    expect(store.lookups).toBe(3);
    await as(0); // cached, and now the most recently used
    expect(store.lookups).toBe(3);
    await as(3); // a 4th entry: d2, the least recently used, goes
    expect(store.lookups).toBe(4);
    await as(0);
    await as(2);
    expect(store.lookups).toBe(4); // d1 and d3 stayed cached (clearing the whole map would lose them)
    await as(1);
    expect(store.lookups).toBe(5);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
