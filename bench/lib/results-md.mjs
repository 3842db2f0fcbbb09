// bench/RESULTS.md: the parts of a benchmark's section (title and facts, tables with notes), the
// whole section of an ours/baseline benchmark, and splicing a section between the benchmark's
// start/end markers, leaving the rest alone.
import fs from 'node:fs';
import { mdTable } from './tables.mjs';

const DEFAULT_HEADER = '# Benchmark results\n\nSections are written by the benchmark scripts under bench/; see bench/README.md.\n\nCharts: [bench/reports/index.html](reports/index.html), rebuilt by `npm run bench:report`.\n';

/** Lines opening a section: the "## …" title, then the facts as bullet points. */
export function sectionHead(title, facts) {
  return [title, '', ...facts.map((f) => `- ${f}`), ''];
}

/** Lines of a "### …" part: the heading, the note lines (if any), then the Markdown table of `rows`. */
export function tablePart(heading, notes, rows) {
  return [heading, '', ...(notes.length ? [...notes, ''] : []), mdTable(rows), ''];
}

/**
 * The Markdown of the section of an ours/baseline load benchmark (bench/http).
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
    ...sectionHead(title, facts),
    ...tablePart('### Medians over rounds', mediansNote, tables.medians),
    ...tablePart('### Ratios ours / baseline (per round, then median)', ['Throughput: above 1× means ours is faster. Latency: below 1× means ours answers sooner.'], tables.ratios),
    ...tablePart('### Per-round raw figures', [], tables.raw),
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
