/**
 * The ingest latency is counted into plain numbers and added to prom-client's histogram when it
 * is scraped: the exposition must be what prom-client's own observe gives for the same values.
 */
import { expect, test } from 'bun:test';
import client from 'prom-client';
import { createMetrics } from '../../../src/metrics/registry.ts';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The operation's lines, the sum rounded (added in another order it differs in the last digits). */
function lines(text: string, operation: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('sensor_data_processing_latency_seconds') && l.includes(`operation="${operation}"`))
    .map((l) => (l.includes('_sum{') ? l.replace(/ ([\d.e+-]+)$/, (_, n: string) => ` ${Number(n).toFixed(9)}`) : l));
}

test('metrics - ingest latency: the same series as prom-client observe, across scrapes, beside queue_append', async () => {
  const metrics = createMetrics({ queueSizes: async () => ({}), queueUp: () => true, inFlight: () => 0 }, { defaultMetrics: false });
  const ref = new client.Registry();
  const h = new client.Histogram({ name: 'sensor_data_processing_latency_seconds', help: 'h', labelNames: ['operation'], buckets: BUCKETS, registers: [ref] });
  // before any observation: no ingest series, as with prom-client
  expect(lines(await metrics.scrape(), 'ingest')).toEqual(lines(await ref.metrics(), 'ingest'));
  const values = [0, 0.0005, 0.0004, 0.003, 0.025, 0.0251, 4.9, 5, 7, 120, ...Array.from({ length: 200 }, (_, i) => (i * 0.0137) % 3)];
  for (const [round, slice] of [values.slice(0, 5), values.slice(5, 9), values.slice(9)].entries()) {
    for (const v of slice) {
      metrics.ingestSeconds(v);
      h.observe({ operation: 'ingest' }, v);
    }
    metrics.flushed(10, 0.002 * (round + 1));
    const got = lines(await metrics.scrape(), 'ingest');
    expect(got.length).toBe(BUCKETS.length + 3);
    expect(got).toEqual(lines(await ref.metrics(), 'ingest'));
    expect(lines(await metrics.scrape(), 'queue_append').find((l) => l.includes('_count'))).toContain(` ${round + 1}`);
  }
});
