#!/usr/bin/env node
// Subscribed-idle fleet devices for the MQTT benchmark, many in one process: connection k is
// device n = --first + k; it CONNECTs (MQTT 3.1.1, keep-alive --keepalive s), SUBSCRIBEs to its
// own command topic `fleet/dev-<n>/cmd` at --qos (1) and waits for the SUBACK. Then it publishes
// nothing; it PUBACKs QoS 1 deliveries, counts what it receives (and whether the topic is its
// own), and sends a PINGREQ when it has written nothing for half the keep-alive.
//
//   node bench/mqtt/command-subscribers.mjs --port 1883 --connections 10000 [--first 0]
//        [--local-address 127.0.0.2] [--ramp-batch 100] [--keepalive 60] [--timeout 900]
//
// Connections are opened --ramp-batch at a time, each batch waiting for its SUBACKs.
// stdout, one JSON object per line: {"event":"ready",...} once every SUBACK arrived; for every
// stdin line "report" {"event":"count",...} (received, devices that got at least one message,
// when the last arrived as epoch ms, connections still open); when stdin closes it disconnects
// and prints the final line (no "event"), then exits. {"event":"error",...} then exit 1 when the
// ramp fails. Only 127.0.0.1 is targeted. Exits by itself after --timeout seconds.
import readline from 'node:readline';
import { performance } from 'node:perf_hooks';
import { DISCONNECT, Framer, PINGREQ, TYPE, commandTopic, mqttConnect, parseArgs, pubackPacket, sleep, subscribePacket } from './wire.mjs';

let opt;
try {
  opt = parseArgs(process.argv.slice(2), {
    port: { default: 1883, min: 1 },
    connections: { default: 1000, min: 1 },
    first: { default: 0 },
    qos: { default: 1 },
    localAddress: { default: '', type: 'string' },
    rampBatch: { default: 100, min: 1 },
    rampPauseMs: { default: 5 },
    keepalive: { default: 60, min: 2 },
    connectTimeout: { default: 10, min: 1 },
    run: { default: `cmd${process.pid.toString(36)}`, type: 'string' },
    timeout: { default: 900, min: 1 },
  });
} catch (e) {
  console.error(`command-subscribers.mjs: ${e.message}`);
  process.exit(2);
}
if (opt.qos > 2) {
  console.error('command-subscribers.mjs: --qos must be 0, 1 or 2');
  process.exit(2);
}

const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const epochNow = () => performance.timeOrigin + performance.now();
const t = { received: 0, devicesReached: 0, duplicates: 0, wrongTopic: 0, firstWrong: null, qos2: 0, unexpected: 0, socketErrors: 0, closes: 0, firstAt: 0, lastAt: 0, pings: 0 };
const granted = {};
const conns = [];
let phase = 'ramp'; // ramp | idle | done
let rampMs = 0;

/** One subscribed device: its socket, its topic, what it received. */
class Device {
  constructor(n, socket) {
    this.n = n;
    this.topic = commandTopic(n);
    this.topicBytes = Buffer.from(this.topic);
    this.socket = socket;
    this.received = 0;
    this.open = true;
    this.lastWrite = performance.now();
    this.framer = new Framer((type, flags, buf, start, end) => this.onPacket(type, flags, buf, start, end));
    this.subscribed = new Promise((resolve, reject) => {
      this.onSuback = resolve;
      this.onFail = reject;
    });
    socket.on('data', (d) => {
      try {
        this.framer.push(d);
      } catch (e) {
        t.socketErrors++;
        socket.destroy();
        this.onFail(e);
      }
    });
    socket.on('error', () => t.socketErrors++);
    socket.on('close', () => {
      this.open = false;
      if (phase !== 'done') t.closes++;
      this.onFail(new Error(`device ${this.n}: connection closed before SUBACK`));
    });
  }

  write(buf) {
    this.lastWrite = performance.now();
    this.socket.write(buf);
  }

