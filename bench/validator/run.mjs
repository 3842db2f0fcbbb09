#!/usr/bin/env node
// The reading path's CPU cost per reading, this tree against an earlier one in the same run
// (`npm run bench:validator`): what tolerant input (UNKNOWN_FIELDS, NAIVE_TIMESTAMPS, epoch
// timestamps) costs a canonical reading, and what a normalised one costs.
//
//   BENCH_BASELINE_REF=<git ref> (default main)   the tree to compare with: its src/ is taken with
//                                                 `git archive` and bundled beside this tree's
//   BENCH_ROUNDS (5)  BENCH_QUICK=1 (1 round, fewer iterations, RESULTS.md left alone)
//   BENCH_WRITE_RESULTS (0|1)
//
// Each round runs every case in a child process of its own (bench/validator/child.mjs) that loads
// both bundles and runs them slice by slice in turn, each slice timed in the process's CPU time
// (the machine is shared: the load drifts over seconds, and wall time would count waiting for a
// core); a child reports per bundle the median slice and the median after / before ratio of its
// slice pairs, and the table holds medians over rounds. Two measures:
// - validate: JSON.parse + duplicate-key check (core/decode.ts parseJson) + ReadingValidator.validate,
//   one fresh reading text per iteration, CPU ns per reading;
// - pipeline: Pipeline.ingest of the JSON bytes on the embedded queue, quality checks on, 100
//   readings in flight (what a transport calls: decode, validate, dedupe key, enrich, batcher,
//   append), readings per CPU second.
// The canonical cases are what every device sends today; the others are refused by the earlier
// tree, so they are measured on this tree only, paired with the canonical case on this tree.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { commandLine, intEnv, setBenchName } from '../lib/cli.mjs';
import { machineInfo } from '../lib/machine.mjs';
import { RESULTS, ROOT } from '../lib/paths.mjs';
import { writeSection } from '../lib/results-md.mjs';
import { mdTable, ratio, textTable } from '../lib/tables.mjs';
import { median } from '../lib/stats.mjs';

setBenchName('bench:validator');
const QUICK = process.env.BENCH_QUICK === '1';
const ROUNDS = QUICK ? 1 : intEnv('BENCH_ROUNDS', 5, 1, 50);
const WRITE = process.env.BENCH_WRITE_RESULTS ? process.env.BENCH_WRITE_RESULTS === '1' : !QUICK;
const REF = process.env.BENCH_BASELINE_REF ?? 'main';
const START = '<!-- bench:validator:start -->';
const END = '<!-- bench:validator:end -->';
const CHILD = path.join(ROOT, 'bench/validator/child.mjs');

const CASES = [
  { id: 'canonical', label: 'ISO timestamp with Z, no unknown field', both: true },
  { id: 'offset', label: 'ISO timestamp with an offset (+02:00), no unknown field', both: true },
  { id: 'epoch-ms', label: 'epoch milliseconds', both: false },
  { id: 'naive', label: 'timestamp without a zone (utc)', both: false },
  { id: 'unknown-keep', label: '"rssi" and pir.sensitivity, UNKNOWN_FIELDS=keep', both: false },
  { id: 'unknown-strip', label: '"rssi" and pir.sensitivity, UNKNOWN_FIELDS=strip', both: false },
];
const MEASURES = [
  { id: 'validate', unit: 'CPU ns/reading', iterations: QUICK ? 50_000 : 300_000 },
  { id: 'pipeline', unit: 'readings/CPU s', iterations: 100_000 },
];

// ------------------------------------------------------------------------------------ bundles
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nb-bench-validator-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
/** The modules the child uses, from the tree at `dir` (pino from this repository's node_modules). */
const entry = (dir) => `
export { ReadingValidator } from ${JSON.stringify(path.join(dir, 'src/core/validate.ts'))};
export { builtinSensorTypes } from ${JSON.stringify(path.join(dir, 'src/core/readings/registry.ts'))};
export { parseJson } from ${JSON.stringify(path.join(dir, 'src/core/decode.ts'))};
export { Pipeline } from ${JSON.stringify(path.join(dir, 'src/core/pipeline.ts'))};
export { QualityChecks } from ${JSON.stringify(path.join(dir, 'src/core/quality.ts'))};
export { MemoryBackend } from ${JSON.stringify(path.join(dir, 'src/queue/memory/index.ts'))};
export { createMetrics } from ${JSON.stringify(path.join(dir, 'src/metrics/registry.ts'))};
export { pino } from 'pino';
`;

/** Bundles the reading path of the tree at `dir` (which has src/) into one ESM file in the temporary directory; returns its path. */
async function bundle(dir, name) {
  const entryFile = path.join(tmp, `${name}-entry.ts`);
  fs.writeFileSync(entryFile, entry(dir));
  const outfile = path.join(tmp, `${name}.mjs`);
  await build({
    entryPoints: [entryFile],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    nodePaths: [path.join(ROOT, 'node_modules')],
    external: ['msgpackr-extract'],
    alias: { debug: path.join(ROOT, 'scripts/shims/debug.cjs') },
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'error',
  });
  return outfile;
}

