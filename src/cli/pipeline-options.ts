/** The ingest pipeline's options from the config: the same for `serve` and `rejects replay`. */
import type { Config } from '../config/schema.ts';
import type { PipelineOptions } from '../core/pipeline.ts';

export function pipelineOptions(config: Config): PipelineOptions {
  return {
    dedupeWindowMs: config.DEDUPE_WINDOW_MS,
    queueBatchSize: config.QUEUE_BATCH_SIZE,
    maxInFlight: config.MAX_IN_FLIGHT,
    breakerThreshold: config.CIRCUIT_BREAKER_THRESHOLD,
    breakerTimeoutMs: config.CIRCUIT_BREAKER_TIMEOUT_MS,
    backfillAfterMs: config.BACKFILL_AFTER_MS,
  };
}
