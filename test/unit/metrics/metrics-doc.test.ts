import { expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { metricsTable } from '../../../src/metrics/table.ts';

test('metrics - docs/metrics.md lists exactly the metrics the registry exposes', () => {
  const page = readFileSync(join(import.meta.dir, '../../../docs/metrics.md'), 'utf8');
  const section = page.split('<!-- metrics-table:start -->')[1]?.split('<!-- metrics-table:end -->')[0]?.trim();
  expect(section).toBe(metricsTable());
});
