/**
 * Holding an acknowledgement: while the queue cannot take a reading (down, saturated),
 * try again with backoff instead of answering, so the sender keeps the message [DESIGN §2].
 * A retry of an append whose outcome was unknown is caught by dedupe.
 * @module
 */
import { ErrorCode } from '../../core/errors.ts';
import type { IngestItem, Outcome } from '../../core/item.ts';
import type { Done, Pipeline } from '../../core/pipeline.ts';
import { backoffDelay } from '../../util/backoff.ts';
import { NO_ACK, publishAnswer } from './reason-codes.ts';

/** Resolves with the first outcome that can be answered, or the last one once `alive()` is false or the server drains. */
export function holdUntilStored(pipeline: Pipeline, item: IngestItem, alive: () => boolean, maxDelayMs: number): Promise<Outcome> {
  return new Promise((resolve) => hold(pipeline, item, alive, maxDelayMs, resolve));
}

/** The callback form (the MQTT publish path: no promise per reading). */
export function hold(pipeline: Pipeline, item: IngestItem, alive: () => boolean, maxDelayMs: number, done: Done, attempt = 1): void {
  pipeline.submit(item, (o) => {
    if (o.ok || publishAnswer[o.error.code] !== NO_ACK || o.error.code === ErrorCode.SHUTTING_DOWN || !alive()) return done(o);
    // 100 ms doubling to MQTT_RETRY_MAX_DELAY_MS; half jitter, so publishes held together do not retry in step
    const delay = backoffDelay({ firstMs: 100, maxMs: maxDelayMs, jitter: 0.5 }, attempt);
    setTimeout(() => hold(pipeline, item, alive, maxDelayMs, done, attempt + 1), delay);
  });
}
