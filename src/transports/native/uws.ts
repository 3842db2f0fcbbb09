/**
 * Loads the native uWebSockets.js addon for this platform and Node ABI directly, never the
 * package's silent JavaScript fallback (DESIGN §6): if the binary cannot load, the server
 * refuses to start instead of running many times slower without saying so.
 * @module
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type * as UWS from 'uWebSockets.js';

export type Uws = typeof UWS;

export class NativeUwsError extends Error {
  override name = 'NativeUwsError';
  readonly code = 'INGEST_ERR_UWS_NATIVE';
}

/** File name of the addon for this process: `uws_linux_x64_115.node` on Node 20 / x64. */
export function addonName(): string {
  return `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
}

let loaded: Uws | undefined;

export function loadUws(): Uws {
  if (loaded) return loaded;
  if (typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined') {
    throw new NativeUwsError('uWebSockets.js has no native build for Bun; run the server under Node.js 20');
  }
  const fromBinary = loadFromSingleExecutable();
  if (fromBinary) return (loaded = fromBinary);
  const req = createRequire(typeof __filename === 'string' ? __filename : import.meta.url);
  let path: string;
  try {
    path = join(dirname(req.resolve('uWebSockets.js/package.json')), 'binaries', addonName());
  } catch (err) {
    throw new NativeUwsError('uWebSockets.js is not installed (npm ci installs it)', { cause: err });
  }
  try {
    loaded = req(path) as Uws;
  } catch (err) {
    throw new NativeUwsError(
      `the native uWebSockets.js addon ${addonName()} does not load on Node ${process.version} ` +
        `(${(err as Error).message.split('\n')[0]}); refusing to run on its slow JavaScript fallback`,
      { cause: err },
    );
  }
  return loaded;
}

/** Asset name of the addon inside the single binary (scripts/build.mjs puts it there). */
export const SEA_ASSET = 'uws.node';

/**
 * Inside the single executable (Node SEA) the addon is an asset: written once to a file named
 * by its hash under the temporary directory, then loaded with process.dlopen. Undefined when
 * not running as a single executable.
 */
function loadFromSingleExecutable(): Uws | undefined {
  let sea: { isSea(): boolean; getRawAsset(key: string): ArrayBuffer };
  try {
    sea = createRequire(typeof __filename === 'string' ? __filename : import.meta.url)('node:sea');
  } catch {
    return undefined; // Node without SEA support
  }
  if (!sea.isSea()) return undefined;
  try {
    const bytes = new Uint8Array(sea.getRawAsset(SEA_ASSET));
    const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
    const dir = join(tmpdir(), `neurobuild-ingest-${process.getuid?.() ?? 'u'}`);
    const file = join(dir, `uws-${hash}-${addonName()}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // only a directory of our own that nobody else can write to may hold code we load
    const st = statSync(dir);
    if ((process.getuid && st.uid !== process.getuid()) || (st.mode & 0o022) !== 0) {
      throw new Error(`${dir} is not a private directory of this user`);
    }
    if (!existsSync(file)) {
      const partial = `${file}.${process.pid}`;
      writeFileSync(partial, bytes, { mode: 0o500 });
      renameSync(partial, file);
    }
    const m = { exports: {} as Uws };
    process.dlopen(m, file);
    return m.exports;
  } catch (err) {
    throw new NativeUwsError(`the uWebSockets.js addon inside this binary does not load (${(err as Error).message.split('\n')[0]}); refusing to run without it`, { cause: err });
  }
}
