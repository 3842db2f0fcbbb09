/**
 * Starts the built server (dist/neurobuild-ingest.cjs) under Node, as an operator would,
 * on free ports, and collects its log lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { freePort } from './free-port.ts';
import { LoggedProcess } from './logged-process.ts';
import { waitFor } from './wait.ts';

export const BUNDLE = resolve(import.meta.dir, '../../dist/neurobuild-ingest.cjs');

export class ServerProcess extends LoggedProcess {
  private constructor(
    proc: ChildProcess,
    readonly port: number,
    readonly metricsPort: number,
    readonly mqttPort: number,
    readonly wsPort: number,
    /** The environment it was started with (ports included) and its arguments: what restart() reuses. */
    readonly env: Record<string, string> = {},
    readonly args: string[] = [],
  ) {
    super(proc);
  }

  /** Spawns the server with `env` (PORT and METRICS_PORT are chosen free unless given) and waits until it listens. */
  static async start(env: Record<string, string> = {}, args: string[] = []): Promise<ServerProcess> {
    // a free port can be taken by another process between the check and the bind: try again once
    try {
      return await ServerProcess.#start(env, args);
    } catch (err) {
      if (!String((err as Error).message).includes('EADDRINUSE') && !String((err as Error).message).includes('in use')) throw err;
      return ServerProcess.#start(env, args);
    }
  }

  static async #start(env: Record<string, string>, args: string[]): Promise<ServerProcess> {
    if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} missing: run npm run bundle (npm test does)`);
    const port = env.PORT ? Number(env.PORT) : await freePort();
    const metricsPort = env.METRICS_PORT ? Number(env.METRICS_PORT) : await freePort();
    const mqttPort = env.MQTT_PORT ? Number(env.MQTT_PORT) : await freePort();
    const wsPort = env.WS_PORT ? Number(env.WS_PORT) : await freePort();
    const proc = spawn(process.env.NODE_BINARY ?? 'node', [BUNDLE, ...args], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env, PORT: String(port), METRICS_PORT: String(metricsPort), MQTT_PORT: String(mqttPort), WS_PORT: String(wsPort) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const ports = { PORT: String(port), METRICS_PORT: String(metricsPort), MQTT_PORT: String(mqttPort), WS_PORT: String(wsPort) };
    const s = new ServerProcess(proc, port, metricsPort, mqttPort, wsPort, { ...env, ...ports }, args);
    await waitFor(() => {
      if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}: ${s.stderr}${s.stdout}`);
      return s.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('listening'));
    }, 15_000, 'server to listen');
    return s;
  }

  /**
   * A new process with the same environment, arguments and ports (clients reconnect to the same
   * addresses), e.g. after stop('SIGKILL'); `extra` is added to the environment. This one must have exited.
   */
  restart(extra: Record<string, string> = {}): Promise<ServerProcess> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) throw new Error('restart: the server is still running; stop it first');
    return ServerProcess.start({ ...this.env, ...extra }, this.args);
  }


  /** Resident set size in MiB from /proc (0 once the process is gone). */
  rssMiB(): number {
    try {
      const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${this.proc.pid}/status`, 'utf8'))?.[1];
      return kb ? Number(kb) / 1024 : 0;
    } catch {
      return 0;
    }
  }

  /** ws://127.0.0.1:<WS_PORT><path> */
  wsUrl(path = '/'): string {
    return `ws://127.0.0.1:${this.wsPort}${path}`;
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  post(path: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<Response> {
    const payload = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
    return fetch(this.base + path, { method: 'POST', body: payload, headers });
  }

  /** The value of an unlabelled metric (or of the first series of `name{labels}` given in full) from METRICS_PORT; undefined when absent. */
  async metric(series: string): Promise<number | undefined> {
    const text = await (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(series + ' '));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  }
}
