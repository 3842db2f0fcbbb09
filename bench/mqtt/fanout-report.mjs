// Output of bench:mqtt-fanout (used by fanout.mjs): console lines per run and the summary, the
// RESULTS.md section and the JSON report (bench/reports/mqtt-fanout.json).
import { figs, reportDoc } from '../lib/report-json.mjs';
import { sectionHead, tablePart } from '../lib/results-md.mjs';
import { summarizeLines } from '../lib/server-logs.mjs';
import { median } from '../lib/stats.mjs';
import { int, textTable } from '../lib/tables.mjs';

export const START = '<!-- bench:mqtt-fanout:start -->';
export const END = '<!-- bench:mqtt-fanout:end -->';

const pct = (x) => (Number.isFinite(x) ? `${x.toFixed(2)} %` : '—');
const num = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '—');
const share = (n, of) => (of > 0 ? (100 * n) / of : NaN);

/** min / median / max of the subscribers' distinct readings. */
function spread(r) {
  const d = r.distinct;
  return { min: d.length ? Math.min(...d) : NaN, median: median(d), max: d.length ? Math.max(...d) : NaN };
}

/** Every subscriber got every acknowledged reading, and the publisher had every reading acknowledged. */
export const fanoutOk = (r) => r.complete === r.subscribers && r.acked === r.readings;

/** Prints one run; returns its failures. */
export function printFanoutRun(head, tag, r) {
  const s = spread(r);
  console.log(`${head} ${int(r.acked)}/${int(r.readings)} readings acknowledged in ${num(r.publishSeconds, 2)} s (${int(r.rate)}/s offered, ${int(r.acked / r.publishSeconds)}/s acknowledged); ${int(r.subscribers)} subscribers connected and subscribed in ${int(r.rampMs)} ms`);
  console.log(`  received per subscriber (distinct message_id): min ${int(s.min)}  median ${int(s.median)}  max ${int(s.max)} of ${int(r.acked)}; every reading: ${int(r.complete)}/${int(r.subscribers)} subscribers — ${fanoutOk(r) ? 'OK' : 'FAILED'}`);
  console.log(`  delivery: the last message ${num(r.deliveryMs / 1000, 2)} s after the first PUBLISH (${r.delivery.complete ? 'all delivered' : r.delivery.reason}); server CPU ${int(r.serverCpuPct)} % (${num(r.serverCpuS)} s, ${r.serverProcs} process(es)), peak RSS ${num(r.peakRssMiB)} MiB; subscriber processes CPU ${int(r.subscribersCpuPct)} %, machine ${int(r.machinePct)} % (others ${int(r.othersPct)} %)`);
  console.log(`  server /metrics: ${r.metrics.length ? r.metrics.join('; ') : '(no MQTT lines)'}`);
  if (r.duplicates || r.noMessageId || r.badPayloads) console.log(`  note: ${int(r.duplicates)} duplicate deliveries, ${int(r.noMessageId)} payloads without message_id, ${int(r.badPayloads)} bad of ${int(r.sampled)} parsed${r.firstBad ? ` (first: ${r.firstBad})` : ''}`);
  if (Object.keys(r.serverDisconnects).length || r.unexpectedCloses) console.log(`  note: the server disconnected subscribers: DISCONNECT reason codes ${JSON.stringify(r.serverDisconnects)}, ${int(r.unexpectedCloses)} connections closed, ${int(r.stillOpen)}/${int(r.subscribers)} open at the end`);
  const failures = [];
  if (r.acked !== r.readings || !r.publishOk) failures.push(`${tag}: publisher: ${int(r.acked)} of ${int(r.readings)} readings acknowledged, ${int(r.publishLost)} lost`);
  if (r.complete !== r.subscribers) failures.push(`${tag}: ${int(r.subscribers - r.complete)} of ${int(r.subscribers)} subscribers missed readings (the fewest received: ${int(s.min)} of ${int(r.acked)})`);
  if (r.badPayloads || r.noMessageId) failures.push(`${tag}: ${int(r.badPayloads)} bad payloads, ${int(r.noMessageId)} without message_id`);
  for (const e of r.subscriberErrors) failures.push(`${tag}: subscriber process: ${e}`);
  return failures;
}

