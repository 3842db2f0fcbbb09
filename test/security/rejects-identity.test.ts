/**
 * Attacks (issue 16, findings 4 and 6): refused readings as a way in. On main a device could get
 * a reading for another device into the rejects stream (refused only for its timestamp, kept
 * without its sender) and an admin replay later stored it as that device; refused readings spent
 * no rate budget, and each invented device id made a 30-day device-state key. Now the sender is
 * checked before validation (403, nothing kept), a rejects entry records who sent it, replay
 * refuses an entry whose sender may not write its device, refused readings spend the sender's
 * budget (429 past it, nothing kept), and unauthenticated refusals touch at most 600 devices'
 * state a minute.
 */
import { describe, expect, test } from 'bun:test';
import type { ReplayReport } from '../../src/core/replay.ts';
import { reading } from '../fixtures/readings.ts';
import { ADMIN, registerKey } from '../helpers/identities.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
const future = (deviceId: string, i = 0) => reading({ device_id: deviceId, timestamp: new Date(Date.now() + 3_600_000 + i * 1000).toISOString() });
const post = (base: string, path: string, key: string | undefined, body: unknown) =>
  fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}) }, body: JSON.stringify(body) });

interface Entry {
  id: string;
  device_id?: string;
  identity?: string;
}

describe('security - a refused reading is its sender\'s, and only its sender\'s', () => {
  const stack = useStack({ AUTH_MODE: 'api-key', ADMIN_TOKEN: ADMIN, RATE_LIMIT: 'on' });
  const list = async (query: string) => (await (await fetch(`${stack.server.base}/api/v1/admin/rejects${query}`, { headers: admin })).json()) as { entries: Entry[]; count: number };

  test('security rejects - a reading for another device is 403 before validation: no rejects entry, no device state for it', async () => {
    const key = await registerKey(stack.server.base, 'plant-a');
    const res = await post(stack.server.base, '/api/v1/sensor-data', key, future('victim-b'));
    expect(res.status).toBe(403);
    // a batch answers per reading
    const batch = await post(stack.server.base, '/api/v1/sensor-data/batch', key, [future('victim-b', 1), future('victim-b', 2)]);
    expect(batch.status).toBe(202);
    const results = ((await batch.json()) as { results: { status: string; error: string }[] }).results;
    expect(results.map((r) => [r.status, r.error])).toEqual([['failed', 'Forbidden'], ['failed', 'Forbidden']]);
    expect((await list('?device_id=victim-b')).count).toBe(0);
    expect(await stack.client.exists('device-state:d:victim-b')).toBe(0);
  });

  test('security rejects - a device\'s own refused reading is kept with its identity; an entry whose sender may not write its device is unreplayable', async () => {
    const key = await registerKey(stack.server.base, 'plant-c');
    expect((await post(stack.server.base, '/api/v1/sensor-data', key, future('plant-c'))).status).toBe(400);
    const own = await waitFor(async () => (await list('?device_id=plant-c')).entries[0], 5000, 'the rejects entry of plant-c');
    expect(own!.identity).toBe('plant-c');

    // an entry as main wrote it when a reading for victim-d came from plant-c (sender recorded now)
    const forged = JSON.stringify(reading({ device_id: 'victim-d' }));
    const id = await stack.client.xadd('sensor-data-invalid', '*', 'reason', 'timestamp too far ahead', 'code', 'INVALID_READING', 'source', 'http', 'payload', forged, 'received_at', new Date().toISOString(), 'device_id', 'victim-d', 'identity', 'plant-c');
    const res = await fetch(`${stack.server.base}/api/v1/admin/rejects/replay`, { method: 'POST', headers: admin, body: JSON.stringify({ ids: [id] }) });
    expect(res.status).toBe(200);
    const report = (await res.json()) as ReplayReport;
    expect(report.accepted).toBe(0);
    expect(report.results[0]).toMatchObject({ id, status: 'unreplayable' });
    expect(String(report.results[0]!.reason)).toContain('plant-c');
    expect(await stack.client.xlen('sensor-data')).toBe(0);
  });

  test('security rejects - refused batches spend the batch budget (RATE_LIMIT_BATCH_PER_MINUTE 10): the 11th is 429 and nothing of it is kept', async () => {
    const key = await registerKey(stack.server.base, 'plant-e');
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++) statuses.push((await post(stack.server.base, '/api/v1/sensor-data/batch', key, [future('plant-e', i * 2), future('plant-e', i * 2 + 1)])).status);
    expect(statuses.slice(10).every((s) => s === 429)).toBe(true);
    expect(statuses.slice(0, 10).every((s) => s !== 429)).toBe(true);
    await waitFor(async () => (await list('?device_id=plant-e')).count >= 20, 5000, '20 rejects of plant-e');
    expect((await list('?device_id=plant-e')).count).toBe(20);
  });
});

describe('security - unauthenticated refusals cannot grow the fleet state', () => {
  const stack = useStack({ ADMIN_TOKEN: ADMIN, RATE_LIMIT: 'off' });

  test('security rejects - 800 refused readings for 800 invented devices: at most 600 device states written this minute, every refusal still answered and counted', async () => {
    for (let b = 0; b < 8; b++) {
      const res = await post(stack.server.base, '/api/v1/sensor-data/batch', undefined, Array.from({ length: 100 }, (_, i) => future(`invented-${b}-${i}`)));
      expect(res.status).toBe(202);
      expect(((await res.json()) as { results: { status: string }[] }).results.every((r) => r.status === 'failed')).toBe(true);
    }
    const keys = async () => (await stack.client.keys('device-state:d:invented-*')).length;
    await waitFor(async () => (await keys()) >= 600, 5000, '600 device states');
    // the rejects stream has all 800 (it is trimmed by REJECTS_MAXLEN); device states stop at 600
    await waitFor(async () => (await stack.client.xlen('sensor-data-invalid')) >= 800, 5000, '800 rejects');
    expect(await keys()).toBe(600);
  });
});
