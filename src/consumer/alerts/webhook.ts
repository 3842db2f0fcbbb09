/**
 * POSTing an alert to ALERT_WEBHOOK_URL: JSON body (the alert), `Idempotency-Key: <alert_id>`
 * (a delivery can repeat after a crash), a timeout per attempt, and bounded retries with
 * exponential backoff on network errors, timeouts, 408, 429 and 5xx. Any other answer, or the
 * last failed attempt, gives up: the caller logs and counts it (the alert stays in the stream).
 * @module
 */
import { backoffDelay } from '../../util/backoff.ts';

export interface WebhookOptions {
  url: string;
  /** Attempts after the first. */
  retries: number;
  /** First retry delay, doubled per attempt (capped at 60 s), up to half of it taken off at random. */
  retryMs: number;
  timeoutMs: number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  /** The backoff's jitter source, in [0, 1) (default Math.random; tests pass their own). */
  random?: () => number;
  /** Called before each retry. */
  onRetry?: (attempt: number, delayMs: number, error: string) => void;
}

export interface Delivery {
  ok: boolean;
  attempts: number;
  /** The last failure, when not ok. */
  error?: string;
  status?: number;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const retryable = (status: number) => status >= 500 || status === 408 || status === 429;

export async function deliver(alert: { alert_id: string }, o: WebhookOptions): Promise<Delivery> {
  const doFetch = o.fetch ?? fetch;
  const sleep = o.sleep ?? defaultSleep;
  const body = JSON.stringify(alert);
  let error = '';
  let status: number | undefined;
  for (let attempt = 0; attempt <= o.retries; attempt++) {
    if (attempt > 0) {
      // the webhook's retry delay doubling to a minute, half jitter
      const delay = backoffDelay({ firstMs: o.retryMs, maxMs: 60_000, jitter: 0.5 }, attempt, o.random);
      o.onRetry?.(attempt, delay, error);
      await sleep(delay);
    }
    try {
      const res = await doFetch(o.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': alert.alert_id, 'user-agent': 'neurobuild-ingest-alerts' },
        body,
        signal: AbortSignal.timeout(o.timeoutMs),
        redirect: 'follow',
      });
      status = res.status;
      await res.arrayBuffer().catch(() => undefined); // free the connection
      if (res.ok) return { ok: true, attempts: attempt + 1, status };
      error = `HTTP ${res.status}`;
      if (!retryable(res.status)) return { ok: false, attempts: attempt + 1, error: `${error} (not retried)`, status };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      status = undefined;
      error = e.name === 'TimeoutError' ? `no answer within ${o.timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    }
  }
  return { ok: false, attempts: o.retries + 1, error, ...(status !== undefined ? { status } : {}) };
}

/** Scheme and host only (webhook URLs often carry tokens in the path or query), for logs. */
export function describeWebhook(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return '(unparsable URL)';
  }
}
