// Number formatting and tables: aligned plain-text tables for the console, Markdown tables for
// RESULTS.md. A table is an array of rows (first row = header) of cells; the first two columns
// are labels (left-aligned), the others figures (right-aligned).

/** Rounded integer with thousands separators, or — when not finite. */
export const int = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
/** Milliseconds: 2 decimals below 10, else 1; — when not finite. */
export const ms = (x) => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : '—');
/** Ratio as "1.23×", or — when not finite. */
export const ratio = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '—');

/** Plain-text table, columns separated by two spaces. */
export function textTable(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => (i < 2 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')).join('\n');
}

/** Markdown table. */
export function mdTable(rows) {
  const [head, ...body] = rows;
  return [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}
