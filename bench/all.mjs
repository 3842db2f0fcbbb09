#!/usr/bin/env node
// npm run bench: bench:http, bench:mqtt and bench:ws one after the other (each writes its section of
// bench/RESULTS.md and its bench/reports/<name>.json), then bench:report draws bench/reports/index.html.
// A benchmark that fails (exit code ≠ 0) does not stop the others: the report is built from what
// was written, and the exit code is 1 when any step failed. Environment knobs (BENCH_ROUNDS, …)
// pass through to every benchmark; with BENCH_QUICK=1 nothing is written unless BENCH_WRITE_RESULTS=1.
import { spawnSync } from 'node:child_process';
import { ROOT } from './lib/paths.mjs';

const STEPS = ['bench:http', 'bench:mqtt', 'bench:ws'];
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

if (process.env.BENCH_QUICK === '1' && process.env.BENCH_WRITE_RESULTS !== '1') {
  console.log('bench: BENCH_QUICK=1: the benchmarks leave RESULTS.md and bench/reports/ alone (each prints where its figures went); the report is rebuilt from the committed JSON');
}
const results = [];
for (const step of STEPS) {
  const t0 = Date.now();
  console.log(`\n======== npm run ${step} ========\n`);
  const r = spawnSync(npm, ['run', step], { cwd: ROOT, stdio: 'inherit' });
  results.push({ step, code: r.status ?? 1, min: (Date.now() - t0) / 60_000 });
  if (r.signal === 'SIGINT' || r.signal === 'SIGTERM') process.exit(130);
}
console.log('\n======== npm run bench:report ========\n');
const rep = spawnSync(npm, ['run', 'bench:report'], { cwd: ROOT, stdio: 'inherit' });
results.push({ step: 'bench:report', code: rep.status ?? 1, min: 0 });

console.log(`\nbench: ${results.map((r) => `${r.step} ${r.code === 0 ? 'ok' : `FAILED (exit ${r.code})`}${r.min ? ` in ${r.min.toFixed(1)} min` : ''}`).join(', ')}`);
console.log('bench: tables in bench/RESULTS.md, charts in bench/reports/index.html');
if (results.some((r) => r.code !== 0)) process.exitCode = 1;
