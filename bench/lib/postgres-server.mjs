// A private, throw-away PostgreSQL cluster for a benchmark run (Debian's `postgresql` package):
// initdb into a temporary directory, the postgres binary on a free port on 127.0.0.1 with trust
// authentication and its socket in that directory; as root it runs as the `postgres` user
// (PostgreSQL refuses root). Durability settings stay at their defaults (fsync, synchronous_commit,
// full_page_writes on) unless `settings` say otherwise.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort, sleep, spawnLogged, stop, tail } from './processes.mjs';

const isRoot = process.getuid?.() === 0;

/** /usr/lib/postgresql/<newest version>/bin when it has initdb and postgres, else undefined. */
export function postgresBinDir() {
  const base = '/usr/lib/postgresql';
  if (!fs.existsSync(base)) return undefined;
  const versions = fs
    .readdirSync(base)
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  return versions.map((v) => path.join(base, v, 'bin')).find((d) => fs.existsSync(path.join(d, 'initdb')) && fs.existsSync(path.join(d, 'postgres')));
}

function idOf(flag, user) {
  const r = spawnSync('id', [flag, user], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : undefined;
}

/** [command, args] running `tool` of `bin`, as the postgres user when root. */
function command(bin, tool, args) {
  const p = path.join(bin, tool);
  return isRoot ? ['runuser', ['-u', 'postgres', '--', p, ...args]] : [p, args];
}

/**
 * Starts a cluster (log: <logDir>/postgres.log) with `settings` as `-c` options, creates database
 * `database`, and resolves once it answers. `close()` stops it (fast shutdown) and removes its
 * directory; on process exit an immediate shutdown is sent in any case.
 * @returns {Promise<{port: number, url: string, version: string, settings: Record<string, string>, postmasterPid: () => number, close: () => Promise<void>}>}
 */
export async function startPostgres(logDir, { database = 'bench', settings = {} } = {}) {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL is not installed (Debian: apt-get install -y postgresql)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nb-bench-pg-'));
  if (isRoot) {
    const uid = idOf('-u', 'postgres');
    const gid = idOf('-g', 'postgres');
    if (uid === undefined || gid === undefined) throw new Error('running as root without a postgres user to run PostgreSQL as');
    fs.chownSync(dir, uid, gid);
  }
  const data = path.join(dir, 'data');
  const [icmd, iargs] = command(bin, 'initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C']);
  const init = spawnSync(icmd, iargs, { encoding: 'utf8', timeout: 120_000 });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}${init.stdout}`);
  const version = spawnSync(path.join(bin, 'postgres'), ['--version'], { encoding: 'utf8' }).stdout.trim();

  const all = { listen_addresses: '127.0.0.1', unix_socket_directories: dir, ...settings };
  const log = path.join(logDir, 'postgres.log');
  let port;
  let proc;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    const [cmd, args] = command(bin, 'postgres', ['-D', data, '-p', String(port), ...Object.entries(all).flatMap(([k, v]) => ['-c', `${k}=${v}`])]);
    proc = spawnLogged(cmd, args, log, { PATH: process.env.PATH });
    const killOnExit = () => {
      try {
        const pid = Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
        if (pid > 0) process.kill(pid, 'SIGQUIT'); // immediate shutdown
      } catch {
        /* not running */
      }
    };
    process.once('exit', killOnExit);
    if (await answers(proc, port)) break;
    if (attempt >= 2 || !/Address already in use/.test(tail(log, 10))) throw new Error(`postgres did not start on 127.0.0.1:${port}:\n${tail(log)}`);
  }
  const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();

  const close = async () => {
    const [cmd, args] = command(bin, 'pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w', '-t', '60']);
    spawnSync(cmd, args, { stdio: 'ignore', timeout: 90_000 });
    await stop(proc, 5000);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const postmasterPid = () => Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return { port, url: `postgres://postgres@127.0.0.1:${port}/${database}`, version, settings: all, postmasterPid, close };
}

/** True once a connection succeeds (within 30 s); false when the process exited first. */
async function answers(proc, port) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) return false;
    const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`, connectionTimeoutMillis: 1000 });
    c.on('error', () => {});
    try {
      await c.connect();
      await c.query('SELECT 1');
      return true;
    } catch {
      /* not up yet */
    } finally {
      await c.end().catch(() => {});
    }
    await sleep(100);
  }
  return false;
}
