#!/usr/bin/env node
// The benchmark report: bench/reports/<bench>.json (written by bench:http, bench:mqtt and bench:ws,
// see report-json.mjs) → one self-contained bench/reports/index.html with inline SVG charts drawn
// here (no script, no stylesheet or font from the network).
//
//   npm run bench:report                                   (= node bench/lib/html-report.mjs)
//   node bench/lib/html-report.mjs --out /tmp/r.html /tmp/nb-bench-http-*/http.json   (a quick run)
//
// Arguments: JSON files or directories of them (default bench/reports/); --out <file> (default
// bench/reports/index.html). A file that is not valid JSON or not a report stops it with a message
// naming the file and what is wrong, exit code 1.
//
// Per scenario one chart: its panels (throughput, latency, …) side by side, bars = median over the
// rounds, whiskers = lowest and highest round, the figure printed above each bar; every target has
// a colour and a fill pattern (legend on top), so the charts read in greyscale too. Under each chart
// the ratios of the scenario's subject (ours) to the other targets, per round then median, and the
// figures as a table.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './paths.mjs';
import { REPORT_FORMAT, REPORTS_DIR } from './report-json.mjs';
import { median, perRoundRatio } from './stats.mjs';

/** Benchmarks listed first, in this order; others follow by name. */
const ORDER = ['http', 'mqtt', 'ws'];

// ----------------------------------------------------------------------------- reading, checks
class ReportError extends Error {}

const isObj = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);
const isStr = (x) => typeof x === 'string' && x.length > 0;
const isNumOrNull = (x) => x === null || (typeof x === 'number' && Number.isFinite(x));

/**
 * Checks a parsed report against the format of report-json.mjs; throws an Error naming `where`
 * and the first thing wrong (path inside the document and what was expected).
 */
export function validateReport(doc, where = 'report') {
  const bad = (p, msg) => {
    throw new ReportError(`${where}: ${p}: ${msg}`);
  };
  if (!isObj(doc)) bad('(top)', 'expected a JSON object');
  if (doc.format !== REPORT_FORMAT) bad('format', `expected ${JSON.stringify(REPORT_FORMAT)}, got ${JSON.stringify(doc.format)}`);
  if (!isStr(doc.bench) || !/^[a-z0-9-]+$/.test(doc.bench)) bad('bench', 'expected a name of lower-case letters, digits and dashes');
  for (const k of ['title', 'startedAt', 'finishedAt', 'command']) if (!isStr(doc[k])) bad(k, 'expected a non-empty string');
  if (!Array.isArray(doc.facts) || doc.facts.some((f) => typeof f !== 'string')) bad('facts', 'expected an array of strings');
  if (!isObj(doc.metrics)) bad('metrics', 'expected an object of {label, unit, better}');
  for (const [k, m] of Object.entries(doc.metrics)) {
    if (!isObj(m) || !isStr(m.label) || typeof m.unit !== 'string' || !['higher', 'lower'].includes(m.better)) bad(`metrics.${k}`, 'expected {label, unit, better: "higher" | "lower", digits?}');
    if (m.digits !== undefined && !(Number.isInteger(m.digits) && m.digits >= 0 && m.digits <= 6)) bad(`metrics.${k}.digits`, 'expected an integer in [0, 6]');
  }
  const metric = (p, k) => (isStr(k) && doc.metrics[k] ? k : bad(p, `unknown metric ${JSON.stringify(k)} (known: ${Object.keys(doc.metrics).join(', ')})`));
  if (!Array.isArray(doc.targets) || !doc.targets.length) bad('targets', 'expected a non-empty array');
  const targetIds = new Set();
  doc.targets.forEach((t, i) => {
    if (!isObj(t) || !isStr(t.id) || !isStr(t.label)) bad(`targets[${i}]`, 'expected {id, label, role, what}');
    if (targetIds.has(t.id)) bad(`targets[${i}].id`, `duplicate id ${JSON.stringify(t.id)}`);
    targetIds.add(t.id);
  });
  if (!Array.isArray(doc.scenarios) || !doc.scenarios.length) bad('scenarios', 'expected a non-empty array');
  const scen = new Map();
  doc.scenarios.forEach((s, i) => {
    const p = `scenarios[${i}]`;
    if (!isObj(s) || !isStr(s.id) || !isStr(s.label)) bad(p, 'expected {id, label, targets, panels}');
    if (scen.has(s.id)) bad(`${p}.id`, `duplicate id ${JSON.stringify(s.id)}`);
    if (!Array.isArray(s.targets) || !s.targets.length) bad(`${p}.targets`, 'expected a non-empty array of target ids');
    s.targets.forEach((t, j) => targetIds.has(t) || bad(`${p}.targets[${j}]`, `unknown target ${JSON.stringify(t)}`));
    if (s.subject !== undefined && !s.targets.includes(s.subject)) bad(`${p}.subject`, `${JSON.stringify(s.subject)} is not one of the scenario's targets`);
    if (!Array.isArray(s.panels) || !s.panels.length) bad(`${p}.panels`, 'expected a non-empty array');
    s.panels.forEach((pn, j) => {
      const pp = `${p}.panels[${j}]`;
      if (!isObj(pn) || !isStr(pn.title) || !Array.isArray(pn.metrics) || !pn.metrics.length) bad(pp, 'expected {title, metrics: [metric keys]}');
      pn.metrics.forEach((k, m) => metric(`${pp}.metrics[${m}]`, k));
      if (pn.groupBy !== undefined && (!isStr(pn.groupBy) || pn.metrics.length !== 1)) bad(`${pp}.groupBy`, 'expected a run field name, with exactly one metric');
    });
    (s.details ?? []).forEach((k, j) => metric(`${p}.details[${j}]`, k));
    scen.set(s.id, s);
  });
  if (!Array.isArray(doc.runs)) bad('runs', 'expected an array');
  const seen = new Set();
  doc.runs.forEach((r, i) => {
    const p = `runs[${i}]`;
    if (!isObj(r)) bad(p, 'expected an object');
    const s = scen.get(r.scenario) ?? bad(`${p}.scenario`, `unknown scenario ${JSON.stringify(r.scenario)}`);
    if (!s.targets.includes(r.target)) bad(`${p}.target`, `${JSON.stringify(r.target)} is not a target of scenario ${s.id}`);
    if (!Number.isInteger(r.round) || r.round < 1) bad(`${p}.round`, 'expected an integer ≥ 1');
    for (const k of Object.keys(doc.metrics)) if (k in r && !isNumOrNull(r[k])) bad(`${p}.${k}`, `expected a number or null, got ${JSON.stringify(r[k])}`);
    for (const pn of s.panels) if (pn.groupBy && !(pn.groupBy in r)) bad(`${p}.${pn.groupBy}`, `missing (panel "${pn.title}" groups by it)`);
    seen.add(s.id);
  });
  for (const s of doc.scenarios) if (!seen.has(s.id)) bad(`scenarios (${s.id})`, 'no runs of this scenario');
  if (doc.summaries !== undefined) {
    if (!Array.isArray(doc.summaries)) bad('summaries', 'expected an array');
    doc.summaries.forEach((c, i) => {
      const p = `summaries[${i}]`;
      if (!isObj(c) || !isStr(c.id) || !isStr(c.title) || !Array.isArray(c.groups)) bad(p, 'expected {id, title, metric, groups}');
      metric(`${p}.metric`, c.metric);
      c.groups.forEach((g, j) => {
        if (!isObj(g) || typeof g.label !== 'string' || !Array.isArray(g.bars)) bad(`${p}.groups[${j}]`, 'expected {label, bars}');
        g.bars.forEach((b, k) => {
          if (!isObj(b) || !targetIds.has(b.target)) bad(`${p}.groups[${j}].bars[${k}].target`, `unknown target ${JSON.stringify(b?.target)}`);
          if (!isNumOrNull(b.value)) bad(`${p}.groups[${j}].bars[${k}].value`, 'expected a number or null');
        });
      });
    });
  }
  return doc;
}

