/**
 * One behaviour, every backend: run by memory-backend.test.ts and redis-backend.test.ts.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import type { AppendEntry, AppendResult, QueueBackend } from '../../src/queue/backend.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

export interface StoredEntry {
  id: string;
  fields: Record<string, string>;
}

export interface BackendUnderTest {
  backend: QueueBackend;
  readStream(): Promise<StoredEntry[]>;
  readRejects(): Promise<StoredEntry[]>;
  /** A second backend on the same storage (another instance), when the backend is shared. */
  peer?(): Promise<QueueBackend>;
  dispose(): Promise<void>;
}

let n = 0;
function entry(over: Partial<AppendEntry> = {}): AppendEntry {
  n++;
  const ts = Date.now() - 1000 + n;
  const deviceId = `dev-${n}`;
  return {
    dedupeKey: `${deviceId}|${new Date(ts).toISOString()}`,
    timestampMs: ts,
    deviceId,
    messageId: `msg-${n}`,
    json: JSON.stringify({ device_id: deviceId, n }),
    ...over,
  };
}

/**
 * @param shared whether several instances share the storage; the embedded backend lives in
 *   one process by design, so the cross-instance tests are skipped for it (not faked).
 */
export function runQueueBackendContract(name: string, create: (dedupeWindowMs: number) => Promise<BackendUnderTest>, shared: boolean): void {
  describe(`queue backend contract - ${name}`, () => {
    let t: BackendUnderTest | undefined;
    afterEach(async () => {
      await t?.dispose();
      t = undefined;
    });

    test(`${name} - appends a device's readings in order with data, device_id and message_id fields`, async () => {
      t = await create(60_000);
      const batch = [entry({ deviceId: 'dev-order' }), entry({ deviceId: 'dev-order' }), entry({ deviceId: 'dev-order' })];
      expect(await t.backend.appendBatch(batch)).toEqual(['stored', 'stored', 'stored']);
      const stored = await t.readStream();
      expect(stored.map((s) => s.fields)).toEqual(batch.map((e) => ({ data: e.json, device_id: e.deviceId, message_id: e.messageId })));
    });

    test(`${name} - a batch of many devices: every reading stored once, each device's in order, each settled by its own result`, async () => {
      t = await create(60_000);
      const batch: AppendEntry[] = [];
      for (let i = 0; i < 200; i++) batch.push(entry({ deviceId: `dev-many-${i % 37}` }));
      const dup = { ...batch[5]!, messageId: 'dup-of-5' };
      const results = await t.backend.appendBatch([...batch, dup]);
      expect(results).toEqual([...batch.map((): AppendResult => 'stored'), 'duplicate']);
      const stored = await t.readStream();
      expect(stored.map((s) => s.fields.message_id).sort()).toEqual(batch.map((e) => e.messageId).sort());
      for (let d = 0; d < 37; d++) {
        const id = `dev-many-${d}`;
        expect(stored.filter((s) => s.fields.device_id === id).map((s) => s.fields.message_id)).toEqual(batch.filter((e) => e.deviceId === id).map((e) => e.messageId));
      }
    });

    test(`${name} - non-ASCII text is stored byte for byte`, async () => {
      t = await create(60_000);
      const e = entry({ json: JSON.stringify({ room: 'Küche ☕', zone: '北' }) });
      await t.backend.appendBatch([e]);
      const [stored] = await t.readStream();
      expect(JSON.parse(stored!.fields.data!)).toEqual({ room: 'Küche ☕', zone: '北' });
    });

    test(`${name} - a duplicate within the window is reported and not appended`, async () => {
      t = await create(60_000);
      const a = entry();
      await t.backend.appendBatch([a]);
      const again = await t.backend.appendBatch([{ ...a, messageId: 'other', json: '{}' }, entry()]);
      expect(again).toEqual(['duplicate', 'stored']);
      expect((await t.readStream()).length).toBe(2);
    });

    test(`${name} - duplicates inside one batch: the first wins`, async () => {
      t = await create(60_000);
      const a = entry();
      const r = await t.backend.appendBatch([a, { ...a, messageId: 'second' }]);
      expect(r).toEqual(['stored', 'duplicate']);
    });

    test(`${name} - an empty dedupe key never dedupes`, async () => {
      t = await create(0);
      const a = entry({ dedupeKey: '' });
      const r = await t.backend.appendBatch([a, a]);
      expect(r).toEqual(['stored', 'stored']);
    });

    test(`${name} - dedupe is by device time: the same key from another window of the device's clock is a new reading`, async () => {
      t = await create(60_000);
      const a = entry({ dedupeKey: 'dev-seq#7' });
      // a device restarted its seq numbering: seq 7 again, ten minutes later by its own clock
      const later = entry({ dedupeKey: 'dev-seq#7', timestampMs: a.timestampMs + 600_000 });
      expect(await t.backend.appendBatch([a])).toEqual(['stored']);
      expect(await t.backend.appendBatch([later])).toEqual(['stored']);
      // and a retransmission of the first, in the first one's window of device time, is still one
      expect(await t.backend.appendBatch([{ ...a, messageId: 'again', timestampMs: a.timestampMs + 1 }])).toEqual(['duplicate']);
    });

    test(`${name} - a retransmission is recognised for two windows after its bucket was last touched, not one window of arrival time`, async () => {
      t = await create(1_000);
      const a = entry();
      expect(await t.backend.appendBatch([a])).toEqual(['stored']);
      // past one window of arrival time, within two: still a duplicate (the time passing is the condition)
      await sleep(1_200);
      expect(await t.backend.appendBatch([{ ...a, messageId: 'late' }])).toEqual(['duplicate']);
    });

    test(`${name} - the window expires`, async () => {
      t = await create(200);
      const a = entry();
      await t.backend.appendBatch([a]);
      await sleep(650);
      expect(await t.backend.appendBatch([a])).toEqual(['stored']);
    });

    test(`${name} - each appended entry is published once, duplicates are not`, async () => {
      t = await create(60_000);
      const got: string[] = [];
      const off = t.backend.onEvent((json) => got.push(json));
      // the subscription is active once an event comes through (Redis: SUBSCRIBE is a round trip)
      let probe = entry();
      await waitFor(async () => {
        probe = entry();
        await t!.backend.appendBatch([probe]);
        return got.length > 0;
      }, 3000, 'the event subscription to deliver');
      // every probe after the first one delivered is delivered too: once the last is in, none is left to come
      await waitFor(() => got.includes(probe.json), 3000, 'the last probe event');
      got.length = 0;
      // one device: its events keep their order (a sharded backend orders each device's, not all)
      const a = entry({ deviceId: 'dev-events' });
      const b = entry({ deviceId: 'dev-events' });
      expect(await t.backend.appendBatch([a, b, a])).toEqual(['stored', 'stored', 'duplicate']);
      // a later entry: events keep their order, so a copy of the duplicate would come before it
      const marker = entry({ deviceId: 'dev-events' });
      expect(await t.backend.appendBatch([marker])).toEqual(['stored']);
      await waitFor(() => got.includes(marker.json), 10_000, 'events up to the marker');
      expect(got).toEqual([a.json, b.json, marker.json]);
      off();
    });

    test(`${name} - rejects keep reason, code, source and payload`, async () => {
      t = await create(60_000);
      await t.backend.appendRejects([
        { reason: 'sensors.ld2410.distance must be <= 600', code: 'INGEST_ERR_INVALID_READING', source: 'http', payload: '{"x":1}', deviceId: 'd1', receivedAt: '2026-01-01T00:00:00.000Z' },
      ]);
      const [r] = await t.readRejects();
      expect(r?.fields).toEqual({
        reason: 'sensors.ld2410.distance must be <= 600',
        code: 'INGEST_ERR_INVALID_READING',
        source: 'http',
        payload: '{"x":1}',
        device_id: 'd1',
        received_at: '2026-01-01T00:00:00.000Z',
      });
    });

    test(`${name} - rejects are listed newest or oldest first, filtered, paged by cursor, read and deleted by id`, async () => {
      t = await create(60_000);
      const r = (i: number, deviceId: string, code: string) => ({ reason: `r${i}`, code, source: 'http', payload: `{"i":${i}}`, deviceId, receivedAt: `2026-01-01T00:00:0${i}.000Z` });
      await t.backend.appendRejects([r(0, 'a', 'INGEST_ERR_INVALID_READING'), r(1, 'b', 'INGEST_ERR_MALFORMED_PAYLOAD'), r(2, 'a', 'INGEST_ERR_INVALID_READING')]);
      await sleep(5); // a later millisecond: `since` falls between the two groups
      const between = Date.now();
      await sleep(5);
      await t.backend.appendRejects([r(3, 'a', 'INGEST_ERR_MALFORMED_PAYLOAD'), r(4, 'a', 'INGEST_ERR_INVALID_READING')]);
      const reasons = (p: { entries: { reason: string }[] }) => p.entries.map((e) => e.reason);
      const all = await t.backend.listRejects({}, { order: 'oldest', limit: 100 });
      expect(reasons(all)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
      expect(all.next).toBeNull();
      expect(all.entries[1]).toEqual({ id: all.entries[1]!.id, reason: 'r1', code: 'INGEST_ERR_MALFORMED_PAYLOAD', source: 'http', payload: '{"i":1}', deviceId: 'b', receivedAt: '2026-01-01T00:00:01.000Z' });
      expect(reasons(await t.backend.listRejects({}, { order: 'newest', limit: 100 }))).toEqual(['r4', 'r3', 'r2', 'r1', 'r0']);
      const filter = { deviceId: 'a', code: 'INGEST_ERR_INVALID_READING' };
      const p1 = await t.backend.listRejects(filter, { order: 'newest', limit: 2 });
      expect(reasons(p1)).toEqual(['r4', 'r2']);
      const p2 = await t.backend.listRejects(filter, { order: 'newest', limit: 2, after: p1.next! });
      expect(reasons(p2)).toEqual(['r0']);
      expect(p2.next).toBeNull();
      expect(reasons(await t.backend.listRejects({ sinceMs: between }, { order: 'newest', limit: 100 }))).toEqual(['r4', 'r3']);
      expect(reasons(await t.backend.listRejects({ sinceMs: between }, { order: 'oldest', limit: 100, after: all.entries[0]!.id }))).toEqual(['r3', 'r4']);
      expect(reasons(await t.backend.listRejects({}, { order: 'oldest', limit: 100, after: all.entries[2]!.id }))).toEqual(['r3', 'r4']);
      // a scan cap returns what it found and where to go on
      const capped = await t.backend.listRejects({ deviceId: 'b' }, { order: 'oldest', limit: 10, scanMax: 1 });
      expect(capped).toEqual({ entries: [], next: all.entries[0]!.id });
      expect(reasons(await t.backend.listRejects({ deviceId: 'b' }, { order: 'oldest', limit: 10, scanMax: 1, after: capped.next! }))).toEqual(['r1']);
      expect(await t.backend.getReject(all.entries[3]!.id)).toEqual(all.entries[3]!);
      expect(await t.backend.getReject('1-0')).toBeUndefined();
      expect(await t.backend.deleteRejects([all.entries[0]!.id, all.entries[3]!.id, '1-0'])).toBe(2);
      expect(await t.backend.deleteRejects([])).toBe(0);
      expect(reasons(await t.backend.listRejects({}, { order: 'oldest', limit: 100 }))).toEqual(['r1', 'r2', 'r4']);
      expect((await t.backend.status()).rejectsSize).toBe(3);
    });

    test(`${name} - status counts the stream, rejects and DLQ`, async () => {
      t = await create(60_000);
      await t.backend.appendBatch([entry(), entry()]);
      await t.backend.appendRejects([{ reason: 'r', code: 'c', source: 'http', payload: 'p', receivedAt: 'now' }]);
      const s = await t.backend.status();
      expect(s).toMatchObject({ queueSize: 2, streamLength: 2, rejectsSize: 1, dlqSize: 0 });
    });

    test(`${name} - device metadata is readable after set`, async () => {
      t = await create(60_000);
      await t.backend.metadata.set('dev-x', { room: 'lab', zone: 'north' });
      expect(t.backend.metadata.get('dev-x')).toEqual({ room: 'lab', zone: 'north' });
    });

    test.skipIf(!shared)(`${name} - device metadata is shared with another instance, changes included`, async () => {
      t = await create(60_000);
      await t.backend.metadata.set('dev-x', { room: 'lab', zone: 'north' });
      const other = await t.peer!();
      expect(other.metadata.get('dev-x')).toEqual({ room: 'lab', zone: 'north' });
      await t.backend.metadata.set('dev-y', { room: 'hall' });
      await waitFor(() => other.metadata.get('dev-y')?.room === 'hall', 3000, 'metadata change on the peer');
      await other.close();
    });

    test.skipIf(!shared)(`${name} - dedupe is shared by every instance on the same storage`, async () => {
      t = await create(60_000);
      const other = await t.peer!();
      const a = entry();
      await t.backend.appendBatch([a]);
      expect(await other.appendBatch([a])).toEqual(['duplicate']);
      await other.close();
    });

    test(`${name} - close settles a pending append and later appends fail`, async () => {
      t = await create(60_000);
      const pending = t.backend.appendBatch([entry()]).then(
        () => 'settled',
        () => 'settled',
      );
      await t.backend.close();
      expect(await pending).toBe('settled');
      expect(await t.backend.appendBatch([entry()]).then(() => 'ok', () => 'failed')).toBe('failed');
    });
  });
}
