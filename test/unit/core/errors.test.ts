import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, errorType } from '../../../src/core/errors.ts';
import { httpStatus } from '../../../src/transports/http/reply.ts';

const doc = readFileSync(join(import.meta.dir, '../../../docs/errors.md'), 'utf8');
const rows = new Map(
  [...doc.matchAll(/^\| `(INGEST_ERR_\w+)` \| (\d{3}) \| `(\w+)` \|/gm)].map((m) => [m[1]!, { status: m[2]!, type: m[3]! }]),
);

describe('errors', () => {
  test('errors - docs/errors.md lists exactly the codes of core/errors.ts', () => {
    expect([...rows.keys()].sort()).toEqual(Object.values(ErrorCode).sort());
  });
  test('errors - documented HTTP status and error_type match the code', () => {
    for (const code of Object.values(ErrorCode)) {
      expect({ code, status: httpStatus[code].slice(0, 3), type: errorType[code] }).toEqual({ code, ...rows.get(code)! } as never);
    }
  });
});
