/**
 * A worker's line to the primary with --workers: says when it listens, asks the primary for
 * the metrics of all workers, and stops gracefully when the primary goes away.
 * @module
 */
import cluster from 'node:cluster';

export const Msg = {
  ready: 'nb:ready',
  metrics: 'nb:metrics',
  metricsReply: 'nb:metrics:reply',
} as const;

export interface MetricsReply {
  type: typeof Msg.metricsReply;
  id: number;
  text?: string;
  error?: string;
}

export interface WorkerLink {
  /** The aggregated Prometheus text of every worker, from the primary. */
  scrapeMetrics(): Promise<string>;
  /** Tells the primary this worker listens on every port. */
  ready(): void;
}

/** The link when this process is a cluster worker, else undefined. */
export function workerLink(onPrimaryGone: () => void): WorkerLink | undefined {
  if (!cluster.isWorker) return undefined;
  let next = 0;
  const waiting = new Map<number, (m: MetricsReply) => void>();
  process.on('message', (m: MetricsReply) => {
    if (m?.type !== Msg.metricsReply) return;
    waiting.get(m.id)?.(m);
    waiting.delete(m.id);
  });
  // the primary died or was killed: nobody forwards signals any more
  process.on('disconnect', onPrimaryGone);
  return {
    scrapeMetrics: () =>
      new Promise((resolve, reject) => {
        const id = ++next;
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error('the primary did not answer within 5 s'));
        }, 5000);
        waiting.set(id, (m) => {
          clearTimeout(timer);
          if (m.text !== undefined) resolve(m.text);
          else reject(new Error(m.error ?? 'no metrics'));
        });
        process.send!({ type: Msg.metrics, id });
      }),
    ready: () => process.send!({ type: Msg.ready }),
  };
}
