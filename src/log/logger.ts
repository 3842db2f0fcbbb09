/**
 * Structured logs with pino: one JSON object per line (LOG_FORMAT=json), or
 * human-readable lines through pino-pretty as a synchronous stream (no worker thread,
 * so it also works inside the single bundled file).
 * @module
 */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export interface LogOptions {
  level: string;
  format: 'json' | 'pretty';
}

export function createLogger(o: LogOptions): Logger {
  const base = { level: o.level, base: { service: 'neurobuild-ingest' } };
  if (o.format === 'pretty') return pino(base, pretty({ colorize: process.stderr.isTTY, sync: true }));
  return pino({ ...base, timestamp: pino.stdTimeFunctions.isoTime });
}

export type { Logger };