/** Reads and checks one report file; throws an Error naming the file when it is not one. */
export function readReport(file) {
  const where = path.relative(ROOT, path.resolve(file)) || file;
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ReportError(`${where}: cannot read it (${e.code ?? e.message})`);
  }
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ReportError(`${where}: not valid JSON (${e.message})`);
  }
  return validateReport(doc, where);
}

/** The report files named: files as given, directories → their *.json files. */
export function reportFiles(inputs) {
  return inputs.flatMap((p) => {
    let st;
    try {
      st = fs.statSync(p);
    } catch {
      throw new ReportError(`${p}: no such file or directory (reports are written by npm run bench, or by bench:http, bench:mqtt and bench:ws)`);
    }
    if (!st.isDirectory()) return [p];
    return fs
      .readdirSync(p)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => path.join(p, f));
  });
}

const benchRank = (b) => (ORDER.includes(b) ? ORDER.indexOf(b) : ORDER.length);
/** Reports in the report's order (http, mqtt, ws, then by name); two reports of one benchmark are an error. */
export function sortReports(docs) {
  const names = new Set();
  for (const d of docs) {
    if (names.has(d.bench)) throw new ReportError(`two reports of benchmark ${JSON.stringify(d.bench)}: give one file per benchmark`);
    names.add(d.bench);
  }
  return [...docs].sort((a, b) => benchRank(a.bench) - benchRank(b.bench) || a.bench.localeCompare(b.bench));
}

// ------------------------------------------------------------------------------- formatting
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
/** Markdown-ish fact line → HTML: `code` spans, ** bold **, the rest escaped. */
const inline = (s) =>
  esc(s)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');

/** A figure in full: thousands separators, 2 decimals below 10, 1 below 100; `digits` decimals when given (a metric's `digits`). */
export function full(x, digits) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  if (Number.isInteger(digits)) return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const a = Math.abs(x);
  if (a >= 100) return Math.round(x).toLocaleString('en-US');
  return x.toFixed(a >= 10 ? 1 : 2);
}

