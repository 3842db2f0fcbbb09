/**
 * The HTTP API end to end: the built server under Node, a real redis-server (or a Redis Cluster,
 * with one or several streams), fetch. Run by http-ingest.test.ts and test/cluster/.
 */
import { describe, expect, test } from 'bun:test';
import { pack } from 'msgpackr';
import { designExample, reading } from '../fixtures/readings.ts';
import { type StackOptions, useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';
import { LiveClient } from '../helpers/ws-client.ts';

/** @param prefix put before every test name (e.g. "cluster, 6 shards - ") */
export function httpIngestSuite(prefix = '', opts: StackOptions = {}): void {
  const stack = useStack({ MAX_BODY_BYTES: '65536' }, opts);
  const sharded = stack.layout.shards > 1;

  async function streamEntry(messageId: string): Promise<Record<string, string> | undefined> {
    const rows = await stack.xrange('sensor-data');
    for (const [, flat] of rows) {
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
      if (f.message_id === messageId) return f;
    }
    return undefined;
  }

  describe(`${prefix}http - single reading`, () => {
    test(`${prefix}http - a valid reading gets 202 after it is in the stream, enriched, as JSON in the data field`, async () => {
      const res = await stack.server.post('/api/v1/sensor-data', designExample);
      expect(res.status).toBe(202);
      const body = (await res.json()) as Record<string, string>;
      expect(body).toMatchObject({ message: 'Sensor data accepted', device_id: 'esp32-001', timestamp: '2025-10-16T18:33:58.000Z' });
      const entry = await streamEntry(body.message_id!);
      expect(entry).toBeDefined();
      expect(entry!.device_id).toBe('esp32-001');
      const data = JSON.parse(entry!.data!);
      expect(data).toMatchObject({ ...designExample, timestamp: '2025-10-16T18:33:58.000Z', message_id: body.message_id });
      expect(Date.parse(data.received_at)).toBeGreaterThan(Date.now() - 10_000);
    });

    test(`${prefix}http - the same (device_id, timestamp) again is 409 and not stored twice`, async () => {
      const one = reading();
      expect((await stack.server.post('/api/v1/sensor-data', one)).status).toBe(202);
      const again = await stack.server.post('/api/v1/sensor-data', { ...one, sensors: { pir: { motion_detected: false } } });
      expect(again.status).toBe(409);
      expect(await again.json()).toMatchObject({ error: 'Duplicate reading', device_id: one.device_id });
      const rows = await stack.xrange('sensor-data');
      expect(rows.filter(([, f]) => f[3] === one.device_id).length).toBe(1);
    });

    test(`${prefix}http - MessagePack bodies are accepted`, async () => {
      const one = reading();
      const res = await stack.server.post('/api/v1/sensor-data', pack(one), { 'content-type': 'application/msgpack' });
      expect(res.status).toBe(202);
      const { message_id } = (await res.json()) as { message_id: string };
      expect(JSON.parse((await streamEntry(message_id))!.data!).device_id).toBe(one.device_id);
    });

    const invalid: [string, Record<string, unknown>, string][] = [
      ['distance 601', { sensors: { ld2410: { presence: true, distance: 601, energy: 1 } } }, 'sensors.ld2410.distance must be <= 600'],
      ['energy 101', { sensors: { ld2410: { presence: true, distance: 1, energy: 101 } } }, 'sensors.ld2410.energy must be <= 100'],
      ['unit mg', { sensors: { mq134: { gas_concentration: 1, unit: 'mg' } } }, 'sensors.mq134.unit must be one of "ppm", "ppb"'],
      ['negative gas', { sensors: { mq134: { gas_concentration: -1, unit: 'ppm' } } }, 'sensors.mq134.gas_concentration must be >= 0'],
      ['pir not boolean', { sensors: { pir: { motion_detected: 'yes' } } }, 'sensors.pir.motion_detected must be a boolean'],
      ['bad device_id', { device_id: 'esp32/001' }, 'device_id must match ^[a-zA-Z0-9_-]+$'],
      ['bad timestamp', { timestamp: '16/10/2025' }, 'timestamp must be an ISO 8601 date-time (without a time zone: UTC) or a number of epoch seconds or milliseconds'],
      ['future timestamp', { timestamp: new Date(Date.now() + 3_600_000).toISOString() }, 'timestamp is more than 300 s in the future'],
      ['empty sensors', { sensors: {} }, 'sensors must contain at least one sensor'],
    ];
    for (const [name, over, details] of invalid) {
      test(`http - ${name} → 400 naming the path`, async () => {
        const res = await stack.server.post('/api/v1/sensor-data', reading(over));
        expect(res.status).toBe(400);
        expect(await res.json()).toMatchObject({ error: 'Invalid sensor data', details });
      });
    }

    test(`${prefix}http - boundary values are accepted (distance 600, unit ppb)`, async () => {
      const res = await stack.server.post('/api/v1/sensor-data', reading({ sensors: { ld2410: { presence: false, distance: 600, energy: 0 }, mq134: { gas_concentration: 0, unit: 'ppb' } } }));
      expect(res.status).toBe(202);
    });

    test(`${prefix}http - a rejected reading is kept in the rejects stream with its reason`, async () => {
      const bad = reading({ sensors: { ld2410: { presence: true, distance: 999, energy: 1 } } });
      await stack.server.post('/api/v1/sensor-data', bad);
      const found = await waitFor(async () => {
        const rows = await stack.xrange('sensor-data-invalid');
        return rows.map(([, f]) => f).find((f) => f.includes(bad.device_id as string));
      }, 3000, 'reject entry');
      expect(found).toContain('sensors.ld2410.distance must be <= 600');
      expect(found).toContain('INGEST_ERR_INVALID_READING');
    });

    test(`${prefix}http - malformed JSON → 400 with the parser message`, async () => {
      const res = await stack.server.post('/api/v1/sensor-data', '{"device_id": "x",');
      expect(res.status).toBe(400);
      const body = (await res.json()) as { details: string };
      expect(body.details).toStartWith('malformed JSON');
    });

    test(`${prefix}http - unsupported content type → 415`, async () => {
      const res = await stack.server.post('/api/v1/sensor-data', 'device_id=x', { 'content-type': 'application/x-www-form-urlencoded' });
      expect(res.status).toBe(415);
      expect(await res.json()).toMatchObject({ code: 'INGEST_ERR_UNSUPPORTED_MEDIA_TYPE' });
    });

    test(`${prefix}http - a body over MAX_BODY_BYTES → 413, declared or streamed`, async () => {
      const big = JSON.stringify({ ...reading(), pad: 'x'.repeat(70_000) });
      const res = await stack.server.post('/api/v1/sensor-data', big);
      expect(res.status).toBe(413);
      expect(await res.json()).toMatchObject({ code: 'INGEST_ERR_PAYLOAD_TOO_LARGE' });
      const chunks = new ReadableStream({
        start(c) {
          for (let i = 0; i < 20; i++) c.enqueue(new TextEncoder().encode('x'.repeat(8192)));
          c.close();
        },
      });
      const streamed = await fetch(stack.server.base + '/api/v1/sensor-data', { method: 'POST', body: chunks, headers: { 'content-type': 'application/json' } }).catch((e: Error) => e);
      // chunked upload: either a 413 answer or the connection closed on us, never a 2xx
      if (streamed instanceof Response) expect(streamed.status).toBe(413);
      else expect(streamed).toBeInstanceOf(Error);
    });

    test(`${prefix}http - unknown route → 404, wrong method → 405 with Allow`, async () => {
      const nf = await fetch(stack.server.base + '/api/v2/nothing');
      expect(nf.status).toBe(404);
      expect(await nf.json()).toMatchObject({ error: 'Not found', code: 'INGEST_ERR_NOT_FOUND' });
      const na = await fetch(stack.server.base + '/api/v1/sensor-data');
      expect(na.status).toBe(405);
      expect(na.headers.get('allow')).toBe('POST');
    });
  });

  describe(`${prefix}http - batch`, () => {
    test(`${prefix}http - a mixed batch gets per-item statuses`, async () => {
      const dup = reading();
      await stack.server.post('/api/v1/sensor-data', dup);
      const items = [reading(), reading({ sensors: { ld2410: { presence: true, distance: 700, energy: 1 } } }), dup, 'not an object'];
      const res = await stack.server.post('/api/v1/sensor-data/batch', items);
      expect(res.status).toBe(202);
      const body = (await res.json()) as { total: number; results: Record<string, unknown>[] };
      expect(body.total).toBe(4);
      expect(body.results[0]).toMatchObject({ status: 'accepted', device_id: items[0] && (items[0] as Record<string, unknown>).device_id });
      expect(typeof body.results[0]!.message_id).toBe('string');
      expect(body.results[1]).toMatchObject({ status: 'failed', error: 'Invalid sensor data', details: 'sensors.ld2410.distance must be <= 600' });
      expect(body.results[2]).toMatchObject({ status: 'duplicate', device_id: dup.device_id });
      expect(body.results[3]).toMatchObject({ status: 'failed', device_id: null, details: 'body must be an object' });
      expect(await streamEntry(body.results[0]!.message_id as string)).toBeDefined();
    });

    test(`${prefix}http - 100 readings are accepted, 101 refused whole`, async () => {
      const ok = await stack.server.post('/api/v1/sensor-data/batch', Array.from({ length: 100 }, () => reading()));
      expect(ok.status).toBe(202);
      const res = await stack.server.post('/api/v1/sensor-data/batch', Array.from({ length: 101 }, () => reading()));
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'INGEST_ERR_INVALID_BATCH', details: 'batch must contain at most 100 readings (got 101)' });
    });

    test(`${prefix}http - a batch body that is neither an array nor an object → 400 (one object is a batch of one: tolerant-input.test.ts)`, async () => {
      const res = await stack.server.post('/api/v1/sensor-data/batch', '"esp32-001"');
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'INGEST_ERR_INVALID_BATCH', details: 'body must be an array of readings, or one reading object' });
    });
  });

  describe(`${prefix}http - events, metadata, status`, () => {
    test(`${prefix}http - a sensor-events subscriber gets one JSON message per accepted reading`, async () => {
      const sub = stack.newClient();
      const got: Record<string, unknown>[] = [];
      await sub.subscribe('sensor-events');
      // EVENTS_PUBLISH=subscribed: on one Redis the script sees this subscriber at once, on a
      // Cluster (a node counts only its own subscribers) once the server's count has (within a
      // second): probe readings, one device per shard, until each shard's arrive; they are left
      // out of the check
      const probes = new Map<number, string>();
      for (let i = 0; probes.size < stack.layout.shards; i++) if (!probes.has(stack.layout.shardOf(`probe-${i}`))) probes.set(stack.layout.shardOf(`probe-${i}`), `probe-${i}`);
      const heard = new Set<string>();
      sub.on('message', (_c: string, m: string) => {
        const event = JSON.parse(m) as Record<string, unknown>;
        if ((event.device_id as string).startsWith('probe-')) heard.add(event.device_id as string);
        else got.push(event);
      });
      await waitFor(
        async () => {
          if (heard.size === probes.size) return true;
          for (const device of probes.values()) if (!heard.has(device)) await stack.server.post('/api/v1/sensor-data', reading({ device_id: device }));
          return false;
        },
        5000,
        'events flowing to the new subscriber from every shard',
      );
      const items = [reading(), reading(), reading()];
      const dup = items[0]!;
      const res = await stack.server.post('/api/v1/sensor-data/batch', [...items, dup, reading({ sensors: {} })]);
      expect(res.status).toBe(202);
      // a marker after the batch, from the duplicate's device: pub/sub keeps order (per shard, and a
      // device stays in its shard), so a copy of the duplicate would come before it
      const marker = reading({ device_id: dup.device_id });
      expect((await stack.server.post('/api/v1/sensor-data', marker)).status).toBe(202);
      await waitFor(() => got.filter((g) => g.device_id === marker.device_id).length === 2, 3000, 'events up to the marker');
      await waitFor(() => got.length >= items.length + 1, 3000, 'the events of every shard');
      const ids = got.map((g) => g.device_id as string);
      const expected = [...items, marker].map((i) => i.device_id as string);
      // one stream: the batch's order; several: each device's order, the shards interleaved
      expect(sharded ? [...ids].sort() : ids).toEqual(sharded ? [...expected].sort() : expected);
      expect(typeof got[0]!.message_id).toBe('string');
      sub.disconnect();
    });

    test(`${prefix}http - a WebSocket subscriber gets a reading another instance accepts right after its 'subscribed'`, async () => {
      // EVENTS_PUBLISH=subscribed: the instance that listens marks every shard before it answers
      // 'subscribed', and every instance's script publishes while the mark is there (on Cluster too)
      const other = await stack.startServer();
      const live = stack.track(await LiveClient.open(stack.server.wsUrl('/')));
      const one = reading();
      await live.subscribe({ device_id: one.device_id });
      expect((await other.post('/api/v1/sensor-data', one)).status).toBe(202);
      expect((await live.next('sensor-data', () => true, 5000)).data).toMatchObject({ device_id: one.device_id, timestamp: one.timestamp });
    });

    test(`${prefix}http - device metadata is stored in Redis and enriches later readings`, async () => {
      const one = reading();
      const md = await stack.server.post('/api/v1/devices/metadata', { device_id: one.device_id, metadata: { location: 'HQ', room: 'lab-2', zone: 'north', firmware_version: '1.4.2' } });
      expect(md.status).toBe(200);
      expect(JSON.parse((await stack.client.hget(stack.layout.global('device-metadata'), one.device_id as string))!)).toMatchObject({ room: 'lab-2' });
      const res = await stack.server.post('/api/v1/sensor-data', one);
      const { message_id } = (await res.json()) as { message_id: string };
      const data = JSON.parse((await streamEntry(message_id))!.data!);
      expect(data.device_metadata).toEqual({ location: 'HQ', room: 'lab-2', zone: 'north', firmware_version: '1.4.2' });
    });

    test(`${prefix}http - invalid metadata → 400 naming the path`, async () => {
      const res = await stack.server.post('/api/v1/devices/metadata', { device_id: 'a b', metadata: {} });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'INGEST_ERR_INVALID_METADATA' });
    });

    test(`${prefix}http - health, ready and queue status`, async () => {
      const h = await fetch(stack.server.base + '/health');
      expect(h.status).toBe(200);
      expect(await h.json()).toMatchObject({ status: 'healthy', services: { http: 'up', redis: 'up' } });
      const rd = await fetch(stack.server.base + '/ready');
      expect(await rd.json()).toMatchObject({ ready: true });
      for (const s of stack.layout.streams()) await stack.client.xgroup('CREATE', s, 'storage', '$', 'MKSTREAM');
      const one = reading();
      await stack.server.post('/api/v1/sensor-data', one);
      const q = (await (await fetch(stack.server.base + '/api/v1/queue/status')).json()) as Record<string, unknown> & { shards: Record<string, unknown>[] };
      expect(q).toMatchObject({ queue_size: 1, dlq_size: 0 });
      const mine = stack.layout.shardOf(one.device_id as string);
      // per stream: the reading's shard has the lag, the others none
      expect(q.shards.map((s) => s.shard)).toEqual(stack.layout.all());
      for (const s of q.shards) {
        expect(s).toMatchObject({ stream: stack.layout.stream(s.shard as number), queue_size: s.shard === mine ? 1 : 0, dlq_size: 0, consumer_groups: [{ name: 'storage', lag: s.shard === mine ? 1 : 0, pending: 0 }] });
        expect(s.stream_length).toBe(await stack.client.xlen(s.stream as string));
      }
      expect(q.stream_length).toBe((await stack.xrange('sensor-data')).length);
    });

    test(`${prefix}http - metrics with the platform names, on PORT and METRICS_PORT`, async () => {
      const text = await (await fetch(`http://127.0.0.1:${stack.server.metricsPort}/metrics`)).text();
      expect(text).toContain('sensor_data_ingested_total{sensor_type="ld2410",transport="http"}');
      expect(text).toContain('sensor_data_errors_total{error_type="validation"}');
      expect(text).toContain('sensor_data_processing_latency_seconds_bucket{le="0.005",operation="ingest"}');
      expect(text).toContain('queue_size{queue_name="sensor-data"}');
      expect(text).toContain('# TYPE active_connections gauge');
      const same = await fetch(stack.server.base + '/metrics');
      expect(same.status).toBe(200);
    });
  });
}
