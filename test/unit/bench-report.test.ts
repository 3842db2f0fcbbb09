/**
 * The benchmark report generator (bench/lib/html-report.mjs): from small fixture reports
 * (test/fixtures/bench-report/*.json) it builds one self-contained HTML file with one chart per
 * scenario carrying the fixture's figures, and it stops with a message naming the file on a
 * malformed report. The committed bench/reports/ must be valid and index.html up to date.
 */
import { describe, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildReport, readReport, renderHtml } from '../../bench/lib/html-report.mjs';

const ROOT = resolve(import.meta.dir, '../..');
const FIXTURES = join(ROOT, 'test/fixtures/bench-report');
const GENERATOR = join(ROOT, 'bench/lib/html-report.mjs');

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'nb-bench-report-test-'));
}

/** The <figure class="chart"> elements of the page, by their data-chart key (a scenario id or summary id). */
function charts(html: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of html.matchAll(/<figure class="chart" data-chart="([^"]+)">([\s\S]*?)<\/figure>/g)) {
    const [, key, body] = m as unknown as [string, string, string];
    out.set(key, [...(out.get(key) ?? []), body]);
  }
  return out;
}

describe('bench report from fixture JSON', () => {
  const dir = tmp();
  const out = join(dir, 'index.html');
  const built = buildReport({ inputs: [FIXTURES], out });
  const html = readFileSync(out, 'utf8');
  const byKey = charts(html);
  const fixtureDocs = readdirSync(FIXTURES).map((f) => JSON.parse(readFileSync(join(FIXTURES, f), 'utf8')));
  rmSync(dir, { recursive: true, force: true });

  test('reads every fixture, in the order http, then ws', () => {
    expect(built.docs.map((d) => d.bench)).toEqual(['http', 'ws']);
  });

  test('is self-contained: nothing loaded from the network, no script', () => {
    expect(html).not.toMatch(/(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\//i);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(\s*["']?(?:https?:)?\/\//i);
    // every url(#…) reference (the fill patterns) names an element of the page
    for (const [, id] of html.matchAll(/url\(#([^)]+)\)/g)) expect(html).toContain(`id="${id}"`);
  });

  test('one chart per scenario, with a title, axis labels and a legend', () => {
    for (const doc of fixtureDocs) {
      for (const s of doc.scenarios) {
        const figs = byKey.get(s.id) ?? [];
        expect(figs.length).toBe(1);
        const fig = figs[0]!;
        expect(fig).toContain('role="img"');
        expect(fig).toContain(`<title id="`);
        expect(fig).toContain(s.label);
        for (const t of s.targets) expect(fig).toContain(doc.targets.find((x: { id: string }) => x.id === t).label);
      }
    }
    expect(byKey.get('single-c64')![0]).toContain('readings/s, higher is better');
    expect(byKey.get('single-c64')![0]).toContain('ms, lower is better');
  });

  test("charts print the fixture's figures: medians on the bars, lowest–highest round, per-round ratios", () => {
    const single = byKey.get('single-c64')![0]!;
    // ours 24,000 and 26,000 readings/s → median 25,000; baseline 4,000 both rounds
    expect(single).toContain('>25.0k<');
    expect(single).toContain('>4,000<');
    expect(single).toContain('25,000');
    expect(single).toContain('24,000–26,000');
    // ratios per round 6 and 6.5 → 6.25×; p50 2.5/16 and 2.25/15 → median 0.15×
    expect(single).toContain('readings/s <strong>6.25×</strong>');
    expect(single).toContain('p50 <strong>0.15×</strong>');
    expect(single).toContain('>2.38<'); // p50 median of 2.5 and 2.25
    const batch = byKey.get('batch100-c16')![0]!;
    expect(batch).toContain('>70.7k<');
    expect(batch).toContain('>25.4k<');
    expect(batch).toContain('1 run(s) failed a check');
    // fan-out: bars grouped per rate, one per flush setting
    const fan = byKey.get('fanout-c1000')![0]!;
    expect(fan).toContain('>2,000<');
    expect(fan).toContain('>readings/s<');
    expect(fan).toContain('>2.01M<');
    expect(fan).toContain('>1.99M<');
    expect(fan).toContain('99.95');
    expect(fan).toContain('WS_FLUSH_MS=5 / WS_FLUSH_MS=0 at 2,000 readings/s: delivered frames/s <strong>1.01×</strong>');
    // the slow-subscriber effect: 50,823 / 54,328
    expect(byKey.get('ingest-slow10')![0]).toContain('readings/s <strong>0.94×</strong>');
    // the summary chart the benchmark computed, and the overview of ratios across scenarios
    const head = byKey.get('ws-fanout-headline')![0]!;
    expect(head).toContain('>2.01M<');
    expect(head).toContain('none passed');
    expect(byKey.get('http-overview')![0]).toContain('>6.25×<');
  });

  test('shows the run facts and flags a quick run', () => {
    expect(html).toContain('2026-01-02T03:04:05.000Z');
    expect(html).toContain('<code>npm run bench:http</code>');
    expect(html).toContain('2 cores, Test CPU');
    expect(html).toContain('QUICK smoke run');
  });

  test('a whisker far above the bars is cut at the top of the axis, with its figure', () => {
    const docs = built.docs.map((d) => structuredClone(d));
    // a third round: the baseline's p99 4,000 ms there, its median stays 40 ms
    docs[0]!.runs.push(
      { round: 3, scenario: 'single-c64', target: 'ours', order: 1, ok: true, readingsPerSec: 25000, p50: 2.4, p99: 5.5 },
      { round: 3, scenario: 'single-c64', target: 'baseline', order: 2, ok: true, readingsPerSec: 4000, p50: 15.5, p99: 4000 },
    );
    const fig = charts(renderHtml(docs)).get('single-c64')![0]!;
    expect(fig).toContain('highest round 4,000');
    expect(fig).toContain('>40.0<'); // the bar: the median
    expect(fig).not.toMatch(/class="tick" text-anchor="end">\d,\d{3}</); // the axis stops near the bars, not at 4,000 ms
    expect(fig).toContain('class="arrow"');
  });

  test('the same reports give the same bytes', () => {
    expect(renderHtml(built.docs)).toBe(html);
  });
});

describe('malformed reports', () => {
  const good = () => JSON.parse(readFileSync(join(FIXTURES, 'http.json'), 'utf8'));

  test('not JSON: the error names the file', () => {
    const dir = tmp();
    try {
      writeFileSync(join(dir, 'http.json'), '{"format": "neurobuild-bench-report/1", "runs": [');
      expect(() => buildReport({ inputs: [dir], out: join(dir, 'index.html') })).toThrow(/http\.json: not valid JSON/);
      expect(existsSync(join(dir, 'index.html'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('wrong shape: the error says where and what', () => {
    const dir = tmp();
    try {
      const cases: [(d: any) => void, RegExp][] = [
        [(d) => (d.format = 'something/2'), /format: expected "neurobuild-bench-report\/1"/],
        [(d) => (d.runs[0].target = 'nope'), /runs\[0\]\.target: "nope" is not a target of scenario single-c64/],
        [(d) => (d.runs[1].readingsPerSec = '4000'), /runs\[1\]\.readingsPerSec: expected a number or null/],
        [(d) => (d.scenarios[0].panels[0].metrics = ['rps']), /scenarios\[0\]\.panels\[0\]\.metrics\[0\]: unknown metric "rps"/],
        [(d) => (d.runs = d.runs.filter((r: { scenario: string }) => r.scenario !== 'batch100-c16')), /batch100-c16.*no runs/],
      ];
      for (const [spoil, message] of cases) {
        const d = good();
        spoil(d);
        const f = join(dir, 'http.json');
        writeFileSync(f, JSON.stringify(d));
        expect(() => readReport(f)).toThrow(message);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the command line exits 1 with a one-line message', () => {
    const dir = tmp();
    try {
      writeFileSync(join(dir, 'mqtt.json'), 'not json at all');
      const r = spawnSync(process.env.NODE_BINARY ?? 'node', [GENERATOR, '--out', join(dir, 'index.html'), join(dir, 'mqtt.json')], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^bench:report: .*mqtt\.json: not valid JSON/);
      expect(r.stderr.trim().split('\n').length).toBe(1);
      expect(existsSync(join(dir, 'index.html'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('committed bench/reports', () => {
  const dir = join(ROOT, 'bench/reports');
  const jsons = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : [];

  test.skipIf(jsons.length === 0)('are valid and index.html is rebuilt from them (npm run bench:report)', () => {
    const docs = jsons.sort().map((f) => readReport(join(dir, f)));
    expect(readFileSync(join(dir, 'index.html'), 'utf8')).toBe(renderHtml(docs));
  });
});
