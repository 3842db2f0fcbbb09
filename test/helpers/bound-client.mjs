// One client connection from a chosen source address (127.0.0.x), under Node: Bun ignores
// `localAddress`. node bound-client.mjs '<json>' with {kind, port, from, ...}:
//   mqtt / mqtts: {prefix?: base64 bytes sent first (in the clear, before TLS), clientId, publish?: topic + payload (QoS 1)}
//   ws:           {path, headers?}            (live readings)
//   ws-mqtt:      {path, headers?, clientId}  (MQTT over WebSocket)
//   http:         {path, headers?, body}      (one POST; exits after the answer)
// Writes JSON lines: {"event":"connack","code"}, {"event":"puback"}, {"event":"open"},
// {"event":"refused","status"}, {"event":"status","status"}, {"event":"closed"}. Keeps the
// connection open until killed.
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { request } from 'node:http';
import WebSocket from 'ws';

const spec = JSON.parse(process.argv[2]);
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

/** MQTT 3.1.1 CONNECT, clean session, keep-alive 60 s. */
function connectPacket(clientId) {
  const id = Buffer.from(clientId);
  const body = Buffer.concat([Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 60, id.length >> 8, id.length & 255]), id]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

/** MQTT 3.1.1 PUBLISH QoS 1, packet id 1. */
function publishPacket(topic, payload) {
  const t = Buffer.from(topic);
  const p = Buffer.from(payload);
  const body = Buffer.concat([Buffer.from([t.length >> 8, t.length & 255]), t, Buffer.from([0, 1]), p]);
  const len = [];
  let n = body.length;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 128;
    len.push(b);
  } while (n > 0);
  return Buffer.concat([Buffer.from([0x32, ...len]), body]);
}

/** Reports CONNACK and PUBACK from MQTT bytes as they come. */
function mqttReader(onConnack) {
  let buf = Buffer.alloc(0);
  return (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf[1]) {
      const type = buf[0] >> 4;
      if (type === 2) {
        out({ event: 'connack', code: buf[3] });
        onConnack(buf[3]);
      } else if (type === 4) out({ event: 'puback' });
      buf = buf.subarray(2 + buf[1]);
    }
  };
}

if (spec.kind === 'mqtt' || spec.kind === 'mqtts') {
  // prefix: bytes in the clear before anything else (before the TLS handshake on mqtts), as a proxy's PROXY header
  const raw = connect({ host: '127.0.0.1', port: spec.port, localAddress: spec.from });
  raw.on('error', () => {});
  raw.on('close', () => out({ event: 'closed' }));
  raw.on('connect', () => {
    if (spec.prefix) raw.write(Buffer.from(spec.prefix, 'base64'));
    const socket = spec.kind === 'mqtts' ? tlsConnect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' }) : raw;
    socket.on('error', () => {});
    const start = () => socket.write(connectPacket(spec.clientId));
    if (spec.kind === 'mqtts') socket.on('secureConnect', start);
    else start();
    socket.on('data', mqttReader((code) => {
      if (code === 0 && spec.publish) socket.write(publishPacket(spec.publish.topic, spec.publish.payload));
    }));
  });
} else if (spec.kind === 'ws' || spec.kind === 'ws-mqtt') {
  const ws = new WebSocket(`ws://127.0.0.1:${spec.port}${spec.path}`, spec.kind === 'ws-mqtt' ? ['mqtt'] : [], { localAddress: spec.from, headers: spec.headers ?? {} });
  ws.on('open', () => {
    out({ event: 'open' });
    if (spec.kind === 'ws-mqtt') ws.send(connectPacket(spec.clientId));
  });
  if (spec.kind === 'ws-mqtt') {
    const read = mqttReader(() => {});
    ws.on('message', (m) => read(Buffer.from(m)));
  }
  ws.on('unexpected-response', (_req, res) => {
    out({ event: 'refused', status: res.statusCode });
    res.resume();
  });
  ws.on('error', () => {});
  ws.on('close', () => out({ event: 'closed' }));
} else if (spec.kind === 'http') {
  const req = request({ host: '127.0.0.1', port: spec.port, path: spec.path, method: 'POST', localAddress: spec.from, headers: { 'content-type': 'application/json', ...(spec.headers ?? {}) } }, (res) => {
    res.resume();
    res.on('end', () => {
      out({ event: 'status', status: res.statusCode });
      process.exit(0);
    });
  });
  req.on('error', (err) => {
    out({ event: 'error', message: err.message });
    process.exit(1);
  });
  req.end(spec.body);
}
