/**
 * A private PostgreSQL cluster per suite (Debian's `postgresql` package): initdb into a temp
 * directory, the postgres binary on a free port on 127.0.0.1 (trust authentication, socket in
 * the temp directory, fsync off), one database created, stopped and removed in dispose().
 * PostgreSQL refuses to run as root: as root it runs as the `postgres` user (runuser), in a
 * directory that user owns.
 *
 *   const why = postgresUnavailable();          // a reason to skip, or undefined
 *   const pg = await PostgresServer.start();    // pg.url → postgres://postgres@127.0.0.1:<port>/neurobuild
 *   await pg.query('SELECT count(*) FROM sensor_readings');
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './free-port.ts';
import { waitFor } from './wait.ts';

const isRoot = process.getuid?.() === 0;

/** /usr/lib/postgresql/<newest version>/bin, when it has initdb and postgres. */
function binDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const dir = join(base, v, 'bin');
    if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))) return dir;
  }
  return undefined;
}

function ids(user: string): { uid: number; gid: number } | undefined {
  const uid = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', user], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Why PostgreSQL cannot be started here (a reason to skip), or undefined when it can. */
export function postgresUnavailable(): string | undefined {
  if (!binDir()) return 'PostgreSQL is not installed (Debian: apt-get install -y postgresql; npm test installs it when run as root)';
  if (isRoot) {
    if (!ids('postgres')) return 'running as root without a postgres user to run PostgreSQL as';
    if (spawnSync('sh', ['-c', 'command -v runuser'], { stdio: 'ignore' }).status !== 0) return 'running as root without runuser (util-linux)';
  }
  return undefined;
}

export class PostgresServer {
  #proc: ChildProcess | undefined;
  readonly #pools = new Map<string, pg.Pool>();
  /** postgres -c settings on top of the defaults (given to start()). */
  #settings: Record<string, string> = {};

  private constructor(
    readonly bin: string,
    readonly dir: string,
    public port: number,
    readonly database: string,
  ) {}

  /** initdb, start, CREATE DATABASE `database`. Throws when postgresUnavailable() says why. */
  static async start(database = 'neurobuild', settings: Record<string, string> = {}): Promise<PostgresServer> {
    const why = postgresUnavailable();
    if (why) throw new Error(why);
    const dir = mkdtempSync(join(tmpdir(), 'nb-pg-'));
    if (isRoot) {
      const { uid, gid } = ids('postgres')!;
      chownSync(dir, uid, gid);
    }
    const s = new PostgresServer(binDir()!, dir, await freePort(), database);
    const init = s.#run('initdb', ['-D', s.dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C']);
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}${init.stdout}`);
    s.#settings = settings;
    // the free port can be taken between the check and the bind: a new one, twice at most
    for (let attempt = 0; ; attempt++) {
      try {
        await s.restart();
        break;
      } catch (err) {
        if (attempt >= 2 || !/Address already in use|could not create any TCP\/IP sockets/.test((err as Error).message)) throw err;
        s.port = await freePort();
      }
    }
    await s.query(`CREATE DATABASE ${database}`, [], 'postgres');
    return s;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  /** postgres://postgres@127.0.0.1:<port>/<db> (trust authentication). */
  url(db = this.database): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${db}`;
  }

  get running(): boolean {
    return this.#proc !== undefined && this.#proc.exitCode === null && this.#proc.signalCode === null;
  }

  /** The command as the postgres user when root. */
  #command(tool: string, args: string[]): [string, string[]] {
    const path = join(this.bin, tool);
    return isRoot ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
  }

  #run(tool: string, args: string[]) {
    const [cmd, argv] = this.#command(tool, args);
    return spawnSync(cmd, argv, { encoding: 'utf8', timeout: 60_000 });
  }

  /** Starts the server (again) on the same port and data directory; waits until it answers. */
  async restart(): Promise<void> {
    if (this.running) return;
    const settings = { listen_addresses: '127.0.0.1', unix_socket_directories: this.dir, fsync: 'off', full_page_writes: 'off', ...this.#settings };
    const args = ['-D', this.dataDir, '-p', String(this.port), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    const [cmd, argv] = this.#command('postgres', args);
    const proc = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    proc.stderr!.on('data', (d: Buffer) => (log = (log + d).slice(-4000)));
    this.#proc = proc;
    process.once('exit', () => this.#killPostmaster());
    // 'close': exited, and its stderr read to the end (the reason is in its last lines)
    const early = new Promise<never>((_, reject) => proc.once('close', (code) => reject(new Error(`postgres exited with ${code}: ${log}`))));
    early.catch(() => {});
    const up = waitFor(async () => {
      const c = new pg.Client({ connectionString: this.url('postgres'), connectionTimeoutMillis: 1000 });
      c.on('error', () => {});
      try {
        await c.connect();
        await c.query('SELECT 1');
        return true;
      } catch {
        return false;
      } finally {
        await c.end().catch(() => {});
      }
    }, 20_000, `postgres on ${this.port}`);
    await Promise.race([up, early]);
  }

  /** Stops the server: 'fast' (disconnects clients, clean) or 'immediate' (like a crash). */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.#endPools();
    if (!this.running) return;
    const proc = this.#proc!;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    const r = this.#run('pg_ctl', ['stop', '-D', this.dataDir, '-m', mode, '-w', '-t', '30']);
    if (r.status !== 0) this.#killPostmaster();
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  }

  #killPostmaster(): void {
    try {
      const pid = Number(readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (pid > 0) process.kill(pid, 'SIGQUIT');
    } catch {
      // not running
    }
  }

  /** A query on `db` (default: the suite's database) through a small pool kept until stop(). */
  async query<R extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params: unknown[] = [], db = this.database): Promise<R[]> {
    let pool = this.#pools.get(db);
    if (!pool) {
      pool = new pg.Pool({ connectionString: this.url(db), max: 2 });
      pool.on('error', () => {});
      this.#pools.set(db, pool);
    }
    return (await pool.query<R>(sql, params)).rows;
  }

  async #endPools(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.end().catch(() => {})));
  }

  /** Stops the server and removes its directory. */
  async dispose(): Promise<void> {
    await this.stop('fast');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
