/**
 * The built-in console in a real headless Chromium (Debian's chromium driven by playwright-core;
 * never a downloaded browser; skipped with the reason when there is none and it cannot be
 * installed): against a running server on a real Redis, readings POSTed over HTTP must show in
 * the charts, the device table (and its search) and the live tail filtered by device; with
 * AUTH_MODE on, the page asks for the admin token and loads the table with it. Screenshots go
 * to test-artifacts/ (gitignored).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { reading } from '../fixtures/readings.ts';
import { findChromium } from '../helpers/chromium.ts';
import type { ServerProcess } from '../helpers/spawn-server.ts';
import { useStack } from '../helpers/stack.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const ARTIFACTS = resolve(import.meta.dir, '../../test-artifacts');
const ADMIN = 'console-e2e-admin-token-0123456789';
const found = findChromium();
if ('reason' in found) console.warn(`console browser tests skipped: ${found.reason}`);
const suite = 'path' in found ? describe : describe.skip;

let browser: Browser | undefined;
beforeAll(async () => {
  if ('path' in found) browser = await chromium.launch({ executablePath: found.path });
});
afterAll(async () => {
  await browser?.close();
});

/**
 * The console opened in a new page. `problems` collects uncaught errors and console errors (CSP
 * violations are reported there), `failed` the HTTP answers ≥ 400 ("METHOD path status"; the
 * browser's own "Failed to load resource" lines for them are left out of `problems`).
 */
