#!/usr/bin/env node
// Raw WebSocket subscribers for the WebSocket benchmark, many in one process: each connects with
// node:net, upgrades by hand, sends {"type":"subscribe","filters":{}} (every reading) as a
// masked frame and waits for "subscribed". Then, by --mode:
//   count  counts the server's data frames by walking frame headers only; the first data frame
//          of every connection and every --sample-th of the process are JSON.parse'd and must be
//          {"type":"sensor-data","data":{"device_id":...},"timestamp":...}; pings are answered.
//   slow   pauses every socket and never reads it (a timer keeps the process alive), until the
//          "drain" command: then it reads everything, and reports which connections are still
//          open and which the server closed (with the close code).
//
//   node bench/ws/subscribers.mjs --port 3001 --connections 500 [--mode count|slow]
//        [--sample 1000] [--batch 100] [--timeout 600]
//
// Connections are opened --batch at a time; one that fails to connect (reset, refused, no answer)
// is tried again twice, counted in "retried"; a refused upgrade (e.g. 503) fails at once.
// stdout, one JSON object per line: {"event":"ready",...} once all are subscribed; for every
// stdin line "count" {"event":"count","frames":N,"bytes":N,"at":<epoch ms>,"open":N}; for
// "drain" (slow mode) {"event":"drained",...}; when stdin closes {"event":"final",...} with
// per-connection minimum/maximum, then it exits. {"event":"error","message":...} on failure.
// Only 127.0.0.1 is used. Exits by itself after --timeout seconds.
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { FrameWalker, OP, clientFrame, wsConnect } from './wsframes.mjs';

const { values: a } = parseArgs({
  options: {
    port: { type: 'string' },
    connections: { type: 'string', default: '500' },
    mode: { type: 'string', default: 'count' },
    sample: { type: 'string', default: '1000' },
    batch: { type: 'string', default: '100' },
    timeout: { type: 'string', default: '600' },
  },
});
const PORT = Number(a.port);
const CONNECTIONS = Number(a.connections);
const SAMPLE = Number(a.sample);
const BATCH = Number(a.batch);
const SLOW = a.mode === 'slow';
const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
if (!PORT || !CONNECTIONS || !SAMPLE || !BATCH || !['count', 'slow'].includes(a.mode)) {
  emit({ event: 'error', message: `bad arguments ${process.argv.slice(2).join(' ')}` });
  process.exit(2);
}

const SUBSCRIBE = clientFrame(OP.TEXT, JSON.stringify({ type: 'subscribe', filters: {} }));
const t = { frames: 0, bytes: 0, sampled: 0, bad: 0, firstBad: null, pings: 0, unexpected: 0, protocolErrors: 0, socketErrors: 0, closes: {} };
const subs = [];
let lastDataAt = 0;

function check(payload) {
  t.sampled++;
  try {
    const j = JSON.parse(payload.toString('utf8'));
    if (j.type !== 'sensor-data' || typeof j.data?.device_id !== 'string' || typeof j.timestamp !== 'string') throw new Error(`not a sensor-data frame: ${payload.toString('utf8', 0, 200)}`);
  } catch (e) {
    t.bad++;
    t.firstBad ??= e.message;
  }
}

/** One subscriber on an upgraded socket; resolves once the server answered "subscribed". */
function subscribe(socket, leftover) {
  return new Promise((resolve, reject) => {
    const sub = { socket, frames: 0, subscribed: false, open: true, closeCode: null };
    const want = (op) => !sub.subscribed || (op !== OP.TEXT && op !== OP.BINARY) || sub.frames === 0 || (t.frames + 1) % SAMPLE === 0;
    const walker = new FrameWalker(want, (op, len, payload) => {
      if (op === OP.TEXT || op === OP.BINARY) {
        if (sub.subscribed) {
          sub.frames++;
          t.frames++;
          t.bytes += len;
          if (payload) check(payload);
          return;
        }
        let j;
        try {
          j = JSON.parse(payload.toString('utf8'));
        } catch {
          j = { type: 'unparsable' };
        }
        if (j.type === 'connected') return;
        if (j.type === 'subscribed') {
          sub.subscribed = true;
          subs.push(sub);
          if (SLOW) socket.pause();
          return resolve();
        }
        return reject(new Error(`unexpected frame before "subscribed": ${payload.toString('utf8', 0, 200)}`));
      }
      if (op === OP.PING) {
        t.pings++;
        socket.write(clientFrame(OP.PONG, payload));
      } else if (op === OP.CLOSE) {
        sub.closeCode = len >= 2 ? payload.readUInt16BE(0) : 1005;
        t.closes[sub.closeCode] = (t.closes[sub.closeCode] ?? 0) + 1;
        socket.end(clientFrame(OP.CLOSE, payload.subarray(0, 2)));
      } else if (op === -1) {
        t.protocolErrors++;
        socket.destroy();
      } else if (op !== OP.PONG) t.unexpected++;
    });
    socket.on('data', (d) => {
      lastDataAt = performance.now();
      walker.push(d);
    });
    socket.on('error', () => t.socketErrors++);
    socket.on('close', () => {
      sub.open = false;
      if (!sub.subscribed) reject(new Error('connection closed before "subscribed"'));
    });
    socket.write(SUBSCRIBE);
    if (leftover.length) walker.push(leftover);
    socket.resume();
  });
}

