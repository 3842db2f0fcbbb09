// Connections that never finish authenticating, opened at once from one Node process:
//   mqtt <port> <n> <declared> <sent>: TCP, each sends a CONNECT fixed header declaring <declared>
//     bytes and then <sent> of them, and waits;
//   ws <port> <n>: WebSocket upgrades to /mqtt, each then silent.
// Prints {"ready":…} once every one was answered or is open, then on SIGTERM closes them and
// prints {"closed_by_server":…,"upgrade_statuses":…}.
import { connect } from 'node:net';
import { request } from 'node:http';

const [mode, port, n, declared, sent] = process.argv.slice(2);
const sockets = [];
let closedByServer = 0;
const statuses = {};
let stopping = false;

function varint(x) {
  const out = [];
  do {
    let b = x % 128;
    x = Math.floor(x / 128);
    if (x > 0) b |= 0x80;
    out.push(b);
  } while (x > 0);
  return out;
}

const openMqtt = () =>
  new Promise((resolve) => {
    const s = connect(Number(port), '127.0.0.1', () => {
      s.write(Buffer.from([0x10, ...varint(Number(declared))]));
      s.write(Buffer.alloc(Number(sent), 0x61));
      resolve();
    });
    s.on('error', () => resolve());
    s.on('close', () => {
      if (!stopping) closedByServer++;
      resolve();
    });
    sockets.push(s);
  });

const openWs = () =>
  new Promise((resolve) => {
    const req = request({ port: Number(port), host: '127.0.0.1', path: '/mqtt', headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol': 'mqtt' } });
    req.on('upgrade', (_res, socket) => {
      statuses['101'] = (statuses['101'] ?? 0) + 1;
      socket.on('error', () => {});
      socket.on('close', () => {
        if (!stopping) closedByServer++;
      });
      sockets.push(socket);
      resolve();
    });
    req.on('response', (res) => {
      statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
      res.resume();
      resolve();
    });
    req.on('error', () => {
      statuses.error = (statuses.error ?? 0) + 1;
      resolve();
    });
    req.end();
  });

await Promise.all(Array.from({ length: Number(n) }, mode === 'ws' ? openWs : openMqtt));
console.log(JSON.stringify({ ready: true, closed_by_server: closedByServer, upgrade_statuses: statuses }));
process.on('SIGTERM', () => {
  stopping = true;
  for (const s of sockets) s.destroy();
  console.log(JSON.stringify({ closed_by_server: closedByServer, upgrade_statuses: statuses }));
  process.exit(0);
});
setInterval(() => {}, 1000);
