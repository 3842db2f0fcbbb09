// Devices of an AUTH_MODE=api-key run: registered through the server's admin API
// (POST /api/v1/admin/devices {"device_id"} with Authorization: Bearer <ADMIN_TOKEN> → 201 with
// the key, shown once), their keys written to a file of "<device_id> <api key>" lines that the
// load generators read (bench/http/common.lua: BENCH_KEYS_FILE; bench/mqtt/load.mjs: --credentials).
import fs from 'node:fs';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';

/** POST one registration; resolves with the key, rejects on anything but 201 with an api_key. */
function registerOne(agent, port, token, id) {
  const body = JSON.stringify({ device_id: id });
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/api/v1/admin/devices',
        agent,
        timeout: 10_000,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token}` },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let key;
          try {
            key = JSON.parse(text).api_key;
          } catch {
            /* not JSON */
          }
          if (res.statusCode === 201 && typeof key === 'string') resolve(key);
          else reject(new Error(`registering ${id}: ${res.statusCode} ${text.slice(0, 300)}`));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`registering ${id}: no answer within 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Registers `ids` on the server at 127.0.0.1:`port` (at most `concurrency` requests in flight over
 * keep-alive connections) and writes "<id> <key>" lines, in the order of `ids`, to `file` (0600).
 * @returns {Promise<{devices: number, seconds: number}>}
 */
export async function registerDevices({ port, token, ids, file, concurrency = 16 }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const keys = new Array(ids.length);
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < ids.length) {
      const i = next++;
      keys[i] = await registerOne(agent, port, token, ids[i]);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, worker));
  } finally {
    agent.destroy();
  }
  fs.writeFileSync(file, ids.map((id, i) => `${id} ${keys[i]}\n`).join(''), { mode: 0o600 });
  return { devices: ids.length, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Devices whose keys this server never issued (the platform's device-management keys): random
 * opaque keys that `verifier` (a DEVICE_AUTH_URL service) knows, written as "<id> <key>" lines like
 * registerDevices' file. The server learns them by asking the verifier (once per key while cached).
 * @returns {{devices: number, seconds: number}}
 */
export function foreignDevices({ ids, file, verifier }) {
  const t0 = performance.now();
  const keys = ids.map(() => `dm_${randomBytes(30).toString('base64url')}`);
  ids.forEach((id, i) => verifier.keys.set(keys[i], id));
  fs.writeFileSync(file, ids.map((id, i) => `${id} ${keys[i]}\n`).join(''), { mode: 0o600 });
  return { devices: ids.length, seconds: (performance.now() - t0) / 1000 };
}

/**
 * A DEVICE_AUTH_URL service on 127.0.0.1: POST {"api_key"} → 200 {"deviceId"} for a key it knows,
 * else 401; counts its calls. Runs in the bench process (it is asked once per key per cache period).
 */
export async function startVerifier() {
  const keys = new Map();
  let calls = 0;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      calls++;
      let id;
      try {
        id = keys.get(JSON.parse(raw).api_key);
      } catch {
        /* not JSON: refused */
      }
      if (id === undefined) res.writeHead(401).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ deviceId: id }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    keys,
    url: `http://127.0.0.1:${port}/verify`,
    get calls() {
      return calls;
    },
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
