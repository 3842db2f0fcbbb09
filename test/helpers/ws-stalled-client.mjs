// A live-protocol subscriber that stops reading: run under Node with the real `ws` package.
// node ws-stalled-client.mjs <url> <subscribe message JSON>
// Prints "subscribed" once the server confirmed, then never reads again; on SIGUSR2 it resumes
// reading and prints one JSON line per frame (and "close <code>" when the connection ends).
import WebSocket from 'ws';

const [url, subscribe] = process.argv.slice(2);
const ws = new WebSocket(url);
let resumed = false;
ws.on('message', (data) => {
  const f = JSON.parse(String(data));
  if (f.type === 'subscribed' && !resumed) {
    process.stdout.write('subscribed\n');
    ws._socket.pause();
  } else if (resumed) process.stdout.write(`${String(data)}\n`);
});
ws.on('open', () => ws.send(subscribe));
// exit once the last line is written: stdout to a pipe the test reads slowly may still hold frames
ws.on('close', (code) => process.stdout.write(`close ${code}\n`, () => process.exit(0)));
ws.on('error', (err) => process.stdout.write(`error ${err.message}\n`));
// a paused socket does not keep Node's event loop alive
setInterval(() => {}, 1000);
process.on('SIGUSR2', () => {
  resumed = true;
  ws._socket.resume();
});
