// Figures of the WebSocket benchmark: console lines per run, medians over rounds, the
// grouped/per-turn and slow/none ratios (per round, then median), and the RESULTS.md section.
import { figs, reportDoc } from '../lib/report-json.mjs';
import { median } from '../lib/stats.mjs';
import { int, mdTable, ms, ratio, textTable } from '../lib/tables.mjs';

/** Completeness threshold of the headline figure. */
export const COMPLETE = 0.999;

export const pct = (x, digits = 0) => (Number.isFinite(x) ? `${x.toFixed(digits)}` : '—');
export const share = (x) => (Number.isFinite(x) ? `${(100 * x).toFixed(x >= 0.9995 && x < 1 ? 3 : 2)} %` : '—');
const mib = (x) => (Number.isFinite(x) ? x.toFixed(1) : '—');
/** CPU % of the subscriber processes, each, and their sum when there are several: "31 + 32 = 63". */
const subsCpu = (xs) => xs.map((x) => pct(x)).join(' + ') + (xs.length > 1 ? ` = ${pct(xs.reduce((a, x) => a + x, 0))}` : '');

// ------------------------------------------------------------------------------ fan-out
/** A subscriber process at or above this CPU % was (near) a whole core: the client side limited the run. */
export const CLIENT_BOUND = 90;
/** Accepted readings/s below this share of the rate: ingest (the server's HTTP answers) fell behind the sender's schedule. */
export const BEHIND = 0.98;
const clientBound = (subs) => Math.max(...subs) >= CLIENT_BOUND;
/** The whole machine at least this share of its cores busy: every process, server and clients alike, competed for CPU. */
export const MACHINE_FULL = 0.95;
const machineFull = (s) => s.machine >= MACHINE_FULL * 100 * (s.cores || 1);
/** "(client-bound)" when a subscriber process used (nearly) a whole core, "(machine full)" when all cores were busy. */
const boundText = (s) => (clientBound(s.subs) ? ' (client-bound)' : machineFull(s) ? ' (machine full)' : '');
const spreadText = (xs) => (xs?.length ? xs.map((n) => int(n)).join(' + ') : '—');

export function printFanoutRun(r, rounds) {
  console.log(
    `[round ${r.round}/${rounds}] fan-out ${int(r.count).padStart(6)} subs ${int(r.rate).padStart(6)} readings/s  ${r.targetLabel.padEnd(13)} ${int(r.framesPerSec).padStart(10)} frames/s  ` +
      `completeness ${share(r.completeness)} (least-served subscriber ${share(r.minShare)})  accepted ${int(r.acceptedPerSec)}/s  ` +
      `CPU % server (${r.processes} procs) ${pct(r.cpu.server)} redis ${pct(r.cpu.redis)} sender ${pct(r.cpu.sender)} subscribers ${subsCpu(r.cpu.subs)}  machine ${pct(r.cpu.machine)} (not ours ${pct(r.cpu.others)})  server RSS ${mib(r.rssMiB)} MiB  ` +
      `connected in ${(r.connectMs / 1000).toFixed(1)} s, per server process ${spreadText(r.spread)}`,
  );
  if (r.retried) console.log(`  NOTE: ${int(r.retried)} connection attempt(s) failed and were tried again`);
  if (r.completeness < COMPLETE) console.log(`  NOTE: ${int(r.expected - r.delivered)} of ${int(r.expected)} frames not delivered (completeness below ${share(COMPLETE)})`);
  if (clientBound(r.cpu.subs)) console.log(`  NOTE: a subscriber process used ≥ ${CLIENT_BOUND} % of a core: the client side was (near) the limit`);
  if (r.senderBehind > r.rate / 10) console.log(`  NOTE: the sender fell up to ${int(r.senderBehind)} readings behind its schedule (request p99 ${ms(r.senderP99)} ms)`);
  for (const i of r.issues) console.log(`  PROBLEM: ${i}`);
}

