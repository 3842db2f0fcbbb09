/** GET {METRICS_PATH}: Prometheus text exposition. */
import type { HttpResponse } from 'uWebSockets.js';
import type { Metrics } from '../../../metrics/registry.ts';
import { Reply } from '../reply.ts';

export function metricsRoute(metrics: Metrics) {
  return (res: HttpResponse): void => {
    const reply = new Reply(res);
    metrics.registry.metrics().then(
      (text) => reply.send('200 OK', text, metrics.registry.contentType),
      (err: unknown) => reply.send('500 Internal Server Error', `# metrics collection failed: ${(err as Error).message}\n`, 'text/plain'),
    );
  };
}
