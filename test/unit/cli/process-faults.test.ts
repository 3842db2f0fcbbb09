/**
 * The process-wide fault handlers, under Node (what the server runs on): a small program installs
 * them, rejects promises nobody handles, and must keep running with each counted and the first
 * logged with its stack; an exception thrown to the event loop must end it with status 1.
 */
import { describe, expect, test } from 'bun:test';
import { buildSync } from 'esbuild';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const FAULTS = path.resolve(import.meta.dir, '../../../src/cli/process-faults.ts');

/** Runs `body` (TypeScript, `onProcessFaults` and `log` in scope) under Node; its exit status and JSON log lines. */
function runUnderNode(body: string): { status: number | null; lines: Record<string, unknown>[]; stdout: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nb-faults-'));
  const entry = path.join(dir, 'main.ts');
  fs.writeFileSync(entry, `import pino from 'pino';\nimport { onProcessFaults } from ${JSON.stringify(FAULTS)};\nconst log = pino();\n${body}\n`);
  const out = path.join(dir, 'main.cjs');
  buildSync({ entryPoints: [entry], bundle: true, platform: 'node', format: 'cjs', outfile: out, nodePaths: [path.resolve(import.meta.dir, '../../../node_modules')], logLevel: 'silent' });
  const r = spawnSync('node', [out], { encoding: 'utf8', timeout: 20_000 });
  fs.rmSync(dir, { recursive: true, force: true });
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { status: r.status, lines, stdout: r.stdout };
}

describe('process faults', () => {
  test('process faults - unhandled rejections are counted, the first logged with its stack, and the process keeps serving', () => {
    const r = runUnderNode(`
      const counted: string[] = [];
      onProcessFaults(log, { error: (t) => counted.push(t) });
      async function continuation(i: number): Promise<void> { throw new Error('bug in continuation ' + i); }
      for (let i = 0; i < 5; i++) void continuation(i).then(() => undefined);
      // Node handles this turn's unhandled rejections before the event loop's next phase
      setImmediate(() => { console.log('counted ' + counted.join(',')); console.log('still serving'); });
    `);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('counted unhandled_rejection,unhandled_rejection,unhandled_rejection,unhandled_rejection,unhandled_rejection');
    expect(r.stdout).toContain('still serving');
    const logged = r.lines.filter((l) => String(l.msg).startsWith('unhandled promise rejection'));
    // one line for the first; the other four within the minute are counted, not logged one by one
    expect(logged.length).toBe(1);
    expect(logged[0]!.level).toBe(50);
    const err = logged[0]!.err as { message: string; stack: string };
    expect(err.message).toBe('bug in continuation 0');
    expect(err.stack).toContain('continuation');
  });

  test('process faults - an uncaught exception is logged as fatal and ends the process with status 1', () => {
    const r = runUnderNode(`
      onProcessFaults(log, { error: () => undefined });
      setTimeout(() => { throw new Error('state may be half changed'); }, 10);
      setTimeout(() => console.log('should not run'), 500);
    `);
    expect(r.status).toBe(1);
    expect(r.stdout).not.toContain('should not run');
    const fatal = r.lines.find((l) => l.level === 60);
    expect((fatal?.err as { message?: string } | undefined)?.message).toBe('state may be half changed');
  });
});
