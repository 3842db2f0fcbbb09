/** The ingest pipeline's options and validator from the config: the same for `serve` and `rejects replay`. */
import type { Config } from '../config/schema.ts';
import type { PipelineOptions } from '../core/pipeline.ts';
import { ReadingValidator } from '../core/validate.ts';
import { configuredSensorTypes } from './sensor-types.ts';

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

/** The reading validator: the sensor types (built-in and SENSOR_TYPES_DIR) and what it tolerates. */
export function readingValidator(config: Config): ReadingValidator {
  return new ReadingValidator(configuredSensorTypes(config), config.CLOCK_SKEW_MS, {
    unknownFields: config.UNKNOWN_FIELDS,
    unknownFieldsMax: config.UNKNOWN_FIELDS_MAX,
    unknownFieldsMaxBytes: config.UNKNOWN_FIELDS_MAX_BYTES,
    naiveTimestamps: config.NAIVE_TIMESTAMPS,
  });
}