/** Medians per subscriber count, rate and target, in the plan's order ({count, procs, rates, targets} per count). */
export function fanoutSummary(runs, plan) {
  const rows = [];
  for (const { count, procs, rates, targets } of plan) {
    for (const rate of rates) {
      for (const t of targets) {
        const rs = runs.filter((r) => r.count === count && r.rate === rate && r.target === t.id);
        if (!rs.length) continue;
        const med = (f) => median(rs.map(f));
        rows.push({
          count,
          procs,
          rate,
          target: t,
          n: rs.length,
          acceptedPerSec: med((r) => r.acceptedPerSec),
          offeredPerSec: med((r) => r.acceptedPerSec * r.subscribers),
          framesPerSec: med((r) => r.framesPerSec),
          completeness: med((r) => r.completeness),
          worstCompleteness: Math.min(...rs.map((r) => r.completeness)),
          minShare: Math.min(...rs.map((r) => r.minShare)),
          server: med((r) => r.cpu.server),
          redis: med((r) => r.cpu.redis),
          sender: med((r) => r.cpu.sender),
          subs: rs[0].cpu.subs.map((_, i) => med((r) => r.cpu.subs[i])),
          rssMiB: med((r) => r.rssMiB),
          machine: med((r) => r.cpu.machine),
          others: med((r) => r.cpu.others),
          cores: rs[0].cpu.cores,
          issues: rs.filter((r) => r.issues.length).length,
        });
      }
    }
  }
  return rows;
}

const passed = (s) => s.completeness >= COMPLETE && s.issues === 0;

/**
 * Per subscriber count and target: `best`, the highest median frames/s among rates whose median
 * completeness is ≥ 99.9 % (and no run had problems); `next`, the lowest rate above it that did not
 * pass (undefined when every higher rate passed: the limit was not reached); `lowerFailed`, rates
 * below it that did not pass (a noisy round, or a dip worth a look).
 */
export function headline(summary, plan) {
  return plan.flatMap(({ count, procs, targets }) =>
    targets.map((t) => {
      const rows = summary.filter((s) => s.count === count && s.target.id === t.id);
      const best = rows.filter(passed).reduce((b, s) => (!b || s.framesPerSec > b.framesPerSec ? s : b), null);
      const next = rows.filter((s) => !passed(s) && (!best || s.rate > best.rate)).sort((x, y) => x.rate - y.rate)[0];
      const lowerFailed = best ? rows.filter((s) => !passed(s) && s.rate < best.rate) : [];
      return { count, procs, target: t, best, next, lowerFailed, tried: rows.length };
    }),
  );
}

/** grouped / per-turn ratios of frames/s and server CPU, per round then median, per rate, at the counts where both ran. */
export function fanoutRatios(runs, plan) {
  return plan
    .filter((p) => p.targets.length > 1)
    .flatMap(({ count, rates, targets: [a, b] }) =>
      rates.map((rate) => {
        const at = runs.filter((r) => r.count === count && r.rate === rate);
        const rounds = [...new Set(at.map((r) => r.round))];
        const pairs = rounds.map((round) => [at.find((r) => r.round === round && r.target === a.id), at.find((r) => r.round === round && r.target === b.id)]).filter(([x, y]) => x && y);
        return {
          count,
          rate,
          pair: `${a.label} / ${b.label}`,
          frames: median(pairs.map(([x, y]) => x.framesPerSec / y.framesPerSec)),
          cpu: median(pairs.map(([x, y]) => x.cpu.server / y.cpu.server)),
        };
      }),
    );
}

export function fanoutMedianRows(summary) {
  const rows = [['subscribers', 'rate readings/s', 'target', 'accepted readings/s', 'offered frames/s', 'delivered frames/s', 'completeness', 'worst round', 'least-served subscriber', 'server CPU %', 'server RSS MiB', 'subscriber procs CPU %', 'sender CPU %', 'redis CPU %', 'machine busy % (not ours)', 'runs with problems']];
  for (const s of summary) {
    rows.push([
      int(s.count),
      int(s.rate),
      s.target.label,
      int(s.acceptedPerSec),
      int(s.offeredPerSec),
      int(s.framesPerSec),
      share(s.completeness),
      share(s.worstCompleteness),
      share(s.minShare),
      pct(s.server),
      mib(s.rssMiB),
      subsCpu(s.subs),
      pct(s.sender),
      pct(s.redis),
      `${pct(s.machine)} (${pct(s.others)})`,
      `${s.issues}/${s.n}`,
    ]);
  }
  return rows;
}