/** A figure short enough to print on a bar: 53.5k, 2.01M, 5.50 (`digits`: as full()). */
export function compact(x, digits) {
  if (x === null || x === undefined || !Number.isFinite(x)) return 'n/a';
  if (Number.isInteger(digits)) return full(x, digits);
  const a = Math.abs(x);
  if (a >= 1e6) return `${(x / 1e6).toFixed(a >= 1e8 ? 0 : a >= 1e7 ? 1 : 2)}M`;
  if (a >= 1e4) return `${(x / 1e3).toFixed(a >= 1e5 ? 0 : 1)}k`;
  return full(x);
}

/** A group's value (e.g. a rate): integers as they are, with thousands separators. */
const groupText = (v) => (typeof v !== 'number' ? String(v) : Number.isInteger(v) ? v.toLocaleString('en-US') : full(v));
const colHead = (m) => (m.unit && m.unit !== m.label ? `${m.label} (${m.unit})` : m.label);
const ratioText = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '—');
const withUnit = (m, text) => (m.unit === '%' ? `${text} %` : m.unit ? `${text} ${m.unit}` : text);

// ------------------------------------------------------------------------------------ styles
/** Colours (distinct in hue and lightness) and fill patterns, by the target's position in the report. */
const STYLES = [
  { color: '#1f5fa8', pattern: 'solid', name: 'solid' },
  { color: '#e08a1e', pattern: 'diagonal', name: 'diagonal stripes' },
  { color: '#8a8a8a', pattern: 'cross', name: 'cross-hatched' },
  { color: '#2f8a57', pattern: 'horizontal', name: 'horizontal stripes' },
  { color: '#8e4fb0', pattern: 'dots', name: 'dotted' },
  { color: '#b03a48', pattern: 'vertical', name: 'vertical stripes' },
];
const styleOf = (i) => STYLES[i % STYLES.length];

/** <pattern> definitions of one SVG, ids prefixed (several SVGs share the document). */
function patternDefs(idp) {
  const line = (d) => `<path d="${d}" stroke="#fff" stroke-width="2" stroke-opacity="0.85"/>`;
  const marks = {
    solid: '',
    diagonal: line('M-2,2 l4,-4 M0,8 l8,-8 M6,10 l4,-4'),
    cross: line('M-2,2 l4,-4 M0,8 l8,-8 M6,10 l4,-4') + line('M-2,6 l4,4 M0,0 l8,8 M6,-2 l4,4'),
    horizontal: line('M0,2 h8 M0,6 h8'),
    vertical: line('M2,0 v8 M6,0 v8'),
    dots: '<circle cx="2" cy="2" r="1.3" fill="#fff" fill-opacity="0.9"/><circle cx="6" cy="6" r="1.3" fill="#fff" fill-opacity="0.9"/>',
  };
  return `<defs>${STYLES.map((s, i) => `<pattern id="${idp}p${i}" width="8" height="8" patternUnits="userSpaceOnUse"><rect width="8" height="8" fill="${s.color}"/>${marks[s.pattern]}</pattern>`).join('')}</defs>`;
}

