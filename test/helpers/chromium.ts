/**
 * Debian's chromium for the browser tests, never a downloaded browser: CHROMIUM_PATH, else
 * /usr/bin/chromium; when it is missing and we run as root, `apt-get install chromium` (as
 * scripts/test.mjs and .ci/run do for the whole suite). Otherwise the reason, for a skip.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

function installed(): string | undefined {
  const given = process.env.CHROMIUM_PATH;
  if (given) return existsSync(given) ? given : undefined;
  return CANDIDATES.find((p) => existsSync(p));
}

let found: { path: string } | { reason: string } | undefined;

export function findChromium(): { path: string } | { reason: string } {
  if (found) return found;
  let path = installed();
  if (!path && !process.env.CHROMIUM_PATH) {
    if (process.getuid?.() !== 0) {
      return (found = { reason: 'chromium is not installed and this is not root: install Debian\'s chromium (sudo apt-get install -y chromium) or set CHROMIUM_PATH' });
    }
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', 'chromium']]) {
      const r = spawnSync('apt-get', args, { stdio: 'ignore', env, timeout: 600_000 });
      if (r.status !== 0) return (found = { reason: `chromium is not installed and apt-get ${args[0]} failed (${r.error?.message ?? `exit ${r.status}`})` });
    }
    path = installed();
  }
  return (found = path ? { path } : { reason: `no chromium at ${process.env.CHROMIUM_PATH ?? CANDIDATES.join(' or ')}` });
}
