/**
 * What `neurobuild-ingest consume <sink>` runs: a sink turns batches of stream entries into
 * writes somewhere (PostgreSQL rows, alerts, InfluxDB points). The consume command owns the consumer group,
 * retries, DLQ and shutdown; a sink only handles batches, idempotently (an entry can be
 * handed over twice when a consumer dies between its write and the acknowledgement).
 * @module
 */
import type { RedisClient } from '../../queue/redis/connection.ts';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.ts';
import type { SensorType } from '../../core/readings/registry.ts';
import type { BatchHandler } from '../stream-consumer.ts';

/** A sink's own settings are wrong (e.g. a bad rules file): `consume` exits 2 with the message. */
export class SinkConfigError extends Error {
  override name = 'SinkConfigError';
}

export interface SinkInstance {
  handle: BatchHandler;
  close(): Promise<void>;
  /** How long the consumer gathers entries into one batch after a short read (the sink's flush interval); unset: no gathering. */
  lingerMs?: number;
}

export interface Sink {
  /** The consumer group's default name. */
  group: string;
  describe: string;
  /**
   * Checks the sink's own settings before anything connects; `sensors`: the server's sensor
   * types (built-in and SENSOR_TYPES_DIR). @throws SinkConfigError
   */
  check?(config: Config, sensors: readonly SensorType[]): void;
  /** Connects and prepares (e.g. creates the schema); throws with a clear message when it cannot (SinkConfigError: a bad setting). */
  open(config: Config, log: Logger, redis: RedisClient, sensors: readonly SensorType[]): Promise<SinkInstance>;
}
