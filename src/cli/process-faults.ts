/**
 * What the process does with a fault nothing else caught.
 *
 * - A promise rejected with no handler (`unhandledRejection`) is a bug in one continuation: the
 *   rejection is logged at error level with its stack (the first of a minute; then one line a
 *   minute with how many more, so a bug hit by every reading cannot flood the log), counted in
 *   `sensor_data_errors_total{error_type="unhandled_rejection"}`, and the process keeps serving. Node's
 *   default would end the process and every connection with it, for one reading's bug; what was
 *   acknowledged is in Redis either way, and what was not is retried by its sender.
 * - An exception thrown to the event loop (`uncaughtException`) may have left any state half
 *   changed, so the process logs it (fatal, with its stack) and exits with status 1, as Node would;
 *   the cluster primary, or the container's restart policy, starts a new one.
 * @module
 */
import type { Logger } from 'pino';
import { ThrottledLog } from '../log/throttled.ts';

export interface FaultCounter {
  error(errorType: string): void;
}

export function onProcessFaults(log: Logger, metrics: FaultCounter): void {
  const throttled = new ThrottledLog(log, 'error');
  process.on('unhandledRejection', (reason: unknown) => {
    metrics.error('unhandled_rejection');
    const err = reason instanceof Error ? reason : new Error(`non-Error rejection: ${String(reason)}`);
    // an Error is logged whole (pino's serializer: type, message, stack); only strings are clipped
    throttled.note('unhandled_rejection', { err }, 'unhandled promise rejection (a bug): counted, the process keeps serving');
  });
  process.on('uncaughtException', (err: Error) => {
    log.fatal({ err }, 'uncaught exception (a bug): exiting');
    // pino writes synchronously to stdout by default; exit once the line is out
    process.exit(1);
  });
}
