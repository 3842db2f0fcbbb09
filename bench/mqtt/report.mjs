// Output of the MQTT benchmark (used by run.mjs): console lines per run and the summary, the
// tables, and the RESULTS.md section; formats, tables and the section plumbing come from bench/lib.
import { RUN_HEAD, runCells } from '../lib/report.mjs';
import { figs, reportDoc } from '../lib/report-json.mjs';
import { sectionHead, tablePart } from '../lib/results-md.mjs';
import { summarizeLines } from '../lib/server-logs.mjs';
import { median, perRoundRatio } from '../lib/stats.mjs';
import { int, mdTable, ms, ratio, textTable } from '../lib/tables.mjs';
import { CMD_NOTE, IDLE_SUB_NOTE, capNote, cmdRatioRows, cmdVerdict, idleSubOk, idleSubRawRows, idleSubRows } from './report-fleet.mjs';

export const START = '<!-- bench:mqtt:start -->';
export const END = '<!-- bench:mqtt:end -->';

const kib = (x) => (Number.isFinite(x) ? x.toFixed(2) : '—');
const mib = (x) => (Number.isFinite(x) ? (x / 1024).toFixed(1) : '—');

/** Issues of one run, counted: lost acks, errors, unexpected closes/packets. */
export const issues = (r) => (r.load.lost ?? 0) + (r.load.socket_errors ?? 0) + (r.load.unexpected_closes ?? 0) + (r.load.unknown_acks ?? 0) + (r.load.unexpected_packets ?? 0);

export function loadMedianRows(runs, scenarios, targets) {
  const rows = [['scenario', 'target', 'msg/s', 'stored/s', 'ack p50 ms', 'ack p99 ms', 'checks', 'issues', 'loadgen CPU %']];
  for (const s of scenarios) {
    for (const t of targets) {
      const rs = runs.filter((r) => r.scenario === s.id && r.target === t.id);
      if (!rs.length) continue;
      const checked = rs.filter((r) => r.stored || r.sub || r.fleet);
      const okN = checked.filter((r) => (!r.stored || r.stored.ok) && (!r.sub || r.sub.ok) && (!r.fleet || r.fleet.ok)).length;
      const short = rs.filter((r) => r.stored && !r.stored.ok).map((r) => (100 * r.stored.delta) / r.stored.expected);
      const shortText = short.length ? ` (stored ${Math.round(Math.min(...short))}–${Math.round(Math.max(...short))} %)` : '';
      rows.push([
        s.id,
        t.label,
        int(median(rs.map((r) => r.msgPerS))),
        t.stores ? int(median(rs.map((r) => r.storedPerS))) : '—',
        s.qos ? ms(median(rs.map((r) => r.p50))) : '—',
        s.qos ? ms(median(rs.map((r) => r.p99))) : '—',
        checked.length ? `${okN}/${checked.length} ok${shortText}` : '—',
        int(rs.reduce((a, r) => a + issues(r), 0)),
        int(median(rs.map((r) => r.load.loadgen_cpu_pct))),
      ]);
    }
  }
  return rows;
}

export function loadRatioRows(runs, scenarios, targets) {
  const others = targets.filter((t) => t.id !== 'ours');
  const storing = others.filter((t) => t.stores);
  const head = ['scenario', 'what'];
  for (const o of storing) head.push(`stored/s ours/${o.id}`);
  for (const k of ['msg/s', 'ack p50', 'ack p99']) for (const o of others) head.push(`${k} ours/${o.id}`);
  const rows = [head];
  for (const s of scenarios) {
    const row = [s.id, s.label];
    for (const o of storing) row.push(ratio(perRoundRatio(runs, s.id, 'ours', o.id, 'storedPerS')));
    for (const key of ['msgPerS', 'p50', 'p99']) for (const o of others) row.push(key !== 'msgPerS' && !s.qos ? '—' : ratio(perRoundRatio(runs, s.id, 'ours', o.id, key)));
    rows.push(row);
  }
  return rows;
}

