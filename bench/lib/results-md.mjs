// bench/RESULTS.md: rendering a benchmark's section (facts, medians, ratios, raw figures,
// server logs) and splicing it between the benchmark's start/end markers, leaving the rest alone.
import fs from 'node:fs';
import { mdTable } from './tables.mjs';

const DEFAULT_HEADER = '# Benchmark results\n\nSections are written by the benchmark scripts under bench/; see bench/README.md.\n';

/**
 * The Markdown of one section.
 * @param {object} o
 * @param {string} o.title heading line, e.g. "## HTTP (bench/http)"
 * @param {string[]} o.facts bullet points (date, machine, software, command, settings, caveat)
 * @param {string[]} o.mediansNote lines explaining the medians table
 * @param {{medians: Array[], ratios: Array[], raw: Array[]}} o.tables rows (see report.mjs)
 * @param {string} o.rawNote line after the raw table, e.g. the last load-generator command
 * @param {{run: string, lines: string[]}[]} o.logFindings from reportServerHealth()
 */
export function renderSection({ title, facts, mediansNote, tables, rawNote, logFindings }) {
  return [
    title,
    '',
    ...facts.map((f) => `- ${f}`),
    '',
    '### Medians over rounds',
    '',
    ...mediansNote,
    '',
    mdTable(tables.medians),
    '',
    '### Ratios ours / baseline (per round, then median)',
    '',
    'Throughput: above 1× means ours is faster. Latency: below 1× means ours answers sooner.',
    '',
    mdTable(tables.ratios),
    '',
    '### Per-round raw figures',
    '',
    mdTable(tables.raw),
    '',
    rawNote,
    '',
    '### Server logs',
    '',
    logFindings.length
      ? logFindings.map((f) => `- ${f.run}: ${f.lines.length} line(s), first: \`${f.lines[0].replaceAll('`', "'")}\``).join('\n')
      : '- nothing at warn level or above (LOG_LEVEL=warn), no non-JSON output, every server stopped cleanly.',
  ].join('\n');
}

/**
 * Replaces the text from `start` to `end` (markers included) in `file` with the markers around
 * `section`; appends the block when the markers are missing, creates the file when absent.
 */
export function writeSection(file, start, end, section) {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    text = DEFAULT_HEADER;
  }
  const block = `${start}\n${section.trim()}\n${end}`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a !== -1 && b > a) text = text.slice(0, a) + block + text.slice(b + end.length);
  else text = `${text.trimEnd()}\n\n${block}\n`;
  fs.writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
}
