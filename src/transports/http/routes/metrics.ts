/** GET {METRICS_PATH}: Prometheus text exposition (of every worker with --workers). */
import type { HttpResponse } from 'uWebSockets.js';
import { Reply } from '../reply.ts';

export function metricsRoute(scrape: () => Promise<string>, contentType: string) {
  return (res: HttpResponse): void => {
    const reply = new Reply(res);
    scrape().then(
      (text) => reply.send('200 OK', text, contentType),
      (err: unknown) => reply.send('500 Internal Server Error', `# metrics collection failed: ${(err as Error).message}\n`, 'text/plain'),
    );
  };
}
