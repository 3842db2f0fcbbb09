// Prints the configuration table of docs/configuration.md from src/config/schema.ts: npx bun scripts/config-table.ts
import { configTable } from '../src/config/table.ts';

console.log(configTable());
