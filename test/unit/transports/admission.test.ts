import { describe, expect, test } from 'bun:test';
import type { RateLimiter, Take } from '../../../src/auth/rate/rate-limiter.ts';
import { admission } from '../../../src/transports/admission.ts';

/** A limiter that answers from a script: 'ok', 'no', or 'fail' (throws, like a lost Redis). */
function scripted(answers: ('ok' | 'no' | 'fail')[]): RateLimiter & { taken: string[] } {
  const taken: string[] = [];
  return {
    taken,
    async take(bucket: string): Promise<Take> {
      taken.push(bucket);
      const a = answers.shift() ?? 'ok';
      if (a === 'fail') throw new Error('Connection is closed.');
      return a === 'ok' ? { ok: true } : { ok: false, retryAfterSeconds: 3 };
    },
    async close() {},
  };
}

describe('admission', () => {
  test('admission - one item: one token per kind, asked again (a held publish) it is not charged again', async () => {
    const l = scripted(['ok', 'ok']);
    const admit = admission(l, 'single', 'dev-1', false);
    expect(await admit('live')).toEqual({ ok: true });
    expect(await admit('live')).toEqual({ ok: true });
    expect(await admit('backfill')).toEqual({ ok: true });
    expect(l.taken).toEqual(['single', 'backfill']);
  });

  test('admission - a batch: the live token once per request, a backfill token per reading; a refusal says which budget', async () => {
    const l = scripted(['ok', 'ok', 'no']);
    const admit = admission(l, 'batch', 'dev-1', true);
    await admit('live');
    await admit('live');
    await admit('backfill');
    expect(await admit('backfill')).toEqual({ ok: false, retryAfterSeconds: 3, details: 'more than the backfill rate allowed for dev-1; retry in 3 s' });
    expect(l.taken).toEqual(['batch', 'backfill', 'backfill']);
  });

  test('admission - a limiter that cannot answer is asked again next time (not a failure kept for the item)', async () => {
    const l = scripted(['fail', 'ok']);
    const admit = admission(l, 'single', 'dev-1', false);
    await expect(admit('live')).rejects.toThrow('Connection is closed.');
    expect(await admit('live')).toEqual({ ok: true });
    expect(await admit('live')).toEqual({ ok: true });
    expect(l.taken).toEqual(['single', 'single']);
  });
});
