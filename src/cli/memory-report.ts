/**
 * SIGUSR2 logs a memory report: process memory (after a full garbage collection when Node
 * runs with --expose-gc) and the sizes of the server's own tables, so an operator, or a
 * leak test, can tell retained memory from garbage not yet collected.
 * @module
 */
import type { Logger } from 'pino';

export function onMemoryReport(log: Logger, tables: () => Record<string, number>): void {
  process.on('SIGUSR2', () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const m = process.memoryUsage();
    log.info(
      { rss: m.rss, heap_used: m.heapUsed, heap_total: m.heapTotal, external: m.external, array_buffers: m.arrayBuffers, after_gc: gc !== undefined, ...tables() },
      'memory report',
    );
  });
}
