/**
 * The HTTP API on uWebSockets.js: a route table, JSON 404/405 for everything else, and
 * the metrics listener on its own port. HTTPS when TLS_CERT_FILE / TLS_KEY_FILE are set.
 * @module
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { ErrorCode, errorType, IngestError } from '../../core/errors.ts';
import type { Metrics } from '../../metrics/registry.ts';
import type { Uws } from '../native/uws.ts';
import type { Transport } from '../transport.ts';
import { type CertificateInfo, UwsListener, type UwsTls } from '../uws-listener.ts';
import type { HttpContext } from './context.ts';
import { httpStatus, Reply } from './reply.ts';
import { getDevice, importKeysRoute, registerDevice, revokeDevice, rotateKey } from './routes/admin.ts';
import { batch } from './routes/batch.ts';
import { consoleConfig, consoleFile, consolePage } from './routes/console.ts';
import { deviceList, deviceStats } from './routes/devices.ts';
import { health, live, ready } from './routes/health.ts';
import { adminRefusal, refuse } from './routes/ingest-request.ts';
import { metadata } from './routes/metadata.ts';
import { metricsRoute } from './routes/metrics.ts';
import { queueStatus } from './routes/queue-status.ts';
import { rejectById, rejectList, rejectReplay } from './routes/rejects.ts';
import { sensorData } from './routes/sensor-data.ts';

type Handler = (res: HttpResponse, req: HttpRequest) => void;
type Method = 'get' | 'post' | 'del';
interface Route {
  method: Method;
  path: string;
  handler: Handler;
}

export function apiRoutes(ctx: HttpContext): Route[] {
  return [
    { method: 'post', path: '/api/v1/sensor-data', handler: sensorData(ctx) },
    { method: 'post', path: '/api/v1/sensor-data/batch', handler: batch(ctx) },
    { method: 'post', path: '/api/v1/devices/metadata', handler: metadata(ctx) },
    { method: 'get', path: '/api/v1/devices', handler: deviceList(ctx) },
    { method: 'get', path: '/api/v1/devices/:id/stats', handler: deviceStats(ctx) },
    { method: 'get', path: '/api/v1/queue/status', handler: operatorOnly(ctx, queueStatus(ctx)) },
    { method: 'post', path: '/api/v1/admin/devices', handler: registerDevice(ctx) },
    { method: 'post', path: '/api/v1/admin/keys/import', handler: importKeysRoute(ctx) },
    { method: 'post', path: '/api/v1/admin/devices/:id/rotate', handler: rotateKey(ctx) },
    { method: 'get', path: '/api/v1/admin/devices/:id', handler: getDevice(ctx) },
    { method: 'del', path: '/api/v1/admin/devices/:id', handler: revokeDevice(ctx) },
    { method: 'get', path: '/api/v1/admin/rejects', handler: rejectList(ctx) },
    { method: 'post', path: '/api/v1/admin/rejects/replay', handler: rejectReplay(ctx) },
    { method: 'get', path: '/api/v1/admin/rejects/:id', handler: rejectById(ctx) },
    { method: 'get', path: '/health', handler: health(ctx) },
    { method: 'get', path: '/ready', handler: ready(ctx) },
    { method: 'get', path: '/live', handler: live() },
    { method: 'get', path: ctx.metricsPath, handler: operatorOnly(ctx, metricsRoute(ctx.scrapeMetrics, ctx.metrics.contentType)) },
    { method: 'get', path: '/', handler: consolePage(ctx) },
    { method: 'get', path: '/console/config.json', handler: consoleConfig(ctx) },
    { method: 'get', path: '/console/:file', handler: consoleFile(ctx) },
  ];
}

/**
 * What tells an outsider how the service is doing (its metrics, its queues): open without auth;
 * with AUTH_MODE on, on this public port only with the admin token (METRICS_PORT, which is for
 * the cluster's own scraper, stays open).
 */
function operatorOnly(ctx: HttpContext, handler: Handler): Handler {
  if (!ctx.auth.enabled) return handler;
  return (res, req) => {
    const refused = adminRefusal(ctx, req.getHeader('authorization'));
    if (refused === undefined) return handler(res, req);
    refuse(ctx, new Reply(res), refused);
  };
}

/** One uWS app listening on one port, serving `routes`; over TLS when `tls` is given. */
export class UwsHttpTransport implements Transport {
  readonly name: string;
  readonly #listener: UwsListener;

  constructor(uws: Uws, name: string, host: string, port: number, routes: Route[], metrics: Metrics, tls?: UwsTls) {
    this.name = name;
    this.#listener = new UwsListener(uws, name, host, port, tls, (app) => UwsHttpTransport.#serve(app, routes, metrics));
  }

  static #serve(app: TemplatedApp, routes: Route[], metrics: Metrics): void {
    const allowed = new Map<string, string[]>();
    for (const r of routes) {
      app[r.method](r.path, r.handler);
      allowed.set(r.path, [...(allowed.get(r.path) ?? []), r.method === 'del' ? 'DELETE' : r.method.toUpperCase()]);
    }
    app.any('/*', (res, req) => {
      const url = req.getUrl();
      const methods = allowed.get(url);
      const reply = new Reply(res);
      const err = methods
        ? new IngestError(ErrorCode.METHOD_NOT_ALLOWED, 'Method not allowed', `${req.getCaseSensitiveMethod()} ${url}; allowed: ${methods.join(', ')}`)
        : new IngestError(ErrorCode.NOT_FOUND, 'Not found', `no route for ${req.getCaseSensitiveMethod()} ${url}`);
      metrics.error(errorType[err.code]);
      // an unknown route's body is not read: close the connection instead of draining it
      reply.closeAfter = req.getHeader('content-length') !== '' && req.getHeader('content-length') !== '0';
      reply.send(httpStatus[err.code], JSON.stringify({ error: err.message, code: err.code, details: err.details }), 'application/json', methods ? [['Allow', methods.join(', ')]] : undefined);
    });
  }

  get tls(): boolean {
    return this.#listener.tls;
  }

  start(): Promise<number> {
    return this.#listener.start();
  }

  /** SIGHUP: new connections get the certificate files read again; open ones stay. */
  reloadTls(): Promise<CertificateInfo | undefined> {
    return this.#listener.reload();
  }

  async drain(): Promise<void> {
    this.#listener.drain();
  }

  async stop(): Promise<void> {
    this.#listener.close();
  }
}