function counts() {
  return { frames: t.frames, bytes: t.bytes, at: performance.timeOrigin + performance.now(), open: subs.filter((s) => s.open).length };
}

function summary() {
  const per = subs.map((s) => s.frames);
  return {
    ...counts(),
    connections: subs.length,
    min_per_connection: per.length ? Math.min(...per) : 0,
    max_per_connection: per.length ? Math.max(...per) : 0,
    sampled: t.sampled,
    bad_frames: t.bad,
    first_bad: t.firstBad,
    closes: t.closes,
    pings: t.pings,
    unexpected_frames: t.unexpected,
    protocol_errors: t.protocolErrors,
    socket_errors: t.socketErrors,
    cpu_s: Number(((process.cpuUsage().user + process.cpuUsage().system) / 1e6).toFixed(2)),
  };
}

/** Slow mode, "drain": read everything the server kept for us, until 500 ms pass without data. */
async function drain() {
  const t0 = performance.now();
  lastDataAt = t0;
  for (const s of subs) s.socket.resume();
  while (performance.now() - lastDataAt < 500 && performance.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 100));
  return { ...summary(), per_connection: subs.map((s) => ({ frames: s.frames, open: s.open, close_code: s.closeCode })) };
}

/** Failures of the connection itself (reset, refused, no answer in time), not answers of the server: worth another try. */
const transient = (e) => Boolean(e.code) || /^no WebSocket upgrade answer|^connection closed during/.test(e.message);
let retried = 0;

/** Connects and subscribes one subscriber; a transient failure is tried again (3 attempts in all, 100 then 200 ms apart). */
async function connectOne() {
  for (let attempt = 1; ; attempt++) {
    try {
      const { socket, leftover } = await wsConnect(PORT, '/');
      try {
        return await subscribe(socket, leftover);
      } catch (e) {
        socket.destroy();
        throw e;
      }
    } catch (e) {
      if (attempt >= 3 || !transient(e)) throw e;
      retried++;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

async function main() {
  const t0 = performance.now();
  // --batch connections at a time (handshake and "subscribed"), so that 10,000 do not flood the listen backlog
  for (let i = 0; i < CONNECTIONS; i += BATCH) {
    const n = Math.min(BATCH, CONNECTIONS - i);
    await Promise.all(Array.from({ length: n }, connectOne));
  }
  emit({ event: 'ready', connections: subs.length, mode: a.mode, ms: Math.round(performance.now() - t0), retried });
  readline.createInterface({ input: process.stdin }).on('line', async (line) => {
    const cmd = line.trim();
    if (cmd === 'count') emit({ event: 'count', ...counts() });
    else if (cmd === 'drain') emit({ event: 'drained', ...(await drain()) });
  });
  process.stdin.on('end', () => {
    emit({ event: 'final', ...summary() });
    for (const s of subs) s.socket.destroy();
    process.exit(0);
  });
}

// a paused socket does not keep the event loop alive: this timer does, and bounds the process
const deadline = setTimeout(() => {
  emit({ event: 'error', message: `timeout after ${a.timeout} s` });
  process.exit(3);
}, Number(a.timeout) * 1000);
setInterval(() => {}, 1000);
void deadline;

main().catch((e) => {
  emit({ event: 'error', message: e.message });
  process.exit(1);
});
