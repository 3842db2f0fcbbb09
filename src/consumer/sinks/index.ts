/**
 * The sinks of `neurobuild-ingest consume <sink>`.
 * @module
 */
import type { Sink } from './sink.ts';

export const sinks: Record<string, Sink> = {};
