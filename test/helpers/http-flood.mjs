// Opens N connections at once to 127.0.0.1:<port>, each sending a request head with `headers`
// and a body of `bytes` (written whole, as an attacker would), and prints one JSON line: how
// each ended (the status line answered, or "reset" when the server closed without an answer
// the client could read). Run under Node: Bun's node:net does not report every reset socket's close.
import { connect } from 'node:net';

const [port, n, bytes, headersJson] = process.argv.slice(2);
const headers = JSON.parse(headersJson ?? '{}');
const body = Buffer.alloc(Number(bytes), 0x20);
const head = `POST /api/v1/sensor-data HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
const one = () =>
  new Promise((resolve) => {
    const s = connect(Number(port), '127.0.0.1', () => {
      s.write(head);
      s.write(body);
    });
    let text = '';
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => resolve(text.startsWith('HTTP/1.1 ') ? text.slice(9, 12) : 'reset'));
  });
const ends = await Promise.all(Array.from({ length: Number(n) }, one));
const counts = {};
for (const e of ends) counts[e] = (counts[e] ?? 0) + 1;
console.log(JSON.stringify(counts));