async function open(server: ServerProcess): Promise<{ page: Page; problems: string[]; failed: string[] }> {
  const page = await browser!.newPage({ viewport: { width: 1440, height: 1000 } });
  // a page's waits are bounded (playwright's 30 s default, stated here); the test's own bound is
  // wider still, so that a loaded machine (the suite beside a CPU hog) fails a wait with the
  // selector it waited for, not the whole test with a bare timeout
  page.setDefaultTimeout(30_000);
  const problems: string[] = [];
  const failed: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400) failed.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`);
  });
  await page.goto(server.base + '/');
  await page.waitForSelector('body[data-ready="true"]');
  return { page, problems, failed };
}

const attr = (page: Page, selector: string, name: string) => page.getAttribute(selector, name).then((v) => Number(v));
const cell = (page: Page, row: string, i: number) => page.locator(`${row} td`).nth(i).textContent({ timeout: 1000 });

/**
 * Waits from the test's side: the page's CSP forbids evaluating strings (waitForFunction with a
 * string is refused, as it should be), and the predicates read only attributes and text.
 */
function until(what: string, probe: () => Promise<boolean>, timeoutMs = 15_000): Promise<boolean> {
  return waitFor(probe, timeoutMs, what);
}

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
}

suite('console in chromium - auth off', () => {
  const stack = useStack({ DEVICE_STATE_FLUSH_MS: '200' });

  test('console in chromium - charts, device table with search, live tail filtered by device; screenshot', async () => {
    const { page, problems, failed } = await open(stack.server);
    const post = (body: unknown) => stack.server.post('/api/v1/sensor-data', body).then((r) => r.status);
    for (let i = 0; i < 5; i++) {
      expect(await post(reading({ device_id: 'console-dev-1' }))).toBe(202);
      expect(await post(reading({ device_id: 'console-dev-2', sensors: { pir: { motion_detected: false } } }))).toBe(202);
      await sleep(300);
    }
    expect(await post(reading({ device_id: 'console-dev-2', sensors: { ld2410: { presence: true, distance: 900, energy: 10 } } }))).toBe(400);

    // charts: rates from successive scrapes of /metrics
    await until('a non-zero ingest rate on the chart', async () => (await attr(page, '#chart-ingest', 'data-peak')) > 0);
    await until('a non-zero error rate on the chart', async () => (await attr(page, '#chart-errors', 'data-peak')) > 0);
    expect(await attr(page, '#chart-ingest', 'data-points')).toBeGreaterThan(1);
    await until('a p95 latency', async () => (await attr(page, '#tile-p95', 'data-value')) > 0);
    expect(await page.textContent('#tile-queue-name')).toBe('Queue sensor-data');

    // device table from the fleet state: counts, rate, rejects; search filters it
    const row = '#devices tbody tr[data-device="console-dev-1"]';
    await page.waitForSelector(row);
    await until('5 readings in the table', async () => (await cell(page, row, 3).catch(() => '')) === '5');
    await until('a rate in the table', async () => /\/min$/.test((await cell(page, row, 2).catch(() => '')) ?? ''));
    await until('the refusal in the table', async () => (await cell(page, '#devices tbody tr[data-device="console-dev-2"]', 4).catch(() => '')) === '1');
    expect(await page.textContent('#devices tbody tr[data-device="console-dev-2"] td.reason')).toContain('sensors.ld2410.distance');
    await page.fill('#device-search', 'dev-1');
    expect(await page.$$eval('#devices tbody tr', (rows) => rows.map((r) => (r as unknown as { dataset: { device: string } }).dataset.device))).toEqual(['console-dev-1']);
    await page.fill('#device-search', 'no-such-device');
    expect(await page.locator('#devices tbody tr').count()).toBe(0);
    await page.fill('#device-search', '');
    await until('both devices listed again', async () => (await page.locator('#devices tbody tr').count()) >= 2);

    // live tail over the WebSocket: filtered to one device
    await page.fill('#tail-device', 'console-dev-1');
    await page.click('#tail-filter button[type="submit"]');
    await until('the tail subscribed to console-dev-1', async () => (await page.getAttribute('#status-tail', 'data-state')) === 'ok' && ((await page.getAttribute('#status-tail', 'title')) ?? '').includes('console-dev-1'));
    expect(await post(reading({ device_id: 'console-dev-2' }))).toBe(202);
    expect(await post(reading({ device_id: 'console-dev-1', sensors: { mq134: { gas_concentration: 321, unit: 'ppm' } } }))).toBe(202);
    const tailed = await page.waitForSelector('#tail li[data-device="console-dev-1"]');
    expect(await tailed.textContent()).toContain('mq134 gas_concentration=321 unit=ppm');
    expect(await page.locator('#tail li[data-device="console-dev-2"]').count()).toBe(0);
    expect(await page.getAttribute('#status-metrics', 'data-state')).toBe('ok');
    expect(await page.getAttribute('#status-devices', 'data-state')).toBe('ok');

    await screenshot(page, 'console.png');
    expect(problems).toEqual([]);
    // the search for an id not listed asked for it by name
    expect(failed).toEqual(['GET /api/v1/devices/no-such-device/stats 404']);
    await page.close();
  }, 150_000);
});

suite('console in chromium - auth on', () => {
  const stack = useStack({ AUTH_MODE: 'api-key', ADMIN_TOKEN: ADMIN, DEVICE_STATE_FLUSH_MS: '200' });

  test('console in chromium - asks for the admin token, refuses a wrong one, loads the table and the tail with the right one', async () => {
    const res = await fetch(`${stack.server.base}/api/v1/admin/devices`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` }, body: '{"device_id":"console-auth-1"}' });
    expect(res.status).toBe(201);
    const key = ((await res.json()) as { api_key: string }).api_key;
    const post = (body: unknown) => stack.server.post('/api/v1/sensor-data', body, { 'content-type': 'application/json', 'x-api-key': key }).then((r) => r.status);
    expect(await post(reading({ device_id: 'console-auth-1' }))).toBe(202);

    const { page, problems, failed } = await open(stack.server);
    expect(await page.isVisible('#login')).toBe(true);
    expect(await page.getAttribute('#status-devices', 'data-state')).toBe('wait');
    // the metrics behind the charts are the admin's too (on the public port, with auth on)
    await until('the metrics waiting for the token', async () => (await page.getAttribute('#status-metrics', 'data-state')) === 'wait');

    await page.fill('#token', 'not-the-token');
    await page.click('#login button[type="submit"]');
    await until('the refusal shown', async () => ((await page.textContent('#login-error')) ?? '').includes('not the admin token'));
    expect(await page.isVisible('#login')).toBe(true);

    await page.fill('#token', ADMIN);
    await page.click('#login button[type="submit"]');
    await page.waitForSelector('#devices tbody tr[data-device="console-auth-1"]');
    expect(await page.isVisible('#login')).toBe(false);
    await until('chart points with the token', async () => (await attr(page, '#chart-ingest', 'data-points')) >= 2);
    await until('the tail subscribed', async () => (await page.getAttribute('#status-tail', 'data-state')) === 'ok');
    expect(await post(reading({ device_id: 'console-auth-1', sensors: { pir: { motion_detected: true } } }))).toBe(202);
    expect(await (await page.waitForSelector('#tail li[data-device="console-auth-1"]')).textContent()).toContain('pir motion_detected=true');

    // kept for this tab: a reload does not ask again
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    await page.waitForSelector('#devices tbody tr[data-device="console-auth-1"]');
    expect(await page.isVisible('#login')).toBe(false);
    await until('the tail subscribed after the reload', async () => (await page.getAttribute('#status-tail', 'data-state')) === 'ok');
    expect(await post(reading({ device_id: 'console-auth-1' }))).toBe(202);
    await page.waitForSelector('#tail li[data-device="console-auth-1"]');

    await screenshot(page, 'console-auth.png');
    // the refused token: its 403 and the WebSocket's refused upgrade (which the browser logs)
    expect([...new Set(failed)]).toEqual(['GET /api/v1/devices 403']);
    expect(problems.filter((p) => !/WebSocket connection to .* failed/.test(p))).toEqual([]);
    await page.close();
  }, 150_000);
});
