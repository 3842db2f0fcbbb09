// Console output and the RESULTS.md section of bench/variants (bench:workers, bench:auth): per run,
// the medians per scenario and variant, the ratios variant b / variant a (per round, then the
// median), the raw figures of every run.
import { sectionHead, tablePart } from '../lib/results-md.mjs';
import { runCells } from '../lib/report.mjs';
import { summarizeLines } from '../lib/server-logs.mjs';
import { median, perRoundRatio } from '../lib/stats.mjs';
import { int, ms, ratio, textTable } from '../lib/tables.mjs';

/** CPU % with no decimals, or —. */
const pct = (x) => (Number.isFinite(x) ? String(Math.round(x)) : '—');
/** µs with one decimal, or —. */
const us = (x) => (Number.isFinite(x) ? x.toFixed(1) : '—');
/** Signed µs with one decimal, or —. */
const dus = (x) => (Number.isFinite(x) ? `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(1)}` : '—');

/** Server CPU time per reading in µs: CPU % of the server's processes ÷ readings/s. */
export const usPerReading = (r) => (r.cpu.server * 1e4) / r.readingsPerSec;

/** Median over rounds of op(run of b, run of a) for one scenario (rounds missing either skipped). */
function perRound(runs, scenarioId, a, b, op) {
  const rounds = [...new Set(runs.filter((r) => r.scenario === scenarioId).map((r) => r.round))];
  return median(
    rounds.map((round) => {
      const x = runs.find((r) => r.scenario === scenarioId && r.round === round && r.target === b);
      const y = runs.find((r) => r.scenario === scenarioId && r.round === round && r.target === a);
      return x && y ? op(x, y) : NaN;
    }),
  );
}

/** Rows of the medians table: one per scenario and variant. */
export function medianRows(runs, scenarios, cmp) {
  const rows = [['scenario', 'variant', 'readings/s', 'p50 ms', 'p99 ms', 'server CPU %', 'server µs/reading', 'redis CPU %', 'load gen CPU %', 'machine busy %', 'checks', 'errors']];
  for (const s of scenarios) {
    for (const v of [cmp.a, cmp.b]) {
      const rs = runs.filter((r) => r.scenario === s.id && r.target === v.id);
      const m = (f) => median(rs.map(f));
      const failed = rs.filter((r) => !r.stored.ok).length;
      rows.push([
        s.id,
        v.label,
        int(m((r) => r.readingsPerSec)),
        ms(m((r) => r.p50)),
        ms(m((r) => r.p99)),
        pct(m((r) => r.cpu.server)),
        us(m(usPerReading)),
        pct(m((r) => r.cpu.redis)),
        pct(m((r) => r.cpu.loadgen)),
        pct(m((r) => r.cpu.machine)),
        failed ? `${failed}/${rs.length} FAILED` : `${rs.length}/${rs.length} ok`,
        int(rs.reduce((a, r) => a + r.errors, 0)),
      ]);
    }
  }
  return rows;
}

/** Rows of the ratios table b / a, one per scenario (auth: also the µs added per reading and the 15 % verdict). */
export function ratioRows(runs, scenarios, cmp) {
  const auth = cmp.target !== undefined;
  const r = cmp.ratio;
  const head = ['scenario', 'what', `readings/s ${r}`, `p50 ${r}`, `p99 ${r}`, `server CPU % ${r}`, `server µs/reading ${r}`];
  if (auth) head.push('server µs/reading added', `within ${Math.round((1 - cmp.target) * 100)} % (readings/s ≥ ${cmp.target.toFixed(2)}×)`);
  const rows = [head];
  for (const s of scenarios) {
    const q = (key) => perRoundRatio(runs, s.id, cmp.b.id, cmp.a.id, key);
    const tput = q('readingsPerSec');
    const row = [
      s.id,
      s.label,
      ratio(tput),
      ratio(q('p50')),
      ratio(q('p99')),
      ratio(perRound(runs, s.id, cmp.a.id, cmp.b.id, (x, y) => x.cpu.server / y.cpu.server)),
      ratio(perRound(runs, s.id, cmp.a.id, cmp.b.id, (x, y) => usPerReading(x) / usPerReading(y))),
    ];
    if (auth) row.push(dus(perRound(runs, s.id, cmp.a.id, cmp.b.id, (x, y) => usPerReading(x) - usPerReading(y))), Number.isFinite(tput) ? (tput >= cmp.target ? 'yes' : 'no') : '—');
    rows.push(row);
  }
  return rows;
}

