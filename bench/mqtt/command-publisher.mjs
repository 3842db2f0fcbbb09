#!/usr/bin/env node
// Command publisher of the MQTT benchmark: one MQTT 3.1.1 connection that publishes one message
// to each fleet device's command topic `fleet/dev-<n>/cmd`, n = --first … --first + --count − 1,
// at QoS --qos (1), at most --inflight (64) PUBLISHes awaiting their PUBACK.
//
//   node bench/mqtt/command-publisher.mjs --port 1883 --count 10000 [--inflight 64] [--qos 1]
//
// Payload: {"cmd":"ping","device":"dev-<n>","seq":<n>}. stdout, JSON lines: {"event":"start",
// "at":<epoch ms>} when the first PUBLISH is written, then one result line: published, acked,
// start_at / last_ack_at (epoch ms), seconds, msg_per_s, lost (not acknowledged within
// --drain-timeout s after the last PUBLISH), errors. QoS 0: a PINGREQ after the last message, whose
// PINGRESP ends the run. Only 127.0.0.1 is targeted. Bounded by --timeout seconds.
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt-packet';
import { DISCONNECT, Framer, PINGREQ, TYPE, commandTopic, mqttConnect, parseArgs } from './wire.mjs';

let opt;
try {
  opt = parseArgs(process.argv.slice(2), {
    port: { default: 1883, min: 1 },
    count: { default: 1000, min: 1 },
    first: { default: 0 },
    qos: { default: 1 },
    inflight: { default: 64, min: 1 },
    drainTimeout: { default: 30, min: 1 },
    timeout: { default: 600, min: 1 },
  });
} catch (e) {
  console.error(`command-publisher.mjs: ${e.message}`);
  process.exit(2);
}
if (opt.qos > 1 || opt.inflight > 65535) {
  console.error('command-publisher.mjs: --qos must be 0 or 1, --inflight at most 65535');
  process.exit(2);
}

const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const epochNow = () => performance.timeOrigin + performance.now();
const s = { published: 0, acked: 0, unknownAcks: 0, unexpected: 0, errors: 0, firstError: null, closed: false, startAt: 0, lastAckAt: 0 };
const inUse = new Uint8Array(opt.inflight + 1); // packet ids 1..inflight
const free = [];
for (let id = opt.inflight; id >= 1; id--) free.push(id);
let socket;
let onDone;
const done = new Promise((r) => (onDone = r));

function publish(n, id) {
  const payload = Buffer.from(`{"cmd":"ping","device":"dev-${n}","seq":${n}}`);
  return mqtt.generate({ cmd: 'publish', topic: commandTopic(n), payload, qos: opt.qos, retain: false, dup: false, messageId: opt.qos ? id : undefined });
}

/** Writes as many PUBLISHes as the window allows, in one write. */
function fill() {
  const parts = [];
  while (s.published < opt.count && (opt.qos === 0 || free.length)) {
    const id = opt.qos ? free.pop() : 0;
    if (id) inUse[id] = 1;
    parts.push(publish(opt.first + s.published, id));
    s.published++;
    if (opt.qos === 0 && parts.length >= opt.inflight) break;
  }
  if (!parts.length) return;
  if (!s.startAt) {
    s.startAt = epochNow();
    emit({ event: 'start', at: s.startAt });
  }
  if (opt.qos === 0 && s.published === opt.count) parts.push(PINGREQ);
  socket.write(parts.length === 1 ? parts[0] : Buffer.concat(parts));
  if (opt.qos === 0 && s.published < opt.count) setImmediate(fill);
}

const framer = new Framer((type, _flags, buf, start) => {
  if (type === TYPE.PUBACK && opt.qos === 1) {
    const id = buf.readUInt16BE(start);
    if (id > opt.inflight || !inUse[id]) {
      s.unknownAcks++;
      return;
    }
    inUse[id] = 0;
    free.push(id);
    s.acked++;
    s.lastAckAt = epochNow();
    if (s.acked === opt.count) onDone(true);
  } else if (type === TYPE.PINGRESP) {
    if (opt.qos === 0 && s.published === opt.count) {
      s.acked = s.published; // read by the broker: a PINGRESP follows everything before it
      s.lastAckAt = epochNow();
      onDone(true);
    }
  } else s.unexpected++;
});

function result(extra) {
  const secs = s.lastAckAt > s.startAt && s.startAt ? (s.lastAckAt - s.startAt) / 1000 : 0;
  return {
    ok: s.acked === opt.count && !s.errors && !s.unknownAcks && !s.unexpected && !s.closed,
    count: opt.count,
    first: opt.first,
    qos: opt.qos,
    inflight: opt.inflight,
    published: s.published,
    acked: s.acked,
    lost: s.published - s.acked,
    start_at: s.startAt || null,
    last_ack_at: s.lastAckAt || null,
    seconds: Number(secs.toFixed(3)),
    msg_per_s: secs ? Number((s.acked / secs).toFixed(1)) : null,
    unknown_acks: s.unknownAcks,
    unexpected_packets: s.unexpected,
    socket_errors: s.errors,
    closed_by_server: s.closed,
    first_error: s.firstError,
    ...extra,
  };
}

function finish(extra, code) {
  emit(result(extra));
  socket?.end(DISCONNECT);
  process.exitCode = code;
  setTimeout(() => process.exit(code), 500).unref();
}

setTimeout(() => finish({ error: `time limit of ${opt.timeout} s reached` }, 1), opt.timeout * 1000).unref();

try {
  const c = await mqttConnect(opt.port, `bench-cmd-pub-${process.pid}`, { keepalive: 60 });
  socket = c.socket;
  socket.on('data', (d) => {
    try {
      framer.push(d);
    } catch (e) {
      s.errors++;
      s.firstError ??= e.message;
      socket.destroy();
    }
    if (opt.qos === 1 && free.length >= Math.ceil(opt.inflight / 4)) fill();
  });
  socket.on('error', (e) => {
    s.errors++;
    s.firstError ??= e.message;
  });
  socket.on('close', () => {
    s.closed = true;
    onDone(false);
  });
  if (c.rest.length) framer.push(c.rest);
} catch (e) {
  emit(result({ error: `connect failed: ${e.message}` }));
  process.exit(1);
}
fill();
// the drain bound starts when the last PUBLISH is written: checked every 100 ms
const drain = setInterval(() => {
  if (s.published === opt.count && !drain.since) drain.since = performance.now();
  if (drain.since && performance.now() - drain.since > opt.drainTimeout * 1000) onDone(false);
}, 100);
const complete = await done;
clearInterval(drain);
finish(complete ? {} : { error: `${s.published - s.acked} of ${s.published} not acknowledged${s.closed ? ' (connection closed by the server)' : ` within ${opt.drainTimeout} s`}` }, complete ? 0 : 1);