export function loadRawRows(runs) {
  const rows = [[...RUN_HEAD, 'msg/s', 'stored/s', 'p50 ms', 'p99 ms', 'acked/confirmed total', 'stored Δ', 'sub received', 'fleet devices: received, open', 'issues']];
  for (const r of runs) {
    rows.push([
      ...runCells(r),
      int(r.msgPerS),
      r.stored ? int(r.storedPerS) : '—',
      ms(r.p50),
      ms(r.p99),
      int(r.load.acked_total),
      r.stored ? `${int(r.stored.delta)} ${r.stored.ok ? 'ok' : r.stored.strict ? 'FAILED' : 'short'}${r.stored.rejects ? ` (+${int(r.stored.rejects)} rejects)` : ''}` : '—',
      r.sub ? `${int(r.sub.received)} ${r.sub.ok ? 'ok' : 'short'}` : '—',
      r.fleet ? `${int(r.fleet.devices)}: ${int(r.fleet.received)}, ${int(r.fleet.open)} ${r.fleet.ok ? 'ok' : 'FAILED'}` : '—',
      int(issues(r)),
    ]);
  }
  return rows;
}

export function idleRows(idle, targets) {
  const rows = [['target', 'connections', 'RSS before MiB', 'RSS after MiB', 'KiB per connection', 'ours / this']];
  const per = (t) => median(idle.filter((r) => r.target === t).map((r) => r.perConnKiB));
  for (const t of targets) {
    const rs = idle.filter((r) => r.target === t.id);
    if (!rs.length) continue;
    rows.push([
      t.label,
      int(median(rs.map((r) => r.connected))),
      mib(median(rs.map((r) => r.rssBefore))),
      mib(median(rs.map((r) => r.rssAfter))),
      kib(per(t.id)),
      t.id === 'ours' ? '—' : ratio(perRoundRatio(idle, rs[0].scenario, 'ours', t.id, 'perConnKiB')),
    ]);
  }
  return rows;
}

export function idleRawRows(idle) {
  const rows = [['round', 'target', 'order', 'connected', 'RSS before KiB', 'RSS after KiB', 'KiB/conn', 'connect ms', 'open at end']];
  for (const r of idle) rows.push([String(r.round), r.targetLabel, String(r.order), int(r.connected), int(r.rssBefore), int(r.rssAfter), kib(r.perConnKiB), int(r.rampMs), int(r.stillOpen)]);
  return rows;
}

/** Prints one load run: figures, stored and delivery checks, warnings; returns its failures. */
export function printLoadRun(head, tag, r, scenario, target) {
  const failures = [];
  const L = r.load;
  console.log(`${head} ${int(r.msgPerS).padStart(8)} msg/s${target.stores ? `  stored ${int(r.storedPerS).padStart(8)}/s` : ''}${scenario.qos ? `  ack p50 ${ms(r.p50)} ms  p99 ${ms(r.p99)} ms` : ''}  loadgen CPU ${L.loadgen_cpu_pct}%`);
  if (L.loadgen_cpu_pct >= 90) console.log(`  note: the load generator used ${L.loadgen_cpu_pct}% of a core: this figure is bounded by the client, not the server`);
  if (r.stored) {
    const what = scenario.qos ? 'acked' : 'confirmed (QoS 0, informational)';
    console.log(`  check: XLEN sensor-data grew by ${int(r.stored.delta)} ${r.stored.ok ? '>=' : '<'} ${int(r.stored.expected)} ${what} — ${r.stored.ok ? 'OK' : r.stored.strict ? 'FAILED: acknowledged messages missing from Redis' : 'short'}`);
    if (r.stored.rejects) console.log(`  note: ${int(r.stored.rejects)} entries in sensor-data-invalid (rejects stream)`);
    if (!r.stored.settled) console.log('  WARNING: XLEN was still growing 20 s after the run');
    if (!r.stored.ok && r.stored.strict) failures.push(`${tag}: stored ${r.stored.delta} < acked ${r.stored.expected}`);
  }
  if (r.sub) console.log(`  subscriber: received ${int(r.sub.received)} of ${int(L.acked_total)} acked (${r.sub.checked} payloads checked, ${r.sub.bad_payloads} bad) — ${r.sub.ok ? 'OK' : 'SHORT'}`);
  if (issues(r)) {
    console.log(`  WARNING: lost ${L.lost}, socket errors ${L.socket_errors}, unexpected closes ${L.unexpected_closes}, unknown acks ${L.unknown_acks}, unexpected packets ${L.unexpected_packets}${L.first_error ? `; first error: ${L.first_error}` : ''}`);
    failures.push(`${tag}: load generator saw ${issues(r)} issue(s)`);
  }
  return failures;
}

