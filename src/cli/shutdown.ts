/**
 * Ordered drain on SIGTERM/SIGINT: not ready → stop accepting → every reading in flight
 * settled and answered → listeners closed → queue closed → exit 0. A reading that got
 * its 202 was confirmed by the queue before; a reading still unconfirmed at the deadline
 * was never acknowledged, so exiting then loses nothing that was promised.
 * @module
 */
import type { Logger } from 'pino';
import type { Pipeline } from '../core/pipeline.ts';
import type { QueueBackend } from '../queue/backend.ts';
import type { Transport } from '../transports/transport.ts';

export interface ShutdownDeps {
  log: Logger;
  pipeline: Pipeline;
  backend: QueueBackend;
  /** Run after the listeners closed, before the queue closes (e.g. the last fleet-state flush); bounded to 2 s. */
  beforeQueueClose?: () => Promise<void>;
  /** Closed after the queue (e.g. the API key store's connections). */
  closeLast?: () => Promise<void>;
  transports: Transport[];
  timeoutMs: number;
  /** Signals that start the drain (default SIGTERM and SIGINT); SIGINT is ignored when not listed. */
  signals?: NodeJS.Signals[];
  /** A second signal exits at once (default); a worker instead leaves that to its primary's deadline. */
  secondSignalExits?: boolean;
  /** Marks the server as draining (ready → false, new requests refused). */
  beginDrain(): void;
  exit(code: number): void;
}

export async function shutdown(d: ShutdownDeps, signal: string): Promise<void> {
  const started = Date.now();
  d.log.info({ signal, in_flight: d.pipeline.inFlight }, 'draining: not ready, refusing new readings, finishing in-flight ones');
  d.beginDrain();
  d.pipeline.stopAccepting();
  await Promise.all(d.transports.map((t) => t.drain()));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    d.pipeline.drain().then(() => false),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), d.timeoutMs))),
  ]);
  clearTimeout(timer);
  // answers are written in promise continuations of the settled batches: let them all run
  await new Promise((resolve) => setImmediate(resolve));
  await Promise.all(d.transports.map((t) => t.stop()));
  if (d.beforeQueueClose) {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([d.beforeQueueClose().catch(() => {}), new Promise((r) => (t = setTimeout(r, 2000)))]);
    clearTimeout(t);
  }
  await d.backend.close();
  await d.closeLast?.();
  if (timedOut) {
    d.log.error({ in_flight: d.pipeline.inFlight, timeout_ms: d.timeoutMs }, 'drain timed out; unconfirmed readings were not acknowledged');
  } else d.log.info({ ms: Date.now() - started }, 'drained, exiting');
  d.exit(timedOut ? 1 : 0);
}

export function onSignals(d: ShutdownDeps): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      if (d.secondSignalExits === false) return;
      d.log.warn({ signal }, 'second signal: exiting now');
      d.exit(1);
      return;
    }
    stopping = true;
    shutdown(d, signal).catch((err: unknown) => {
      d.log.error({ err }, 'shutdown failed');
      d.exit(1);
    });
  };
  const signals = d.signals ?? ['SIGTERM', 'SIGINT'];
  for (const s of signals) process.on(s, handler);
  if (!signals.includes('SIGINT')) process.on('SIGINT', () => {});
}
