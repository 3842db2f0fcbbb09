/**
 * A real Redis Cluster per suite: `primaries × (1 + replicasPerPrimary)` redis-server processes on
 * free loopback ports (cluster bus on port + 10000), no persistence, joined by
 * `redis-cli --cluster create`; killed and removed at the end. Faults: killPrimary() (SIGKILL, waits
 * for the replica's promotion), restartNode() (the node rejoins as a replica, it keeps its
 * nodes.conf), reshard() (redis-cli moves slots while clients keep writing).
 *
 * Every wait is on a condition read from the nodes themselves (CLUSTER INFO, CLUSTER NODES,
 * INFO replication); a wait that times out says which condition was still false.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis, type ClusterOptions } from 'ioredis';
import { freeClusterPort, releaseClusterPort } from './free-port.ts';
import { processGone } from './process-gone.ts';
import { runCommand } from './run-command.ts';
import { waitFor } from './wait.ts';

export const CLUSTER_SLOTS = 16384;

export interface ClusterStartOptions {
  primaries?: number;
  replicasPerPrimary?: number;
  /** More redis-server arguments for every node, e.g. ['--appendonly', 'yes']. */
  extraArgs?: string[];
}

/** A primary as the cluster sees it now: its port, node id, slot ranges (inclusive) and replicas' ports. */
export interface ClusterPrimary {
  port: number;
  id: string;
  slots: [number, number][];
  replicas: number[];
}

export interface KillResult {
  killedPort: number;
  promotedPort: number;
  /** SIGKILL to the replica reporting role:master. */
  promotedMs: number;
  /** SIGKILL to every surviving node agreeing on the new owner, cluster_state:ok on all of them. */
  recoveryMs: number;
}

/** One line of CLUSTER NODES. */
interface NodeLine {
  id: string;
  port: number;
  flags: string[];
  masterId: string | undefined;
  slots: [number, number][];
  /** `[slot->-id]` / `[slot-<-id]` entries: a slot being migrated or imported. */
  openSlots: string[];
}

interface Node {
  port: number;
  dir: string;
  proc: ChildProcess | undefined;
}

// Safety net: whatever dispose() did not reach (a run that exits early, a timeout's SIGTERM, a
// Ctrl-C) dies with the test process. Bun does not run 'exit' listeners on a signal: the signal is
// caught once, the nodes killed, and the signal raised again for its default action.
const liveProcs = new Set<ChildProcess>();
const liveDirs = new Set<string>();
function killAll(): void {
  for (const p of liveProcs) p.kill('SIGKILL');
  for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    killAll();
    process.kill(process.pid, sig);
  });
}

/** Spawned (a pid: redis-server was found) and not exited. */
const running = (p: ChildProcess | undefined): boolean => !!p && p.pid !== undefined && p.exitCode === null && p.signalCode === null;

function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

function parseNodes(text: string): NodeLine[] {
  return text
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const f = line.trim().split(' ');
      // 127.0.0.1:30001@40001[,hostname]
      const hostPort = (f[1] ?? '').split('@')[0] ?? '';
      const slots: [number, number][] = [];
      const openSlots: string[] = [];
      for (const s of f.slice(8)) {
        if (s.startsWith('[')) {
          openSlots.push(s);
          continue;
        }
        const [a, b] = s.split('-');
        slots.push([Number(a), Number(b ?? a)]);
      }
      return {
        id: f[0] ?? '',
        port: Number(hostPort.slice(hostPort.lastIndexOf(':') + 1)),
        flags: (f[2] ?? '').split(','),
        masterId: f[3] === '-' ? undefined : f[3],
        slots,
        openSlots,
      };
    });
}

const slotCount = (ranges: [number, number][]) => ranges.reduce((n, [a, b]) => n + b - a + 1, 0);

/** The replicas a primary's INFO replication lists as online, by port. */
function onlineReplicas(info: Record<string, string>): number[] {
  return Object.entries(info)
    .filter(([k, v]) => /^slave\d+$/.test(k) && v.includes('state=online'))
    .map(([, v]) => Number(/port=(\d+)/.exec(v)?.[1]));
}

