// The subscribed-idle fleet of bench:mqtt, seen from the runner: N devices, each subscribed to its
// own command topic `fleet/dev-<n>/cmd`, held by command-subscribers.mjs processes of at most
// `perProcess` connections each, every process from its own source address 127.0.<f>.<2 + k> (one
// address has 28,232 ephemeral ports here), f = 1, 2, … for each fleet of the run: the ports of
// the previous fleet linger in TIME_WAIT for a minute, and binding next to thousands of them
// slowed a fleet's connects from 10 s to 45 s. The processes connect one after the other (a
// broker with a listen backlog of 100 drops SYNs of parallel ramps), each waiting for its SUBACKs.
import { sleep } from '../lib/processes.mjs';
import { runClient } from './clients.mjs';

let fleets = 0;

/** How N devices are split: [{first, connections, localAddress}], at most perProcess each; `fleet` picks the addresses. */
export function fleetPlan(total, perProcess, fleet = 0) {
  const procs = Math.ceil(total / perProcess);
  const base = Math.floor(total / procs);
  const plan = [];
  let first = 0;
  for (let k = 0; k < procs; k++) {
    const connections = base + (k < total % procs ? 1 : 0);
    plan.push({ first, connections, localAddress: `127.0.${1 + (fleet % 254)}.${2 + k}` });
    first += connections;
  }
  return plan;
}

/** Time allowed to one process to connect and subscribe its devices. */
const rampLimitMs = (connections) => 30_000 + 3 * connections;

/** Sums the counts of the processes (numbers added, first_at the earliest, last_at the latest). */
function sumCounts(list) {
  const out = { processes: list.length };
  for (const c of list) {
    for (const [k, v] of Object.entries(c)) {
      if (k === 'event' || typeof v !== 'number') continue;
      if (k === 'first_at') out[k] = out[k] ? Math.min(out[k], v) : v;
      else if (k === 'last_at') out[k] = Math.max(out[k] ?? 0, v);
      else if (k !== 'first' && k !== 'exit_code') out[k] = (out[k] ?? 0) + v;
    }
    if (c.first_wrong && !out.first_wrong) out.first_wrong = c.first_wrong;
    if (c.error) out.errors = [...(out.errors ?? []), c.error];
  }
  out.first_at ??= null;
  out.last_at ??= null;
  return out;
}

/**
 * Starts the fleet against 127.0.0.1:port and resolves once every device holds its
 * subscription; throws (the processes killed) when a process fails or is late. `lifetimeS`
 * bounds each process (it exits by itself after that). The result: `ready` (connections, ramp
 * time), `counts()` (asks every process, sums), `close()` (disconnects, the summed final lines),
 * `kill()`.
 */
export async function startFleet({ port, total, perProcess, keepalive = 60, lifetimeS, run }) {
  const procs = [];
  const kill = () => procs.forEach((p) => p.child.kill('SIGKILL'));
  try {
    for (const part of fleetPlan(total, perProcess, fleets++)) {
      const args = ['--port', port, '--connections', part.connections, '--first', part.first, '--local-address', part.localAddress, '--keepalive', keepalive, '--timeout', lifetimeS, '--run', run].map(String);
      const p = { part, waiters: [], cmd: `node bench/mqtt/command-subscribers.mjs ${args.join(' ')}` };
      let onReady;
      const ready = new Promise((r) => (onReady = r));
      const c = runClient('command-subscribers.mjs', args, {
        stdinOpen: true,
        timeoutMs: lifetimeS * 1000 + 10_000,
        onEvent: (e) => (e.event === 'count' ? p.waiters.shift()?.(e) : e.event === 'ready' || e.event === 'error' ? onReady(e) : null),
      });
      Object.assign(p, c);
      p.done.catch(() => {}); // awaited in close(); a failed ramp is reported through `ready`
      procs.push(p);
      const early = await Promise.race([ready, c.done.then((r) => ({ event: 'error', error: r.error ?? `exited (code ${r.exit_code})` }), (e) => ({ event: 'error', error: e.message })), sleep(rampLimitMs(part.connections)).then(() => ({ event: 'error', error: `not ready within ${rampLimitMs(part.connections) / 1000} s` }))]);
      if (early.event !== 'ready') throw new Error(`command-subscribers.mjs (devices ${part.first}..${part.first + part.connections - 1} from ${part.localAddress}): ${early.error}`);
      p.ready = early;
    }
  } catch (e) {
    kill();
    throw e;
  }
  /** Asks every process for its counts (each answers within 10 s) and sums them. */
  const counts = async () => {
    const answers = procs.map(
      (p) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('command-subscribers.mjs: no count within 10 s')), 10_000);
          p.waiters.push((e) => {
            clearTimeout(timer);
            resolve(e);
          });
          p.child.stdin.write('report\n');
        }),
    );
    return sumCounts(await Promise.all(answers));
  };
  const close = async () => {
    for (const p of procs) p.child.stdin.end();
    return sumCounts(await Promise.all(procs.map((p) => p.done.catch((e) => ({ error: e.message })))));
  };
  const ready = { connections: procs.reduce((a, p) => a + p.ready.connections, 0), rampMs: procs.reduce((a, p) => a + p.ready.ramp_ms, 0), processes: procs.length, addresses: procs.map((p) => p.part.localAddress), pids: procs.map((p) => p.child.pid) };
  return { ready, counts, close, kill, cmd: procs[0]?.cmd ?? '' };
}

/**
 * Polls the fleet's counts every 250 ms until `expected` devices received their message, or
 * nothing moved for quietMs, or maxMs passed. Resolves with the last counts and whether it was
 * complete.
 */
export async function waitDelivered(fleet, expected, { quietMs = 5000, maxMs = 60_000 } = {}) {
  const deadline = Date.now() + maxMs;
  let last = -1;
  let movedAt = Date.now();
  for (;;) {
    const c = await fleet.counts();
    if (c.devices_reached >= expected) return { counts: c, complete: true };
    if (c.received !== last) {
      last = c.received;
      movedAt = Date.now();
    }
    if (Date.now() - movedAt > quietMs || Date.now() > deadline) return { counts: c, complete: false, waitedMs: Date.now() - movedAt };
    await sleep(250);
  }
}