/** What stopped the count at its next rate up: completeness (or problems) there, and whether a subscriber process was saturated. */
function limitText({ best, next, tried, lowerFailed }) {
  if (!tried) return '—';
  const lower = lowerFailed.length ? `; below it failed too: ${lowerFailed.map((s) => `${int(s.rate)} (${s.completeness >= COMPLETE ? 'problems' : share(s.completeness)})`).join(', ')}` : '';
  if (!next) return `not reached: no rate above it failed${lower}`;
  const why = next.completeness >= COMPLETE ? `${next.issues}/${next.n} runs with problems` : `completeness ${share(next.completeness)}`;
  return `${int(next.rate)} readings/s: ${why}${next.acceptedPerSec < BEHIND * next.rate ? ` (accepted ${int(next.acceptedPerSec)}/s)` : ''}, server CPU ${pct(next.server)} %, subscriber procs ${subsCpu(next.subs)} %${boundText(next)}${best ? '' : ' (lowest rate)'}${lower}`;
}

export function headlineRows(heads) {
  const rows = [['subscribers', 'target', 'highest delivered frames/s with completeness ≥ 99.9 %', 'at rate readings/s', 'accepted readings/s', 'completeness', 'server CPU %', 'subscriber procs CPU %', 'machine busy % (not ours)', 'next rate up']];
  for (const h of heads) {
    const b = h.best;
    const procs = `${int(h.count)} (${h.procs} procs)`;
    rows.push(
      b
        ? [
            procs,
            h.target.label,
            int(b.framesPerSec),
            int(b.rate),
            `${int(b.acceptedPerSec)}${b.acceptedPerSec < BEHIND * b.rate ? ' (behind)' : ''}`,
            share(b.completeness),
            pct(b.server),
            `${subsCpu(b.subs)}${boundText(b)}`,
            `${pct(b.machine)} (${pct(b.others)})`,
            limitText(h),
          ]
        : [procs, h.target.label, 'none of the rates', '—', '—', '—', '—', '—', '—', limitText(h)],
    );
  }
  return rows;
}

export function fanoutRatioRows(ratios) {
  const rows = [['subscribers', 'rate readings/s', 'pair', 'delivered frames/s', 'server CPU %']];
  for (const r of ratios) rows.push([int(r.count), int(r.rate), r.pair, ratio(r.frames), ratio(r.cpu)]);
  return rows;
}

export function fanoutRawRows(runs) {
  const rows = [['round', 'subscribers (per server process)', 'rate', 'target', 'order', 'accepted', 'delivered / expected frames', 'window frames/s', 'completeness', 'least-served', 'CPU % server / redis / sender / subscriber procs', 'machine busy % (not ours)', 'RSS MiB', 'problems']];
  for (const r of runs) {
    rows.push([
      String(r.round),
      `${int(r.subscribers)} (${spreadText(r.spread)})`,
      int(r.rate),
      r.targetLabel,
      String(r.order),
      int(r.accepted),
      `${int(r.delivered)} / ${int(r.expected)}`,
      int(r.framesPerSec),
      share(r.completeness),
      share(r.minShare),
      `${pct(r.cpu.server)} / ${pct(r.cpu.redis)} / ${pct(r.cpu.sender)} / ${subsCpu(r.cpu.subs)}`,
      `${pct(r.cpu.machine)} (${pct(r.cpu.others)})`,
      mib(r.rssMiB),
      r.issues.length ? r.issues.join('; ').replaceAll('|', '/') : '—',
    ]);
  }
  return rows;
}

// ------------------------------------------------------------------------------- ingest
export function printIngestRun(r, rounds) {
  console.log(
    `[round ${r.round}/${rounds}] ingest  ${r.label.padEnd(26)} ${int(r.readingsPerSec).padStart(9)} readings/s  p50 ${ms(r.p50)} ms  p99 ${ms(r.p99)} ms  ` +
      `non-2xx ${r.non2xx}  socket errors ${r.socketErrors}  CPU % server (${r.processes} procs) ${pct(r.cpu.server)} redis ${pct(r.cpu.redis)} machine ${pct(r.cpu.machine)} (not ours ${pct(r.cpu.others)})  server RSS ${mib(r.rssMiB)} MiB`,
  );
  console.log(`  check: XLEN sensor-data grew by ${int(r.stored.delta)} ${r.stored.ok ? '>=' : '<'} ${int(r.acceptedReadings)} readings answered 2xx — ${r.stored.ok ? 'OK' : 'FAILED'}`);
  if (r.slow) console.log(`  slow subscribers after the run: ${r.slow.open}/${r.slow.connections} still open, closes ${JSON.stringify(r.slow.closes)}, frames read per connection ${int(r.slow.minFrames)}–${int(r.slow.maxFrames)}`);
  for (const i of r.issues) console.log(`  PROBLEM: ${i}`);
}

