#!/usr/bin/env node
// Verifying MQTT 3.1.1 subscriber for the benchmark: subscribes to a filter (QoS 0 by default)
// and counts the PUBLISHes it receives.
//
//   node bench/mqtt/subscriber.mjs --port 1883 [--filter 'neurobuild/sensors/#'] [--qos 0]
//
// stdout, one JSON object per line: {"event":"ready"} once SUBACK arrived (granted QoS checked);
// then, for every line "report" read on stdin, {"event":"count","received":N,...}; when stdin
// closes it disconnects and prints the final {"received":N,...} line. Every --check-every-th
// message is JSON.parse'd and its device_id compared with the topic (to catch garbage cheaply);
// QoS 1 deliveries are PUBACKed. Only 127.0.0.1 is used. Bounded by --timeout seconds (600).
import readline from 'node:readline';
import { performance } from 'node:perf_hooks';
import { DISCONNECT, Framer, TYPE, mqttConnect, parseArgs, subscribePacket } from './wire.mjs';

let opt;
try {
  opt = parseArgs(process.argv.slice(2), {
    port: { default: 1883, min: 1 },
    filter: { default: 'neurobuild/sensors/#', type: 'string' },
    qos: { default: 0 },
    checkEvery: { default: 100, min: 1 },
    timeout: { default: 600, min: 1 },
  });
} catch (e) {
  console.error(`subscriber.mjs: ${e.message}`);
  process.exit(2);
}

const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const s = { received: 0, bytes: 0, checked: 0, bad: 0, firstBad: null, unexpected: 0, errors: 0, closed: false, firstAt: 0, lastAt: 0 };
const t0 = performance.now();
let ready = false;

function onPublish(flags, buf, start, end) {
  s.received++;
  s.bytes += end - start;
  const now = performance.now();
  if (!s.firstAt) s.firstAt = now;
  s.lastAt = now;
  const qos = (flags >> 1) & 3;
  const tlen = buf.readUInt16BE(start);
  let p = start + 2 + tlen;
  if (qos > 0) {
    const id = buf.readUInt16BE(p);
    p += 2;
    socket.write(Buffer.from([0x40, 0x02, id >> 8, id & 0xff]));
  }
  if (s.received % opt.checkEvery === 1 || opt.checkEvery === 1) {
    s.checked++;
    const topic = buf.toString('utf8', start + 2, start + 2 + tlen);
    try {
      const j = JSON.parse(buf.toString('utf8', p, end));
      if (!topic.includes(`/${j.device_id}/`)) throw new Error(`device_id ${j.device_id} does not match topic ${topic}`);
    } catch (e) {
      s.bad++;
      s.firstBad ??= e.message;
    }
  }
}

function summary() {
  const span = s.lastAt > s.firstAt ? (s.lastAt - s.firstAt) / 1000 : 0;
  return {
    received: s.received,
    bytes: s.bytes,
    checked: s.checked,
    bad_payloads: s.bad,
    first_bad: s.firstBad,
    unexpected_packets: s.unexpected,
    socket_errors: s.errors,
    closed_by_server: s.closed,
    msg_per_s_while_receiving: span ? Number((s.received / span).toFixed(1)) : null,
    seconds: Number(((performance.now() - t0) / 1000).toFixed(2)),
  };
}

let socket;
const framer = new Framer((type, flags, buf, start, end) => {
  if (type === TYPE.PUBLISH) onPublish(flags, buf, start, end);
  else if (type === TYPE.SUBACK) {
    const granted = buf[end - 1];
    if (granted === 0x80) {
      emit({ event: 'error', error: `SUBACK refused ${opt.filter}` });
      process.exit(1);
    }
    ready = true;
    emit({ event: 'ready', filter: opt.filter, granted_qos: granted });
  } else if (type !== TYPE.PINGRESP) s.unexpected++;
});

try {
  const c = await mqttConnect(opt.port, `bench-sub-${process.pid}-${Date.now().toString(36)}`, { keepalive: 60 });
  socket = c.socket;
  if (c.rest.length) framer.push(c.rest);
} catch (e) {
  emit({ event: 'error', error: `connect failed: ${e.message}` });
  process.exit(1);
}
socket.on('data', (d) => framer.push(d));
socket.on('error', () => s.errors++);
socket.on('close', () => (s.closed = true));
socket.write(subscribePacket(opt.filter, opt.qos));
const ping = setInterval(() => socket.write(Buffer.from([0xc0, 0x00])), 30_000);
ping.unref();
setTimeout(() => {
  emit({ ...summary(), error: `timeout after ${opt.timeout} s`, ready });
  process.exit(1);
}, opt.timeout * 1000).unref();

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (line.trim() === 'report') emit({ event: 'count', ...summary() });
});
rl.on('close', () => {
  socket.end(DISCONNECT);
  emit(summary());
  setTimeout(() => process.exit(0), 200).unref();
});
