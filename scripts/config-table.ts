// Prints the README configuration table from src/config/schema.ts: npx bun scripts/config-table.ts
import { configTable } from '../src/config/table.ts';

console.log(configTable());
