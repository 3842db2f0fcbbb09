/**
 * docs/capacity.md's tables are what bench/capacity.mjs computes from the committed figures
 * (bench/figures/*.json, bench/reports/mqtt.json): rerunning a benchmark without
 * `npm run bench:capacity` fails here, so the page never quotes figures nobody measured.
 */
import { expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

test('capacity - docs/capacity.md matches the measured figures (node bench/capacity.mjs --check)', () => {
  const r = spawnSync('node', [resolve(import.meta.dir, '../../bench/capacity.mjs'), '--check'], { encoding: 'utf8' });
  expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({ status: 0, stderr: '' });
  expect(r.stdout).toContain('docs/capacity.md matches the measured figures');
});
