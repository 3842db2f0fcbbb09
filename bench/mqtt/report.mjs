// Tables and the RESULTS.md section of the MQTT benchmark (used by run.mjs).
import fs from 'node:fs';
import { TARGETS } from './procs.mjs';

export const START = '<!-- bench:mqtt:start -->';
export const END = '<!-- bench:mqtt:end -->';

export function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}
export const int = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
export const ms = (x) => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : '—');
export const ratio = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '—');
const kib = (x) => (Number.isFinite(x) ? x.toFixed(2) : '—');
const mib = (x) => (Number.isFinite(x) ? (x / 1024).toFixed(1) : '—');

export function pad(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => (i < 2 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')).join('\n');
}

export function mdTable(rows) {
  const [head, ...body] = rows;
  return [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** Issues of one run, counted: lost acks, errors, unexpected closes/packets. */
export const issues = (r) => (r.load.lost ?? 0) + (r.load.socket_errors ?? 0) + (r.load.unexpected_closes ?? 0) + (r.load.unknown_acks ?? 0) + (r.load.unexpected_packets ?? 0);

export function checkText(r) {
  const parts = [];
  if (r.stored) parts.push(`stored ${r.stored.ok ? 'ok' : r.stored.strict ? 'FAILED' : 'short'}`);
  if (r.sub) parts.push(`delivered ${r.sub.ok ? 'ok' : 'short'}`);
  return parts.join(', ') || '—';
}

export function loadMedianRows(runs, scenarios, targets) {
  const rows = [['scenario', 'target', 'msg/s', 'stored/s', 'ack p50 ms', 'ack p99 ms', 'checks', 'issues', 'loadgen CPU %']];
  for (const s of scenarios) {
    for (const t of targets) {
      const rs = runs.filter((r) => r.scenario === s.id && r.target === t.id);
      if (!rs.length) continue;
      const checked = rs.filter((r) => r.stored || r.sub);
      const okN = checked.filter((r) => (!r.stored || r.stored.ok) && (!r.sub || r.sub.ok)).length;
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

function perRoundRatio(runs, scenarioId, a, b, key) {
  const rounds = [...new Set(runs.filter((r) => r.scenario === scenarioId).map((r) => r.round))];
  return median(
    rounds.map((round) => {
      const x = runs.find((r) => r.scenario === scenarioId && r.round === round && r.target === a);
      const y = runs.find((r) => r.scenario === scenarioId && r.round === round && r.target === b);
      return x && y ? x[key] / y[key] : NaN;
    }),
  );
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
  const rows = [['round', 'scenario', 'target', 'order', 'msg/s', 'stored/s', 'p50 ms', 'p99 ms', 'acked/confirmed total', 'stored Δ', 'sub received', 'issues']];
  for (const r of runs) {
    rows.push([
      String(r.round),
      r.scenario,
      r.targetLabel,
      String(r.order),
      int(r.msgPerS),
      r.stored ? int(r.storedPerS) : '—',
      ms(r.p50),
      ms(r.p99),
      int(r.load.acked_total),
      r.stored ? `${int(r.stored.delta)} ${r.stored.ok ? 'ok' : r.stored.strict ? 'FAILED' : 'short'}${r.stored.rejects ? ` (+${int(r.stored.rejects)} rejects)` : ''}` : '—',
      r.sub ? `${int(r.sub.received)} ${r.sub.ok ? 'ok' : 'short'}` : '—',
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
    const rounds = rs.map((r) => r.round);
    const ratios = rounds.map((round) => {
      const o = idle.find((r) => r.target === 'ours' && r.round === round);
      const x = rs.find((r) => r.round === round);
      return o && x ? o.perConnKiB / x.perConnKiB : NaN;
    });
    rows.push([
      t.label,
      int(median(rs.map((r) => r.connected))),
      mib(median(rs.map((r) => r.rssBefore))),
      mib(median(rs.map((r) => r.rssAfter))),
      kib(per(t.id)),
      t.id === 'ours' ? '—' : ratio(median(ratios)),
    ]);
  }
  return rows;
}

export function idleRawRows(idle) {
  const rows = [['round', 'target', 'order', 'connected', 'RSS before KiB', 'RSS after KiB', 'KiB/conn', 'connect ms', 'open at end']];
  for (const r of idle) rows.push([String(r.round), r.targetLabel, String(r.order), int(r.connected), int(r.rssBefore), int(r.rssAfter), kib(r.perConnKiB), int(r.rampMs), int(r.stillOpen)]);
  return rows;
}

const LEVELS = { 40: 'warn', 50: 'error', 60: 'fatal' };
/** "N line(s): 4× warn `msg`, 2× error `msg`" — JSON log lines grouped by level and message. */
export function summarizeLines(lines) {
  const groups = new Map();
  for (const line of lines) {
    let key;
    try {
      const o = JSON.parse(line);
      key = `${LEVELS[o.level] ?? o.level} \`${String(o.msg).replaceAll('`', "'")}\``;
    } catch {
      key = `\`${line.replaceAll('`', "'").slice(0, 200)}\``;
    }
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  return `${lines.length} line(s): ${[...groups].map(([k, n]) => `${n}× ${k}`).join(', ')}`;
}

export function writeResults(file, section) {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    text = '# Benchmark results\n\nSections are written by the benchmark scripts under bench/; see bench/README.md.\n';
  }
  const block = `${START}\n${section.trim()}\n${END}`;
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a !== -1 && b > a) text = text.slice(0, a) + block + text.slice(b + END.length);
  else text = `${text.trimEnd()}\n\n${block}\n`;
  fs.writeFileSync(file, text);
}

export function resultsSection({ startedAt, finishedAt, quick, machine, bundle, command, settings, runs, idle, scenarios, idleScenario, targets, findings, failures }) {
  const loadScen = scenarios.filter((s) => !s.idle);
  return [
    '## MQTT (bench/mqtt)',
    '',
    `- date: ${startedAt.toISOString()} → ${finishedAt.toISOString()}${quick ? ' (QUICK smoke run, not representative)' : ''}`,
    `- machine: ${machine.nproc} cores, ${machine.cpu}, ${machine.memGiB} GiB RAM, ${machine.kernel}; open-files limit of the children ${machine.nofile}`,
    `- software: node ${machine.node}, redis-server ${machine.redis} (\`--save '' --appendonly no\`), mosquitto ${machine.mosquitto}, aedes ${machine.aedes} + ioredis ${machine.ioredis}, mqtt-packet ${machine.mqttPacket}`,
    `- ours: dist/neurobuild-ingest.cjs sha256:${bundle.sha} (built ${bundle.built})${bundle.stale ? ' — WARNING: src/ was newer than the bundle' : ''}, defaults (MQTT_RECEIVE_MAXIMUM 64), LOG_LEVEL=warn`,
    `- command: \`${command}\``,
    `- settings: ${settings}`,
    `- caveat: the load generator (one Node process), redis-server and the broker under test share the ${machine.nproc} cores; absolute figures are bound to this machine and load, only ratios from the same run are meaningful.`,
    '',
    '### Medians over rounds',
    '',
    'msg/s: QoS 1 = PUBACKs received per second; QoS 0 = messages confirmed by the PINGRESP that follows',
    'them (the server has read them, not necessarily stored them). stored/s: entries added to `sensor-data`',
    'from the start of the measured window until the stream stopped growing, per second of that span.',
    'checks: stored = after the run the stream grew by at least every acknowledged (QoS 1) / confirmed',
    '(QoS 0, informational) message; delivered = the `neurobuild/sensors/#` subscriber received every one.',
    'issues = lost acks + socket errors + unexpected closes/packets seen by the load generator.',
    'loadgen CPU % = the generator\'s CPU over the measured window; at ≥ 90 % the figure is bounded by the client, not the broker.',
    '',
    mdTable(loadMedianRows(runs, loadScen, targets)),
    '',
    '### Ratios (per round, then median)',
    '',
    'stored/s and msg/s above 1× mean ours moves more; ack latency below 1× means ours acknowledges sooner.',
    'For QoS 0 compare stored/s with aedes (both may read faster than they store) and msg/s with mosquitto.',
    'Only ours and aedes+redis append to Redis; mosquitto is a pure relay (an upper bound for a broker, not a peer).',
    '',
    mdTable(loadRatioRows(runs, loadScen, targets)),
    '',
    ...(idleScenario && idle.length
      ? [
          `### Idle connections (${idleScenario.label})`,
          '',
          'RSS growth of the server process (VmRSS from /proc) between before the connections and after',
          'they were all open plus a settle time, divided by the connections; median over rounds.',
          '',
          mdTable(idleRows(idle, targets)),
          '',
        ]
      : []),
    '### Per-round raw figures',
    '',
    mdTable(loadRawRows(runs)),
    '',
    ...(idle.length ? [mdTable(idleRawRows(idle)), ''] : []),
    `load command of the last run: \`${runs.at(-1)?.cmd ?? ''}\``,
    '',
    '### Server logs and failures',
    '',
    ...(failures.length ? failures.map((f) => `- FAILED ${f}`) : []),
    findings.length ? findings.map((f) => `- ${f.run}: ${summarizeLines(f.lines)}`).join('\n') : '- nothing at warn level or above from any server, every server stopped cleanly.',
  ].join('\n');
}
