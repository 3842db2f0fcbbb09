/**
 * When two readings with the same dedupe key are one reading, for every backend alike
 * (test/contract/queue-backend.contract.ts holds both to it).
 *
 * Keys are grouped into buckets of DEDUPE_WINDOW_MS of **device time** (the reading's own
 * timestamp), and a bucket is remembered for twice the window after the last append that touched
 * it. So a key is a duplicate of an earlier one when both readings' timestamps fall in the same
 * bucket and that bucket was touched within the last two windows: a retransmission of the same
 * reading (same timestamp, or same seq within the window of device time) is recognised for at
 * least the window whenever it arrives, and a device that restarts its seq numbering in a later
 * window of its own time is not refused. Redis keeps one set per bucket (one SMISMEMBER and one
 * SADD per bucket and batch: redis/ingest-script.ts); the embedded backend one Set per bucket.
 * @module
 */

/** The bucket of a reading taken at `timestampMs` (ms since epoch). */
export function dedupeBucket(timestampMs: number, windowMs: number): string {
  return String(Math.floor(timestampMs / windowMs));
}

/** How long a bucket is remembered after the last append that touched it. */
export function dedupeBucketTtlMs(windowMs: number): number {
  return 2 * windowMs;
}