/** Prints one idle run: connections, RSS growth per connection, the server's open-files limit. */
export function printIdleRun(head, r, serverNofile) {
  console.log(`${head} ${int(r.connected)} connected in ${int(r.rampMs)} ms; RSS ${int(r.rssBefore)} → ${int(r.rssAfter)} KiB = ${r.perConnKiB.toFixed(2)} KiB/conn (server nofile ${serverNofile})`);
  if (r.stillOpen !== r.connected) console.log(`  WARNING: only ${r.stillOpen}/${r.connected} connections still open at the end`);
}

/** Prints the medians, ratios and idle tables, the failures and the server-log verdict. */
export function printSummary({ runs, idle, idleSub = [], loadScenarios, idleScenario, idleSubScenario, cmdScenario, targets, failures, findings, logDir }) {
  if (runs.length) {
    console.log('\nMedians over rounds:\n');
    console.log(textTable(loadMedianRows(runs, loadScenarios, targets)));
    console.log('\nRatios, per round then median (msg/s: higher is better for ours; latency: lower is better):\n');
    console.log(textTable(loadRatioRows(runs, loadScenarios, targets)));
  }
  if (cmdScenario && runs.some((r) => r.scenario === cmdScenario.id)) {
    console.log(`\nWith subscribed-idle devices: ${cmdScenario.id} ÷ ${cmdScenario.baseline}, per target, per round then median:\n`);
    console.log(textTable(cmdRatioRows(runs, cmdScenario, targets)));
    for (const line of cmdVerdict(runs, cmdScenario)) console.log(line);
  }
  if (idle.length) {
    console.log(`\nIdle connections (${idleScenario.label}):\n`);
    console.log(textTable(idleRows(idle, targets)));
  }
  if (idleSub.length) {
    console.log(`\nSubscribed idle devices (${idleSubScenario.label}):\n`);
    console.log(textTable(idleSubRows(idleSub, targets)));
    if (capNote(idleSubScenario)) console.log(`\n${capNote(idleSubScenario)}`);
  }
  console.log(`\nfailures: ${failures.length ? `\n  ${failures.join('\n  ')}` : 'none'}`);
  console.log(`server logs: ${findings.length ? `${findings.length} run(s) with warn/error lines, see ${logDir}` : 'clean (nothing at warn or above)'}`);
}

/** Notes above the medians table. */
const MEDIANS_NOTE = [
  'msg/s: QoS 1 = PUBACKs received per second; QoS 0 = messages confirmed by the PINGRESP that follows',
  'them (the server has read them, not necessarily stored them). stored/s: entries added to `sensor-data`',
  'from the start of the measured window until the stream stopped growing, per second of that span.',
  'checks: stored = after the run the stream grew by at least every acknowledged (QoS 1) / confirmed',
  '(QoS 0, informational) message; delivered = the `neurobuild/sensors/#` subscriber received every one;',
  'fleet (qos1-c100-cmd…) = the subscribed-idle devices received nothing and all stayed connected.',
  'issues = lost acks + socket errors + unexpected closes/packets seen by the load generator.',
  "loadgen CPU % = the generator's CPU over the measured window; at ≥ 90 % the figure is bounded by the client, not the broker.",
];
const RATIOS_NOTE = [
  'stored/s and msg/s above 1× mean ours moves more; ack latency below 1× means ours acknowledges sooner.',
  'For QoS 0 compare stored/s with aedes (both may read faster than they store) and msg/s with mosquitto.',
  'Only ours and aedes+redis append to Redis; mosquitto is a pure relay (an upper bound for a broker, not a peer).',
];
const IDLE_NOTE = [
  'RSS growth of the server process (VmRSS from /proc) between before the connections and after',
  'they were all open plus a settle time, divided by the connections; median over rounds.',
];

/** The facts of the run: bullet points of the RESULTS.md section, also in bench/reports/mqtt.json. */
export function runFacts({ startedAt, finishedAt, quick, machine, bundle, command, settings }) {
  return [
    `date: ${startedAt.toISOString()} → ${finishedAt.toISOString()}${quick ? ' (QUICK smoke run, not representative)' : ''}`,
    `machine: ${machine.nproc} cores, ${machine.cpu}, ${machine.memGiB} GiB RAM, ${machine.kernel}; open-files limit of the children ${machine.nofile}`,
    `software: node ${machine.node}, redis-server ${machine.redis} (\`--save '' --appendonly no\`), mosquitto ${machine.mosquitto}, aedes ${machine.aedes} + ioredis ${machine.ioredis}, mqtt-packet ${machine.mqttPacket}`,
    `ours: dist/neurobuild-ingest.cjs sha256:${bundle.sha} (built ${bundle.built})${bundle.stale ? ' — WARNING: src/ was newer than the bundle' : ''}, defaults (MQTT_RECEIVE_MAXIMUM 64), LOG_LEVEL=warn`,
    `command: \`${command}\``,
    `settings: ${settings}`,
    `caveat: the load generator (one Node process), redis-server and the broker under test share the ${machine.nproc} cores; absolute figures are bound to this machine and load, only ratios from the same run are meaningful.`,
  ];
}

