/** Throttled, clipped logging of what clients can cause at will. */
import { describe, expect, test } from 'bun:test';
import { pino } from 'pino';
import { clip, ThrottledLog } from '../../../src/log/throttled.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, lines };
}

describe('throttled log', () => {
  test('throttled - the first of a kind is logged, the rest of the window counted into the next line; kinds apart', async () => {
    const { log, lines } = capture();
    const t = new ThrottledLog(log, 'info', 50);
    for (let i = 0; i < 1000; i++) t.note('a', { i }, 'refused');
    t.note('b', {}, 'other');
    expect(lines.map((l) => l.msg)).toEqual(['refused', 'other']);
    const start = Date.now();
    // the window is the code's clock: wait until it has passed
    while (Date.now() - start < 60) await Bun.sleep(5);
    t.note('a', { i: 1000 }, 'refused');
    expect(lines.length).toBe(3);
    expect(lines[2]!.not_logged_since_last).toBe(999);
    expect(lines[2]!.msg).toContain('999 more');
  });

  test('throttled - string fields are clipped to 128 characters with their length', () => {
    const { log, lines } = capture();
    new ThrottledLog(log).note('k', { client_id: 'x'.repeat(65_000), n: 5 }, 'm');
    expect(String(lines[0]!.client_id).length).toBeLessThan(160);
    expect(lines[0]!.client_id).toContain('(65000 chars)');
    expect(lines[0]!.n).toBe(5);
    expect(clip('short')).toBe('short');
  });
});
