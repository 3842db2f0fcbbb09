// What a benchmark runs on: required command-line tools (installed with apt-get when possible),
// the machine and software versions (tools and npm packages), and the identity and freshness of
// the server bundle.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchName, fail } from './cli.mjs';
import { ROOT } from './paths.mjs';

function have(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

/** Makes sure `bin` is on PATH: installs Debian package `pkg` when run as root, else fail(). */
export function ensureTool(bin, pkg) {
  if (have(bin)) return;
  if (process.getuid?.() === 0 && have('apt-get')) {
    console.error(`${benchName()}: ${bin} missing, installing Debian package ${pkg}`);
    const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { stdio: 'inherit', timeout: 300_000 });
    let r = install();
    if (r.status !== 0) {
      spawnSync('apt-get', ['update'], { stdio: 'inherit', timeout: 300_000 });
      r = install();
    }
    if (have(bin)) return;
  }
  fail(`${bin} not found: install the Debian package with \`sudo apt-get install -y ${pkg}\``);
}

/** First line of a command's combined output (for version strings). */
export function firstLine(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0].trim();
}

/**
 * Cores, CPU model, memory, kernel, and the versions of node, redis-server and wrk.
 * @returns {{nproc: number, cpu: string, memGiB: string, kernel: string, node: string, redis: string, wrk: string}}
 */
export function machineInfo() {
  let cpu = 'unknown';
  try {
    cpu = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? cpu;
  } catch {
    /* not Linux */
  }
  const redisV = firstLine('redis-server', ['--version']).match(/v=(\S+)/)?.[1] ?? 'unknown';
  const wrkV = firstLine('wrk', ['-v']).match(/^wrk (\S+)/)?.[1] ?? 'unknown';
  return {
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    cpu,
    memGiB: (os.totalmem() / 2 ** 30).toFixed(1),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    redis: redisV,
    wrk: wrkV,
  };
}

/** Version of an installed npm package (from node_modules), or 'missing'. */
export function packageVersion(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return 'missing';
  }
}

function newestMtime(dir) {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Identity of a built bundle: short sha256, build time, and whether src/ has newer files.
 * fail()s when the bundle is missing.
 * @returns {{sha: string, built: string, stale: boolean}}
 */
export function bundleInfo(file) {
  if (!fs.existsSync(file)) fail(`${path.relative(ROOT, file)} is missing: run \`npm run bundle\` first`);
  const st = fs.statSync(file);
  const sha = createHash('sha256').update(fs.readFileSync(file)).digest('hex').slice(0, 12);
  let stale = false;
  try {
    stale = newestMtime(path.join(ROOT, 'src')) > st.mtimeMs;
  } catch {
    /* no src/ */
  }
  return { sha, built: st.mtime.toISOString(), stale };
}
