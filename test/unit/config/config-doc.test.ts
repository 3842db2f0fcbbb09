import { expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configTable } from '../../../src/config/table.ts';

test('config - the configuration table of docs/configuration.md is the one generated from the schema', () => {
  const readme = readFileSync(join(import.meta.dir, '../../../docs/configuration.md'), 'utf8');
  const section = readme.split('<!-- config-table:start -->')[1]?.split('<!-- config-table:end -->')[0]?.trim();
  expect(section).toBe(configTable());
});