/** The Markdown of the MQTT section of RESULTS.md (without its markers). */
export function resultsSection({ startedAt, finishedAt, quick, machine, bundle, command, settings, runs, idle, idleSub = [], scenarios, idleScenario, idleSubScenario, cmdScenario, targets, findings, failures }) {
  const loadScen = scenarios.filter((s) => !s.idle && !s.idleSub);
  const cmdRan = cmdScenario && runs.some((r) => r.scenario === cmdScenario.id);
  const facts = runFacts({ startedAt, finishedAt, quick, machine, bundle, command, settings });
  return [
    ...sectionHead('## MQTT (bench/mqtt)', facts),
    ...tablePart('### Medians over rounds', MEDIANS_NOTE, loadMedianRows(runs, loadScen, targets)),
    ...tablePart('### Ratios (per round, then median)', RATIOS_NOTE, loadRatioRows(runs, loadScen, targets)),
    ...(cmdRan ? tablePart(`### Ingest beside subscribed-idle devices (${cmdScenario.id} ÷ ${cmdScenario.baseline})`, CMD_NOTE(cmdScenario), cmdRatioRows(runs, cmdScenario, targets)) : []),
    ...(cmdRan ? [...cmdVerdict(runs, cmdScenario), ''] : []),
    ...(idleScenario && idle.length ? tablePart(`### Idle connections (${idleScenario.label})`, IDLE_NOTE, idleRows(idle, targets)) : []),
    ...(idleSubScenario && idleSub.length ? tablePart(`### Subscribed idle devices (${idleSubScenario.id})`, IDLE_SUB_NOTE(idleSubScenario), idleSubRows(idleSub, targets)) : []),
    ...tablePart('### Per-round raw figures', [], loadRawRows(runs)),
    ...(idle.length ? [mdTable(idleRawRows(idle)), ''] : []),
    ...(idleSub.length ? [mdTable(idleSubRawRows(idleSub)), ''] : []),
    `load command of the last run: \`${runs.at(-1)?.cmd ?? ''}\``,
    '',
    '### Server logs and failures',
    '',
    ...failures.map((f) => `- FAILED ${f}`),
    findings.length ? findings.map((f) => `- ${f.run}: ${summarizeLines(f.lines)}`).join('\n') : '- nothing at warn level or above from any server, every server stopped cleanly.',
  ].join('\n');
}

/** What the targets are, for the charts (bench/reports/mqtt.json). */
const TARGET_INFO = {
  ours: { role: 'ours', what: 'dist/neurobuild-ingest.cjs: validation, dedupe, enrichment, batched XADD, PUBACK after the append' },
  aedes: { role: 'peer', what: "bench/baselines/aedes-redis.mjs: Aedes with one XADD per message in its authorizePublish hook, PUBACK after Redis' answer" },
  mosquitto: { role: 'reference', what: 'mosquitto as a plain relay, no Redis work: the ceiling of "just a broker", not a peer' },
};

