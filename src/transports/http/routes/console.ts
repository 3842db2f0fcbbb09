/**
 * The built-in console (issue 10) on the HTTP listener: GET / (the page), GET /console/<file>
 * (its script, styles and uPlot, embedded in the binary: see console/assets.ts) and
 * GET /console/config.json (what the page must know about this server). Open, like
 * /metrics: the page itself holds no data, and the device table and live tail it shows ask
 * for the admin token when AUTH_MODE is on.
 * @module
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { type ConsoleAsset, consoleFiles, consoleIndex } from '../../../console/assets.ts';
import { ErrorCode, IngestError } from '../../../core/errors.ts';
import type { ConsoleSettings, HttpContext } from '../context.ts';
import { Reply } from '../reply.ts';
import { refuse } from './ingest-request.ts';

/** A Host header as browsers send it: a DNS name or IPv4 address, or a bracketed IPv6 address, and a port. */
const HOST = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/**
 * Only this server's own files run, and the page may talk only to this origin and to the live
 * WebSocket on WS_PORT of the host the browser used (a different port is a different origin
 * for `connect-src 'self'`). No inline script or style: uPlot sets styles through the CSSOM,
 * which CSP does not restrict.
 */
export function contentSecurityPolicy(host: string, ws: ConsoleSettings['ws']): string {
  const connect = ["'self'"];
  if (ws && HOST.test(host)) connect.push(`${ws.tls ? 'wss' : 'ws'}://${host.replace(/:\d+$/, '')}:${ws.port}`);
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src ${connect.join(' ')}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Does an If-None-Match header name this ETag (a list, weak or strong, or `*`)? */
export function etagMatches(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch === '') return false;
  return ifNoneMatch.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag === etag || tag === `W/${etag}`;
  });
}

function headers(host: string, settings: ConsoleSettings, extra: [string, string][]): [string, string][] {
  return [
    ['Content-Security-Policy', contentSecurityPolicy(host, settings.ws)],
    ['X-Content-Type-Options', 'nosniff'],
    ['Referrer-Policy', 'no-referrer'],
    ...extra,
  ];
}

function serve(res: HttpResponse, req: HttpRequest, settings: ConsoleSettings, file: ConsoleAsset): void {
  const reply = new Reply(res);
  // revalidated on every load (a new binary serves new files under the same names), 304 while unchanged
  const h = headers(req.getHeader('host'), settings, [
    ['Cache-Control', 'no-cache'],
    ['ETag', file.etag],
  ]);
  if (etagMatches(req.getHeader('if-none-match'), file.etag)) return reply.notModified(h);
  reply.send('200 OK', file.body, file.contentType, h);
}

export function consolePage(ctx: HttpContext) {
  return (res: HttpResponse, req: HttpRequest): void => serve(res, req, ctx.console, consoleIndex);
}

export function consoleFile(ctx: HttpContext) {
  return (res: HttpResponse, req: HttpRequest): void => {
    const name = req.getParameter(0) ?? '';
    const file = consoleFiles.get(name);
    if (file) return serve(res, req, ctx.console, file);
    refuse(ctx, new Reply(res), new IngestError(ErrorCode.NOT_FOUND, 'Not found', `no console file ${JSON.stringify(name)}`));
  };
}

export function consoleConfig(ctx: HttpContext) {
  const settings = ctx.console;
  return (res: HttpResponse, req: HttpRequest): void => {
    const body = JSON.stringify({
      auth: ctx.auth.enabled,
      admin_api: ctx.adminToken !== undefined && ctx.adminToken !== '',
      ws: settings.ws ? { port: settings.ws.port, scheme: settings.ws.tls ? 'wss' : 'ws' } : null,
      metrics_path: ctx.metricsPath,
      fleet_state: settings.fleetState,
      sensor_types: ctx.validator.sensorNames,
      queues: settings.queues,
    });
    new Reply(res).send('200 OK', body, 'application/json', headers(req.getHeader('host'), settings, [['Cache-Control', 'no-store']]));
  };
}
