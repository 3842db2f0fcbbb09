// Server logs of a benchmark run: the lines that deserve attention, and a one-line summary of
// them grouped by level and message.
import fs from 'node:fs';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
const LEVEL_NAMES = { 40: 'warn', 50: 'error', 60: 'fatal' };

/**
 * Lines of a server log that deserve attention. kind 'json' (pino): level warn and above, or
 * anything not JSON; kind 'text' (a server logging errors and warnings only): every line. Lines
 * matching one of the `ignore` patterns are skipped; lines over 400 characters are cut.
 */
export function scanLog(file, { kind = 'json', ignore = [] } = {}) {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const findings = [];
  for (const line of text.split('\n')) {
    if (!line.trim() || ignore.some((re) => re.test(line))) continue;
    let level;
    if (kind === 'json') {
      try {
        const o = JSON.parse(line);
        level = typeof o.level === 'number' ? o.level : LEVELS[o.level];
      } catch {
        level = undefined;
      }
    }
    if (level === undefined || level >= 40) findings.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
  }
  return findings;
}

/** "N line(s): 4× warn `msg`, 2× error `msg`" — JSON log lines grouped by level and message, other lines as they are. */
export function summarizeLines(lines) {
  const groups = new Map();
  for (const line of lines) {
    let key;
    try {
      const o = JSON.parse(line);
      key = `${LEVEL_NAMES[o.level] ?? o.level} \`${String(o.msg).replaceAll('`', "'")}\``;
    } catch {
      key = `\`${line.replaceAll('`', "'").slice(0, 200)}\``;
    }
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  return `${lines.length} line(s): ${[...groups].map(([k, n]) => `${n}× ${k}`).join(', ')}`;
}
