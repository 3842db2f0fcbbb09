// Devices of an AUTH_MODE=api-key run: registered through the server's admin API
// (POST /api/v1/admin/devices {"device_id"} with Authorization: Bearer <ADMIN_TOKEN> → 201 with
// the key, shown once), their keys written to a file of "<device_id> <api key>" lines that the
// load generators read (bench/http/common.lua: BENCH_KEYS_FILE; bench/mqtt/load.mjs: --credentials).
import fs from 'node:fs';
import http from 'node:http';
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
