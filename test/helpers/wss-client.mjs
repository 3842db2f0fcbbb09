// A live-protocol subscriber over wss:// trusting a given CA: run under Node with the real
// `ws` package (Bun's WebSocket and its `ws` shim take no custom CA in Bun 1.3).
// node wss-client.mjs <url> <ca file> <subscribe message JSON>
// Prints "open <server certificate serial>" once connected, then one JSON line per frame it
// receives, "close <code>" when the connection ends and "error <message>" on an error.
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';

const [url, caFile, subscribe] = process.argv.slice(2);
const ws = new WebSocket(url, { ca: readFileSync(caFile), handshakeTimeout: 5000 });
ws.on('open', () => {
  process.stdout.write(`open ${ws._socket.getPeerCertificate().serialNumber}\n`);
  ws.send(subscribe);
});
ws.on('message', (data) => process.stdout.write(`${String(data)}\n`));
// 'close' always follows 'error'; exit once the last line is written (stdout to a pipe may still hold some)
ws.on('close', (code) => process.stdout.write(`close ${code}\n`, () => process.exit()));
ws.on('error', (err) => {
  process.exitCode = 1;
  process.stdout.write(`error ${err.message}\n`);
});
process.on('SIGTERM', () => ws.terminate());