export function ingestSummary(runs, variants) {
  const byVariant = variants.map((v) => {
    const rs = runs.filter((r) => r.variant === v.id);
    const med = (f) => median(rs.map(f));
    return {
      variant: v,
      n: rs.length,
      readingsPerSec: med((r) => r.readingsPerSec),
      p50: med((r) => r.p50),
      p99: med((r) => r.p99),
      server: med((r) => r.cpu.server),
      redis: med((r) => r.cpu.redis),
      rssMiB: med((r) => r.rssMiB),
      machine: med((r) => r.cpu.machine),
      others: med((r) => r.cpu.others),
      stored: rs.filter((r) => r.stored.ok).length,
      issues: rs.filter((r) => r.issues.length).length,
    };
  });
  const rounds = [...new Set(runs.map((r) => r.round))];
  const perRound = rounds.map((round) => {
    const [x, y] = variants.map((v) => runs.find((r) => r.round === round && r.variant === v.id));
    return x && y ? y.readingsPerSec / x.readingsPerSec : NaN;
  });
  return { byVariant, perRound, ratio: median(perRound) };
}

export function ingestRows(sum) {
  const rows = [['variant', 'what', 'readings/s', 'p50 ms', 'p99 ms', 'server CPU %', 'redis CPU %', 'machine busy % (not ours)', 'server RSS MiB', 'stored check', 'runs with problems']];
  for (const s of sum.byVariant) rows.push([s.variant.label, s.variant.what, int(s.readingsPerSec), ms(s.p50), ms(s.p99), pct(s.server), pct(s.redis), `${pct(s.machine)} (${pct(s.others)})`, mib(s.rssMiB), `${s.stored}/${s.n} ok`, `${s.issues}/${s.n}`]);
  return rows;
}

export function ingestRawRows(runs) {
  const rows = [['round', 'variant', 'order', 'readings/s', 'p50 ms', 'p99 ms', 'non-2xx', 'socket err', 'stored Δ / accepted', 'CPU % server / redis', 'machine busy % (not ours)', 'slow subscribers open at the end', 'problems']];
  for (const r of runs) {
    rows.push([
      String(r.round),
      r.label,
      String(r.order),
      int(r.readingsPerSec),
      ms(r.p50),
      ms(r.p99),
      int(r.non2xx),
      int(r.socketErrors),
      `${int(r.stored.delta)} / ${int(r.acceptedReadings)} ${r.stored.ok ? 'ok' : 'FAILED'}`,
      `${pct(r.cpu.server)} / ${pct(r.cpu.redis)}`,
      `${pct(r.cpu.machine)} (${pct(r.cpu.others)})`,
      r.slow ? `${r.slow.open}/${r.slow.connections}` : '—',
      r.issues.length ? r.issues.join('; ').replaceAll('|', '/') : '—',
    ]);
  }
  return rows;
}

export const ingestRatioLine = (sum) =>
  `with / without slow subscribers, readings/s per round: ${sum.perRound.map((x) => ratio(x)).join(', ')} → median **${ratio(sum.ratio)}** (target ≥ 0.90×: ${sum.ratio >= 0.9 ? 'met' : 'NOT met'})`;

// -------------------------------------------------------------------------------- output
export function printSummary({ fanout, ingest, heads, fRatios, ingestSum, problems, logFindings, logDir }) {
  if (fanout.length) {
    console.log('\nFan-out, medians over rounds:\n');
    console.log(textTable(fanoutMedianRows(fanout)));
    console.log('');
    console.log(textTable(headlineRows(heads)));
    if (fRatios.length) {
      console.log('\nRatios of the two flush settings (per round, then median):\n');
      console.log(textTable(fanoutRatioRows(fRatios)));
    }
  }
  if (ingest.length) {
    console.log('\nIngest with slow subscribers, medians over rounds:\n');
    console.log(textTable(ingestRows(ingestSum)));
    console.log(`\n${ingestRatioLine(ingestSum).replaceAll('**', '')}`);
  }
  console.log(`\nproblems: ${problems ? `${problems} run(s), see above` : 'none'}`);
  console.log(`server logs: ${logFindings.length ? `${logFindings.length} run(s) with warn/error/non-JSON lines, see ${logDir}:\n${logSummary(logFindings).join('\n')}` : 'clean (nothing at warn or above)'}`);
}

