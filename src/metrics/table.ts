/**
 * The metrics reference (docs/metrics.md) generated from the registry itself, so the page lists
 * exactly what /metrics exposes (Node's default process metrics aside); a test keeps the page equal to it.
 * @module
 */
import { createMetrics } from './registry.ts';

export function metricsTable(): string {
  const m = createMetrics({ queueSizes: async () => ({}), queueUp: () => true, inFlight: () => 0 }, { defaultMetrics: false });
  const rows = m.registry
    .getMetricsAsArray()
    .map((x) => {
      const o = x as unknown as { name: string; help: string; labelNames?: readonly string[]; constructor: { name: string } };
      const labels = (o.labelNames ?? []).map((l) => `\`${l}\``).join(', ');
      return `| \`${o.name}\` | ${o.constructor.name.toLowerCase()} | ${labels || '—'} | ${o.help.replaceAll('|', '\\|')} |`;
    })
    .sort();
  return ['| metric | type | labels | what it counts |', '|---|---|---|---|', ...rows].join('\n');
}
