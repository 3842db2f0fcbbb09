#!/usr/bin/env node
// Raw MQTT 3.1.1 load generator (node:net + mqtt-packet templates), one process.
//
//   node bench/mqtt/load.mjs --port 1883 --connections 100 --qos 1 --inflight 16 --duration 10
//
// Every connection publishes unique sensor readings (device ids `<run>-c<conn>-d<n>`, each device
// counting its timestamp down 1 ms per reading from start − 2 s, so no (device_id, timestamp) pair
// repeats) on `neurobuild/sensors/{device_id}/data`.
//  - QoS 1: at most --inflight unacknowledged PUBLISHes per connection; msg/s = PUBACKs received
//    per second in the measured window; ack latency = PUBLISH written → PUBACK read. A connection
//    tops its window up once --refill slots are free (default inflight/4), in one write.
//  - QoS 0: PUBLISHes go out in groups of --qos0-marker, each followed by a PINGREQ; at most
//    --qos0-window messages per connection not yet followed by a PINGRESP. A PINGRESP confirms
//    that the server has read everything before it, so msg/s = messages confirmed per second
//    (what the server consumed, not what the kernel buffered).
// Phases: ramp (connections opened in batches of --ramp-batch, each waiting for its CONNACKs),
// warm-up (--warmup s, then a barrier: everything outstanding is acked), measure (--duration s or
// --count messages), drain (outstanding acks awaited up to --drain-timeout s). With --count,
// --rate R paces the messages: R per second over all connections (released every --tick-ms),
// still within each connection's window (bench/mqtt/fanout.mjs publishes this way). Prints progress
// events and finally one result line, all JSON, on stdout. --idle opens the connections, prints
// {"event":"ready"}, sends nothing until stdin closes, then disconnects and prints the result.
// --credentials <file> ("<device_id> <password>" lines, e.g. API keys of registered devices):
// connection k CONNECTs with username and password of line k and publishes as that device only
// (needs --devices-per-conn 1 and at least --connections lines).
// Only 127.0.0.1 is targeted. The whole run is bounded by --timeout (default derived).
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { DISCONNECT, Framer, Histogram, IsoWriter, PINGREQ, TYPE, mqttConnect, parseArgs, readingTemplate, sleep, writeSeq } from './wire.mjs';

const opt = (() => {
  try {
    return parseArgs(process.argv.slice(2), {
      port: { default: 1883, min: 1 },
      connections: { default: 100, min: 1 },
      qos: { default: 1 },
      inflight: { default: 16, min: 1 },
      refill: { default: 0 },
      qos0Window: { default: 256, min: 1 },
      qos0Marker: { default: 32, min: 1 },
      duration: { default: 10, min: 0.1, int: false },
      count: { default: 0 },
      rate: { default: 0, int: false },
      tickMs: { default: 5, min: 1 },
      warmup: { default: 0, int: false },
      devicesPerConn: { default: 10, min: 1 },
      rampBatch: { default: 100, min: 1 },
      rampPauseMs: { default: 10 },
      keepalive: { default: 60 },
      drainTimeout: { default: 15, min: 1 },
      connectTimeout: { default: 10, min: 1 },
      timeout: { default: 0 },
      prefix: { default: 'neurobuild/sensors', type: 'string' },
      credentials: { default: '', type: 'string' },
      idle: { flag: true, default: false },
      seq: { flag: true, default: false },
    });
  } catch (e) {
    console.error(`load.mjs: ${e.message}`);
    process.exit(2);
  }
})();
if (opt.qos !== 0 && opt.qos !== 1) {
  console.error('load.mjs: --qos must be 0 or 1');
  process.exit(2);
}
if (opt.rate && !opt.count) {
  console.error('load.mjs: --rate needs --count (a paced run publishes a fixed number of messages)');
  process.exit(2);
}
if (opt.inflight > 65535) {
  console.error('load.mjs: --inflight must be <= 65535');
  process.exit(2);
}

