// The figures of a benchmark run in a stable JSON form: bench/reports/<bench>.json (committed, like
// RESULTS.md), from which bench/lib/html-report.mjs draws bench/reports/index.html without rerunning.
//
// A report (format REPORT_FORMAT) is:
//   bench        name, also the file name: "http", "mqtt", "ws"
//   title        heading of its part of the HTML report
//   startedAt, finishedAt   ISO times of the run; quick: true for a BENCH_QUICK smoke run
//   command      the command line of the run; facts: the bullet points of its RESULTS.md section
//   machine      machineInfo() (cores, CPU, memory, kernel, versions)
//   metrics      { <key>: { label, unit, better: "higher" | "lower", digits?: decimals shown } } for
//                the figures in runs
//   targets      [{ id, label, role: "ours" | "peer" | "baseline" | "reference" | "variant", what }]
//                in a fixed order: a target's colour and pattern follow its position
//   scenarios    [{ id, label, targets: [target ids], subject?: target id whose ratios to the
//                  others are printed (default: the first), panels: [{ title, metrics: [keys],
//                  groupBy?: run field whose values make the groups (fan-out rates), groupLabel?: their
//                  unit, axisLabel?: the title under them }], details?: [metric keys shown in the table only] }]
//   runs         [{ round, scenario, target, order, ok, <metric key>: number | null, ... }]
//   summaries    optional precomputed charts: [{ id, title, metric, note?, groups: [{ label,
//                  bars: [{ target, value, note? }] }] }]
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './paths.mjs';

export const REPORT_FORMAT = 'neurobuild-bench-report/1';
/** Where the committed reports live: <bench>.json files and index.html. */
export const REPORTS_DIR = path.join(ROOT, 'bench/reports');

/** A figure as stored: 6 significant digits, null when not finite (JSON has no NaN). */
export function fig(x) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return null;
  return Number.isInteger(x) ? x : Number(x.toPrecision(6));
}

/** The given fields of `obj` as figures (see fig()). */
export function figs(obj, keys) {
  return Object.fromEntries(keys.map((k) => [k, fig(obj[k])]));
}

/**
 * The report object, keys in a fixed order.
 * @param {object} o see the format above; `summaries` may be omitted
 */
export function reportDoc({ bench, title, startedAt, finishedAt, quick, command, facts, machine, metrics, targets, scenarios, runs, summaries = [] }) {
  return {
    format: REPORT_FORMAT,
    bench,
    title,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    quick: Boolean(quick),
    command,
    facts,
    machine,
    metrics,
    targets,
    scenarios,
    runs,
    summaries,
  };
}

/** JSON with one line per top-level key, and one line per element of the top-level arrays (small diffs). */
export function reportJson(doc) {
  const keys = Object.keys(doc);
  const val = (v) => (Array.isArray(v) && v.length ? `[\n${v.map((x) => `    ${JSON.stringify(x)}`).join(',\n')}\n  ]` : JSON.stringify(v));
  return `{\n${keys.map((k, i) => `  ${JSON.stringify(k)}: ${val(doc[k])}${i < keys.length - 1 ? ',' : ''}`).join('\n')}\n}\n`;
}

/**
 * Writes the report as <tmp>/<bench>.json (always, so a quick run can be charted too) and, when
 * `commit` (the run writes RESULTS.md), as bench/reports/<bench>.json, then rebuilds
 * bench/reports/index.html from every report there (a failure to do so is printed, not thrown:
 * the run's figures are saved either way). Prints and returns the paths written.
 */
export async function saveReport(doc, { tmp, commit }) {
  const text = reportJson(doc);
  const out = [path.join(tmp, `${doc.bench}.json`)];
  if (commit) out.push(path.join(REPORTS_DIR, `${doc.bench}.json`));
  for (const f of out) {
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, text);
  }
  const shown = (f) => (f.startsWith(ROOT + path.sep) ? path.relative(ROOT, f) : f);
  console.log(`figures for the charts: ${out.map(shown).join(', ')}`);
  if (commit) {
    try {
      const { buildReport } = await import('./html-report.mjs');
      const r = buildReport();
      console.log(`charts: ${shown(r.out)} rebuilt from ${r.files.map(shown).join(', ')}`);
    } catch (e) {
      console.log(`WARNING: could not rebuild bench/reports/index.html: ${e.message} (npm run bench:report)`);
    }
  } else {
    console.log(`charts of this run: node bench/lib/html-report.mjs --out ${path.join(tmp, 'report.html')} ${out[0]}`);
  }
  return out;
}
