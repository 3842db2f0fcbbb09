// Output of bench:mqtt's fleet scenarios (used by run.mjs and report.mjs): ingest beside
// subscribed-idle devices (qos1-c100-cmd<N> ÷ qos1-c100, per target) and idle-sub-c<N> (RSS per
// subscribed idle device, one command to each, all received?): console lines, tables, notes.
import { median } from '../lib/stats.mjs';
import { int, ms, ratio } from '../lib/tables.mjs';

const kib = (x) => (Number.isFinite(x) ? x.toFixed(2) : '—');
const mib = (x) => (Number.isFinite(x) ? (x / 1024).toFixed(1) : '—');
const pct = (x) => (Number.isFinite(x) ? `${(100 * x).toFixed(2)} %` : '—');
const secs = (msx) => (Number.isFinite(msx) ? (msx / 1000).toFixed(2) : '—');

/** Goals of the issue "MQTT at fleet scale" for ours. */
export const GOALS = { cmdRatio: 0.9, idleSubKiB: 4 };

/** Per round of target t: msg/s (or `key`) of the fleet scenario ÷ that of its baseline, then the median. */
export function fleetRatio(runs, scenario, t, key = 'msgPerS') {
  const rounds = [...new Set(runs.filter((r) => r.scenario === scenario.id).map((r) => r.round))];
  return median(
    rounds.map((round) => {
      const a = runs.find((r) => r.scenario === scenario.id && r.round === round && r.target === t);
      const b = runs.find((r) => r.scenario === scenario.baseline && r.round === round && r.target === t);
      return a && b ? a[key] / b[key] : NaN;
    }),
  );
}

/** One row per target: msg/s and p99 without and with the fleet, and their ratios (per round, then median). */
export function cmdRatioRows(runs, scenario, targets) {
  const rows = [['target', 'what', `msg/s ${scenario.baseline}`, `msg/s ${scenario.id}`, 'msg/s ratio', `p99 ms ${scenario.baseline}`, `p99 ms ${scenario.id}`, 'p99 ratio', 'fleet checks', 'goal']];
  const med = (id, t, key) => median(runs.filter((r) => r.scenario === id && r.target === t).map((r) => r[key]));
  for (const t of targets) {
    const rs = runs.filter((r) => r.scenario === scenario.id && r.target === t.id);
    if (!rs.length) continue;
    const q = fleetRatio(runs, scenario, t.id);
    const okN = rs.filter((r) => r.fleet?.ok).length;
    rows.push([
      t.label,
      `${int(median(rs.map((r) => r.fleet?.devices)))} devices`,
      int(med(scenario.baseline, t.id, 'msgPerS')),
      int(med(scenario.id, t.id, 'msgPerS')),
      ratio(q),
      ms(med(scenario.baseline, t.id, 'p99')),
      ms(med(scenario.id, t.id, 'p99')),
      ratio(fleetRatio(runs, scenario, t.id, 'p99')),
      `${okN}/${rs.length} ok`,
      t.id === 'ours' ? (Number.isFinite(q) ? `≥ ${GOALS.cmdRatio}×: ${q >= GOALS.cmdRatio ? 'met' : 'NOT met'}` : '—') : '—',
    ]);
  }
  return rows;
}

/** Lines under the ratio table: ours against aedes+redis in absolute msg/s with the fleet connected. */
export function cmdVerdict(runs, scenario) {
  const med = (t) => median(runs.filter((r) => r.scenario === scenario.id && r.target === t).map((r) => r.msgPerS));
  const ours = med('ours');
  const aedes = med('aedes');
  if (!Number.isFinite(ours) || !Number.isFinite(aedes)) return [];
  return [`goal: ours above aedes+redis in absolute msg/s in ${scenario.id}: ${int(ours)} vs ${int(aedes)} msg/s (medians) — ${ours > aedes ? 'met' : 'NOT met'}`];
}

export const CMD_NOTE = (scenario) => [
  `${scenario.id}: the load of ${scenario.baseline} while ${int(scenario.commandSubscribers)} other clients are connected, each subscribed (QoS 1, SUBACK awaited)`,
  'to its own command topic `fleet/dev-<n>/cmd`, from separate processes; they publish nothing and receive nothing (checked: a message',
  'reaching them, or one of them disconnected, fails the run). ratio = msg/s (or p99) with them ÷ without, per target and round, then the',
  `median: the cost of holding subscribed devices while ingesting (goal for ours: ≥ ${GOALS.cmdRatio}×, and above aedes+redis in absolute msg/s).`,
];

/** Prints the fleet check of a load run; returns its failures. */
export function printFleetCheck(tag, r) {
  const f = r.fleet;
  console.log(`  fleet: ${int(f.devices)} subscribed-idle devices (${f.processes} process(es), connected and subscribed in ${int(f.rampMs)} ms), server RSS ${mib(f.serverRssKiB)} MiB after the load; received ${int(f.received)} (expected 0), still open ${int(f.open)} — ${f.ok ? 'OK' : 'FAILED'}`);
  return f.ok ? [] : [`${tag}: subscribed-idle devices received ${f.received} message(s), ${f.devices - f.open} of ${f.devices} disconnected, ${f.errors} socket error(s)`];
}