/** The Markdown of the RESULTS.md section. */
export function section({ facts, fanout, fanoutRuns, heads, fRatios, ingestSum, ingestRuns, notes, logFindings }) {
  const out = ['## WebSocket fan-out (bench/ws)', '', ...facts.map((f) => `- ${f}`), ''];
  if (fanoutRuns.length) {
    out.push(`### Fan-out to ${listText([...new Set(heads.map((h) => int(h.count)))])} subscribers`, '', ...notes.fanout, '', mdTable(headlineRows(heads)), '', 'Medians over rounds:', '', mdTable(fanoutMedianRows(fanout)), '');
    if (fRatios.length) {
      out.push(`Ratios of the two flush settings at ${listText([...new Set(fRatios.map((r) => int(r.count)))])} subscribers, per round then median (frames/s above 1× and CPU below 1× favour grouping):`, '', mdTable(fanoutRatioRows(fRatios)), '');
    }
  }
  if (ingestRuns.length) out.push('### Ingest with slow subscribers', '', ...notes.ingest, '', mdTable(ingestRows(ingestSum)), '', ingestRatioLine(ingestSum), '');
  out.push('### Per-round raw figures', '');
  if (fanoutRuns.length) out.push(mdTable(fanoutRawRows(fanoutRuns)), '');
  if (ingestRuns.length) out.push(mdTable(ingestRawRows(ingestRuns)), '');
  out.push('### Server logs', '');
  out.push(logFindings.length ? logSummary(logFindings).join('\n') : '- nothing at warn level or above (LOG_LEVEL=warn), no non-JSON output, every server stopped cleanly.');
  return out.join('\n');
}

/** "a", "a and b", "a, b and c". */
export const listText = (xs) => (xs.length < 2 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs.at(-1)}`);

/** Server log findings grouped by message: "- N× in K run(s) (first: <run>): `level L: msg`". */
export function logSummary(findings) {
  const by = new Map();
  for (const f of findings) {
    for (const line of f.lines) {
      let m = line;
      try {
        const o = JSON.parse(line);
        m = `level ${o.level}: ${o.msg}`;
      } catch {
        /* not JSON: the line itself */
      }
      const e = by.get(m) ?? { lines: 0, runs: new Set() };
      e.lines++;
      e.runs.add(f.run);
      by.set(m, e);
    }
  }
  return [...by].map(([m, e]) => `- ${e.lines}× in ${e.runs.size} run(s) (first: ${[...e.runs][0]}): \`${m.replaceAll('`', "'")}\``);
}

// ------------------------------------------------------------------------ bench/reports/ws.json
/**
 * The run's figures in the stable JSON form of bench/reports/ (see bench/lib/report-json.mjs):
 * fan-out per subscriber count (delivered frames/s and server CPU per rate, the flush settings side
 * by side), the headline per count as a summary chart, and ingest with and without slow subscribers.
 */
