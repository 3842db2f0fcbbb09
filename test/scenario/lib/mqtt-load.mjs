// MQTT QoS 1 load under Node with MQTT.js (driven by mqtt-load.ts).
// node mqtt-load.mjs '<json options>'
//   { url, clients, versions: [4, 5], prefix, rate (readings/s over all clients), window (QoS 1
//     publishes awaiting PUBACK per client, default 64), clean (default false: persistent sessions;
//     v5 with Session Expiry Interval), sessionExpiry (s, default 300), reconnectPeriod (ms, 250),
//     urls (several instances: each client goes round them from its own, the next one on each
//     reconnect), commands (each device subscribes at QoS 1 to `cmd/<device>` whenever its
//     session is not present) }
// Each client is one device `${prefix}${i}` publishing to neurobuild/sensors/<device>/data, one
// reading per publish, device_id + timestamp unique. Readings due while the window is full or the
// client is offline wait in the device's buffer (up to 20,000; older ones are dropped and counted).
// MQTT.js keeps unacknowledged publishes and resends them (DUP) after reconnecting.
// stdout, JSON lines: {"ev":"pub","k":[[key,producedAt]...]} {"ev":"ack","k":[[key,producedAt,ackedAt]...]}
//   {"ev":"nack","k":[[key,code]...]} {"ev":"conn","c",sp} {"ev":"close","c"} {"ev":"disconnect","c","rc"}
//   {"ev":"error","c","m"} {"ev":"stat","out","backlog","dropped"} (every 100 ms, and at once on a stop)
//   {"ev":"cmd","k":[[c,payload,dup]...]} (commands received) {"ev":"sub","c"} (subscribed, SUBACK in)
//   {"ev":"stopped"} (a stop taken: the stat line before it is from after it) {"ev":"ended"}
// stdin, JSON lines: {"op":"rate","rate"} {"op":"stop"} (no new readings) {"op":"end"}
import mqtt from 'mqtt';
import { createInterface } from 'node:readline';

const o = JSON.parse(process.argv[2]);
const versions = o.versions ?? [4, 5];
const windowSize = o.window ?? 64;
const BUFFER = 20_000;
let rate = o.rate;
let producing = true;
let pubs = [];
let acks = [];
let nacks = [];
let cmds = [];
const out = (x) => process.stdout.write(`${JSON.stringify(x)}\n`);

const devices = Array.from({ length: o.clients }, (_, i) => {
  const version = versions[i % versions.length];
  const id = `${o.prefix}${i}`;
  const urls = (o.urls ?? [o.url]).map((u) => new URL(u));
  const servers = urls.map((_, k) => urls[(i + k) % urls.length]).map((u) => ({ host: u.hostname, port: Number(u.port) }));
  const client = mqtt.connect(o.url ?? o.urls[0], {
    ...(o.urls ? { servers } : {}),
    protocolVersion: version,
    clientId: id,
    clean: o.clean ?? false,
    reconnectPeriod: o.reconnectPeriod ?? 250,
    connectTimeout: 5000,
    keepalive: 10,
    ...(version === 5 ? { properties: { sessionExpiryInterval: o.sessionExpiry ?? 300 } } : {}),
  });
  const d = { id, client, out: 0, buffer: [], last: 0, credit: 0, dropped: 0 };
  client.on('connect', (p) => {
    out({ ev: 'conn', c: i, sp: p.sessionPresent === true, t: Date.now() });
    if (o.commands && p.sessionPresent !== true) client.subscribe(`cmd/${id}`, { qos: 1 }, (err) => err || out({ ev: 'sub', c: i, t: Date.now() }));
  });
  if (o.commands) client.on('message', (_topic, payload, packet) => cmds.push([i, payload.toString(), packet.dup === true]));
  client.on('close', () => out({ ev: 'close', c: i, t: Date.now() }));
  client.on('disconnect', (p) => out({ ev: 'disconnect', c: i, rc: p.reasonCode ?? 0, t: Date.now() }));
  client.on('error', (err) => out({ ev: 'error', c: i, m: err.message, t: Date.now() }));
  return d;
});

function reading(d) {
  const ms = Math.max(Date.now(), d.last + 1);
  d.last = ms;
  const timestamp = new Date(ms).toISOString();
  const json = JSON.stringify({
    device_id: d.id,
    timestamp,
    sensors: { pir: { motion_detected: ms % 2 === 0 }, mq134: { gas_concentration: 200 + (ms % 50), unit: 'ppm' } },
  });
  return { key: `${d.id}|${timestamp}`, json, at: Date.now() };
}

// offered at: when the device produced the reading (it may wait in the device's buffer before it is published)
function publish(d, r) {
  const at = r.at;
  d.out++;
  pubs.push([r.key, at]);
  d.client.publish(`neurobuild/sensors/${d.id}/data`, r.json, { qos: 1 }, (err) => {
    d.out--;
    if (err) nacks.push([r.key, err.code ?? err.message]);
    else acks.push([r.key, at, Date.now()]);
  });
}

let last = Date.now();
const tick = setInterval(() => {
  const now = Date.now();
  const per = rate / devices.length;
  for (const d of devices) {
    if (producing) {
      d.credit += ((now - last) * per) / 1000;
      while (d.credit >= 1) {
        d.credit -= 1;
        d.buffer.push(reading(d));
        if (d.buffer.length > BUFFER) {
          d.buffer.shift();
          d.dropped++;
        }
      }
    }
    while (d.client.connected && d.out < windowSize && d.buffer.length > 0) publish(d, d.buffer.shift());
  }
  last = now;
}, 10);

const flush = () => {
  if (pubs.length) out({ ev: 'pub', k: pubs });
  if (acks.length) out({ ev: 'ack', k: acks });
  if (nacks.length) out({ ev: 'nack', k: nacks });
  if (cmds.length) out({ ev: 'cmd', k: cmds });
  cmds = [];
  pubs = [];
  acks = [];
  nacks = [];
  let outstanding = 0;
  let backlog = 0;
  let dropped = 0;
  for (const d of devices) {
    outstanding += d.out;
    backlog += d.buffer.length;
    dropped += d.dropped;
  }
  out({ ev: 'stat', out: outstanding, backlog, dropped, connected: devices.filter((d) => d.client.connected).length });
};
const flusher = setInterval(flush, 100);

const commands = createInterface({ input: process.stdin });
// the test process went away: so do we
commands.on('close', () => process.exit(0));
commands.on('line', (line) => {
  const c = JSON.parse(line);
  if (c.op === 'rate') rate = c.rate;
  else if (c.op === 'stop') {
    producing = false;
    flush();
    out({ ev: 'stopped' });
  }
  else if (c.op === 'end') {
    clearInterval(tick);
    clearInterval(flusher);
    flush();
    for (const d of devices) d.client.end(true);
    // exit once the last line is written (stdout to a pipe may still hold earlier ones)
    process.stdout.write(`${JSON.stringify({ ev: 'ended' })}\n`, () => process.exit(0));
  }
});