  onPacket(type, flags, buf, start, end) {
    if (type === TYPE.SUBACK) {
      const code = buf[end - 1];
      if (code === 0x80 || code > 2) return this.onFail(new Error(`device ${this.n}: SUBACK refused ${this.topic} (code ${code})`));
      granted[code] = (granted[code] ?? 0) + 1;
      return this.onSuback();
    }
    if (type === TYPE.PUBLISH) {
      const qos = (flags >> 1) & 3;
      const tlen = buf.readUInt16BE(start);
      const own = tlen === this.topicBytes.length && this.topicBytes.equals(buf.subarray(start + 2, start + 2 + tlen));
      if (!own) {
        t.wrongTopic++;
        t.firstWrong ??= `device ${this.n} got ${buf.toString('utf8', start + 2, start + 2 + tlen)}`;
      }
      if (qos === 1) this.write(pubackPacket(buf.readUInt16BE(start + 2 + tlen)));
      else if (qos === 2) t.qos2++; // never asked for: counted, not answered
      const now = epochNow();
      t.firstAt ||= now;
      t.lastAt = now;
      t.received++;
      if (own && ++this.received === 1) t.devicesReached++;
      else if (own) t.duplicates++;
      return;
    }
    if (type !== TYPE.PINGRESP) t.unexpected++;
  }
}

async function ramp() {
  const r0 = performance.now();
  for (let i = 0; i < opt.connections; i += opt.rampBatch) {
    const batch = [];
    for (let k = i; k < Math.min(opt.connections, i + opt.rampBatch); k++) {
      const n = opt.first + k;
      batch.push(
        mqttConnect(opt.port, `${opt.run}-dev-${n}`, { keepalive: opt.keepalive, timeoutMs: opt.connectTimeout * 1000, localAddress: opt.localAddress || undefined }).then(({ socket, rest }) => {
          const d = new Device(n, socket);
          conns.push(d);
          d.write(subscribePacket(d.topic, opt.qos, 1));
          if (rest.length) d.framer.push(rest);
          const timer = setTimeout(() => d.onFail(new Error(`device ${n}: no SUBACK within ${opt.connectTimeout} s`)), opt.connectTimeout * 1000);
          const clear = () => clearTimeout(timer);
          d.subscribed.then(clear, clear);
          return d.subscribed;
        }),
      );
    }
    const settled = await Promise.allSettled(batch);
    const bad = settled.find((s) => s.status === 'rejected');
    if (bad) throw new Error(`device ${opt.first + i}..${opt.first + Math.min(opt.connections, i + opt.rampBatch) - 1}: ${bad.reason?.message ?? bad.reason}`);
    if (opt.rampPauseMs) await sleep(opt.rampPauseMs);
  }
  rampMs = Math.round(performance.now() - r0);
}

/** Keep-alive: a PINGREQ from every device that wrote nothing for half the keep-alive (swept every second). */
function keepAlive() {
  const limit = performance.now() - (opt.keepalive * 1000) / 2;
  for (const d of conns) {
    if (d.open && d.lastWrite < limit) {
      d.write(PINGREQ);
      t.pings++;
    }
  }
}

function counts() {
  return {
    connections: conns.length,
    open: conns.filter((d) => d.open).length,
    received: t.received,
    devices_reached: t.devicesReached,
    duplicates: t.duplicates,
    wrong_topic: t.wrongTopic,
    first_wrong: t.firstWrong,
    qos2: t.qos2,
    unexpected_packets: t.unexpected,
    socket_errors: t.socketErrors,
    unexpected_closes: t.closes,
    first_at: t.firstAt || null,
    last_at: t.lastAt || null,
    pings: t.pings,
  };
}

function finish(extra, code) {
  phase = 'done';
  for (const d of conns) if (d.open) d.socket.end(DISCONNECT);
  emit({ ...counts(), first: opt.first, ramp_ms: rampMs, granted, ...extra });
  process.exitCode = code;
  setTimeout(() => conns.forEach((d) => d.socket.destroy()), 500).unref();
  setTimeout(() => process.exit(code), 1000).unref();
}

setTimeout(() => {
  emit({ event: 'error', error: `command-subscribers.mjs: time limit of ${opt.timeout} s reached in phase ${phase}` });
  finish({ error: `time limit of ${opt.timeout} s reached` }, 1);
}, opt.timeout * 1000).unref();

try {
  await ramp();
} catch (e) {
  emit({ event: 'error', error: e.message });
  finish({ error: e.message }, 1);
}
if (phase === 'ramp') {
  phase = 'idle';
  setInterval(keepAlive, 1000).unref();
  emit({ event: 'ready', connections: conns.length, first: opt.first, ramp_ms: rampMs, granted, local_address: opt.localAddress || null });
  process.stdin.resume(); // keeps the process alive until stdin closes
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() === 'report') emit({ event: 'count', ...counts() });
  });
  rl.on('close', () => finish({}, t.socketErrors || t.closes ? 1 : 0));
}
