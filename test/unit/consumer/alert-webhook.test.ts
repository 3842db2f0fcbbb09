import { describe, expect, test } from 'bun:test';
import { deliver, describeWebhook } from '../../../src/consumer/alerts/webhook.ts';

type Answer = number | Error;

/** A fetch that answers with `answers` in turn, recording the requests; and a sleep that records delays. */
function fake(answers: Answer[]) {
  const calls: { url: string; init: RequestInit }[] = [];
  const delays: number[] = [];
  const f = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    const a = answers[Math.min(calls.length - 1, answers.length - 1)]!;
    if (a instanceof Error) throw a;
    return new Response('x', { status: a });
  }) as unknown as typeof fetch;
  return { calls, delays, opts: { url: 'https://hooks.example/T0/secret', retries: 3, retryMs: 100, timeoutMs: 1000, fetch: f, sleep: async (ms: number) => void delays.push(ms), random: () => 0 } };
}

const alert = { alert_id: 'm1:gas', type: 'high_gas_concentration', value: 620 };

describe('alert webhook', () => {
  test('webhook - POSTs the alert as JSON with an idempotency key', async () => {
    const { calls, opts } = fake([204]);
    expect(await deliver(alert, opts)).toEqual({ ok: true, attempts: 1, status: 204 });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.init.method).toBe('POST');
    expect(JSON.parse(String(calls[0]!.init.body))).toEqual(alert);
    expect(calls[0]!.init.headers).toMatchObject({ 'content-type': 'application/json', 'idempotency-key': 'm1:gas' });
  });

  test('webhook - 5xx and network errors are retried with doubling delays; success after retries', async () => {
    const { calls, delays, opts } = fake([500, Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }), 200]);
    const retries: string[] = [];
    expect(await deliver(alert, { ...opts, onRetry: (n, ms, e) => retries.push(`${n} ${ms} ${e}`) })).toEqual({ ok: true, attempts: 3, status: 200 });
    expect(calls).toHaveLength(3);
    expect(delays).toEqual([100, 200]);
    expect(retries).toEqual(['1 100 HTTP 500', '2 200 ECONNREFUSED']);
  });

  test('webhook - bounded: gives up after the retries with the last error', async () => {
    const { calls, delays, opts } = fake([503]);
    expect(await deliver(alert, opts)).toEqual({ ok: false, attempts: 4, error: 'HTTP 503', status: 503 });
    expect(calls).toHaveLength(4);
    expect(delays).toEqual([100, 200, 400]);
    const none = fake([429, 429]);
    expect(await deliver(alert, { ...none.opts, retries: 0 })).toMatchObject({ ok: false, attempts: 1 });
  });

  test('webhook - a 4xx other than 408/429 is not retried', async () => {
    const { calls, opts } = fake([400]);
    expect(await deliver(alert, opts)).toEqual({ ok: false, attempts: 1, error: 'HTTP 400 (not retried)', status: 400 });
    expect(calls).toHaveLength(1);
    const again = fake([408, 429, 201]);
    expect((await deliver(alert, again.opts)).ok).toBe(true);
  });

  test('webhook - a timeout counts as a failed attempt', async () => {
    const { delays, opts } = fake([Object.assign(new Error('aborted'), { name: 'TimeoutError' }), 200]);
    expect(await deliver(alert, opts)).toEqual({ ok: true, attempts: 2, status: 200 });
    expect(delays).toEqual([100]);
    const slow = await deliver(alert, { url: 'http://x', retries: 0, retryMs: 1, timeoutMs: 20, fetch: ((_u: string, init: RequestInit) => new Promise((_r, rej) => init.signal!.addEventListener('abort', () => rej(init.signal!.reason)))) as unknown as typeof fetch });
    expect(slow).toEqual({ ok: false, attempts: 1, error: 'no answer within 20 ms' });
  });

  test('webhook - logs show scheme and host only (the path may hold a token)', () => {
    expect(describeWebhook('https://user:pw@hooks.example:8443/services/T0/B0/secret?x=1')).toBe('https://hooks.example:8443/…');
  });
});
