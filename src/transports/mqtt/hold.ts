/**
 * Holding an acknowledgement: while the queue cannot take a reading (down, saturated),
 * try again with backoff instead of answering, so the sender keeps the message [DESIGN §2].
 * A retry of an append whose outcome was unknown is caught by dedupe.
 * @module
 */
import { ErrorCode } from '../../core/errors.ts';
import type { IngestItem, Outcome } from '../../core/item.ts';
import type { Pipeline } from '../../core/pipeline.ts';
import { NO_ACK, publishAnswer } from './reason-codes.ts';

/** Resolves with the first outcome that can be answered, or the last one once `alive()` is false or the server drains. */
export async function holdUntilStored(pipeline: Pipeline, item: IngestItem, alive: () => boolean, maxDelayMs: number): Promise<Outcome> {
  let delay = 100;
  for (;;) {
    const o = await pipeline.ingest(item);
    if (o.ok || publishAnswer[o.error.code] !== NO_ACK || o.error.code === ErrorCode.SHUTTING_DOWN || !alive()) return o;
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, maxDelayMs);
  }
}