function runRows(runs) {
  const rows = [['round', 'subscribers', 'readings acked', 'acked/s', 'received min', 'received median', 'received max', 'subscribers with all', 'delivery s', 'server CPU %', 'server CPU s', 'server peak RSS MiB', 'duplicates', 'open at end']];
  for (const r of runs) {
    const s = spread(r);
    rows.push([String(r.round), int(r.subscribers), `${int(r.acked)} / ${int(r.readings)}`, int(r.acked / r.publishSeconds), int(s.min), int(s.median), int(s.max), `${int(r.complete)} / ${int(r.subscribers)}`, num(r.deliveryMs / 1000, 2), int(r.serverCpuPct), num(r.serverCpuS), num(r.peakRssMiB), int(r.duplicates), int(r.stillOpen)]);
  }
  return rows;
}

/** Prints the table of the runs, the failures and the server-log verdict. */
export function printFanoutSummary({ runs, failures, findings, logDir }) {
  if (runs.length) {
    console.log('\nRuns (received = distinct message_id values per subscriber):\n');
    console.log(textTable(runRows(runs)));
    const ok = runs.filter(fanoutOk).length;
    console.log(`\ngoal: every subscriber receives every acknowledged reading, none dropped — ${ok === runs.length ? 'met' : 'NOT met'} in ${ok}/${runs.length} run(s)`);
  }
  console.log(`\nfailures: ${failures.length ? `\n  ${failures.join('\n  ')}` : 'none'}`);
  console.log(`server logs: ${findings.length ? `${findings.length} run(s) with warn/error lines, see ${logDir}` : 'clean (nothing at warn or above)'}`);
}

const RUNS_NOTE = [
  'received = distinct `message_id` values a subscriber got (its duplicates not counted), of the readings the publisher had acknowledged;',
  'acked/s = readings acknowledged per second of publishing (below the offered rate when the server could not keep up);',
  '"subscribers with all" = how many got every one (goal: all of them). delivery s = first PUBLISH of the publisher → the last message',
  'received by any subscriber. Server CPU from /proc over that span (100 = one core; primary and workers summed); peak RSS sampled every',
  '200 ms over the same processes. A QoS 1 subscription promises every message at least once: a subscriber short of readings is a failure.',
];

function runFacts({ startedAt, finishedAt, quick, machine, bundle, command, settings }) {
  return [
    `date: ${startedAt.toISOString()} → ${finishedAt.toISOString()}${quick ? ' (QUICK smoke run, not representative)' : ''}`,
    `machine: ${machine.nproc} cores, ${machine.cpu}, ${machine.memGiB} GiB RAM, ${machine.kernel}; node ${machine.node}, redis-server ${machine.redis}`,
    `ours: dist/neurobuild-ingest.cjs sha256:${bundle.sha} (built ${bundle.built})${bundle.stale ? ' — WARNING: src/ was newer than the bundle' : ''}`,
    `command: \`${command}\``,
    `settings: ${settings}`,
    `caveat: the server, redis-server, the subscriber processes and the publisher share the ${machine.nproc} cores.`,
  ];
}