export class RedisCluster {
  readonly #root = mkdtempSync(join(tmpdir(), 'nb-redis-cluster-'));
  readonly #nodes: Node[] = [];
  readonly #admin = new Map<number, Redis>();
  readonly #clients: Cluster[] = [];

  private constructor(
    readonly primaryCount: number,
    readonly replicasPerPrimary: number,
    readonly extraArgs: string[],
  ) {
    liveDirs.add(this.#root);
  }

  /**
   * Starts the nodes, creates the cluster and waits until every node says cluster_state:ok, sees
   * all 16384 slots assigned and agrees on who owns them, and every primary has its replicas online.
   */
  static async start({ primaries = 3, replicasPerPrimary = 1, extraArgs = [] }: ClusterStartOptions = {}): Promise<RedisCluster> {
    if (primaries < 3) throw new Error('redis-cli --cluster create needs at least 3 primaries');
    const c = new RedisCluster(primaries, replicasPerPrimary, extraArgs);
    try {
      const total = primaries * (1 + replicasPerPrimary);
      // allSettled: no node may still be starting when a failure disposes of the others
      const started = await Promise.allSettled(Array.from({ length: total }, () => c.#startFresh()));
      const failed = started.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      const hosts = c.#nodes.map((n) => `127.0.0.1:${n.port}`);
      const r = await runCommand('redis-cli', ['--cluster', 'create', ...hosts, '--cluster-replicas', String(replicasPerPrimary), '--cluster-yes'], 60_000);
      if (r.code !== 0) throw new Error(`redis-cli --cluster create exited ${r.code}: ${(r.stdout + r.stderr).slice(-2000)}`);
      await waitFor(() => c.#assertStable({ fullReplicas: true }), 30_000, 'the new cluster to be stable');
    } catch (err) {
      await c.dispose();
      throw err;
    }
    return c;
  }

  /** Every node with its pid (undefined while it is killed). */
  get nodes(): { port: number; pid: number | undefined; alive: boolean }[] {
    return this.#nodes.map((n) => ({ port: n.port, pid: running(n.proc) ? n.proc?.pid : undefined, alive: running(n.proc) }));
  }

  /** "127.0.0.1:p1,127.0.0.1:p2,…": every node, for a REDIS_CLUSTER_NODES-style setting. */
  get seeds(): string {
    return this.#nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  /** The nodes' parent directory (each node has <dir>/<port>/ with nodes.conf and redis.log). */
  get dir(): string {
    return this.#root;
  }

  /** The primaries as a live node sees them now (CLUSTER NODES), in slot order; failed ones left out. */
  async primaries(): Promise<ClusterPrimary[]> {
    const view = await this.#view();
    return view
      .filter((n) => n.flags.includes('master') && !n.flags.includes('fail'))
      .map((n) => ({
        port: n.port,
        id: n.id,
        slots: n.slots,
        replicas: view.filter((r) => r.masterId === n.id && !r.flags.includes('fail')).map((r) => r.port),
      }))
      .sort((a, b) => (a.slots[0]?.[0] ?? CLUSTER_SLOTS) - (b.slots[0]?.[0] ?? CLUSTER_SLOTS));
  }

  /** The port of a (non-failed) replica of the primary on `primaryPort`, undefined if it has none. */
  async replicaOf(primaryPort: number): Promise<number | undefined> {
    return (await this.primaries()).find((p) => p.port === primaryPort)?.replicas[0];
  }

  /** The slot of `key` (CLUSTER KEYSLOT on a live node: hash tags and all). */
  async slotOf(key: string): Promise<number> {
    return Number(await this.#any('cluster', 'keyslot', key));
  }

  /** The port of the primary serving `key` now. */
  async primaryFor(key: string): Promise<number> {
    const slot = await this.slotOf(key);
    const p = (await this.primaries()).find((x) => x.slots.some(([a, b]) => slot >= a && slot <= b));
    if (!p) throw new Error(`no primary serves slot ${slot} (key ${key})`);
    return p.port;
  }

  /** The node id (CLUSTER MYID) of the node on `port`. */
  async nodeId(port: number): Promise<string> {
    return String(await this.#cmd(port, 'cluster', 'myid'));
  }

  /**
   * An ioredis Cluster on every node, for assertions, closed by dispose() (no natMap: every node
   * announces 127.0.0.1). `options` go over these defaults, which differ from ioredis' own so that a
   * command in flight while a primary is killed settles, and succeeds, once the replica took over
   * (ioredis' defaults fail it with "Too many Cluster redirections" after about 1.2 s, while the
   * failover takes 2–3 s here):
   * - maxRedirections 100 (16): each retry after "Connection is closed" (every retryDelayOnFailover,
   *   100 ms) and after CLUSTERDOWN counts as a redirection;
   * - retryDelayOnMoved 100 (0): while the nodes still disagree about the new owner a MOVED can
   *   bounce between two nodes with no delay, and uses up the redirections in milliseconds;
   * - redisOptions.commandTimeout 5000 (none): under Bun 1.3.5 a socket whose peer is SIGKILLed
   *   while it is being written to sometimes never emits 'close' (Node does), and a command sent
   *   on it never settles; with the timeout it fails with "Command timed out" instead of hanging.
   */
  client(options: ClusterOptions = {}): Cluster {
    const c = new Cluster(
      this.#nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
      {
        maxRedirections: 100,
        retryDelayOnMoved: 100,
        ...options,
        redisOptions: { commandTimeout: 5_000, ...options.redisOptions },
      },
    );
    c.on('error', () => {});
    this.#clients.push(c);
    return c;
  }

  /**
   * SIGKILLs a primary: the one on `target` (a port), the one serving `target.key`, or else the
   * first in slot order. Waits until one of its replicas says role:master and every surviving node
   * is stable again (cluster_state:ok, all slots assigned to live nodes, all agreeing).
   */
  async killPrimary(target?: number | { key: string }, timeoutMs = 30_000): Promise<KillResult> {
    const before = await this.primaries();
    const port = typeof target === 'number' ? target : target ? await this.primaryFor(target.key) : before[0]?.port;
    const primary = before.find((p) => p.port === port);
    if (!primary) throw new Error(`${port} is not a primary (primaries: ${before.map((p) => p.port).join(', ')})`);
    const candidates = primary.replicas.filter((r) => running(this.#node(r).proc));
    if (candidates.length === 0) throw new Error(`primary ${port} has no live replica to promote`);
    const t0 = performance.now();
    await this.#kill(this.#node(primary.port));
    const promotedPort = await waitFor(
      async () => {
        for (const r of candidates) {
          if (parseInfo(String(await this.#cmd(r, 'info', 'replication'))).role === 'master') return r;
        }
        throw new Error(`replicas ${candidates.join(', ')} still replicas`);
      },
      timeoutMs,
      `a replica of ${port} to be promoted`,
    );
    const promotedMs = Math.round(performance.now() - t0);
    await waitFor(() => this.#assertStable({ fullReplicas: false }), timeoutMs, `the cluster to be stable after killing ${port}`);
    return { killedPort: primary.port, promotedPort, promotedMs, recoveryMs: Math.round(performance.now() - t0) };
  }

  /**
   * Starts a killed node again on its port with its nodes.conf: a former primary whose slots went
   * to its replica comes back as a replica. Waits until it is a replica with its link up, its primary
   * lists it online, and the cluster is stable.
   */
  async restartNode(port: number, timeoutMs = 30_000): Promise<void> {
    const n = this.#node(port);
    if (running(n.proc)) throw new Error(`node ${port} is running`);
    await this.#spawn(n);
    await waitFor(
      async () => {
        const info = parseInfo(String(await this.#cmd(port, 'info', 'replication')));
        if (info.role !== 'slave' || info.master_link_status !== 'up') throw new Error(`${port} is role:${info.role}, link ${info.master_link_status}`);
        const primary = parseInfo(String(await this.#cmd(Number(info.master_port), 'info', 'replication')));
        if (!onlineReplicas(primary).includes(port)) throw new Error(`${info.master_port} does not list ${port} online`);
        return this.#assertStable({ fullReplicas: false });
      },
      timeoutMs,
      `node ${port} to rejoin as a replica`,
    );
  }

  /**
   * Moves `slots` slots from the primary on `fromPort` to the one on `toPort` with
   * `redis-cli --cluster reshard` (a child process: the event loop, and the clients in it, keep
   * running), then waits until `redis-cli --cluster check` passes and every node agrees.
   * Waits for a stable cluster first: redis-cli refuses to start on nodes that disagree.
   */
  async reshard(fromPort: number, toPort: number, slots: number, timeoutMs = 120_000): Promise<{ ms: number; output: string }> {
    await waitFor(() => this.#assertStable({ fullReplicas: false }), 30_000, 'a stable cluster before resharding');
    const [fromId, toId] = await Promise.all([this.nodeId(fromPort), this.nodeId(toPort)]);
    const t0 = performance.now();
    const r = await runCommand(
      'redis-cli',
      ['--cluster', 'reshard', `127.0.0.1:${toPort}`, '--cluster-from', fromId, '--cluster-to', toId, '--cluster-slots', String(slots), '--cluster-yes'],
      timeoutMs,
    );
    if (r.code !== 0) throw new Error(`redis-cli --cluster reshard exited ${r.code}: ${(r.stdout + r.stderr).slice(-2000)}`);
    await this.waitStable();
    return { ms: Math.round(performance.now() - t0), output: r.stdout };
  }

  /** Waits until `redis-cli --cluster check` exits 0 and every live node is stable and agrees. */
  async waitStable(timeoutMs = 30_000): Promise<void> {
    await waitFor(
      async () => {
        await this.#assertStable({ fullReplicas: false });
        const entry = this.#nodes.find((n) => running(n.proc))!;
        const chk = await runCommand('redis-cli', ['--cluster', 'check', `127.0.0.1:${entry.port}`], 10_000);
        if (chk.code !== 0) throw new Error(`redis-cli --cluster check exited ${chk.code}: ${chk.stdout.split('\n').filter((l) => l.includes('[ERR]') || l.includes('[WARNING]')).join(' ')}`);
        return true;
      },
      timeoutMs,
      'a stable cluster',
    );
  }

  /**
   * Waits until every replica has what its primary has (the primary's master_repl_offset equals the
   * offset each replica acknowledged): after it, a SIGKILLed primary loses no acknowledged write.
   */
  async waitReplicated(timeoutMs = 10_000): Promise<void> {
    await waitFor(
      async () => {
        for (const p of await this.primaries()) {
          const info = parseInfo(String(await this.#cmd(p.port, 'info', 'replication')));
          const offset = Number(info.master_repl_offset);
          for (const [k, v] of Object.entries(info)) {
            if (!/^slave\d+$/.test(k)) continue;
            const acked = Number(/offset=(\d+)/.exec(v)?.[1]);
            if (acked !== offset) throw new Error(`${p.port} at ${offset}, replica ${v} behind`);
          }
        }
        return true;
      },
      timeoutMs,
      'the replicas to catch up',
    );
  }

  async dispose(): Promise<void> {
    for (const c of this.#clients) c.disconnect();
    for (const a of this.#admin.values()) a.disconnect();
    this.#admin.clear();
    await Promise.all(this.#nodes.map((n) => this.#kill(n)));
    for (const n of this.#nodes) releaseClusterPort(n.port);
    rmSync(this.#root, { recursive: true, force: true });
    liveDirs.delete(this.#root);
  }

  // ---- internals

  #node(port: number): Node {
    const n = this.#nodes.find((x) => x.port === port);
    if (!n) throw new Error(`no node on port ${port} in this cluster`);
    return n;
  }

  /** A new node on a fresh port; a port lost to another process between the check and the bind is replaced. */
  async #startFresh(): Promise<void> {
    let last: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freeClusterPort();
      const n: Node = { port, dir: join(this.#root, String(port)), proc: undefined };
      mkdirSync(n.dir);
      this.#nodes.push(n);
      try {
        await this.#spawn(n);
        return;
      } catch (err) {
        last = err;
        this.#nodes.splice(this.#nodes.indexOf(n), 1);
        await this.#kill(n);
        releaseClusterPort(port);
      }
    }
    throw last;
  }

  /** Spawns redis-server for `n` and waits until it answers PING (fails at once if it exits). */
  async #spawn(n: Node): Promise<void> {
    const args = [
      '--port', String(n.port),
      '--bind', '127.0.0.1',
      '--cluster-enabled', 'yes',
      '--cluster-config-file', join(n.dir, 'nodes.conf'),
      '--cluster-node-timeout', '1000',
      '--save', '',
      '--appendonly', 'no',
      // a replica's full sync starts at once (Redis 7 waits 5 s for more replicas to share a diskless transfer)
      '--repl-diskless-sync-delay', '0',
      '--dir', n.dir,
      '--logfile', join(n.dir, 'redis.log'),
      ...this.extraArgs,
    ];
    // the log goes to redis.log; stderr has what a node says before it has a log (a bad argument)
    const p = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    n.proc = p;
    liveProcs.add(p);
    p.once('exit', () => liveProcs.delete(p));
    p.once('error', () => {}); // no redis-server on PATH: seen below as an exited process
    this.#dropAdmin(n.port);
    await waitFor(async () => !running(p) || (await this.#cmd(n.port, 'ping')) === 'PONG', 10_000, `redis-server on ${n.port}`);
    if (!running(p)) {
      let log = '';
      try {
        log = readFileSync(join(n.dir, 'redis.log'), 'utf8').split('\n').slice(-5).join('\n');
      } catch {
        // no log written
      }
      await new Promise((r) => setImmediate(r)); // the last stderr chunk
      throw new Error(`redis-server on ${n.port} ${p.pid === undefined ? 'did not start (not on PATH?)' : `exited (${p.exitCode ?? p.signalCode})`}: ${(stderr + log).trim()}`);
    }
  }

  /** SIGKILL and wait until the process is gone (its 'exit' event, or /proc when the runtime drops the event). */
  async #kill(n: Node): Promise<void> {
    const p = n.proc;
    this.#dropAdmin(n.port);
    if (!p || !running(p)) return;
    const gone = processGone(p);
    p.kill('SIGKILL');
    await gone;
    // without its 'exit' event the process object still looks alive: forget it, and never signal its pid again
    n.proc = undefined;
    liveProcs.delete(p);
  }

  #dropAdmin(port: number): void {
    this.#admin.get(port)?.disconnect();
    this.#admin.delete(port);
  }

  /** One command on one node, on a cached connection that never retries (a dead node fails fast). */
  #cmd(port: number, ...args: string[]): Promise<unknown> {
    let c = this.#admin.get(port);
    if (!c || c.status === 'end' || c.status === 'close') {
      c?.disconnect();
      c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2_000, commandTimeout: 5_000 });
      c.on('error', () => {});
      this.#admin.set(port, c);
    }
    const [cmd, ...rest] = args;
    return c.call(cmd!, ...rest);
  }

  /** One command on the first live node that answers. */
  async #any(...args: string[]): Promise<unknown> {
    let last: unknown = new Error('no live node');
    for (const n of this.#nodes) {
      if (!running(n.proc)) continue;
      try {
        return await this.#cmd(n.port, ...args);
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }

  async #view(): Promise<NodeLine[]> {
    return parseNodes(String(await this.#any('cluster', 'nodes')));
  }

  /**
   * Throws, saying what is not yet so, unless on every live node: cluster_state:ok, all slots
   * assigned and none failing, CLUSTER NODES giving the same slot owners as every other live node,
   * every owner alive, no live node flagged fail or fail?, no slot open (migrating/importing); every
   * live replica with its link up and listed online by its primary; with `fullReplicas`, every
   * primary with replicasPerPrimary online replicas.
   */
  async #assertStable({ fullReplicas }: { fullReplicas: boolean }): Promise<true> {
    const alive = this.#nodes.filter((n) => running(n.proc));
    const alivePorts = new Set(alive.map((n) => n.port));
    let reference: string | undefined;
    let view: NodeLine[] = [];
    for (const n of alive) {
      const info = parseInfo(String(await this.#cmd(n.port, 'cluster', 'info')));
      if (info.cluster_state !== 'ok') throw new Error(`${n.port}: cluster_state:${info.cluster_state}`);
      if (info.cluster_slots_assigned !== String(CLUSTER_SLOTS)) throw new Error(`${n.port}: cluster_slots_assigned:${info.cluster_slots_assigned}`);
      if (info.cluster_slots_pfail !== '0' || info.cluster_slots_fail !== '0') throw new Error(`${n.port}: slots pfail ${info.cluster_slots_pfail}, fail ${info.cluster_slots_fail}`);
      view = parseNodes(String(await this.#cmd(n.port, 'cluster', 'nodes')));
      const owners = view.filter((l) => l.slots.length > 0);
      if (slotCount(owners.flatMap((l) => l.slots)) !== CLUSTER_SLOTS) throw new Error(`${n.port}: CLUSTER NODES covers ${slotCount(owners.flatMap((l) => l.slots))} slots`);
      const dead = owners.find((l) => !alivePorts.has(l.port));
      if (dead) throw new Error(`${n.port}: slots still on ${dead.port}, which is down`);
      const flagged = view.find((l) => alivePorts.has(l.port) && (l.flags.includes('fail') || l.flags.includes('fail?')));
      if (flagged) throw new Error(`${n.port}: sees ${flagged.port} as ${flagged.flags.join(',')}`);
      const open = view.find((l) => l.openSlots.length > 0);
      if (open) throw new Error(`${n.port}: open slots on ${open.port}: ${open.openSlots.join(' ')}`);
      const signature = owners
        .map((l) => `${l.id}:${l.slots.map(([a, b]) => `${a}-${b}`).join(',')}`)
        .sort()
        .join(' ');
      // and about every live node's role: a node that has not yet heard a restarted primary's
      // gossip still lists it as a primary without slots
      const roles = view
        .filter((l) => alivePorts.has(l.port))
        .map((l) => `${l.port}:${l.flags.includes('slave') ? l.masterId : 'primary'}`)
        .sort()
        .join(' ');
      reference ??= `${signature} | ${roles}`;
      if (`${signature} | ${roles}` !== reference) throw new Error(`${n.port} disagrees about the slot owners or the roles`);
    }
    const self = (port: number) => view.find((l) => l.port === port);
    for (const n of alive) {
      const line = self(n.port);
      if (!line?.flags.includes('slave')) continue;
      const info = parseInfo(String(await this.#cmd(n.port, 'info', 'replication')));
      if (info.master_link_status !== 'up') throw new Error(`replica ${n.port}: master_link_status:${info.master_link_status}`);
    }
    for (const owner of view.filter((l) => l.slots.length > 0)) {
      const online = onlineReplicas(parseInfo(String(await this.#cmd(owner.port, 'info', 'replication'))));
      const expected = view.filter((l) => l.masterId === owner.id && alivePorts.has(l.port)).map((l) => l.port);
      const missing = expected.filter((p) => !online.includes(p));
      if (missing.length) throw new Error(`primary ${owner.port}: replicas ${missing.join(', ')} not online`);
      if (fullReplicas && online.length < this.replicasPerPrimary) throw new Error(`primary ${owner.port}: ${online.length} of ${this.replicasPerPrimary} replicas online`);
    }
    return true; // waitFor wants a truthy value
  }
}
