// Console and table output of a load benchmark: one block per run (figures, stored check,
// warnings, server health), the summary tables, and the rows shared with RESULTS.md.
import { scanLog, summarizeLines } from './server-logs.mjs';
import { unclean } from './servers.mjs';
import { int, ms, ratio, textTable } from './tables.mjs';

/** Rows of the medians table: one per scenario and target, in `targets` order. */
export function medianRows(summary, targets) {
  const rows = [['scenario', 'target', 'req/s', 'readings/s', 'p50 ms', 'p99 ms', 'non-2xx', 'socket err', 'stored check']];
  for (const s of summary) {
    for (const t of targets) {
      const a = s[t.id];
      rows.push([
        s.scenario.id,
        t.label,
        int(a.rps),
        int(a.readingsPerSec),
        ms(a.p50),
        ms(a.p99),
        int(a.non2xx),
        int(a.socketErrors),
        a.checksFailed ? `${a.checksFailed}/${a.n} FAILED` : `${a.n}/${a.n} ok`,
      ]);
    }
  }
  return rows;
}

/** Rows of the ratios table ours/baseline, one per scenario. */
export function ratioRows(summary) {
  const rows = [['scenario', 'what', 'readings/s ours/baseline', 'p50 ours/baseline', 'p99 ours/baseline']];
  for (const s of summary) rows.push([s.scenario.id, s.scenario.label, ratio(s.ratio.throughput), ratio(s.ratio.p50), ratio(s.ratio.p99)]);
  return rows;
}

/** Headers of the cells that name a run in a raw-figures table. */
export const RUN_HEAD = ['round', 'scenario', 'target', 'order'];
/** Cells that name a run: round, scenario id, target label, position in the round's order. */
export const runCells = (r) => [String(r.round), r.scenario, r.targetLabel, String(r.order)];

/** Rows of the per-round raw figures, one per run in run order. */
export function rawRows(runs) {
  const rows = [[...RUN_HEAD, 'req/s', 'readings/s', 'p50 ms', 'p99 ms', 'non-2xx', 'socket err', 'stored Δ / accepted']];
  for (const r of runs) {
    rows.push([
      ...runCells(r),
      int(r.rps),
      int(r.readingsPerSec),
      ms(r.p50),
      ms(r.p99),
      int(r.non2xx),
      int(r.socketErrors),
      `${int(r.stored.delta)} / ${int(r.acceptedReadings)} ${r.stored.ok ? 'ok' : 'FAILED'}`,
    ]);
  }
  return rows;
}

/** Prints one run: figures, the stored check, and warnings (non-2xx, socket errors, parser). */
export function printRun(run, rounds) {
  const { stored } = run;
  console.log(
    `[round ${run.round}/${rounds}] ${run.scenario.padEnd(12)} ${run.targetLabel.padEnd(17)} ${int(run.rps).padStart(8)} req/s  ${int(run.readingsPerSec).padStart(9)} readings/s  ` +
      `p50 ${ms(run.p50)} ms  p99 ${ms(run.p99)} ms  non-2xx ${run.non2xx}  socket errors ${run.socketErrors}`,
  );
  console.log(
    `  check: ${stored.cmd} grew by ${int(stored.delta)} ${stored.ok ? '>=' : '<'} ${int(run.acceptedReadings)} readings answered 2xx — ${stored.ok ? 'OK' : 'FAILED: accepted readings missing from Redis'}`,
  );
  if (run.non2xx > 0) {
    console.log(`  WARNING: ${run.non2xx} non-2xx answers (${((100 * run.non2xx) / run.requests).toFixed(2)} %), readings/s counts 2xx only` + (run.firstBad ? `; first: ${run.firstBad}` : ''));
  }
  if (run.socketErrors > 0) console.log(`  WARNING: socket errors ${JSON.stringify(run.socket)}`);
  if (Object.keys(run.statuses ?? {}).length) console.log(`  statuses: ${JSON.stringify(run.statuses)}`);
  for (const w of run.warnings) console.log(`  WARNING: ${w}`);
}

/**
 * Prints and returns what needs attention about a stopped server: an unclean stop (see
 * unclean(); `exit` undefined when it never started) and the log lines scanLog(logFile, log)
 * finds (`log`: {kind, ignore}, default pino JSON), summarized by summarizeLines().
 * @returns {{run: string, lines: string[]}[]} entries for the server-log part of RESULTS.md
 */
export function reportServerHealth({ key, label, exit, graceS, logFile, log }) {
  const found = [];
  const msg = unclean(exit, label, graceS);
  if (msg) {
    console.log(`  WARNING: ${msg}`);
    found.push({ run: key, lines: [msg] });
  }
  const findings = scanLog(logFile, log);
  if (findings.length) {
    console.log(`  server log (${logFile}): ${summarizeLines(findings)}`);
    found.push({ run: key, lines: findings });
  }
  return found;
}

/** Prints the medians and ratios tables, the stored-check count and the server-log verdict. */
export function printSummary({ summary, targets, runs, logFindings, logDir }) {
  console.log('\nMedians over rounds (readings/s counts 2xx answers only):\n');
  console.log(textTable(medianRows(summary, targets)));
  console.log('\nRatios ours/baseline, computed per round then median (throughput: higher is better; latency: lower is better):\n');
  console.log(textTable(ratioRows(summary)));
  const failed = runs.filter((r) => !r.stored.ok).length;
  console.log(`\nstored checks: ${runs.length - failed}/${runs.length} ok`);
  console.log(`server logs: ${logFindings.length ? `${logFindings.length} run(s) with warn/error/non-JSON lines, see ${logDir}` : 'clean (nothing at warn or above)'}`);
}
