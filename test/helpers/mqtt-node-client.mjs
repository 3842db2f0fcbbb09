// MQTT.js under Node (its WebSocket transport needs the real `ws` package, which Bun replaces).
// node mqtt-node-client.mjs <url> <protocolVersion>
// Reads JSON commands on stdin, one per line: {"id":1,"op":"publish","topic","payload","qos"} |
// {"id":2,"op":"subscribe","topics":[...],"qos"} | {"id":3,"op":"end"}.
// Writes JSON lines: {"event":"connected"}, {"id","ok":true} / {"id","ok":false,"code","message"},
// {"event":"message","topic","payload"}, {"event":"close"}, {"event":"error","message"}.
import mqtt from 'mqtt';
import { createInterface } from 'node:readline';

const [url, version] = process.argv.slice(2);
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const client = mqtt.connect(url, { protocolVersion: Number(version), reconnectPeriod: 0 });
client.on('connect', () => out({ event: 'connected' }));
client.on('message', (topic, payload) => out({ event: 'message', topic, payload: String(payload) }));
client.on('close', () => out({ event: 'close' }));
client.on('error', (err) => out({ event: 'error', message: err.message }));
const answer = (id) => (err) => out(err ? { id, ok: false, code: err.code, message: err.message } : { id, ok: true });
createInterface({ input: process.stdin }).on('line', (line) => {
  const c = JSON.parse(line);
  if (c.op === 'publish') client.publish(c.topic, c.payload, { qos: c.qos ?? 0 }, answer(c.id));
  else if (c.op === 'subscribe') client.subscribe(c.topics, { qos: c.qos ?? 0 }, answer(c.id));
  else if (c.op === 'end') client.end(false, {}, () => process.exit(0));
});
