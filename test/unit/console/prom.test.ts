/**
 * The console's Prometheus arithmetic (src/console/prom.js, a browser script run here as is):
 * parsing the exposition, sums and groups, rates across counter resets, and the quantile of
 * the observations between two scrapes of a histogram.
 */
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// as a browser runs it: a classic script that defines globalThis.NbProm
new Function(readFileSync(join(import.meta.dir, '../../../src/console/prom.js'), 'utf8'))();

type Families = Record<string, { labels: Record<string, string>; value: number }[]>;
type Bucket = { le: number; count: number };
const P = (globalThis as unknown as {
  NbProm: {
    parse(text: string): Families;
    sum(f: Families, name: string, where?: Record<string, string> | ((l: Record<string, string>) => boolean)): number;
    by(f: Families, name: string, label: string): Record<string, number>;
    rate(prev: number | null | undefined, cur: number, seconds: number): number | null;
    buckets(f: Families, name: string, where: Record<string, string>): Bucket[];
    quantile(q: number, before: Bucket[] | null, after: Bucket[]): number | null;
  };
}).NbProm;

const TEXT = `# HELP sensor_data_ingested_total Readings accepted
# TYPE sensor_data_ingested_total counter
sensor_data_ingested_total{sensor_type="pir",transport="http"} 10
sensor_data_ingested_total{sensor_type="ld2410",transport="http"} 4
sensor_data_ingested_total{sensor_type="pir",transport="mqtt"} 6
sensor_data_errors_total{error_type="duplicate"} 3
sensor_data_errors_total{error_type="validation"} 2
active_connections{connection_type="mqtt"} 7
queue_size{queue_name="sensor-data"} 12
weird{a="x\\"y,z",b="line\\nbreak"} +Inf 1700000000000
ingest_in_flight 0
`;

function histogram(counts: Record<string, number>, op = 'ingest'): string {
  return Object.entries(counts)
    .map(([le, n]) => `sensor_data_processing_latency_seconds_bucket{le="${le}",operation="${op}"} ${n}`)
    .join('\n');
}

describe('console metrics', () => {
  test('console metrics - parses families with labels, escapes, +Inf and timestamps; sums and groups', () => {
    const f = P.parse(TEXT);
    expect(P.sum(f, 'sensor_data_ingested_total')).toBe(20);
    expect(P.by(f, 'sensor_data_ingested_total', 'transport')).toEqual({ http: 14, mqtt: 6 });
    expect(P.sum(f, 'sensor_data_errors_total', (l) => l.error_type !== 'duplicate')).toBe(2);
    expect(P.sum(f, 'sensor_data_errors_total', { error_type: 'duplicate' })).toBe(3);
    expect(P.by(f, 'active_connections', 'connection_type')).toEqual({ mqtt: 7 });
    expect(f.weird).toEqual([{ labels: { a: 'x"y,z', b: 'line\nbreak' }, value: Infinity }]);
    expect(P.sum(f, 'ingest_in_flight')).toBe(0);
    expect(P.sum(f, 'absent_total')).toBe(0);
  });

  test('console metrics - rates: per second, none without a previous scrape or across a reset', () => {
    expect(P.rate(10, 30, 2)).toBe(10);
    expect(P.rate(undefined, 30, 2)).toBeNull();
    expect(P.rate(30, 5, 2)).toBeNull();
    expect(P.rate(5, 5, 0)).toBeNull();
  });

  test('console metrics - p95 of the observations between two scrapes, interpolated in its bucket', () => {
    const before = P.buckets(P.parse(histogram({ '0.001': 50, '0.005': 50, '0.01': 50, '+Inf': 50 })), 'sensor_data_processing_latency_seconds', { operation: 'ingest' });
    // 100 new observations: 80 under 1 ms, 20 between 5 and 10 ms
    const text = histogram({ '0.001': 130, '0.005': 130, '0.01': 150, '+Inf': 150 }) + '\n' + histogram({ '0.001': 1, '0.005': 1, '0.01': 1, '+Inf': 1 }, 'queue_append');
    const after = P.buckets(P.parse(text), 'sensor_data_processing_latency_seconds', { operation: 'ingest' });
    expect(after.map((b) => b.le)).toEqual([0.001, 0.005, 0.01, Infinity]);
    // rank 95 of 100 is the 15th of the 20 in (5 ms, 10 ms]: 5 + 5 × 15/20 ms
    expect(P.quantile(0.95, before, after)).toBeCloseTo(0.00875, 10);
    // nothing observed in between: no value (not zero)
    expect(P.quantile(0.95, after, after)).toBeNull();
    // since the start
    expect(P.quantile(0.5, null, after)).toBeCloseTo(0.001 * (75 / 130), 10);
    // in the +Inf bucket: the highest finite bound, as histogram_quantile answers
    const slow = P.buckets(P.parse(histogram({ '0.001': 0, '0.005': 0, '0.01': 0, '+Inf': 4 })), 'sensor_data_processing_latency_seconds', { operation: 'ingest' });
    expect(P.quantile(0.95, null, slow)).toBe(0.01);
    // a reset (fewer observations than before): no value
    expect(P.quantile(0.95, after, before)).toBeNull();
  });
});
