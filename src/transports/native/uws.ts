/**
 * Loads the native uWebSockets.js addon for this platform and Node ABI directly, never the
 * package's silent JavaScript fallback (DESIGN §6): if the binary cannot load, the server
 * refuses to start instead of running many times slower without saying so.
 * @module
 */
import { createRequire } from 'node:module';
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
