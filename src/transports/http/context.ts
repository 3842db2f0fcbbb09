/**
 * What the HTTP routes need, handed in by the composition root.
 * @module
 */
import type { Logger } from 'pino';
import type { Pipeline } from '../../core/pipeline.ts';
import type { Metrics } from '../../metrics/registry.ts';
import type { QueueBackend } from '../../queue/backend.ts';

export interface Lifecycle {
  /** Listening, not draining, and the queue accepts appends. */
  ready(): boolean;
  draining(): boolean;
}

export interface HttpContext {
  pipeline: Pipeline;
  backend: QueueBackend;
  metrics: Metrics;
  log: Logger;
  lifecycle: Lifecycle;
  maxBodyBytes: number;
  batchMaxItems: number;
  retryAfterSeconds: number;
  metricsPath: string;
}