// ------------------------------------------------------------------------------------ charts
/** Axis end and tick step: 0 … a round number ≥ max plus room for the labels above the bars. */
function axis(max) {
  const top = max > 0 ? max * 1.15 : 1;
  const raw = top / 5;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  const step = (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p;
  return { end: Math.ceil(top / step) * step, step };
}

/** A tick of the value axis: compact for large values, else as many decimals as the step needs. */
function tickText(v, step, end) {
  if (v === 0) return '0';
  const [div, suffix] = end >= 1e6 ? [1e6, 'M'] : end >= 1e4 ? [1e3, 'k'] : [1, ''];
  const decimals = (String(Number((step / div).toPrecision(3))).split('.')[1] ?? '').length;
  const d = Math.min(3, decimals);
  return `${(v / div).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d })}${suffix}`;
}

const PANEL_W = 430;
const PANEL_H = 300;
const LEGEND_H = 30;

/**
 * One panel of bars: groups side by side, in each the bars of the targets (styleIndex), the median
 * as the bar, min–max as a whisker, the figure above it. `refLine`: a dashed line at that value;
 * `xLabel`: a title under the group labels (what the groups are values of).
 * @returns {string} SVG elements
 */
function panelSvg({ x0, y0, idp, title, metric, groups, refLine, xLabel, fmt = compact }) {
  const left = x0 + 66;
  const right = x0 + PANEL_W - 12;
  const top = y0 + 34;
  const bottom = y0 + PANEL_H - 46;
  // the axis fits the bars and the whiskers, unless a whisker reaches beyond twice the highest bar
  // (one slow round): then it is cut at the top of the axis, with an arrow and its figure
  const medians = Math.max(0, ...groups.flatMap((g) => g.bars.map((b) => b.value)).filter(Number.isFinite), refLine ?? 0);
  const highs = Math.max(0, ...groups.flatMap((g) => g.bars.map((b) => b.max)).filter(Number.isFinite));
  const { end, step } = axis(highs <= 2 * medians || medians === 0 ? Math.max(medians, highs) : medians * 1.15);
  const y = (v) => bottom - ((bottom - top) * v) / end;
  const out = [];
  out.push(`<text x="${x0 + PANEL_W / 2}" y="${y0 + 16}" class="pt" text-anchor="middle">${esc(title)}</text>`);
  for (let v = 0; v <= end + step / 1e6; v += step) {
    out.push(`<line x1="${left}" x2="${right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" class="${v === 0 ? 'ax' : 'grid'}"/>`);
    out.push(`<text x="${left - 6}" y="${(y(v) + 3.5).toFixed(1)}" class="tick" text-anchor="end">${esc(tickText(v, step, end))}</text>`);
  }
  const axisLabel = `${metric.unit || metric.label}, ${metric.better} is better`;
  out.push(`<text transform="translate(${x0 + 14},${(top + bottom) / 2}) rotate(-90)" class="al" text-anchor="middle">${esc(axisLabel)}</text>`);
  const gw = (right - left) / Math.max(1, groups.length);
  groups.forEach((g, gi) => {
    const n = Math.max(1, g.bars.length);
    const slot = Math.min(n === 1 ? 90 : 110, (gw * 0.86) / n);
    // the targets' names under their bars when all of them fit, else the legend says them
    const named = g.bars.every((b) => b.label && b.label.length * 6.4 <= slot);
    const bw = Math.min(46, slot * 0.78);
    const gx = left + gw * gi + (gw - slot * n) / 2;
    g.bars.forEach((b, bi) => {
      const cx = gx + slot * (bi + 0.5);
      const bx = (cx - bw / 2).toFixed(1);
      if (Number.isFinite(b.value)) {
        const h = Math.max(0.5, bottom - y(b.value));
        out.push(`<rect x="${bx}" y="${(bottom - h).toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="url(#${idp}p${b.style})" stroke="#222" stroke-width="0.8"><title>${esc(b.tip)}</title></rect>`);
        let labelY = y(b.value) - 5;
        if (Number.isFinite(b.min) && Number.isFinite(b.max) && b.max > b.min) {
          const ya = y(b.min);
          if (b.max <= end) {
            const yb = y(b.max);
            out.push(`<path d="M${cx.toFixed(1)},${ya.toFixed(1)} V${yb.toFixed(1)} M${(cx - 5).toFixed(1)},${ya.toFixed(1)} h10 M${(cx - 5).toFixed(1)},${yb.toFixed(1)} h10" class="wh"/>`);
            labelY = Math.min(labelY, yb - 5);
          } else {
            out.push(`<path d="M${cx.toFixed(1)},${ya.toFixed(1)} V${top + 6} M${(cx - 5).toFixed(1)},${ya.toFixed(1)} h10" class="wh"/>`);
            out.push(`<path d="M${(cx - 4).toFixed(1)},${top + 7} L${cx.toFixed(1)},${top - 1} L${(cx + 4).toFixed(1)},${top + 7} Z" class="arrow"/>`);
            const cut = `highest round ${fmt(b.max)}`;
            const leftOf = cx + 8 + cut.length * 5.6 > x0 + PANEL_W;
            out.push(`<text x="${(leftOf ? cx - 7 : cx + 7).toFixed(1)}" y="${top + 6}" class="cut" text-anchor="${leftOf ? 'end' : 'start'}">${esc(cut)}</text>`);
          }
        }
        out.push(`<text x="${cx.toFixed(1)}" y="${labelY.toFixed(1)}" class="val" text-anchor="middle">${esc(fmt(b.value))}</text>`);
      } else {
        out.push(`<text x="${cx.toFixed(1)}" y="${bottom - 5}" class="na" text-anchor="middle">${esc(b.missing ?? 'n/a')}</text>`);
      }
      if (named) out.push(`<text x="${cx.toFixed(1)}" y="${bottom + 13}" class="bl" text-anchor="middle">${esc(b.label)}</text>`);
    });
    out.push(`<text x="${(left + gw * (gi + 0.5)).toFixed(1)}" y="${bottom + (named ? 30 : 16)}" class="gl" text-anchor="middle">${esc(g.label)}</text>`);
    if (g.sub) out.push(`<text x="${(left + gw * (gi + 0.5)).toFixed(1)}" y="${bottom + (named ? 42 : 28)}" class="gs" text-anchor="middle">${esc(g.sub)}</text>`);
  });
  if (xLabel) out.push(`<text x="${((left + right) / 2).toFixed(1)}" y="${bottom + 34}" class="al" text-anchor="middle">${esc(xLabel)}</text>`);
  if (Number.isFinite(refLine) && refLine <= end) {
    out.push(`<line x1="${left}" x2="${right}" y1="${y(refLine).toFixed(1)}" y2="${y(refLine).toFixed(1)}" class="ref"/>`);
    out.push(`<text x="${right}" y="${(y(refLine) - 4).toFixed(1)}" class="tick" text-anchor="end">${esc(fmt(refLine))}</text>`);
  }
  return out.join('');
}

let chartSeq = 0;

/**
 * A <figure> holding one SVG: the legend (targets with their colour and pattern) over the panels.
 * @param {object} o
 * @param {string} o.key data-chart attribute (scenario id, or the summary's id)
 * @param {string} o.title figure caption heading and SVG <title>
 * @param {string} o.desc the figures in words (SVG <desc>, for screen readers)
 * @param {{index: number, label: string}[]} o.legend targets shown
 * @param {object[]} o.panels arguments of panelSvg() without x0/y0/idp
 * @param {string} o.notes HTML under the chart
 */
function figure({ key, title, desc, legend, panels, notes }) {
  const idp = `c${++chartSeq}`;
  const width = Math.max(PANEL_W * panels.length, 320);
  const height = LEGEND_H + PANEL_H;
  let lx = 10;
  const leg = legend
    .map((t) => {
      const s = `<rect x="${lx}" y="8" width="16" height="14" fill="url(#${idp}p${t.index})" stroke="#222" stroke-width="0.8"/><text x="${lx + 21}" y="19" class="lg">${esc(t.label)}</text>`;
      lx += 21 + t.label.length * 7.4 + 18;
      return s;
    })
    .join('');
  const body = panels.map((p, i) => panelSvg({ ...p, x0: i * PANEL_W, y0: LEGEND_H, idp })).join('');
  return [
    `<figure class="chart" data-chart="${esc(key)}">`,
    `<figcaption>${esc(title)}</figcaption>`,
    `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-labelledby="${idp}t ${idp}d">`,
    `<title id="${idp}t">${esc(title)}</title><desc id="${idp}d">${esc(desc)}</desc>`,
    patternDefs(idp),
    leg,
    body,
    '</svg>',
    notes,
    '</figure>',
  ].join('\n');
}

// ------------------------------------------------------------------------- figures of a report
function stats(rs, key) {
  const xs = rs.map((r) => r[key]).filter((x) => typeof x === 'number' && Number.isFinite(x));
  return { value: median(xs), min: xs.length ? Math.min(...xs) : NaN, max: xs.length ? Math.max(...xs) : NaN, n: xs.length };
}

const sortGroups = (xs) => [...new Set(xs)].sort((a, b) => (typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b))));
const rangeText = (st, d) => (st.n > 1 ? ` (${full(st.min, d)}–${full(st.max, d)})` : '');