/** The Markdown of the fan-out section of RESULTS.md (without its markers). */
export function fanoutSection({ startedAt, finishedAt, quick, machine, bundle, command, settings, runs, findings, failures }) {
  const ok = runs.filter(fanoutOk).length;
  return [
    ...sectionHead('## MQTT fan-out to v5 subscribers (bench/mqtt/fanout.mjs)', runFacts({ startedAt, finishedAt, quick, machine, bundle, command, settings })),
    ...tablePart('### Runs', RUNS_NOTE, runRows(runs)),
    `goal: every subscriber receives every acknowledged reading, none dropped — **${ok === runs.length && runs.length ? 'met' : 'NOT met'}** in ${ok}/${runs.length} run(s)`,
    '',
    "The server's MQTT lines of /metrics after each run (`sensor_data_errors_total` with an `mqtt_*` error type, MQTT connections, and any `mqtt_*` metric the server has; drops show here):",
    '',
    ...runs.map((r) => `- round ${r.round}: ${r.metrics.length ? r.metrics.map((l) => `\`${l}\``).join(', ') : 'no MQTT lines'}`),
    '',
    `commands of the last run: \`${runs.at(-1)?.cmd ?? ''}\`, subscribers \`${runs.at(-1)?.subCmd ?? ''}\``,
    '',
    '### Server logs and failures',
    '',
    ...failures.map((f) => `- FAILED ${f}`),
    findings.length ? findings.map((f) => `- ${f.run}: ${summarizeLines(f.lines)}`).join('\n') : '- nothing at warn level or above from the server, every server stopped cleanly.',
  ].join('\n');
}

/** The runs in the stable JSON form of bench/reports/ (see bench/lib/report-json.mjs). */
export function fanoutJsonDoc({ startedAt, finishedAt, quick, machine, bundle, command, settings, runs, target }) {
  const r0 = runs[0];
  const id = `fanout-s${r0.subscribers}-r${r0.readings}`;
  const run = (r) => {
    const s = spread(r);
    return {
      round: r.round,
      scenario: id,
      target: target.id,
      order: 1,
      ok: fanoutOk(r),
      ...figs({ minPct: share(s.min, r.acked), medianPct: share(s.median, r.acked), maxPct: share(s.max, r.acked), completePct: share(r.complete, r.subscribers), deliverySeconds: r.deliveryMs / 1000, serverCpu: r.serverCpuPct, peakRssMiB: r.peakRssMiB }, ['minPct', 'medianPct', 'maxPct', 'completePct', 'deliverySeconds', 'serverCpu', 'peakRssMiB']),
    };
  };
  return reportDoc({
    bench: 'mqtt-fanout',
    title: 'MQTT fan-out to v5 subscribers (bench/mqtt/fanout.mjs)',
    startedAt,
    finishedAt,
    quick,
    command,
    facts: runFacts({ startedAt, finishedAt, quick, machine, bundle, command, settings }),
    machine,
    metrics: {
      minPct: { label: 'fewest received', unit: '%', better: 'higher', digits: 2 },
      medianPct: { label: 'median received', unit: '%', better: 'higher', digits: 2 },
      maxPct: { label: 'most received', unit: '%', better: 'higher', digits: 2 },
      completePct: { label: 'subscribers with every reading', unit: '%', better: 'higher', digits: 1 },
      deliverySeconds: { label: 'delivery to the last message', unit: 's', better: 'lower', digits: 2 },
      serverCpu: { label: 'server CPU', unit: '%', better: 'lower' },
      peakRssMiB: { label: 'server peak RSS', unit: 'MiB', better: 'lower' },
    },
    targets: [{ id: target.id, label: target.label, role: 'ours', what: 'dist/neurobuild-ingest.cjs: readings published over MQTT, delivered to MQTT v5 subscribers' }],
    scenarios: [
      {
        id,
        label: `${r0.subscribers} v5 subscribers (Receive Maximum ${r0.receiveMaximum}), ${r0.readings} readings at ${r0.rate}/s`,
        targets: [target.id],
        panels: [
          { title: 'Readings received per subscriber, % of acknowledged', metrics: ['minPct', 'medianPct', 'maxPct'] },
          { title: 'Subscribers that got every reading', metrics: ['completePct'] },
          { title: 'Delivery to the last message', metrics: ['deliverySeconds'] },
        ],
        details: ['serverCpu', 'peakRssMiB'],
      },
    ],
    runs: runs.map(run),
  });
}
