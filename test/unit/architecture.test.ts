/**
 * Dependencies point inward (STYLE §1, DESIGN §5): the core never imports a transport,
 * the CLI or uWebSockets.js; only transports/ touch uWebSockets.js; only config/ reads
 * process.env; only transports/client-address/ reads a peer's address.
 */
import { describe, expect, test } from 'bun:test';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const SRC = join(import.meta.dir, '../../src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}
const all = files(SRC).map((p) => ({ path: relative(SRC, p), text: readFileSync(p, 'utf8') }));
const imports = (text: string) => [...text.matchAll(/from '([^']+)'/g)].map((m) => m[1]!);

describe('architecture', () => {
  test('architecture - core imports neither transports, cli nor uWebSockets.js', () => {
    const bad = all
      .filter((f) => f.path.startsWith('core/'))
      .flatMap((f) => imports(f.text).filter((i) => i.includes('transports/') || i.includes('/cli/') || i === 'uWebSockets.js').map((i) => `${f.path} → ${i}`));
    expect(bad).toEqual([]);
  });
  test('architecture - queue backends do not import transports or the pipeline', () => {
    const bad = all
      .filter((f) => f.path.startsWith('queue/'))
      .flatMap((f) => imports(f.text).filter((i) => i.includes('transports/') || i.includes('pipeline')).map((i) => `${f.path} → ${i}`));
    expect(bad).toEqual([]);
  });
  test('architecture - queue/ imports nothing of core/ (core depends on the queue interface, never the reverse)', () => {
    const bad = all
      .filter((f) => f.path.startsWith('queue/'))
      .flatMap((f) => imports(f.text).filter((i) => /(^|\/)core\//.test(i)).map((i) => `${f.path} → ${i}`));
    expect(bad).toEqual([]);
  });
  test('architecture - auth/ depends only on the core error types and the device-id rule, on nothing else of the server', () => {
    const allowed = /^\.\.\/core\/(errors|device-id)\.ts$|^\.\.?\//;
    const bad = all
      .filter((f) => f.path.startsWith('auth/'))
      .flatMap((f) => imports(f.text).filter((i) => i.startsWith('.')).filter((i) => /(transports|queue|consumer|cli|config|metrics|log)\//.test(i) || (i.includes('core/') && !allowed.test(i))).map((i) => `${f.path} → ${i}`));
    expect(bad).toEqual([]);
  });
  test('architecture - main.ts only dispatches: configuration checks live in config/, nothing of transports/ is imported', () => {
    const main = all.find((f) => f.path === 'main.ts')!;
    expect(imports(main.text).filter((i) => i.includes('transports/'))).toEqual([]);
  });
  test('architecture - util/ is a leaf: it imports nothing of the server', () => {
    const bad = all
      .filter((f) => f.path.startsWith('util/'))
      .flatMap((f) => imports(f.text).filter((i) => i.startsWith('.')).map((i) => `${f.path} → ${i}`));
    expect(all.some((f) => f.path.startsWith('util/'))).toBe(true);
    expect(bad).toEqual([]);
  });
  test('architecture - only transports/ load uWebSockets.js', () => {
    const users = all.filter((f) => /['"]uWebSockets\.js/.test(f.text)).map((f) => f.path);
    expect(users.length).toBeGreaterThan(0);
    expect(users.filter((p) => !p.startsWith('transports/'))).toEqual([]);
  });
  test('architecture - only transports/client-address/ reads a peer\'s address (one rule for TRUSTED_PROXIES, X-Forwarded-For and PROXY)', () => {
    const readers = all.filter((f) => /remoteAddress|getRemoteAddress|getProxiedRemoteAddress/.test(f.text)).map((f) => f.path);
    expect(readers.length).toBeGreaterThan(0);
    expect(readers.filter((p) => !p.startsWith('transports/client-address/'))).toEqual([]);
  });
  test('architecture - only config/ and main.ts read process.env', () => {
    const readers = all.filter((f) => f.text.includes('process.env')).map((f) => f.path);
    expect(readers.filter((p) => !p.startsWith('config/') && p !== 'main.ts')).toEqual([]);
  });
});