// --credentials: [device id, password] per connection
const CREDS = (() => {
  if (!opt.credentials) return null;
  let lines;
  try {
    lines = fs.readFileSync(opt.credentials, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean).map((l) => l.split(/\s+/));
  } catch (e) {
    console.error(`load.mjs: --credentials: ${e.message}`);
    process.exit(2);
  }
  if (opt.devicesPerConn !== 1) {
    console.error('load.mjs: --credentials needs --devices-per-conn 1 (a connection publishes as its one device)');
    process.exit(2);
  }
  if (lines.length < opt.connections || lines.some((l) => l.length !== 2)) {
    console.error(`load.mjs: --credentials ${opt.credentials}: need ${opt.connections} "<device_id> <password>" lines, got ${lines.length}`);
    process.exit(2);
  }
  return lines;
})();

const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const RUN = `b${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const BASE_MS = Date.now() - 2000;
const QOS1 = opt.qos === 1;
// QoS 1: a connection writes again once this many of its window slots are free (one write per
// refill instead of one per PUBACK chunk: fewer syscalls, the generator's main cost)
const REFILL = Math.min(opt.inflight, opt.refill || Math.ceil(opt.inflight / 4));
const iso = new IsoWriter();
const hist = new Histogram();
const cpu0 = process.cpuUsage();

const stats = { sentTotal: 0, ackedTotal: 0, sent: 0, acked: 0, unexpected: 0, unknownAcks: 0, errors: 0, closes: 0, lost: 0, firstError: null };
let phase = 'ramp'; // ramp | warmup | barrier | measure | drain | done
let t0 = 0;
let t1 = 0;
let cpuMeasure = null;
let budget = Infinity; // messages still allowed in count mode
let unreleased = 0; // --rate: messages of --count not yet released to `budget` by the pacer
let waiter = null; // resolves when no connection has anything outstanding
const conns = [];

const sending = () => phase === 'warmup' || phase === 'measure';
const outstandingTotal = () => conns.reduce((a, c) => a + c.outstanding, 0);

function noteError(e) {
  stats.errors++;
  stats.firstError ??= String(e?.message ?? e);
}

function checkIdle() {
  if (waiter && outstandingTotal() === 0) {
    const w = waiter;
    waiter = null;
    w();
  }
}

class Conn {
  constructor(i, socket) {
    this.i = i;
    this.socket = socket;
    this.devs = [];
    for (let d = 0; d < opt.devicesPerConn; d++) this.devs.push({ tpl: readingTemplate(CREDS ? CREDS[i][0] : `${RUN}-c${i}-d${d}`, opt.qos, opt.prefix, opt.seq), n: 0 });
    this.maxLen = Math.max(...this.devs.map((d) => d.tpl.length));
    this.devIdx = 0;
    this.outstanding = 0;
    this.closed = false;
    if (QOS1) {
      this.free = new Uint16Array(opt.inflight);
      for (let k = 0; k < opt.inflight; k++) this.free[k] = opt.inflight - k; // ids 1..inflight
      this.top = opt.inflight;
      this.sentAt = new Float64Array(opt.inflight + 1);
    } else {
      this.groups = []; // sizes of the PINGREQ-terminated groups awaiting their PINGRESP
    }
    this.framer = new Framer((type, _flags, buf, start) => this.onPacket(type, buf, start));
    socket.on('data', (chunk) => {
      this.now = performance.now();
      try {
        this.framer.push(chunk);
      } catch (e) {
        noteError(e);
        socket.destroy();
        return;
      }
      if (sending() && (!QOS1 || this.top >= REFILL)) this.fill();
      if (this.outstanding === 0) checkIdle();
    });
    socket.on('error', noteError);
    socket.on('close', () => {
      this.closed = true;
      if (phase !== 'done') {
        stats.closes++;
        stats.lost += this.outstanding;
        this.outstanding = 0;
        checkIdle();
      }
    });
  }

  onPacket(type, buf, start) {
    if (type === TYPE.PUBACK && QOS1) {
      const id = buf.readUInt16BE(start);
      const t = id <= opt.inflight ? this.sentAt[id] : 0;
      if (t === 0) {
        stats.unknownAcks++;
        return;
      }
      this.sentAt[id] = 0;
      this.free[this.top++] = id;
      this.outstanding--;
      stats.ackedTotal++;
      if (t >= t0 && t0 > 0) {
        hist.record((this.now - t) * 1000);
        if (phase === 'measure') stats.acked++;
      }
    } else if (type === TYPE.PINGRESP) {
      if (!QOS1 && this.groups.length) {
        const g = this.groups.shift();
        this.outstanding -= g;
        stats.ackedTotal += g;
        if (phase === 'measure') stats.acked += g;
      }
    } else stats.unexpected++;
  }

  fill() {
    if (this.closed) return;
    let n = QOS1 ? this.top : Math.max(0, opt.qos0Window - this.outstanding);
    if (n > budget) n = budget;
    if (n <= 0) return;
    const groups = QOS1 ? 0 : Math.ceil(n / opt.qos0Marker);
    const buf = Buffer.allocUnsafe(n * this.maxLen + groups * 2);
    const now = performance.now();
    const measured = phase === 'measure';
    let off = 0;
    let inGroup = 0;
    for (let k = 0; k < n; k++) {
      const dev = this.devs[this.devIdx];
      this.devIdx = this.devIdx + 1 === this.devs.length ? 0 : this.devIdx + 1;
      const tpl = dev.tpl;
      tpl.bytes.copy(buf, off);
      if (tpl.seqOffset >= 0) writeSeq(buf, off + tpl.seqOffset, dev.n);
      iso.write(buf, off + tpl.tsOffset, BASE_MS - dev.n++);
      if (QOS1) {
        const id = this.free[--this.top];
        buf.writeUInt16BE(id, off + tpl.idOffset);
        this.sentAt[id] = now;
      }
      off += tpl.length;
      if (!QOS1 && (++inGroup === opt.qos0Marker || k === n - 1)) {
        PINGREQ.copy(buf, off);
        off += 2;
        this.groups.push(inGroup);
        inGroup = 0;
      }
    }
    this.outstanding += n;
    stats.sentTotal += n;
    if (measured) stats.sent += n;
    budget -= n;
    this.socket.write(off === buf.length ? buf : buf.subarray(0, off));
  }
}

/** Resolves when nothing is outstanding, or with false after ms. */
function whenIdle(ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      waiter = null;
      resolve(false);
    }, ms);
    waiter = () => {
      clearTimeout(timer);
      resolve(true);
    };
    checkIdle();
  });
}

function result(extra = {}) {
  const cpu = cpuMeasure ?? process.cpuUsage(cpu0);
  const secs = t1 > t0 && t0 > 0 ? (t1 - t0) / 1000 : 0;
  return {
    ok: stats.errors === 0 && stats.closes === 0 && stats.lost === 0 && stats.unknownAcks === 0 && stats.unexpected === 0,
    mode: opt.idle ? 'idle' : opt.count ? (opt.rate ? 'paced' : 'count') : 'duration',
    rate: opt.rate || undefined,
    run: RUN,
    port: opt.port,
    connections: opt.connections,
    connected: conns.length,
    qos: opt.qos,
    inflight: QOS1 ? opt.inflight : undefined,
    qos0_window: QOS1 ? undefined : opt.qos0Window,
    qos0_marker: QOS1 ? undefined : opt.qos0Marker,
    devices: opt.connections * opt.devicesPerConn,
    warmup_s: opt.warmup,
    seconds: Number(secs.toFixed(3)),
    sent: stats.sent,
    acked: stats.acked,
    sent_total: stats.sentTotal,
    acked_total: stats.ackedTotal,
    msg_per_s: secs ? Number((stats.acked / secs).toFixed(1)) : null,
    p50_ms: hist.percentile(50),
    p99_ms: hist.percentile(99),
    p999_ms: hist.percentile(99.9),
    lost: stats.lost,
    unknown_acks: stats.unknownAcks,
    unexpected_packets: stats.unexpected,
    socket_errors: stats.errors,
    unexpected_closes: stats.closes,
    first_error: stats.firstError,
    ramp_ms: rampMs,
    loadgen_cpu_s: Number(((cpu.user + cpu.system) / 1e6).toFixed(2)),
    loadgen_cpu_pct: secs ? Number(((100 * (cpu.user + cpu.system)) / 1e6 / secs).toFixed(1)) : null,
    ...extra,
  };
}

let rampMs = 0;
function finish(extra, code) {
  phase = 'done';
  for (const c of conns) {
    if (!c.closed) {
      c.socket.end(DISCONNECT);
    }
  }
  emit(result(extra));
  process.exitCode = code;
  setTimeout(() => process.exit(code), 1000).unref();
  // sockets that do not close by themselves are destroyed
  setTimeout(() => conns.forEach((c) => c.socket.destroy()), 500).unref();
}

async function ramp() {
  const r0 = performance.now();
  for (let i = 0; i < opt.connections; i += opt.rampBatch) {
    const batch = [];
    for (let k = i; k < Math.min(opt.connections, i + opt.rampBatch); k++) {
      const creds = CREDS ? { username: CREDS[k][0], password: CREDS[k][1] } : {};
      batch.push(mqttConnect(opt.port, `${RUN}-c${k}`, { keepalive: opt.keepalive, timeoutMs: opt.connectTimeout * 1000, ...creds }).then(({ socket, rest }) => {
        const c = new Conn(k, socket);
        conns.push(c);
        if (rest.length) c.framer.push(rest);
      }));
    }
    const settled = await Promise.allSettled(batch);
    const bad = settled.find((s) => s.status === 'rejected');
    if (bad) throw new Error(`connection ${conns.length + 1}/${opt.connections} failed: ${bad.reason?.message ?? bad.reason}`);
    if (opt.rampPauseMs) await sleep(opt.rampPauseMs);
  }
  rampMs = Math.round(performance.now() - r0);
}

async function main() {
  const limitS = opt.timeout || Math.ceil(opt.warmup + (opt.count ? 120 + (opt.rate ? opt.count / opt.rate : 0) : opt.duration) + opt.drainTimeout * 2 + opt.connectTimeout + opt.connections / 100 + 30);
  setTimeout(() => {
    finish({ error: `load.mjs: time limit of ${limitS} s reached in phase ${phase}` }, 1);
  }, limitS * 1000).unref();

  await ramp();
  emit({ event: 'connected', connections: conns.length, ramp_ms: rampMs });

  if (opt.idle) {
    emit({ event: 'ready', connections: conns.length });
    process.stdin.resume();
    await new Promise((r) => process.stdin.once('end', r).once('close', r));
    const open = conns.filter((c) => !c.closed).length;
    return finish({ still_open: open }, stats.errors || stats.closes ? 1 : 0);
  }

  if (opt.warmup > 0) {
    phase = 'warmup';
    conns.forEach((c) => c.fill());
    await sleep(opt.warmup * 1000);
    phase = 'barrier';
    if (!(await whenIdle(opt.drainTimeout * 1000))) throw new Error(`warm-up: ${outstandingTotal()} messages still unacknowledged after ${opt.drainTimeout} s`);
  }

  if (opt.count) budget = opt.rate ? 0 : opt.count;
  if (opt.rate) unreleased = opt.count;
  phase = 'measure';
  const cpuStart = process.cpuUsage();
  t0 = performance.now();
  emit({ event: 'measure-start', at: performance.timeOrigin + t0 });
  conns.forEach((c) => c.fill());
  if (opt.rate) {
    // released = rate × elapsed, handed out every tick starting with a different connection each time
    let next = 0;
    const pacer = setInterval(() => {
      const due = Math.min(opt.count, Math.floor((opt.rate * (performance.now() - t0)) / 1000));
      const add = due - (opt.count - unreleased);
      if (add > 0) {
        unreleased -= add;
        budget += add;
      }
      for (let k = 0; k < conns.length && budget > 0; k++) conns[(next + k) % conns.length].fill();
      next = (next + 1) % conns.length;
      if (!unreleased) clearInterval(pacer);
    }, opt.tickMs);
    while (((unreleased > 0 || budget > 0) && conns.some((c) => !c.closed)) || outstandingTotal() > 0) await sleep(20);
    clearInterval(pacer);
  } else if (opt.count) {
    // outstanding only drops to 0 once the budget is spent (or every connection closed)
    while ((budget > 0 && conns.some((c) => !c.closed)) || outstandingTotal() > 0) await whenIdle(1000);
  } else {
    await sleep(opt.duration * 1000);
  }
  t1 = performance.now();
  cpuMeasure = process.cpuUsage(cpuStart);
  phase = 'drain';
  emit({ event: 'measure-end' });
  const drained = await whenIdle(opt.drainTimeout * 1000);
  if (!drained) stats.lost += outstandingTotal();
  finish({ drained }, result().ok ? 0 : 1);
}

main().catch((e) => {
  noteError(e);
  finish({ error: String(e?.message ?? e) }, 1);
});