/** Rows of the per-run raw figures, in run order. */
export function rawRows(runs, cmp) {
  const head = ['round', 'scenario', 'variant', 'order', 'server procs', 'readings/s', 'p50 ms', 'p99 ms', 'server CPU %', 'redis CPU %', 'load gen CPU %', 'machine busy % (not ours)', 'stored Δ / accepted', 'errors'];
  if (cmp.keyed) head.push('devices registered (s)');
  const rows = [head];
  for (const r of runs) {
    const row = [
      ...runCells(r),
      String(r.procs),
      int(r.readingsPerSec),
      ms(r.p50),
      ms(r.p99),
      pct(r.cpu.server),
      pct(r.cpu.redis),
      pct(r.cpu.loadgen),
      `${pct(r.cpu.machine)} (${pct(r.cpu.others)})`,
      `${int(r.stored.delta)} / ${int(r.accepted)} ${r.stored.ok ? 'ok' : 'FAILED'}`,
      int(r.errors),
    ];
    if (cmp.keyed) row.push(r.registered ? `${int(r.registered.devices)} (${r.registered.seconds.toFixed(1)})` : '—');
    rows.push(row);
  }
  return rows;
}

/** One run on the console: figures, CPU, checks, warnings. */
export function printRun(head, r) {
  console.log(
    `${head} ${int(r.readingsPerSec).padStart(8)} readings/s  p50 ${ms(r.p50)} ms  p99 ${ms(r.p99)} ms  ` +
      `CPU % server ${pct(r.cpu.server)} (${r.procs} proc)  redis ${pct(r.cpu.redis)}  load gen ${pct(r.cpu.loadgen)}  machine ${pct(r.cpu.machine)} (not ours ${pct(r.cpu.others)})  server ${us(usPerReading(r))} µs/reading`,
  );
  const reg = r.registered ? `; ${int(r.registered.devices)} devices registered in ${r.registered.seconds.toFixed(1)} s` : '';
  console.log(`  check: XLEN sensor-data grew by ${int(r.stored.delta)} ${r.stored.ok ? '>=' : '<'} ${int(r.accepted)} accepted — ${r.stored.ok ? 'OK' : 'FAILED'}${reg}`);
  if (r.errors) console.log(`  WARNING: ${r.errorText}`);
  for (const n of r.notes) console.log(`  note: ${n}`);
}

/** The summary tables, problems and the server-log verdict on the console. */
export function printSummary({ runs, scenarios, cmp, problems, findings, logDir }) {
  console.log(`\nRatios ${cmp.ratio}, per round then median:\n`);
  console.log(textTable(ratioRows(runs, scenarios, cmp)));
  console.log('\nMedians over rounds:\n');
  console.log(textTable(medianRows(runs, scenarios, cmp)));
  console.log(`\nproblems: ${problems.length ? `\n- ${problems.join('\n- ')}` : 'none'}`);
  console.log(`server logs: ${findings.length ? `${findings.length} finding(s), see ${logDir}` : 'clean (nothing at warn or above besides the expected AUTH_MODE=none notice)'}`);
}

const KEYED_NOTE = (cmp, runs) => {
  const http = runs.find((r) => r.scenario !== 'qos1-c100' && r.registered)?.registered?.devices;
  const secs = runs.filter((r) => r.registered).map((r) => r.registered.seconds);
  return (
    `devices: before every run the runner registers devices through \`POST /api/v1/admin/devices\` \`{"device_id"}\` with \`Authorization: Bearer <ADMIN_TOKEN>\` (a random token per run; FLUSHALL wiped the previous keys), for both variants alike, ` +
    `${http ? `${int(http)}` : 'BENCH_AUTH_DEVICES'} per HTTP run and one per connection (100) per MQTT run${secs.length ? ` (${median(secs).toFixed(1)} s per run, median)` : ''}, and hands their keys to the load: ` +
    `wrk loads a "<device_id> <key>" file into its Lua state (\`BENCH_KEYS_FILE\`, bench/http/common.lua) and sends as the devices in turn, every request with its device's \`x-api-key\`, ` +
    `a batch request carrying 100 readings of its one device (bench:http: 100 readings of 100 devices); ` +
    `bench/mqtt/load.mjs (\`--credentials\`) CONNECTs with username = device id and password = its key, one device per connection (bench:mqtt: 10 per connection, but a connection may write only its own device's readings). ` +
    `With AUTH_MODE=none the same requests, headers and CONNECT credentials are sent and ignored, so the load is identical; the warm-up's timestamps start an hour earlier than the measured run's (same devices, no duplicate). ` +
    `A verified key is cached per server process for 30 s (revocation still applies at once), so the window measures the steady state: per HTTP request SHA-256 of the key, a cache lookup and the device check of every reading; per MQTT connection the key once at CONNECT, then the topic and device checks of every PUBLISH.`
  );
};