/** The run's figures in the stable JSON form of bench/reports/ (see bench/lib/report-json.mjs). */
export function reportJsonDoc({ startedAt, finishedAt, quick, machine, bundle, command, settings, runs, idle, idleSub = [], scenarios, targets, allTargets }) {
  const ids = targets.map((t) => t.id);
  const scenarioOf = (s) => {
    if (s.idleSub) {
      return {
        id: s.id,
        label: s.label,
        targets: ids,
        subject: 'ours',
        panels: [
          { title: 'Memory per subscribed idle device (server RSS growth)', metrics: ['perConnKiB'] },
          { title: 'One command to every device: first PUBLISH → last received', metrics: ['deliverSeconds'] },
        ],
        details: ['rssBeforeMiB', 'rssAfterMiB', 'deliveredPct'],
      };
    }
    if (s.idle) return { id: s.id, label: s.label, targets: ids, subject: 'ours', panels: [{ title: 'Memory per idle connection (server RSS growth)', metrics: ['perConnKiB'] }], details: ['rssBeforeMiB', 'rssAfterMiB'] };
    if (!s.qos) return { id: s.id, label: s.label, targets: ids, subject: 'ours', panels: [{ title: 'Throughput (read by the broker, appended to Redis)', metrics: ['msgPerS', 'storedPerS'] }], details: ['loadgenCpu'] };
    return {
      id: s.id,
      label: s.label,
      targets: ids,
      subject: 'ours',
      panels: [
        { title: 'Throughput (PUBACKs per second)', metrics: ['msgPerS'] },
        { title: 'Ack latency, PUBLISH → PUBACK', metrics: ['p50', 'p99'] },
      ],
      details: ['storedPerS', 'loadgenCpu'],
    };
  };
  const loadRun = (r) => ({
    round: r.round,
    scenario: r.scenario,
    target: r.target,
    order: r.order,
    ok: !(r.stored && r.stored.strict && !r.stored.ok) && !(r.sub && !r.sub.ok) && !(r.fleet && !r.fleet.ok) && issues(r) === 0,
    ...figs({ msgPerS: r.msgPerS, storedPerS: r.stored ? r.storedPerS : null, p50: r.p50, p99: r.p99, loadgenCpu: r.load.loadgen_cpu_pct, issues: issues(r) }, ['msgPerS', 'storedPerS', 'p50', 'p99', 'loadgenCpu', 'issues']),
  });
  const idleRun = (r) => ({
    round: r.round,
    scenario: r.scenario,
    target: r.target,
    order: r.order,
    ok: r.stillOpen === r.connected,
    ...figs({ perConnKiB: r.perConnKiB, rssBeforeMiB: r.rssBefore / 1024, rssAfterMiB: r.rssAfter / 1024, connected: r.connected }, ['perConnKiB', 'rssBeforeMiB', 'rssAfterMiB', 'connected']),
  });
  const idleSubRun = (r) => ({
    round: r.round,
    scenario: r.scenario,
    target: r.target,
    order: r.order,
    ok: idleSubOk(r),
    ...figs({ perConnKiB: r.perConnKiB, rssBeforeMiB: r.rssBefore / 1024, rssAfterMiB: r.rssAfter / 1024, connected: r.connected, deliverSeconds: r.deliverMs / 1000, deliveredPct: 100 * r.deliveredShare }, ['perConnKiB', 'rssBeforeMiB', 'rssAfterMiB', 'connected', 'deliverSeconds', 'deliveredPct']),
  });
  const ran = new Set([...runs, ...idle, ...idleSub].map((r) => r.scenario));
  return reportDoc({
    bench: 'mqtt',
    title: 'MQTT ingest (bench/mqtt)',
    startedAt,
    finishedAt,
    quick,
    command,
    facts: runFacts({ startedAt, finishedAt, quick, machine, bundle, command, settings }),
    machine,
    metrics: {
      msgPerS: { label: 'msg/s', unit: 'msg/s', better: 'higher' },
      storedPerS: { label: 'stored/s', unit: 'msg/s', better: 'higher' },
      p50: { label: 'ack p50', unit: 'ms', better: 'lower' },
      p99: { label: 'ack p99', unit: 'ms', better: 'lower' },
      loadgenCpu: { label: 'loadgen CPU', unit: '%', better: 'lower' },
      perConnKiB: { label: 'KiB per idle connection', unit: 'KiB', better: 'lower' },
      rssBeforeMiB: { label: 'RSS before', unit: 'MiB', better: 'lower' },
      rssAfterMiB: { label: 'RSS after', unit: 'MiB', better: 'lower' },
      deliverSeconds: { label: 'delivery to every device', unit: 's', better: 'lower', digits: 2 },
      deliveredPct: { label: 'devices that received their command', unit: '%', better: 'higher', digits: 2 },
    },
    targets: allTargets.map((t) => ({ id: t.id, label: t.label, ...TARGET_INFO[t.id] })),
    scenarios: scenarios.filter((s) => ran.has(s.id)).map(scenarioOf),
    runs: [...runs.map(loadRun), ...idle.map(idleRun), ...idleSub.map(idleSubRun)],
  });
}
