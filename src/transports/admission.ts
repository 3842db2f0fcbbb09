/**
 * Rate-limit admission for the ingest transports (RATE_LIMIT on): the pipeline asks once it
 * knows whether a reading is live or backfill, so a device flushing its offline buffer spends
 * the backfill budget and never the live one.
 * @module
 */
import type { RateLimiter, Take } from '../auth/rate/rate-limiter.ts';
import { Buckets } from '../auth/rate/setup.ts';
import type { Admission, AdmissionKind } from '../core/item.ts';

/**
 * @param bucket the live bucket of the request (single or batch)
 * @param perReading false: one answer per kind for the item (a held MQTT publish asking again
 *   is not charged again); true (a batch request): the live token once per request, a backfill
 *   token per backfill reading
 */
export function admission(limiter: RateLimiter, bucket: string, key: string, perReading: boolean): (kind: AdmissionKind) => Promise<Admission> {
  let live: Promise<Admission> | undefined;
  let backfill: Promise<Admission> | undefined;
  const take = (b: string) => limiter.take(b, key).then((t: Take): Admission => (t.ok ? t : { ok: false, retryAfterSeconds: t.retryAfterSeconds, details: `more than the ${b} rate allowed for ${key}; retry in ${t.retryAfterSeconds} s` }));
  // an answer is kept for the item, a failure to answer (the limiter's Redis down) is not: asking again retries
  const forgetOnFailure = (p: Promise<Admission>, forget: () => void) => p.catch((err: unknown) => {
    forget();
    throw err;
  });
  return (kind) => {
    if (kind === 'live') return (live ??= forgetOnFailure(take(bucket), () => (live = undefined)));
    if (perReading) return take(Buckets.backfill);
    return (backfill ??= forgetOnFailure(take(Buckets.backfill), () => (backfill = undefined)));
  };
}
