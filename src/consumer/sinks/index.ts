/**
 * The sinks of `neurobuild-ingest consume <sink>`.
 * @module
 */
import { postgresSink } from './postgres.ts';
import type { Sink } from './sink.ts';

export const sinks: Record<string, Sink> = {
  postgres: postgresSink,
};
