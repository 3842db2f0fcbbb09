/**
 * The console's embedded files and the HTTP rules around them (no uWS here: the pure parts of
 * the route): content types, ETags, the Content-Security-Policy, If-None-Match.
 */
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { consoleFiles, consoleIndex } from '../../../src/console/assets.ts';
import { contentSecurityPolicy, etagMatches } from '../../../src/transports/http/routes/console.ts';
import { ADMIN, adminIdentity, isAdminToken } from '../../../src/auth/admin-token.ts';

const ROOT = join(import.meta.dir, '../../..');

describe('console assets', () => {
  test('console assets - the page and every file it links are embedded, with their types and distinct ETags', () => {
    expect(consoleIndex.contentType).toBe('text/html; charset=utf-8');
    const html = consoleIndex.body.toString('utf8');
    const linked = [...html.matchAll(/(?:src|href)="\/console\/([^"]+)"/g)].map((m) => m[1]!);
    expect(linked.sort()).toEqual([...consoleFiles.keys()].sort());
    for (const [name, file] of consoleFiles) expect(file.contentType).toBe(name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8');
    const etags = [consoleIndex, ...consoleFiles.values()].map((f) => f.etag);
    expect(new Set(etags).size).toBe(etags.length);
    for (const e of etags) expect(e).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
    // uPlot exactly as published
    expect(consoleFiles.get('uPlot.iife.min.js')!.body.equals(readFileSync(join(ROOT, 'node_modules/uplot/dist/uPlot.iife.min.js')))).toBe(true);
  });

  test('console assets - no inline script or style in the page (the CSP allows only files of this origin)', () => {
    const html = consoleIndex.body.toString('utf8');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
  });

  test('console assets - CSP: self only, plus the live WebSocket of the host the browser used', () => {
    const ws = { port: 3001, tls: false };
    const csp = contentSecurityPolicy('127.0.0.1:3000', ws);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("connect-src 'self' ws://127.0.0.1:3001");
    expect(contentSecurityPolicy('ingest.example.com', { port: 443, tls: true })).toContain("connect-src 'self' wss://ingest.example.com:443");
    expect(contentSecurityPolicy('[::1]:3000', ws)).toContain("connect-src 'self' ws://[::1]:3001;");
    // a Host header that is not a host: nothing of it goes into the header
    expect(contentSecurityPolicy("x; script-src *", ws)).toContain("connect-src 'self';");
    expect(contentSecurityPolicy('127.0.0.1:3000', undefined)).toContain("connect-src 'self';");
  });

  test('console assets - If-None-Match: exact, weak, lists and *', () => {
    expect(etagMatches('"abc"', '"abc"')).toBe(true);
    expect(etagMatches('W/"abc"', '"abc"')).toBe(true);
    expect(etagMatches('"x", "abc"', '"abc"')).toBe(true);
    expect(etagMatches('*', '"abc"')).toBe(true);
    expect(etagMatches('', '"abc"')).toBe(false);
    expect(etagMatches('"abd"', '"abc"')).toBe(false);
  });
});

describe('admin token', () => {
  test('admin token - compared whole (any length), refused without ADMIN_TOKEN, a watch-everything subscriber', () => {
    expect(isAdminToken('s3cret-token', 's3cret-token')).toBe(true);
    expect(isAdminToken('s3cret-toke', 's3cret-token')).toBe(false);
    expect(isAdminToken('s3cret-token-', 's3cret-token')).toBe(false);
    expect(isAdminToken('', 's3cret-token')).toBe(false);
    expect(isAdminToken('anything', undefined)).toBe(false);
    expect(adminIdentity('s3cret-token', 's3cret-token')).toBe(ADMIN);
    expect(ADMIN).toEqual({ id: '@admin', role: 'subscriber', via: 'admin-token' });
    const wrong = adminIdentity('nope', 's3cret-token');
    expect('code' in wrong && wrong.code).toBe('INGEST_ERR_UNAUTHENTICATED');
    const off = adminIdentity('nope', undefined);
    expect('details' in off && off.details).toContain('ADMIN_TOKEN is not set');
  });
});