/** The chart of one scenario, its ratio line and its figures table. */
function scenarioFigure(doc, s) {
  const tIndex = new Map(doc.targets.map((t, i) => [t.id, i]));
  const tById = new Map(doc.targets.map((t) => [t.id, t]));
  const runsOf = (t) => doc.runs.filter((r) => r.scenario === s.id && r.target === t);
  const targets = s.targets.filter((t) => runsOf(t).length);
  const rounds = new Set(doc.runs.filter((r) => r.scenario === s.id).map((r) => r.round)).size;
  const descParts = [];
  const tableRows = [];
  const panels = s.panels.map((pn) => {
    const metrics = pn.metrics.map((k) => doc.metrics[k]);
    const bar = (t, rs, k, where) => {
      const st = stats(rs, k);
      const m = doc.metrics[k];
      const label = tById.get(t).label;
      if (st.n) descParts.push(`${label}${where ? ` ${where}` : ''}, ${m.label}: ${withUnit(m, full(st.value, m.digits))}${rangeText(st, m.digits)}`);
      return { style: tIndex.get(t), label, ...st, tip: `${label}: ${m.label} ${withUnit(m, full(st.value, m.digits))}${st.n > 1 ? `, rounds ${full(st.min, m.digits)}–${full(st.max, m.digits)}` : ''}` };
    };
    let groups;
    if (pn.groupBy) {
      const k = pn.metrics[0];
      const values = sortGroups(doc.runs.filter((r) => r.scenario === s.id).map((r) => r[pn.groupBy]));
      groups = values.map((v) => ({
        label: groupText(v),
        bars: targets.filter((t) => runsOf(t).some((r) => r[pn.groupBy] === v)).map((t) => bar(t, runsOf(t).filter((r) => r[pn.groupBy] === v), k, `at ${groupText(v)}${pn.groupLabel ? ` ${pn.groupLabel}` : ''}`)),
      }));
    } else {
      groups = pn.metrics.map((k) => ({ label: doc.metrics[k].label, bars: targets.map((t) => bar(t, runsOf(t), k)) }));
    }
    return { title: pn.title, metric: metrics[0], groups, xLabel: pn.groupBy ? (pn.axisLabel ?? pn.groupLabel ?? pn.groupBy) : undefined, fmt: (x) => compact(x, metrics[0].digits) };
  });

  // the figures table: one row per target (and group value), one column per metric
  const groupBy = s.panels.find((p) => p.groupBy)?.groupBy;
  const cols = [...new Set([...s.panels.flatMap((p) => p.metrics), ...(s.details ?? [])])];
  const keys = groupBy ? sortGroups(doc.runs.filter((r) => r.scenario === s.id).map((r) => r[groupBy])) : [undefined];
  for (const g of keys) {
    for (const t of targets) {
      const rs = runsOf(t).filter((r) => g === undefined || r[groupBy] === g);
      if (!rs.length) continue;
      const failed = rs.filter((r) => r.ok === false).length;
      tableRows.push(
        `<tr>${g === undefined ? '' : `<td>${esc(groupText(g))}</td>`}<th scope="row">${esc(tById.get(t).label)}</th>${cols
          .map((k) => {
            const st = stats(rs, k);
            const d = doc.metrics[k].digits;
            return `<td>${esc(full(st.value, d))}${st.n > 1 ? `<br><small>${esc(full(st.min, d))}–${esc(full(st.max, d))}</small>` : ''}</td>`;
          })
          .join('')}<td>${rs.length}${failed ? ` (${failed} failed a check)` : ''}</td></tr>`,
      );
    }
  }
  const groupHead = groupBy ? `<th scope="col">${esc(s.panels.find((p) => p.groupBy).groupLabel ?? groupBy)}</th>` : '';
  const table = `<details><summary>Figures (median, lowest–highest round)</summary><table><thead><tr>${groupHead}<th scope="col">target</th>${cols.map((k) => `<th scope="col">${esc(colHead(doc.metrics[k]))}</th>`).join('')}<th scope="col">runs</th></tr></thead><tbody>${tableRows.join('')}</tbody></table></details>`;

  // ratios of the subject to every other target, per round then median: over the scenario's runs
  // (panels without groups), or per group value (panels grouped by e.g. the rate)
  const subject = s.subject ?? s.targets[0];
  const ratioKeys = s.panels.filter((p) => !p.groupBy).flatMap((p) => p.metrics);
  const groupedKeys = s.panels.filter((p) => p.groupBy).flatMap((p) => p.metrics);
  const ratioItem = (t, runs, ks, where) => {
    const parts = ks.map((k) => [k, perRoundRatio(runs, s.id, subject, t, k)]).filter(([, x]) => Number.isFinite(x));
    return parts.length ? `<li>${esc(tById.get(subject).label)} / ${esc(tById.get(t).label)}${where}: ${parts.map(([k, x]) => `${esc(doc.metrics[k].label)} <strong>${ratioText(x)}</strong>`).join(', ')}</li>` : '';
  };
  const others = targets.filter((t) => t !== subject && runsOf(subject).length);
  const ratioLines = [
    ...others.map((t) => ratioItem(t, doc.runs, ratioKeys, '')),
    ...(groupBy && groupedKeys.length
      ? keys.flatMap((g) => others.map((t) => ratioItem(t, doc.runs.filter((r) => r[groupBy] === g), groupedKeys, ` at ${groupText(g)}${s.panels.find((p) => p.groupBy).groupLabel ? ` ${s.panels.find((p) => p.groupBy).groupLabel}` : ''}`)))
      : []),
  ].filter(Boolean);
  const ratioMetrics = [...ratioKeys, ...(groupBy ? groupedKeys : [])];
  const failed = doc.runs.filter((r) => r.scenario === s.id && r.ok === false).length;
  const notes = [
    `<p class="note">Bars: median over ${rounds} round${rounds === 1 ? '' : 's'}${rounds > 1 ? '; whiskers: lowest and highest round (one far above the bars is cut at the top with an arrow and its figure)' : ''}.${failed ? ` <strong>${failed} run(s) failed a check</strong> (see RESULTS.md).` : ''}</p>`,
    ratioLines.length ? `<p class="note">Ratios, per round then median (${ratioMetrics.map((k) => `${doc.metrics[k].label}: ${doc.metrics[k].better} is better`).join('; ')}):</p><ul class="ratios">${ratioLines.join('')}</ul>` : '',
    table,
  ].join('\n');
  return figure({
    key: s.id,
    title: `${s.id}: ${s.label}`,
    desc: `${doc.title}, scenario ${s.id} (${s.label}). ${descParts.join('; ')}.`,
    legend: targets.map((t) => ({ index: tIndex.get(t), label: tById.get(t).label })),
    panels,
    notes,
  });
}