/** The capped-count sentence of idle-sub, or null when it ran as asked. */
export function capNote(scenario) {
  if (!scenario?.capped) return null;
  return (
    `CAPPED: ${int(scenario.connections)} devices instead of the ${int(scenario.asked)} asked (BENCH_MQTT_IDLE_SUB_CONNECTIONS): one server process holds every ` +
    `connection, and the hard open-files limit of this machine is ${int(scenario.nofile)} per process (ulimit -Hn, not raisable here), less 300 for the server's own files.`
  );
}

/** Whether an idle-sub run passed: all connected, every command acknowledged and received, no device lost. */
export const idleSubOk = (r) => r.complete && r.pubOk && !r.wrongTopic && r.stillOpen === r.connected;

/** Prints one idle-sub run; returns its failures. */
export function printIdleSubRun(head, tag, r) {
  console.log(`${head} ${int(r.connected)} subscribed in ${int(r.rampMs)} ms (${r.clientProcesses} client process(es), server processes ${r.serverProcs}, nofile ${r.serverNofile}); RSS ${int(r.rssBefore)} → ${int(r.rssAfter)} KiB = ${kib(r.perConnKiB)} KiB/conn; after the commands ${int(r.rssAfterCommands)} KiB = ${kib(r.perConnAfterCommandsKiB)} KiB/conn`);
  console.log(`  commands: ${int(r.acked)}/${int(r.published)} acknowledged in ${r.pubSeconds} s; received by ${int(r.delivered)}/${int(r.connected)} devices (${pct(r.deliveredShare)})${Number.isFinite(r.deliverMs) ? `, the last ${secs(r.deliverMs)} s after the first PUBLISH` : ''}${r.duplicates ? `, ${int(r.duplicates)} duplicates` : ''} — ${idleSubOk(r) ? 'OK' : 'FAILED'}`);
  const failures = [];
  if (!r.pubOk) failures.push(`${tag}: command publisher: ${r.pubError ?? `${r.acked} of ${r.published} acknowledged`}`);
  if (!r.complete) failures.push(`${tag}: ${int(r.missing)} of ${int(r.connected)} devices did not receive their command (waited until nothing moved for 5 s)`);
  if (r.wrongTopic) failures.push(`${tag}: ${r.wrongTopic} message(s) on another device's topic (${r.firstWrong})`);
  if (r.stillOpen !== r.connected) failures.push(`${tag}: only ${r.stillOpen} of ${r.connected} devices still connected at the end`);
  for (const f of failures) console.log(`  FAILED ${f.slice(tag.length + 2)}`);
  return failures;
}

/** Medians per target of the idle-sub runs. */
export function idleSubRows(runs, targets) {
  const rows = [['target', 'devices', 'RSS before MiB', 'RSS after MiB', 'KiB per connection', 'KiB per connection after the commands', 'commands received', 'delivery s', 'publisher msg/s', 'runs ok']];
  for (const t of targets) {
    const rs = runs.filter((r) => r.target === t.id);
    if (!rs.length) continue;
    const m = (k) => median(rs.map((r) => r[k]));
    const goal = t.id === 'ours' && Number.isFinite(m('perConnKiB')) ? ` (goal ≤ ${GOALS.idleSubKiB}: ${m('perConnKiB') <= GOALS.idleSubKiB ? 'met' : 'NOT met'})` : '';
    rows.push([t.label, int(m('connected')), mib(m('rssBefore')), mib(m('rssAfter')), `${kib(m('perConnKiB'))}${goal}`, kib(m('perConnAfterCommandsKiB')), `${int(m('delivered'))} / ${int(m('connected'))} (${pct(m('deliveredShare'))})`, secs(m('deliverMs')), int(median(rs.map((r) => r.acked / r.pubSeconds))), `${rs.filter(idleSubOk).length}/${rs.length}`]);
  }
  return rows;
}

export function idleSubRawRows(runs) {
  const rows = [['round', 'target', 'order', 'devices', 'RSS before KiB', 'RSS after KiB', 'KiB/conn', 'connect+subscribe ms', 'acked', 'received', 'duplicates', 'delivery s', 'open at end', 'ok']];
  for (const r of runs) rows.push([String(r.round), r.targetLabel, String(r.order), int(r.connected), int(r.rssBefore), int(r.rssAfter), kib(r.perConnKiB), int(r.rampMs), int(r.acked), int(r.delivered), int(r.duplicates), secs(r.deliverMs), int(r.stillOpen), idleSubOk(r) ? 'ok' : 'FAILED']);
  return rows;
}

export const IDLE_SUB_NOTE = (scenario) => [
  ...(capNote(scenario) ? [`**${capNote(scenario)}**`, ''] : []),
  `${int(scenario.connections)} devices, each connected (keep-alive 60 s) and subscribed at QoS 1 to its own \`fleet/dev-<n>/cmd\`, held by one server process`,
  '(ours with WORKERS=1), from client processes of at most BENCH_MQTT_FLEET_PER_PROCESS (10,000) connections, each on its own 127.0.x.y source address. RSS = VmRSS of the',
  'server process tree before the devices and after all SUBACKs plus the settle time; KiB per connection = growth ÷ devices. Then one',
  'publisher connection sends one QoS 1 message to each command topic (64 in flight); delivery s = first PUBLISH → last message received;',
  'a device without its message after nothing moved for 5 s fails the run.',
];
