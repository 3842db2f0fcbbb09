// Shared pieces of the MQTT benchmark clients (load.mjs, subscriber.mjs, run.mjs):
// packet templates built once with mqtt-packet, a minimal incoming-packet framer (the clients
// only ever receive CONNACK, SUBACK, PUBACK, PINGRESP and PUBLISH), a cheap ISO-timestamp
// writer and a mergeable log-bucket latency histogram. MQTT 3.1.1, and v5 where asked (CONNECT and
// SUBSCRIBE with properties, CONNACK with properties) for the fan-out subscribers.
import net from 'node:net';
import mqtt from 'mqtt-packet';

export const PROTOCOL_VERSION = 4; // MQTT 3.1.1
export const TYPE = { CONNACK: 2, PUBLISH: 3, PUBACK: 4, SUBACK: 9, PINGRESP: 13, DISCONNECT: 14 };
export const PINGREQ = Buffer.from([0xc0, 0x00]);
export const DISCONNECT = Buffer.from([0xe0, 0x00]);

/**
 * CONNECT, with username and password when given (e.g. a device id and its API key);
 * `protocolVersion` 5 with `properties` (e.g. {receiveMaximum: 20}) for a v5 client.
 */
export function connectPacket(clientId, keepalive = 60, { username, password, protocolVersion = PROTOCOL_VERSION, properties } = {}) {
  const creds = username === undefined ? {} : { username, password: password === undefined ? undefined : Buffer.from(password) };
  const props = protocolVersion === 5 && properties ? { properties } : {};
  return mqtt.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion, clean: true, clientId, keepalive, ...creds, ...props });
}

/** SUBSCRIBE to one filter (v5: with an empty property list). */
export function subscribePacket(topic, qos = 0, messageId = 1, protocolVersion = PROTOCOL_VERSION) {
  if (protocolVersion === 5) return mqtt.generate({ cmd: 'subscribe', messageId, subscriptions: [{ topic, qos }], properties: {} }, { protocolVersion: 5 });
  return mqtt.generate({ cmd: 'subscribe', messageId, subscriptions: [{ topic, qos }] });
}

/** The command topic of fleet device n (bench:mqtt's subscribed-idle clients). */
export const commandTopic = (n) => `fleet/dev-${n}/cmd`;

/** PUBACK of packet id `id` (v3.1.1, and v5 with reason code 0 left out). */
export function pubackPacket(id) {
  return Buffer.from([0x40, 0x02, id >> 8, id & 0xff]);
}

/**
 * Length of an MQTT variable byte integer at buf[off]: {value, bytes}, or null when it is not
 * complete within the buffer (or longer than 4 bytes).
 */
export function readVarint(buf, off) {
  let value = 0;
  let mul = 1;
  for (let k = 0; k < 4 && off + k < buf.length; k++) {
    const b = buf[off + k];
    value += (b & 0x7f) * mul;
    mul *= 128;
    if ((b & 0x80) === 0) return { value, bytes: k + 1 };
  }
  return null;
}

const TS_PLACEHOLDER = '2000-01-01T00:00:00.000Z'; // 24 bytes, the toISOString() form

const SEQ_PLACEHOLDER = '"seq":               0,'; // the number right-aligned in 16 characters (JSON allows the spaces)

/**
 * A PUBLISH of one sensor reading for `deviceId` on `{prefix}/{deviceId}/data`, as bytes with
 * two holes patched per message: the packet id (QoS 1) and the 24-byte timestamp; with `seq`,
 * a third: the sequence number (writeSeq).
 */
export function readingTemplate(deviceId, qos, prefix = 'neurobuild/sensors', seq = false) {
  const payload =
    `{"device_id":"${deviceId}",${seq ? SEQ_PLACEHOLDER : ''}"timestamp":"${TS_PLACEHOLDER}","sensors":{"ld2410":{"presence":true,"distance":150,"energy":75},` +
    `"pir":{"motion_detected":true},"mq134":{"gas_concentration":250,"unit":"ppm"}}}`;
  const topic = `${prefix}/${deviceId}/data`;
  const bytes = mqtt.generate({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: false, dup: false, messageId: qos ? 0xbeef : undefined });
  const tsOffset = bytes.indexOf(TS_PLACEHOLDER, 0, 'latin1');
  let idOffset = -1;
  if (qos) {
    idOffset = bytes.indexOf(Buffer.from(topic)) + Buffer.byteLength(topic);
    if (bytes.readUInt16BE(idOffset) !== 0xbeef) throw new Error('packet id not found in PUBLISH template');
  }
  if (tsOffset < 0) throw new Error('timestamp not found in PUBLISH template');
  const seqOffset = seq ? bytes.indexOf(SEQ_PLACEHOLDER, 0, 'latin1') + 6 : -1;
  return { bytes, length: bytes.length, tsOffset, idOffset, seqOffset };
}

/** Writes `n` right-aligned into the 16 characters of a template's seq hole at `off`. */
export function writeSeq(buf, off, n) {
  const s = String(n);
  buf.fill(32, off, off + 16 - s.length);
  buf.write(s, off + 16 - s.length, 'latin1');
}

/** Writes `new Date(ms).toISOString()` into buf at off; the date part is cached per second. */
export class IsoWriter {
  #sec = -1;
  #prefix = Buffer.alloc(20); // "YYYY-MM-DDTHH:MM:SS."
  write(buf, off, ms) {
    const sec = Math.floor(ms / 1000);
    if (sec !== this.#sec) {
      this.#sec = sec;
      this.#prefix.write(new Date(sec * 1000).toISOString().slice(0, 20), 0, 'latin1');
    }
    this.#prefix.copy(buf, off);
    const milli = ms - sec * 1000;
    buf[off + 20] = 48 + ((milli / 100) | 0);
    buf[off + 21] = 48 + (((milli / 10) | 0) % 10);
    buf[off + 22] = 48 + (milli % 10);
    buf[off + 23] = 90; // 'Z'
  }
}

