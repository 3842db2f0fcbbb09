// Prints the metrics table of docs/metrics.md from src/metrics/registry.ts: npx bun scripts/metrics-table.ts
import { metricsTable } from '../src/metrics/table.ts';

console.log(metricsTable());
