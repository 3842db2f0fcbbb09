/**
 * GET /health (the process and its dependencies), GET /ready (take traffic or not) and
 * GET /live (the process answers: for a Kubernetes liveness probe, which must not restart
 * every pod while Redis is away and they are holding acknowledgements).
 */
import type { HttpResponse } from 'uWebSockets.js';
import { Reply } from '../reply.ts';
import type { HttpContext } from '../context.ts';

export function health(ctx: HttpContext) {
  return (res: HttpResponse): void => {
    const queueUp = ctx.backend.healthy();
    const listeners = ctx.listeners();
    const services: Record<string, string> = { http: 'up', ...listeners };
    if (ctx.backend.kind === 'redis') services.redis = queueUp ? 'up' : 'down';
    else services.queue = queueUp ? 'up' : 'down';
    const up = queueUp && Object.values(listeners).every((s) => s === 'up');
    new Reply(res).json(up ? '200 OK' : '503 Service Unavailable', {
      status: up ? 'healthy' : 'unhealthy',
      timestamp: new Date().toISOString(),
      queue_backend: ctx.backend.kind,
      services,
    });
  };
}

export function ready(ctx: HttpContext) {
  return (res: HttpResponse): void => {
    const ok = ctx.lifecycle.ready();
    new Reply(res).json(ok ? '200 OK' : '503 Service Unavailable', { ready: ok, timestamp: new Date().toISOString() });
  };
}

export function live() {
  return (res: HttpResponse): void => {
    new Reply(res).json('200 OK', { status: 'alive', timestamp: new Date().toISOString() });
  };
}
