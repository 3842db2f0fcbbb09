#!/usr/bin/env node
// MQTT v5 fan-out subscribers for bench:mqtt-fanout, many in one process: each CONNECTs as a v5
// client announcing Receive Maximum --receive-maximum (20), SUBSCRIBEs to --filter
// (`neurobuild/sensors/#`) at QoS --qos (1) and waits for the SUBACK. Every PUBLISH it gets is
// PUBACKed (one write per socket read), and the `message_id` of its payload (an enriched reading)
// is counted once per subscriber: distinct ids, duplicates, payloads without one. Every --sample-th
// payload of the process is JSON.parse'd and must be a reading whose device_id matches the topic.
//
//   node bench/mqtt/fanout-subscribers.mjs --port 1883 --connections 250 [--first 0]
//        [--receive-maximum 20] [--expect 20000] [--local-address 127.0.1.2] [--timeout 600]
//
// stdout, JSON lines: {"event":"ready",...} once every SUBACK arrived; for every stdin line
// "report" {"event":"count",...} (received, distinct, when the last message arrived as epoch ms,
// connections open); when stdin closes it disconnects and prints the final line (no "event") with
// the distinct count of every subscriber, then exits. {"event":"error",...} when the ramp fails.
// Only 127.0.0.1 is targeted. Exits by itself after --timeout seconds.
import readline from 'node:readline';
import { performance } from 'node:perf_hooks';
import { DISCONNECT, Framer, PINGREQ, TYPE, mqttConnect, parseArgs, readVarint, sleep, subscribePacket } from './wire.mjs';

let opt;
try {
  opt = parseArgs(process.argv.slice(2), {
    port: { default: 1883, min: 1 },
    connections: { default: 100, min: 1 },
    first: { default: 0 },
    receiveMaximum: { default: 20, min: 1 },
    filter: { default: 'neurobuild/sensors/#', type: 'string' },
    qos: { default: 1 },
    expect: { default: 20_000, min: 1 },
    sample: { default: 1000, min: 1 },
    localAddress: { default: '', type: 'string' },
    rampBatch: { default: 100, min: 1 },
    keepalive: { default: 60, min: 2 },
    connectTimeout: { default: 10, min: 1 },
    run: { default: `fan${process.pid.toString(36)}`, type: 'string' },
    timeout: { default: 600, min: 1 },
  });
} catch (e) {
  console.error(`fanout-subscribers.mjs: ${e.message}`);
  process.exit(2);
}

const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const epochNow = () => performance.timeOrigin + performance.now();
const NEEDLE = Buffer.from('"message_id":"');
const t = { received: 0, duplicates: 0, noId: 0, sampled: 0, bad: 0, firstBad: null, unexpected: 0, socketErrors: 0, closes: 0, serverDisconnects: {}, firstAt: 0, lastAt: 0 };
const ids = new Map(); // message_id → index, shared by the subscribers of this process
const subs = [];
let phase = 'ramp'; // ramp | subscribed | done
let rampMs = 0;

/** The index of a message_id (new ids get the next one). */
function idIndex(key) {
  let i = ids.get(key);
  if (i === undefined) {
    i = ids.size;
    ids.set(key, i);
  }
  return i;
}

function sampleCheck(buf, topicStart, topicEnd, p, end) {
  t.sampled++;
  try {
    const j = JSON.parse(buf.toString('utf8', p, end));
    const topic = buf.toString('utf8', topicStart, topicEnd);
    if (typeof j.device_id !== 'string' || typeof j.message_id !== 'string' || !topic.includes(`/${j.device_id}/`)) throw new Error(`not an enriched reading of the topic's device: ${topic} ${buf.toString('utf8', p, Math.min(end, p + 200))}`);
  } catch (e) {
    t.bad++;
    t.firstBad ??= e.message;
  }
}