/** Throughput ratio of each scenario's subject to its other targets, one chart for the benchmark (null when none). */
function overviewFigure(doc) {
  const tIndex = new Map(doc.targets.map((t, i) => [t.id, i]));
  const tById = new Map(doc.targets.map((t) => [t.id, t]));
  const groups = [];
  const desc = [];
  const shown = new Set();
  const subjects = new Set();
  for (const s of doc.scenarios) {
    const pn = s.panels[0];
    const k = pn.metrics[0];
    if (pn.groupBy || doc.metrics[k].better !== 'higher') continue;
    const subject = s.subject ?? s.targets[0];
    const others = s.targets.filter((t) => t !== subject && doc.runs.some((r) => r.scenario === s.id && r.target === t));
    if (!others.length) continue;
    const bars = others.map((t) => {
      const x = perRoundRatio(doc.runs, s.id, subject, t, k);
      shown.add(t);
      desc.push(`${s.id}: ${tById.get(subject).label} / ${tById.get(t).label} ${ratioText(x)}`);
      return { style: tIndex.get(t), label: tById.get(t).label, value: x, min: NaN, max: NaN, tip: `${s.id}: ${tById.get(subject).label} / ${tById.get(t).label} = ${ratioText(x)} (${doc.metrics[k].label})`, missing: '—' };
    });
    subjects.add(tById.get(subject).label);
    groups.push({ label: s.id, sub: doc.metrics[k].label, bars });
  }
  if (groups.length < 2) return null; // one scenario: its own chart says it
  const metric = { label: 'ratio', unit: '× (1× = same)', better: 'higher' };
  const panels = [];
  // split long overviews over several panels of at most 4 groups
  for (let i = 0; i < groups.length; i += 4) panels.push({ title: i === 0 ? `${[...subjects].join(', ')} ÷ each other target` : '(continued)', metric, groups: groups.slice(i, i + 4), refLine: 1, fmt: ratioText });
  return figure({
    key: `${doc.bench}-overview`,
    title: `Overview: ${[...subjects].join(', ')} ÷ each target beside it, throughput per scenario (per round, then median)`,
    desc: `${doc.title}, throughput ratios: ${desc.join('; ')}.`,
    legend: [...shown].map((t) => ({ index: tIndex.get(t), label: `÷ ${tById.get(t).label}` })),
    panels,
    notes: '<p class="note">Above the dashed 1× line the first-named target moves more per second than the one of that bar.</p>',
  });
}

