// CPU and memory of other processes, read from /proc (Linux): CPU seconds from
// /proc/<pid>/stat (utime + stime), VmRSS from /proc/<pid>/status, and CPU % over a window;
// listening sockets and connections per process of a TCP port (/proc/net/tcp), and the limits
// that bound how many connections a run may open (open files, ephemeral ports).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** A live process and its descendants (the server forks workers), by parent pid in /proc. */
export function processTree(pid) {
  const parent = new Map();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [p, pp] of parent) if (pp === tree[i]) tree.push(p);
  return tree;
}

/** User + system CPU seconds a live process has used so far, or NaN. */
export function cpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may contain spaces: fields are counted after its closing ')'
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK; // fields 14 (utime) and 15 (stime)
  } catch {
    return NaN;
  }
}

/** VmRSS of a live process in MiB, or NaN. */
export function rssMiB(pid) {
  try {
    const kib = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m)?.[1];
    return kib === undefined ? NaN : Number(kib) / 1024;
  } catch {
    return NaN;
  }
}

/** VmRSS of a process and its descendants together, in MiB. */
export const treeRssMiB = (pid) => processTree(pid).reduce((a, p) => a + rssMiB(p), 0);

/** Busy and total clock ticks of the whole machine so far (/proc/stat, all cores). */
function machineTicks() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((x, y) => x + y, 0);
  return { busy: total - f[3] - f[4], total }; // minus idle and iowait
}

/**
 * CPU % of named processes over a window: start() then stop(), which returns {name: percent}
 * (100 = one core busy for the whole window). A value is a number (a pid) or an array of pids
 * (summed; e.g. processTree(serverPid), taken at start()). Resolution: one clock tick (10 ms).
 * stop() also gives `machine`: the whole machine's busy time in the same unit (cores × 100 at
 * most), `ours`: this process and all its descendants (those started during the window
 * counted from zero), and `others`: machine − ours, i.e. load that is not the benchmark's.
 */
export class CpuWindow {
  constructor(pids) {
    this.pids = Object.fromEntries(Object.entries(pids).map(([name, p]) => [name, [p].flat()]));
  }
  #read() {
    return Object.fromEntries(Object.entries(this.pids).map(([name, ps]) => [name, ps.reduce((a, p) => a + cpuSeconds(p), 0)]));
  }
  #ours() {
    return new Map(processTree(process.pid).map((p) => [p, cpuSeconds(p)]));
  }
  start() {
    this.t0 = performance.now();
    this.m0 = machineTicks();
    this.o0 = this.#ours();
    this.c0 = this.#read();
  }
  stop() {
    const secs = (performance.now() - this.t0) / 1000;
    const c1 = this.#read();
    const o1 = this.#ours();
    const m1 = machineTicks();
    const out = Object.fromEntries(Object.keys(this.pids).map((name) => [name, (100 * (c1[name] - this.c0[name])) / secs]));
    let ours = 0;
    for (const [p, c] of o1) if (Number.isFinite(c)) ours += c - (this.o0.get(p) ?? 0);
    const cores = (m1.total - this.m0.total) / CLK_TCK / secs; // ticks of all cores per second ÷ ticks per core
    out.machine = (100 * (m1.busy - this.m0.busy)) / CLK_TCK / secs;
    out.ours = (100 * ours) / secs;
    out.others = Math.max(0, out.machine - out.ours);
    out.cores = Math.round(cores);
    return out;
  }
}

/** Local-port (hex, as in /proc/net/tcp) → rows of /proc/net/tcp and tcp6 in a given state. */
function tcpRows(port, state) {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const rows = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length >= 10 && c[3] === state && c[1].endsWith(hex)) rows.push(c);
    }
  }
  return rows;
}

/** Listening sockets on a local TCP port (several with SO_REUSEPORT: one per server worker). */
export const listeners = (port) => tcpRows(port, '0A').length;

/**
 * Established connections on local TCP port `port` held by each of `pids` (socket inodes of
 * /proc/net/tcp matched against /proc/<pid>/fd), in the order of `pids`.
 */
export function connectionsPerProcess(pids, port) {
  const inodes = new Set(tcpRows(port, '01').map((c) => c[9]));
  return pids.map((pid) => {
    let n = 0;
    try {
      for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
        try {
          const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
          if (m && inodes.has(m[1])) n++;
        } catch {
          /* closed meanwhile */
        }
      }
    } catch {
      /* gone */
    }
    return n;
  });
}

/** Soft limit of open files of this process (and so of the children it starts), Infinity when unlimited. */
export function openFilesLimit() {
  const v = fs.readFileSync('/proc/self/limits', 'utf8').match(/^Max open files\s+(\S+)/m)?.[1];
  return v === 'unlimited' || v === undefined ? Infinity : Number(v);
}

/** How many local ports connect() may pick from (net.ipv4.ip_local_port_range). */
export function ephemeralPorts() {
  try {
    const [lo, hi] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return hi - lo + 1;
  } catch {
    return Infinity;
  }
}