/** The RESULTS.md section. */
export function resultsSection({ startedAt, finishedAt, quick, machine, bundle, command, settings, runs, scenarios, cmp, problems, findings }) {
  const facts = [
    `date: ${startedAt.toISOString()} → ${finishedAt.toISOString()}${quick ? ' (QUICK smoke run, not representative)' : ''}`,
    `machine: ${machine.nproc} cores, ${machine.cpu}, ${machine.memGiB} GiB RAM, ${machine.kernel}`,
    `software: node ${machine.node}, redis-server ${machine.redis} (\`--save '' --appendonly no\`), wrk ${machine.wrk}, mqtt-packet ${machine.mqttPacket} (load generator)`,
    `server: dist/neurobuild-ingest.cjs sha256:${bundle.sha} (built ${bundle.built})${bundle.stale ? ' — WARNING: src/ was newer than the bundle' : ''}`,
    `command: \`${command}\``,
    `settings: ${settings}`,
    ...(cmp.keyed ? [KEYED_NOTE(cmp, runs)] : []),
    `CPU %: from /proc over the measured window, 100 = one core; server = all its processes (primary + workers); load gen = wrk or load.mjs; machine busy out of ${machine.nproc * 100}, "not ours" = busy time of processes outside this benchmark (a few % at most in an undisturbed run). server µs/reading = server CPU time ÷ readings.`,
    `caveat: the load generator, redis-server and the server under test share the ${machine.nproc} cores; absolute figures are bound to this machine and load, only ratios from the same run are meaningful.`,
  ];
  const lastCmd = (kind) => runs.filter((r) => (kind === 'mqtt' ? r.scenario === 'qos1-c100' : r.scenario !== 'qos1-c100')).at(-1)?.cmd;
  const cmds = [lastCmd('http') && `wrk: \`${cmp.keyed ? 'BENCH_KEYS_FILE=<keys file> ' : ''}${lastCmd('http')}\``, lastCmd('mqtt') && `MQTT: \`${lastCmd('mqtt')}\``].filter(Boolean).join('; ');
  const logLines = findings.length
    ? findings.map((f) => `- ${f.run}: ${summarizeLines(f.lines)}`)
    : ['- nothing at warn level or above (LOG_LEVEL=warn) besides the AUTH_MODE=none start-up notice, no non-JSON output, every server stopped cleanly.'];
  return [
    ...sectionHead(cmp.title, facts),
    ...tablePart(
      `### Ratios ${cmp.ratio} (per round, then median)`,
      [`readings/s above 1× means ${cmp.b.label} takes more; latency and CPU per reading below 1× mean it answers sooner / spends less per reading.`],
      ratioRows(runs, scenarios, cmp),
    ),
    ...tablePart(
      '### Medians over rounds',
      [
        'readings/s: HTTP = req/s × readings per request × share of 2xx answers (wrk); MQTT = PUBACKs per second (load.mjs). p50/p99: HTTP request latency',
        '(wrk), MQTT PUBLISH → PUBACK. checks: after every run XLEN sensor-data grew by at least every reading answered 2xx / PUBACKed.',
        'errors: non-2xx answers and socket errors (HTTP), lost acks, socket errors and unexpected closes or packets (MQTT).',
      ],
      medianRows(runs, scenarios, cmp),
    ),
    ...tablePart('### Per-round raw figures', [], rawRows(runs, cmp)),
    `load commands of the last runs: ${cmds}`,
    '',
    '### Server logs and problems',
    '',
    ...logLines,
    ...(problems.length ? problems.map((p) => `- problem: ${p.replaceAll('`', "'")}`) : ['- no problems (every stored check passed, no errors).']),
  ].join('\n');
}
