/**
 * A private InfluxDB 1.x per suite (Debian's `influxdb` package, 1.6.7 on Debian 12): `influxd`
 * with a generated config: meta, data and WAL directories in a temp directory, the HTTP API on
 * a free 127.0.0.1 port, the RPC (backup) bind-address on another, reporting disabled, and
 * every background service off (monitor store, retention, shard precreation, continuous
 * queries, subscriber). Stopped and removed in dispose().
 *
 *   const why = influxUnavailable();              // a reason to skip, or undefined
 *   const influx = await InfluxServer.start();    // influx.url → http://127.0.0.1:<port>
 *   await influx.query('SELECT * FROM pir_motion', 'sensor_data');
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';
import { waitFor } from './wait.ts';

/** Why influxd cannot be started here (a reason to skip), or undefined when it can. */
export function influxUnavailable(): string | undefined {
  if (spawnSync('sh', ['-c', 'command -v influxd'], { stdio: 'ignore' }).status !== 0) return 'influxd is not installed (Debian: apt-get install -y influxdb; npm test installs it when run as root)';
  return undefined;
}

/** One series of a /query answer. */
export interface Series {
  name: string;
  columns: string[];
  values: unknown[][];
  tags?: Record<string, string>;
}

export class InfluxServer {
  #proc: ChildProcess | undefined;
  #log = '';

  private constructor(
    readonly dir: string,
    public port: number,
    public rpcPort: number,
  ) {}

  /** Starts influxd on free ports; throws when influxUnavailable() says why. */
  static async start(): Promise<InfluxServer> {
    const why = influxUnavailable();
    if (why) throw new Error(why);
    const dir = mkdtempSync(join(tmpdir(), 'nb-influx-'));
    const s = new InfluxServer(dir, await freePort(), await freePort());
    // the free ports can be taken between the check and the bind: new ones, twice at most
    for (let attempt = 0; ; attempt++) {
      try {
        await s.#start();
        return s;
      } catch (err) {
        if (attempt >= 2 || !/address already in use/i.test((err as Error).message)) throw err;
        s.port = await freePort();
        s.rpcPort = await freePort();
      }
    }
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The log influxd wrote so far (its last 8 KB). */
  get log(): string {
    return this.#log;
  }

  #config(): string {
    const d = (p: string) => JSON.stringify(join(this.dir, p));
    return [
      'reporting-disabled = true',
      `bind-address = "127.0.0.1:${this.rpcPort}"`,
      '[meta]',
      `  dir = ${d('meta')}`,
      '  logging-enabled = false',
      '[data]',
      `  dir = ${d('data')}`,
      `  wal-dir = ${d('wal')}`,
      '  query-log-enabled = false',
      '[http]',
      `  bind-address = "127.0.0.1:${this.port}"`,
      '  auth-enabled = false',
      '  log-enabled = false',
      '  pprof-enabled = false',
      '[monitor]',
      '  store-enabled = false',
      '[retention]',
      '  enabled = false',
      '[shard-precreation]',
      '  enabled = false',
      '[continuous_queries]',
      '  enabled = false',
      '[subscriber]',
      '  enabled = false',
      '[logging]',
      '  level = "warn"',
      '  suppress-logo = true',
      '',
    ].join('\n');
  }

  async #start(): Promise<void> {
    const conf = join(this.dir, 'influxdb.conf');
    writeFileSync(conf, this.#config());
    this.#log = '';
    const proc = spawn('influxd', ['run', '-config', conf], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', HOME: this.dir } });
    const keep = (d: Buffer) => (this.#log = (this.#log + d).slice(-8000));
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    this.#proc = proc;
    process.once('exit', () => proc.kill('SIGKILL'));
    const early = new Promise<never>((_, reject) => proc.once('exit', (code) => setTimeout(() => reject(new Error(`influxd exited with ${code}: ${this.#log}`)), 50)));
    early.catch(() => {});
    const up = waitFor(async () => (await fetch(`${this.url}/ping`, { signal: AbortSignal.timeout(1000) })).status === 204, 30_000, `influxd on ${this.port}`);
    await Promise.race([up, early]);
  }

  get running(): boolean {
    return this.#proc !== undefined && this.#proc.exitCode === null && this.#proc.signalCode === null;
  }

  /** Stops influxd (SIGTERM, SIGKILL after 10 s). */
  async stop(): Promise<void> {
    if (!this.running) return;
    const proc = this.#proc!;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** Starts it again on the same ports and directories. */
  async restart(): Promise<void> {
    if (!this.running) await this.#start();
  }

  /** An InfluxQL statement (POST /query; times as RFC 3339 text, exact to the ns); the series of its first result. @throws Error with InfluxDB's error */
  async query(q: string, db?: string): Promise<Series[]> {
    const params = new URLSearchParams({ q });
    if (db) params.set('db', db);
    const res = await fetch(`${this.url}/query`, { method: 'POST', body: params, signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { error?: string; results?: { error?: string; series?: Series[] }[] };
    const err = body.error ?? body.results?.[0]?.error;
    if (err) throw new Error(`InfluxDB: ${err} (${q})`);
    return body.results?.[0]?.series ?? [];
  }

  /** Rows of a query as objects (column → value), the series' tags included. */
  async rows(q: string, db: string): Promise<Record<string, unknown>[]> {
    return (await this.query(q, db)).flatMap((s) => s.values.map((v) => ({ ...s.tags, ...Object.fromEntries(s.columns.map((c, i) => [c, v[i]])) })));
  }

  /** Stops influxd and removes its directory. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