const baseDir = path.join(tmp, 'baseline');
fs.mkdirSync(baseDir);
const baseCommit = execFileSync('git', ['rev-parse', '--short', REF], { cwd: ROOT, encoding: 'utf8' }).trim();
const archive = spawnSync('sh', ['-c', `git archive ${JSON.stringify(REF)} src | tar -x -C ${JSON.stringify(baseDir)}`], { cwd: ROOT, encoding: 'utf8' });
if (archive.status !== 0) throw new Error(`git archive ${REF}: ${archive.stderr}`);
const headCommit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
const dirty = execFileSync('git', ['status', '--porcelain', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
const TARGETS = [
  { id: 'before', label: `${REF} (${baseCommit})`, file: await bundle(baseDir, 'before') },
  { id: 'after', label: `this tree (${headCommit}${dirty ? ' + uncommitted changes' : ''})`, file: await bundle(ROOT, 'after') },
];

// ------------------------------------------------------------------------------------ runs
/** One child process: each [target, case] of `pairs` in turn, slice by slice (child.mjs). */
function runChild(pairs, measure) {
  const res = spawnSync(process.execPath, ['--expose-gc', CHILD, measure.id, String(measure.iterations), ...pairs.map(([t, c]) => `${t.file}=${c}`)], { encoding: 'utf8', timeout: 600_000 });
  if (res.status !== 0) throw new Error(`${measure.id} ${pairs.map(([t, c]) => `${t.id}=${c}`).join(' ')}: exit ${res.status}\n${res.stderr}`);
  return JSON.parse(res.stdout.trim().split('\n').at(-1));
}

const figures = []; // { round, target, measure, case, value }
// { round, measure, case, value }: within one child, after / before on a canonical case, or
// this case / canonical on this tree for the cases the earlier tree refuses
const ratios = [];
for (let round = 1; round <= ROUNDS; round++) {
  for (const measure of MEASURES) {
    for (const c of CASES) {
      const [before, after] = TARGETS;
      const pairs = c.both ? [[before, c.id], [after, c.id]] : [[after, 'canonical'], [after, c.id]];
      const r = runChild(pairs, measure);
      figures.push({ round, target: c.both ? 'before' : 'after-canonical', measure: measure.id, case: c.id, value: r.values[0] });
      figures.push({ round, target: 'after', measure: measure.id, case: c.id, value: r.values[1] });
      ratios.push({ round, measure: measure.id, case: c.id, value: r.ratio });
      const what = c.both ? 'after / before' : `${c.id} / canonical`;
      console.log(`round ${round}  ${measure.id.padEnd(8)}  ${c.id.padEnd(13)}  ${r.values.map((v) => Math.round(v)).join(' → ')} ${measure.unit}  (${what} ${r.ratio.toFixed(3)})`);
    }
  }
}

// ------------------------------------------------------------------------------------ report
const med = (t, m, c) => median(figures.filter((f) => f.target === t && f.measure === m && f.case === c).map((f) => f.value));
/** Median over rounds of each child's median slice-pair ratio; and the lowest and highest round. */
function ratioOf(m, c) {
  const rs = ratios.filter((r) => r.measure === m && r.case === c).map((r) => r.value);
  return rs.length ? { median: median(rs), min: Math.min(...rs), max: Math.max(...rs) } : undefined;
}
const fmt = (m, x) => (Number.isFinite(x) ? (m === 'validate' ? `${Math.round(x)}` : Math.round(x).toLocaleString('en-US')) : '—');
const rows = [['measure', 'case', 'before', 'after', 'after / before', 'this case / canonical (this tree)']];
for (const m of MEASURES) {
  for (const c of CASES) {
    const r = ratioOf(m.id, c.id);
    const shown = r ? `${ratio(r.median)} (${ratio(r.min)} – ${ratio(r.max)})` : '—';
    rows.push([`${m.id} (${m.unit})`, c.label, c.both ? fmt(m.id, med('before', m.id, c.id)) : 'refused', fmt(m.id, med('after', m.id, c.id)), c.both ? shown : '—', c.both ? '—' : shown]);
  }
}
console.log('\n' + textTable(rows));

if (WRITE) {
  const mi = machineInfo();
  const facts = [
    `date: ${new Date().toISOString()}`,
    `machine: ${mi.nproc} CPUs (${mi.cpu}), ${mi.memGiB} GiB, ${mi.kernel}, Node ${mi.node}; shared with other work, so single figures move by a few per cent: read the per-round ratio`,
    `command: \`${commandLine('bench:validator', 'bench/validator/run.mjs')}\``,
    `before: ${TARGETS[0].label}; after: ${TARGETS[1].label}; ${ROUNDS} rounds; per round and case one child process loads both bundles and runs them in turn slice by slice (validate: 15 slices of 20,000 readings each; pipeline: 9 slices of 10,000), each slice timed in the process's CPU time after a full GC; a figure is the median slice, the ratio the median of the slice pairs' after / before; the table holds medians over rounds and the lowest and highest round's ratio`,
    'validate = parseJson + ReadingValidator.validate of one fresh reading text (CPU ns per reading, lower is better); pipeline = Pipeline.ingest on the embedded queue with quality checks, 100 in flight (readings per CPU second, higher is better)',
    'the cases after the first two are refused (400) by the earlier tree: measured on this tree only, paired in their child process with the canonical case on this tree (the last column: the second look of core/normalise.ts beside the canonical path); ratios are medians over rounds, with the lowest and highest round in brackets',
  ];
  const section = [`## Tolerant input: the reading path before and after (bench/validator)`, '', ...facts.map((f) => `- ${f}`), '', mdTable(rows)].join('\n');
  writeSection(RESULTS, START, END, section);
  console.log(`\nwrote the bench:validator section of ${path.relative(ROOT, RESULTS)}`);
}