/** One v5 subscriber: its socket, the message ids it saw (one byte per index), its counts. */
class Subscriber {
  constructor(k, socket) {
    this.k = k;
    this.socket = socket;
    this.seen = new Uint8Array(opt.expect + 64);
    this.distinct = 0;
    this.received = 0;
    this.open = true;
    this.acks = [];
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
        return;
      }
      this.flushAcks();
    });
    socket.on('error', () => t.socketErrors++);
    socket.on('close', () => {
      this.open = false;
      if (phase !== 'done') t.closes++;
      this.onFail(new Error(`subscriber ${this.k}: connection closed before SUBACK`));
    });
  }

  write(buf) {
    this.lastWrite = performance.now();
    this.socket.write(buf);
  }

  /** The PUBACKs of one socket read, in one write. */
  flushAcks() {
    const n = this.acks.length;
    if (!n) return;
    const out = Buffer.allocUnsafe(4 * n);
    for (let i = 0; i < n; i++) {
      const id = this.acks[i];
      out[4 * i] = 0x40;
      out[4 * i + 1] = 2;
      out[4 * i + 2] = id >> 8;
      out[4 * i + 3] = id & 0xff;
    }
    this.acks.length = 0;
    this.write(out);
  }

  onPacket(type, flags, buf, start, end) {
    if (type === TYPE.PUBLISH) return this.onPublish(flags, buf, start, end);
    if (type === TYPE.SUBACK) {
      const props = readVarint(buf, start + 2);
      const code = buf[start + 2 + props.bytes + props.value];
      if (code >= 0x80) return this.onFail(new Error(`subscriber ${this.k}: SUBACK refused ${opt.filter} (reason code ${code})`));
      return this.onSuback(code);
    }
    if (type === TYPE.DISCONNECT) {
      const reason = end > start ? buf[start] : 0;
      t.serverDisconnects[reason] = (t.serverDisconnects[reason] ?? 0) + 1;
      return;
    }
    if (type !== TYPE.PINGRESP) t.unexpected++;
  }

  onPublish(flags, buf, start, end) {
    const qos = (flags >> 1) & 3;
    const tlen = buf.readUInt16BE(start);
    let p = start + 2 + tlen;
    if (qos > 0) {
      this.acks.push(buf.readUInt16BE(p)); // QoS 2 is never granted: a QoS 1 subscription
      p += 2;
    }
    const props = readVarint(buf, p);
    p += props.bytes + props.value;
    const now = epochNow();
    t.firstAt ||= now;
    t.lastAt = now;
    t.received++;
    this.received++;
    if (t.received % opt.sample === 1 || opt.sample === 1) sampleCheck(buf, start + 2, start + 2 + tlen, p, end);
    const at = buf.indexOf(NEEDLE, p);
    const from = at + NEEDLE.length;
    const to = at >= 0 && at < end ? buf.indexOf(0x22, from) : -1;
    if (to < 0 || to > end) {
      t.noId++;
      return;
    }
    const i = idIndex(buf.toString('latin1', from, to));
    if (i >= this.seen.length) {
      const grown = new Uint8Array(Math.max(2 * this.seen.length, i + 1));
      grown.set(this.seen);
      this.seen = grown;
    }
    if (this.seen[i]) t.duplicates++;
    else {
      this.seen[i] = 1;
      this.distinct++;
    }
  }
}

async function ramp() {
  const r0 = performance.now();
  for (let i = 0; i < opt.connections; i += opt.rampBatch) {
    const batch = [];
    for (let k = i; k < Math.min(opt.connections, i + opt.rampBatch); k++) {
      const options = { keepalive: opt.keepalive, timeoutMs: opt.connectTimeout * 1000, localAddress: opt.localAddress || undefined, protocolVersion: 5, properties: { receiveMaximum: opt.receiveMaximum } };
      batch.push(
        mqttConnect(opt.port, `${opt.run}-s${opt.first + k}`, options).then(({ socket, rest }) => {
          const s = new Subscriber(opt.first + k, socket);
          subs.push(s);
          s.write(subscribePacket(opt.filter, opt.qos, 1, 5));
          if (rest.length) s.framer.push(rest);
          const timer = setTimeout(() => s.onFail(new Error(`subscriber ${s.k}: no SUBACK within ${opt.connectTimeout} s`)), opt.connectTimeout * 1000);
          const clear = () => clearTimeout(timer);
          s.subscribed.then(clear, clear);
          return s.subscribed;
        }),
      );
    }
    const settled = await Promise.allSettled(batch);
    const bad = settled.find((x) => x.status === 'rejected');
    if (bad) throw new Error(bad.reason?.message ?? String(bad.reason));
    await sleep(5);
  }
  rampMs = Math.round(performance.now() - r0);
}

function keepAlive() {
  const limit = performance.now() - (opt.keepalive * 1000) / 2;
  for (const s of subs) if (s.open && s.lastWrite < limit) s.write(PINGREQ);
}

function counts() {
  return {
    connections: subs.length,
    open: subs.filter((s) => s.open).length,
    received: t.received,
    distinct: subs.reduce((a, s) => a + s.distinct, 0),
    duplicates: t.duplicates,
    no_message_id: t.noId,
    message_ids: ids.size,
    sampled: t.sampled,
    bad_payloads: t.bad,
    first_bad: t.firstBad,
    unexpected_packets: t.unexpected,
    socket_errors: t.socketErrors,
    unexpected_closes: t.closes,
    server_disconnects: t.serverDisconnects,
    first_at: t.firstAt || null,
    last_at: t.lastAt || null,
  };
}

function finish(extra, code) {
  phase = 'done';
  for (const s of subs) if (s.open) s.socket.end(DISCONNECT);
  emit({ ...counts(), first: opt.first, ramp_ms: rampMs, per_subscriber: subs.map((s) => ({ k: s.k, distinct: s.distinct, received: s.received, open: s.open })), ...extra });
  process.exitCode = code;
  setTimeout(() => subs.forEach((s) => s.socket.destroy()), 500).unref();
  setTimeout(() => process.exit(code), 1000).unref();
}

setTimeout(() => {
  emit({ event: 'error', error: `fanout-subscribers.mjs: time limit of ${opt.timeout} s reached in phase ${phase}` });
  finish({ error: `time limit of ${opt.timeout} s reached` }, 1);
}, opt.timeout * 1000).unref();

try {
  await ramp();
} catch (e) {
  emit({ event: 'error', error: e.message });
  finish({ error: e.message }, 1);
}
if (phase === 'ramp') {
  phase = 'subscribed';
  setInterval(keepAlive, 1000).unref();
  emit({ event: 'ready', connections: subs.length, first: opt.first, ramp_ms: rampMs, local_address: opt.localAddress || null });
  process.stdin.resume();
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() === 'report') emit({ event: 'count', ...counts() });
  });
  rl.on('close', () => finish({}, 0));
}
