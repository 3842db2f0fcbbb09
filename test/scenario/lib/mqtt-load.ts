/**
 * Drives mqtt-load.mjs (MQTT.js under Node, QoS 1, persistent sessions by default) from a
 * Bun test and feeds its publishes and PUBACKs into the ack tracker.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import type { AckTracker } from './tracker.ts';
import { waitFor } from '../../helpers/wait.ts';

export interface MqttLoadOptions {
  url?: string;
  /** Several instances: each client goes round them starting from its own, the next on each reconnect (a load balancer's effect). */
  urls?: string[];
  /** Each device subscribes at QoS 1 to `cmd/{device}` whenever its session is not present; what it receives is kept in `commands`. */
  commands?: boolean;
  tracker: AckTracker;
  /** Readings per second over all clients. */
  rate: number;
  /** Clients (one device each; default 8), alternating v3.1.1 and v5 unless `versions` says otherwise. */
  clients?: number;
  versions?: (4 | 5)[];
  /** Client ids and device ids `${prefix}${i}` (default "scn-m"). */
  prefix?: string;
  /** QoS 1 publishes awaiting PUBACK per client (default 64, the server's receive maximum). */
  window?: number;
  /** Clean sessions (default false: clean session 0 / v5 Session Expiry Interval). */
  clean?: boolean;
  sessionExpiry?: number;
  reconnectPeriod?: number;
}

type Line =
  | { ev: 'pub'; k: [string, number][] }
  | { ev: 'ack'; k: [string, number, number][] }
  | { ev: 'nack'; k: [string, string | number][] }
  | { ev: 'conn'; c: number; sp: boolean; t: number }
  | { ev: 'close'; c: number; t: number }
  | { ev: 'disconnect'; c: number; rc: number; t: number }
  | { ev: 'error'; c: number; m: string; t: number }
  | { ev: 'stat'; out: number; backlog: number; dropped: number; connected: number }
  | { ev: 'cmd'; k: [number, string, boolean][] }
  | { ev: 'sub'; c: number; t: number }
  | { ev: 'stopped' }
  | { ev: 'ended' };

export class MqttLoad {
  /** Connection events with their time: connects (sp = session present), closes, server DISCONNECTs (rc). */
  readonly events: Exclude<Line, { ev: 'pub' | 'ack' | 'nack' | 'cmd' | 'stat' | 'stopped' | 'ended' }>[] = [];
  /** With `commands`: per client, the commands it received (payload, DUP flag), in order. */
  readonly commands = new Map<number, { payload: string; dup: boolean }[]>();
  /** PUBACKs with a failure reason code (v5): refused readings. */
  readonly nacks: [string, string | number][] = [];
  stat = { out: 0, backlog: 0, dropped: 0, connected: 0 };
  /** Stops the load process has taken (each after a stat line from after it). */
  #stops = 0;
  #ended = false;
  readonly #proc: ChildProcess;
  readonly clients: number;
  readonly #prefix: string;

  private constructor(proc: ChildProcess, tracker: AckTracker, clients: number, prefix: string) {
    this.#proc = proc;
    this.clients = clients;
    this.#prefix = prefix;
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const l = JSON.parse(buf.slice(0, i)) as Line;
        buf = buf.slice(i + 1);
        if (l.ev === 'pub') for (const [k, t] of l.k) tracker.offer(k, 'mqtt', t);
        else if (l.ev === 'ack') {
          for (const [k, offeredAt, at] of l.k) tracker.ack(k, 'mqtt', { offeredAt, at });
          tracker.answer('mqtt', 'puback', l.k.length);
        } else if (l.ev === 'nack') {
          this.nacks.push(...l.k);
          for (const [, code] of l.k) tracker.answer('mqtt', `puback ${code}`);
        } else if (l.ev === 'cmd') {
          for (const [c, payload, dup] of l.k) {
            let list = this.commands.get(c);
            if (list === undefined) this.commands.set(c, (list = []));
            list.push({ payload, dup });
          }
        } else if (l.ev === 'stat') this.stat = l;
        else if (l.ev === 'stopped') this.#stops++;
        else if (l.ev === 'ended') this.#ended = true;
        else this.events.push(l);
      }
    });
  }

  /** Starts the clients and waits until all of them are connected. */
  static async start(o: MqttLoadOptions): Promise<MqttLoad> {
    const clients = o.clients ?? 8;
    const args = { url: o.url, urls: o.urls, commands: o.commands ?? false, clients, versions: o.versions ?? [4, 5], prefix: o.prefix ?? 'scn-m', rate: o.rate, window: o.window ?? 64, clean: o.clean ?? false, sessionExpiry: o.sessionExpiry ?? 300, reconnectPeriod: o.reconnectPeriod ?? 250 };
    const proc = spawn(process.env.NODE_BINARY ?? 'node', [resolve(import.meta.dir, 'mqtt-load.mjs'), JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'inherit'] });
    process.once('exit', () => proc.kill('SIGKILL'));
    const m = new MqttLoad(proc, o.tracker, clients, args.prefix);
    await waitFor(() => m.events.filter((e) => e.ev === 'conn').length >= clients, 10_000, `${clients} MQTT clients connected`);
    return m;
  }

  #send(c: Record<string, unknown>): void {
    if (!this.#proc.stdin!.destroyed) this.#proc.stdin!.write(`${JSON.stringify(c)}\n`);
  }

  /** The device id (and client id) of client `i`. */
  deviceId(i: number): string {
    return `${this.#prefix}${i}`;
  }

  setRate(rate: number): void {
    this.#send({ op: 'rate', rate });
  }

  /** No new readings; what is published or buffered still goes out. */
  stopProducing(): void {
    this.#send({ op: 'stop' });
  }

  /**
   * Stops new readings and waits until every buffered reading was published and acknowledged
   * (or `timeoutMs`). Returns the readings still unacknowledged or unsent.
   */
  async settle(timeoutMs = 15_000): Promise<number> {
    const stops = this.#stops;
    this.stopProducing();
    // a stat line from after the stop
    await waitFor(() => this.#stops > stops || this.#proc.exitCode !== null, 5000, 'the MQTT load to take the stop');
    const deadline = Date.now() + timeoutMs;
    while (this.stat.out + this.stat.backlog > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return this.stat.out + this.stat.backlog;
  }

  /** Reason codes of the server's DISCONNECT packets since `since` (v5 clients only). */
  disconnectCodes(since = 0): number[] {
    return this.events.filter((e): e is Extract<Line, { ev: 'disconnect' }> => e.ev === 'disconnect' && e.t >= since).map((e) => e.rc);
  }

  /** Clients connected again after `since` (the first connect of each after that time). */
  reconnectedAfter(since: number): number {
    return new Set(this.events.filter((e) => e.ev === 'conn' && e.t >= since).map((e) => (e as { c: number }).c)).size;
  }

  /** Ends the clients (without waiting for anything) and the process. */
  async end(): Promise<void> {
    if (this.#proc.exitCode !== null) return;
    this.#send({ op: 'end' });
    await waitFor(() => this.#ended || this.#proc.exitCode !== null, 3000, 'mqtt load ended').catch(() => {});
    this.#proc.kill('SIGKILL');
  }
}
