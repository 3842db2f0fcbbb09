/**
 * The sinks of `neurobuild-ingest consume <sink>`.
 * @module
 */
import { alertsSink } from './alerts.ts';
import { influxSink } from './influx.ts';
import { postgresSink } from './postgres.ts';
import type { Sink } from './sink.ts';

export const sinks: Record<string, Sink> = {
  postgres: postgresSink,
  alerts: alertsSink,
  influx: influxSink,
};