/** A chart the benchmark summarised itself (e.g. the fan-out headline per subscriber count). */
function summaryFigure(doc, c) {
  const tIndex = new Map(doc.targets.map((t, i) => [t.id, i]));
  const tById = new Map(doc.targets.map((t) => [t.id, t]));
  const m = doc.metrics[c.metric];
  const used = new Set();
  const desc = [];
  const groups = c.groups.map((g) => ({
    label: g.label,
    sub: g.sub,
    bars: g.bars.map((b) => {
      used.add(b.target);
      const label = tById.get(b.target).label;
      desc.push(`${g.label}, ${label}: ${b.value === null ? 'none' : withUnit(m, full(b.value, m.digits))}${b.note ? ` (${b.note})` : ''}`);
      return { style: tIndex.get(b.target), label, value: b.value ?? NaN, min: NaN, max: NaN, tip: `${g.label}, ${label}: ${withUnit(m, full(b.value, m.digits))}${b.note ? `, ${b.note}` : ''}`, missing: 'none' };
    }),
  }));
  const noteItems = c.groups.flatMap((g) => g.bars.filter((b) => b.note).map((b) => `<li>${esc(g.label)}, ${esc(tById.get(b.target).label)}: ${b.value === null ? 'none' : `<strong>${esc(withUnit(m, full(b.value, m.digits)))}</strong>`} — ${inline(b.note)}</li>`));
  return figure({
    key: c.id,
    title: c.title,
    desc: `${doc.title}: ${c.title}. ${desc.join('; ')}.`,
    legend: [...used].map((t) => ({ index: tIndex.get(t), label: tById.get(t).label })),
    panels: [{ title: m.label, metric: m, groups, fmt: (x) => compact(x, m.digits) }],
    notes: [c.note ? `<p class="note">${inline(c.note)}</p>` : '', noteItems.length ? `<ul class="ratios">${noteItems.join('')}</ul>` : ''].join('\n'),
  });
}

function reportSection(doc) {
  const targets = doc.targets
    .filter((t) => doc.scenarios.some((s) => s.targets.includes(t.id)))
    .map((t) => `<li><span class="sw">${esc(styleOf(doc.targets.indexOf(t)).name)}</span> <strong>${esc(t.label)}</strong>${t.role ? ` (${esc(t.role)})` : ''}${t.what ? `: ${inline(t.what)}` : ''}</li>`)
    .join('');
  const overview = overviewFigure(doc);
  return [
    `<section id="${esc(doc.bench)}">`,
    `<h2>${esc(doc.title)}</h2>`,
    doc.quick ? '<p class="warn">QUICK smoke run (1 round × 3 s): not representative.</p>' : '',
    `<p class="facts">Run ${esc(doc.startedAt)} → ${esc(doc.finishedAt)}; command <code>${esc(doc.command)}</code>; ${esc(doc.machine?.nproc ?? '?')} cores, ${esc(doc.machine?.cpu ?? 'unknown CPU')}, ${esc(doc.machine?.memGiB ?? '?')} GiB RAM, ${esc(doc.machine?.kernel ?? '')}, node ${esc(doc.machine?.node ?? '?')}.</p>`,
    `<details><summary>Run facts (as in bench/RESULTS.md)</summary><ul>${doc.facts.map((f) => `<li>${inline(f)}</li>`).join('')}</ul></details>`,
    `<p>Targets (fill pattern in the charts):</p><ul class="targets">${targets}</ul>`,
    overview ?? '',
    ...(doc.summaries ?? []).map((c) => summaryFigure(doc, c)),
    ...doc.scenarios.map((s) => scenarioFigure(doc, s)),
    '</section>',
  ].join('\n');
}

