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
// Each figure is one child process (bench/validator/child.mjs) running one case against one
// bundle: a warm-up, then 7 timed slices of which the best counts (the machine is shared: an
// interrupted slice is only slower); before and after alternate per round (their order swapped
// every round), and the table holds medians over rounds. Two measures:
// - validate: JSON.parse + duplicate-key check (core/decode.ts parseJson) + ReadingValidator.validate,
//   one fresh reading text per iteration;
// - pipeline: Pipeline.ingest of the JSON bytes on the embedded queue, quality checks on, 100
//   readings in flight (what a transport calls: decode, validate, dedupe key, enrich, batcher,
//   append), readings/s.
// The canonical cases are what every device sends today; the others are refused by the earlier
// tree, so they are measured on this tree only.
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
  { id: 'validate', unit: 'ns/reading', iterations: QUICK ? 50_000 : 300_000 },
  { id: 'pipeline', unit: 'readings/s', iterations: 100_000 },
];

// ------------------------------------------------------------------------------------ bundles
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nb-bench-validator-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const ENTRY = `
export { ReadingValidator } from './src/core/validate.ts';
export { builtinSensorTypes } from './src/core/readings/registry.ts';
export { parseJson } from './src/core/decode.ts';
export { Pipeline } from './src/core/pipeline.ts';
export { QualityChecks } from './src/core/quality.ts';
export { MemoryBackend } from './src/queue/memory/index.ts';
export { createMetrics } from './src/metrics/registry.ts';
export { pino } from 'pino';
`;

/** Bundles the reading path of the tree at `dir` (which has src/) into one ESM file; returns its path. */
async function bundle(dir, name) {
  fs.writeFileSync(path.join(dir, 'bench-entry.ts'), ENTRY);
  const outfile = path.join(tmp, `${name}.mjs`);
  await build({
    entryPoints: [path.join(dir, 'bench-entry.ts')],
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
function runChild(target, measure, c) {
  const res = spawnSync(process.execPath, [CHILD, target.file, measure.id, c.id, String(measure.iterations)], { encoding: 'utf8', timeout: 300_000 });
  if (res.status !== 0) throw new Error(`${target.id} ${measure.id} ${c.id}: exit ${res.status}\n${res.stderr}`);
  return JSON.parse(res.stdout.trim().split('\n').at(-1));
}

const figures = []; // { round, target, measure, case, value }
for (let round = 1; round <= ROUNDS; round++) {
  for (const measure of MEASURES) {
    for (const c of CASES) {
      const targets = c.both ? (round % 2 ? TARGETS : [...TARGETS].reverse()) : [TARGETS[1]];
      for (const target of targets) {
        const r = runChild(target, measure, c);
        figures.push({ round, target: target.id, measure: measure.id, case: c.id, value: r.value });
        console.log(`round ${round}  ${measure.id.padEnd(8)}  ${c.id.padEnd(13)}  ${target.id.padEnd(6)}  ${r.value.toFixed(measure.id === 'validate' ? 0 : 0)} ${measure.unit}`);
      }
    }
  }
}

// ------------------------------------------------------------------------------------ report
const med = (t, m, c) => median(figures.filter((f) => f.target === t && f.measure === m && f.case === c).map((f) => f.value));
/** after / before per round, then the median (figures of one round ran back to back). */
function roundRatio(m, c) {
  const rs = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const a = figures.find((f) => f.round === round && f.target === 'after' && f.measure === m && f.case === c)?.value;
    const b = figures.find((f) => f.round === round && f.target === 'before' && f.measure === m && f.case === c)?.value;
    if (a !== undefined && b !== undefined) rs.push(a / b);
  }
  return rs.length ? median(rs) : NaN;
}
const fmt = (m, x) => (Number.isFinite(x) ? (m === 'validate' ? `${Math.round(x)}` : Math.round(x).toLocaleString('en-US')) : '—');
const rows = [['measure', 'case', 'before', 'after', 'after / before']];
for (const m of MEASURES) {
  for (const c of CASES) {
    rows.push([`${m.id} (${m.unit})`, c.label, c.both ? fmt(m.id, med('before', m.id, c.id)) : 'refused', fmt(m.id, med('after', m.id, c.id)), c.both ? ratio(roundRatio(m.id, c.id)) : '—']);
  }
}
console.log('\n' + textTable(rows));

if (WRITE) {
  const mi = machineInfo();
  const facts = [
    `date: ${new Date().toISOString()}`,
    `machine: ${mi.nproc} CPUs (${mi.cpu}), ${mi.memGiB} GiB, ${mi.kernel}, Node ${mi.node}; shared with other work, so single figures move by a few per cent: read the per-round ratio`,
    `command: \`${commandLine('bench:validator', 'bench/validator/run.mjs')}\``,
    `before: ${TARGETS[0].label}; after: ${TARGETS[1].label}; ${ROUNDS} rounds, each figure one child process (warm-up, then ${MEASURES[0].iterations.toLocaleString('en-US')} validate / 90,000 pipeline readings in 7 timed slices, the best slice counts), medians over rounds; the two alternate in each round`,
    'validate = parseJson + ReadingValidator.validate of one fresh reading text (ns per reading, lower is better); pipeline = Pipeline.ingest on the embedded queue with quality checks, 100 in flight (readings/s of one core, higher is better)',
    'the cases after the first two are refused (400) by the earlier tree: this tree only, the cost of the second look (core/normalise.ts) beside the canonical path',
  ];
  const section = [`## Tolerant input: the reading path before and after (bench/validator)`, '', ...facts.map((f) => `- ${f}`), '', mdTable(rows)].join('\n');
  writeSection(RESULTS, START, END, section);
  console.log(`\nwrote the bench:validator section of ${path.relative(ROOT, RESULTS)}`);
}
