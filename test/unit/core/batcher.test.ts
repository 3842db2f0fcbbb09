import { describe, expect, test } from 'bun:test';
import { Batcher } from '../../../src/core/batcher.ts';

function recording(results?: (items: number[]) => Promise<string[]>) {
  const flushes: number[][] = [];
  const b = new Batcher<number, string | Error>(
    (items) => {
      flushes.push(items);
      return results ? results(items) : Promise.resolve(items.map((i) => `ok${i}`));
    },
    { maxBatch: 3, maxInFlight: 5 },
    { onBatchError: (err) => err as Error, onSettleError: (err) => { throw err; } },
  );
  return { b, flushes };
}

describe('batcher', () => {
  test('batcher - items added in one turn go out in one flush, each settled with its own result', async () => {
    const { b, flushes } = recording();
    const r = await Promise.all([b.add(1), b.add(2)]);
    expect(flushes).toEqual([[1, 2]]);
    expect(r).toEqual(['ok1', 'ok2']);
  });
  test('batcher - reaching maxBatch flushes at once', async () => {
    const { b, flushes } = recording();
    const p = [b.add(1), b.add(2), b.add(3), b.add(4)];
    expect(flushes).toEqual([[1, 2, 3]]);
    await Promise.all(p);
    expect(flushes).toEqual([[1, 2, 3], [4]]);
  });
  test('batcher - a failed flush settles every item of it with the error', async () => {
    const { b } = recording(() => Promise.reject(new Error('down')));
    const r = await Promise.all([b.add(1), b.add(2)]);
    expect(r.map((x) => (x as Error).message)).toEqual(['down', 'down']);
  });
  test('batcher - in-flight bound and drain', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { b } = recording((items) => gate.then(() => items.map(String)));
    const p = [1, 2, 3, 4, 5].map((i) => b.add(i));
    expect(b.inFlight).toBe(5);
    expect(b.wouldSaturate()).toBe(true);
    const drained = b.drain();
    release();
    await drained;
    await Promise.all(p);
    expect(b.inFlight).toBe(0);
    expect(b.wouldSaturate()).toBe(false);
  });
});

test('batcher - a flush function that throws synchronously still settles its items', async () => {
  const b = new Batcher<number, string | Error>(
    () => {
      throw new Error('encode failed');
    },
    { maxBatch: 10, maxInFlight: 10 },
    { onBatchError: (err) => err as Error, onSettleError: (err) => { throw err; } },
  );
  const r = await Promise.all([b.add(1), b.add(2)]);
  expect(r.map((x) => (x as Error).message)).toEqual(['encode failed', 'encode failed']);
  expect(b.inFlight).toBe(0);
});

test('batcher - a callback that throws leaves the others of its batch settled, the error told to onSettleError', async () => {
  const told: unknown[] = [];
  const b = new Batcher<number, string | Error>((items) => Promise.resolve(items.map((i) => `ok${i}`)), { maxBatch: 10, maxInFlight: 10 }, { onBatchError: (err) => err as Error, onSettleError: (err) => told.push(err) });
  const got: string[] = [];
  b.push(1, (r) => got.push(r as string));
  b.push(2, () => {
    throw new Error('bug in a transport');
  });
  b.push(3, (r) => got.push(r as string));
  await b.drain();
  expect(got).toEqual(['ok1', 'ok3']);
  expect(b.inFlight).toBe(0);
  expect(told.map((e) => (e as Error).message)).toEqual(['bug in a transport']);
});