const CSS = `
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111;background:#fff;margin:0 auto;max-width:1100px;padding:1rem 1.5rem 3rem}
h1{font-size:1.6rem;margin:.5rem 0}h2{font-size:1.3rem;border-bottom:2px solid #1f5fa8;padding-bottom:.2rem;margin-top:2.5rem}
code{font:13px ui-monospace,Menlo,Consolas,monospace;background:#f2f2f2;padding:0 .2em;word-break:break-word}
figure.chart{margin:1.5rem 0;padding:.75rem;border:1px solid #ccc;border-radius:4px;overflow-x:auto}
figcaption{font-weight:600;margin-bottom:.3rem}svg{max-width:100%;height:auto;display:block}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;fill:#111}
.pt{font-size:13px;font-weight:600}.tick{font-size:10px;fill:#444}.al{font-size:11px;fill:#333}.val{font-size:11px;font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
.cut{font-size:10px;font-style:italic;paint-order:stroke;stroke:#fff;stroke-width:3px}.arrow{fill:#111}
.gl{font-size:11.5px;font-weight:600}.gs,.bl{font-size:10px;fill:#333}.lg{font-size:12px}.na{font-size:10px;fill:#555;font-style:italic}
.grid{stroke:#e3e3e3;stroke-width:1}.ax{stroke:#333;stroke-width:1.2}.wh{stroke:#111;stroke-width:1.3;fill:none}.ref{stroke:#111;stroke-width:1.2;stroke-dasharray:5 4}
.note{font-size:13px;color:#333;margin:.4rem 0}.ratios{font-size:13px;margin:.2rem 0 .5rem}.warn{background:#fff3cd;border:1px solid #d6b656;padding:.4rem .6rem}
.facts{font-size:14px}.sw{display:inline-block;min-width:9.5em;font-size:12px;color:#444}
table{border-collapse:collapse;font-size:13px;margin:.4rem 0}th,td{border:1px solid #ccc;padding:.2rem .45rem;text-align:right;vertical-align:top}th[scope=row],thead th{text-align:left}
small{color:#555}details{margin:.3rem 0}summary{cursor:pointer;font-size:13px}nav ul{columns:2}
@media print{figure.chart{break-inside:avoid}details{display:block}}
`;

/**
 * The whole HTML document of the given reports (validated, any order). Deterministic: the same
 * reports give the same bytes (no build time in it).
 */
export function renderHtml(docs) {
  chartSeq = 0;
  const sorted = sortReports(docs);
  const sections = sorted.map(reportSection);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>neurobuild-ingest benchmark report</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>neurobuild-ingest benchmark report</h1>
<p>Charts of the last full benchmark runs, drawn from <code>bench/reports/*.json</code> (written by the runs with the
tables of <code>bench/RESULTS.md</code>); rebuilt with <code>npm run bench:report</code>, rerun everything with
<code>npm run bench</code>. This file is self-contained: inline SVG, no script, nothing loaded from the network.</p>
<p class="note">Reading the charts: each target keeps its colour and fill pattern (named in the legend and the target list),
bars are medians over the rounds of a run, whiskers the lowest and highest round, the figure is printed above each bar,
and the figures are in the table under each chart. Everything ran on one shared machine with the load generator and Redis
beside the server: <strong>compare targets within one run only</strong>, not across runs or machines.</p>
<nav><ul>${sorted.map((d) => `<li><a href="#${esc(d.bench)}">${esc(d.title)}</a> — ${d.scenarios.length} scenario(s), ${esc(d.startedAt.slice(0, 16).replace('T', ' '))} UTC${d.quick ? ' (quick)' : ''}</li>`).join('')}</ul></nav>
</header>
${sections.join('\n')}
</body>
</html>
`;
}

/**
 * Reads the reports named by `inputs` (files or directories) and writes the HTML to `out`.
 * @returns {{out: string, files: string[], docs: object[]}}
 */
export function buildReport({ inputs = [REPORTS_DIR], out = path.join(REPORTS_DIR, 'index.html') } = {}) {
  const files = reportFiles(inputs);
  if (!files.length) throw new ReportError(`no report JSON in ${inputs.join(', ')}: run npm run bench (or bench:http, bench:mqtt, bench:ws) first`);
  const docs = files.map(readReport);
  const html = renderHtml(docs);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, html);
  return { out, files, docs: sortReports(docs) };
}

function main(argv) {
  const inputs = [];
  let out;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') out = argv[++i];
    else if (argv[i] === '-h' || argv[i] === '--help') {
      console.log('usage: node bench/lib/html-report.mjs [--out <file.html>] [<report.json or directory> ...]\ndefaults: bench/reports/ → bench/reports/index.html');
      return;
    } else inputs.push(argv[i]);
  }
  if (argv.includes('--out') && !out) throw new ReportError('--out needs a file name');
  const r = buildReport({ inputs: inputs.length ? inputs : undefined, out });
  const rel = (f) => {
    const r = path.relative(process.cwd(), path.resolve(f));
    return r && !r.startsWith('..') ? r : path.resolve(f);
  };
  console.log(`bench:report: wrote ${rel(r.out)} from ${r.files.map(rel).join(', ')} (${r.docs.map((d) => `${d.bench}: ${d.scenarios.length} scenario(s)${d.quick ? ', QUICK' : ''}`).join('; ')})`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    console.error(`bench:report: ${e instanceof ReportError ? e.message : (e?.stack ?? e)}`);
    process.exit(1);
  }
}