/**
 * Splits a byte stream into MQTT packets and calls onPacket(type, flags, buf, start, end) for
 * each, where buf[start..end) is the variable header + payload. Keeps a partial tail.
 */
export class Framer {
  #tail = null;
  constructor(onPacket) {
    this.onPacket = onPacket;
  }
  push(chunk) {
    let buf = chunk;
    if (this.#tail) {
      buf = Buffer.concat([this.#tail, chunk]);
      this.#tail = null;
    }
    let i = 0;
    const n = buf.length;
    while (i < n) {
      if (n - i < 2) break;
      let len = 0;
      let mul = 1;
      let j = i + 1;
      let complete = false;
      for (let k = 0; k < 4 && j < n; k++, j++) {
        const b = buf[j];
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          j++;
          break;
        }
      }
      if (!complete) {
        if (j - i >= 5) throw new Error('malformed remaining length from server');
        break;
      }
      if (j + len > n) break;
      this.onPacket(buf[i] >> 4, buf[i] & 0x0f, buf, j, j + len);
      i = j + len;
    }
    if (i < n) this.#tail = buf.subarray(i);
  }
}

/** Latency histogram in microseconds, log buckets of ~1 %: mergeable and cheap to record. */
export class Histogram {
  static BUCKETS = 1700; // 1.01^1700 µs ≈ 22 000 s
  static LN = Math.log(1.01);
  constructor(counts) {
    this.counts = counts ? Uint32Array.from(counts) : new Uint32Array(Histogram.BUCKETS);
    this.n = this.counts.reduce((a, b) => a + b, 0);
  }
  record(us) {
    const b = us <= 1 ? 0 : Math.min(Histogram.BUCKETS - 1, Math.ceil(Math.log(us) / Histogram.LN));
    this.counts[b]++;
    this.n++;
  }
  merge(other) {
    for (let i = 0; i < Histogram.BUCKETS; i++) this.counts[i] += other.counts[i];
    this.n += other.n;
  }
  /** p in [0, 100]; the upper edge of the bucket holding that rank, in milliseconds. */
  percentile(p) {
    if (!this.n) return null;
    const rank = Math.max(1, Math.ceil((p / 100) * this.n));
    let seen = 0;
    for (let i = 0; i < Histogram.BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.pow(1.01, i) / 1000;
    }
    return null;
  }
}

/**
 * Opens a TCP connection to 127.0.0.1:port (from `localAddress` when given, e.g. 127.0.0.2 when
 * one source address runs short of ephemeral ports), sends CONNECT and resolves with the socket
 * once CONNACK (return / reason code 0) arrived; bytes after the CONNACK are handed to the
 * caller's framer. `username` / `password`: sent in the CONNECT when given; `protocolVersion` 5
 * and `properties`: a v5 CONNECT (its CONNACK may carry properties; they are skipped).
 */
export function mqttConnect(port, clientId, { keepalive = 60, timeoutMs = 10_000, username, password, localAddress, protocolVersion = PROTOCOL_VERSION, properties } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true, ...(localAddress ? { localAddress } : {}) });
    let done = false;
    let pending = Buffer.alloc(0);
    let restAt = 0;
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      if (err) {
        socket.destroy();
        reject(err);
      } else resolve({ socket, rest: pending.subarray(restAt) });
    };
    const timer = setTimeout(() => finish(new Error(`no CONNACK within ${timeoutMs} ms`)), timeoutMs);
    const onData = (d) => {
      pending = pending.length ? Buffer.concat([pending, d]) : d;
      if (pending.length < 2) return;
      if (pending[0] >> 4 !== TYPE.CONNACK) return finish(new Error(`expected CONNACK, got packet type ${pending[0] >> 4}`));
      const len = readVarint(pending, 1);
      if (!len || pending.length < 1 + len.bytes + len.value) return;
      const code = pending[1 + len.bytes + 1]; // after the acknowledge flags
      if (code !== 0) return finish(new Error(`CONNACK ${protocolVersion === 5 ? 'reason' : 'return'} code ${code}`));
      restAt = 1 + len.bytes + len.value;
      finish(null);
    };
    socket.on('data', onData);
    socket.once('error', (e) => finish(e));
    socket.once('close', () => finish(new Error('closed before CONNACK')));
    socket.once('connect', () => socket.write(connectPacket(clientId, keepalive, { username, password, protocolVersion, properties })));
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Parses --key value / --flag arguments into an object (values stay strings). */
export function parseArgs(argv, spec) {
  const out = {};
  for (const [k, v] of Object.entries(spec)) out[k] = v.default;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    const s = spec[key];
    if (!s) throw new Error(`unknown option ${a} (known: ${Object.keys(spec).map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(' ')})`);
    if (s.flag) {
      out[key] = true;
      continue;
    }
    const raw = argv[++i];
    if (raw === undefined) throw new Error(`${a} needs a value`);
    const v = s.type === 'string' ? raw : Number(raw);
    if (s.type !== 'string' && (!Number.isFinite(v) || v < (s.min ?? 0) || (s.int !== false && !Number.isInteger(v)))) throw new Error(`${a}: bad value ${raw}`);
    out[key] = v;
  }
  return out;
}