export function reportJsonDoc({ startedAt, finishedAt, quick, command, facts, machine, plan, targets, variants, ingestId, fanout, ingest, heads }) {
  const fanoutIds = new Set(fanout.map((r) => r.count));
  const scenarios = plan
    .filter((p) => fanoutIds.has(p.count))
    .map((p) => ({
      id: `fanout-c${p.count}`,
      label: `fan-out to ${int(p.count)} subscribers (${p.procs} client processes), readings/s = offered frames/s ÷ subscribers`,
      targets: p.targets.map((t) => t.id),
      subject: p.targets[0].id,
      panels: [
        { title: 'Delivered frames/s (all subscribers)', metrics: ['framesPerSec'], groupBy: 'rate', groupLabel: 'readings/s', axisLabel: 'readings/s sent (offered frames/s ÷ subscribers)' },
        { title: 'Server CPU (primary + workers, 100 = one core)', metrics: ['serverCpu'], groupBy: 'rate', groupLabel: 'readings/s', axisLabel: 'readings/s sent (offered frames/s ÷ subscribers)' },
      ],
      details: ['offeredFramesPerSec', 'completeness', 'subscriberCpu'],
    }));
  if (ingest.length && ingestId) {
    scenarios.push({
      id: ingestId,
      label: `HTTP batch ingest (wrk, 100 readings per request) with no WebSocket subscriber, and with ${variants[1].label} that never read`,
      targets: variants.map((v) => v.id),
      subject: variants[1].id,
      panels: [
        { title: 'Ingest throughput', metrics: ['readingsPerSec'] },
        { title: 'Request latency (wrk)', metrics: ['p50', 'p99'] },
      ],
      details: ['serverCpu', 'rssMiB'],
    });
  }
  const fanoutRun = (r) => ({
    round: r.round,
    scenario: `fanout-c${r.count}`,
    target: r.target,
    order: r.order,
    ok: r.issues.length === 0,
    rate: r.rate,
    ...figs(
      { framesPerSec: r.framesPerSec, offeredFramesPerSec: r.acceptedPerSec * r.subscribers, completeness: 100 * r.completeness, serverCpu: r.cpu.server, subscriberCpu: r.cpu.subs.reduce((a, x) => a + x, 0), rssMiB: r.rssMiB },
      ['framesPerSec', 'offeredFramesPerSec', 'completeness', 'serverCpu', 'subscriberCpu', 'rssMiB'],
    ),
  });
  const ingestRun = (r) => ({
    round: r.round,
    scenario: ingestId,
    target: r.variant,
    order: r.order,
    ok: r.issues.length === 0,
    ...figs({ readingsPerSec: r.readingsPerSec, p50: r.p50, p99: r.p99, serverCpu: r.cpu.server, rssMiB: r.rssMiB }, ['readingsPerSec', 'p50', 'p99', 'serverCpu', 'rssMiB']),
  });
  const headGroups = [...new Set(heads.map((h) => h.count))]
    .filter((c) => fanoutIds.has(c))
    .map((count) => ({
      label: `${int(count)} subscribers`,
      bars: heads
        .filter((h) => h.count === count)
        .map((h) => {
          const b = h.best;
          const why = (s) => (s.completeness >= COMPLETE ? `${s.issues}/${s.n} runs with problems` : `completeness ${share(s.completeness)}`);
          const next = h.next ? `at ${int(h.next.rate)} readings/s: ${why(h.next)}` : 'no higher rate failed, so not the limit';
          return { target: h.target.id, value: figs({ v: b?.framesPerSec }, ['v']).v, note: b ? `at ${int(b.rate)} readings/s, completeness ${share(b.completeness)}; ${next}` : `no rate reached completeness ≥ ${share(COMPLETE)}; ${next}` };
        }),
    }));
  return reportDoc({
    bench: 'ws',
    title: 'WebSocket fan-out (bench/ws)',
    startedAt,
    finishedAt,
    quick,
    command,
    facts,
    machine,
    metrics: {
      framesPerSec: { label: 'delivered frames/s', unit: 'frames/s', better: 'higher' },
      offeredFramesPerSec: { label: 'offered frames/s', unit: 'frames/s', better: 'higher' },
      completeness: { label: 'completeness', unit: '%', better: 'higher', digits: 2 },
      serverCpu: { label: 'server CPU', unit: '%', better: 'lower' },
      subscriberCpu: { label: 'subscriber processes CPU', unit: '%', better: 'lower' },
      rssMiB: { label: 'server RSS', unit: 'MiB', better: 'lower' },
      readingsPerSec: { label: 'readings/s', unit: 'readings/s', better: 'higher' },
      p50: { label: 'p50', unit: 'ms', better: 'lower' },
      p99: { label: 'p99', unit: 'ms', better: 'lower' },
    },
    targets: [
      ...targets.map((t, i) => ({ id: t.id, label: t.label, role: i === 0 ? 'ours' : 'variant', what: `${t.what}${i === 0 ? ' (the default)' : ''}` })),
      ...variants.map((v, i) => ({ id: v.id, label: v.label, role: i === 0 ? 'baseline' : 'variant', what: v.what })),
    ],
    scenarios,
    runs: [...fanout.map(fanoutRun), ...(ingestId ? ingest.map(ingestRun) : [])],
    summaries: headGroups.length
      ? [
          {
            id: 'ws-fanout-headline',
            title: 'Fan-out: highest delivered frames/s with completeness ≥ 99.9 %, per subscriber count',
            metric: 'framesPerSec',
            note: 'Per subscriber count and flush setting, the highest median delivered frames/s among the offered rates at which every reading reached every subscriber (≥ 99.9 %) with no problems. Target: ≥ 1,000,000 frames/s to 1,000 subscribers.',
            groups: headGroups,
          },
        ]
      : [],
  });
}
