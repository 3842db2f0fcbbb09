/**
 * The configuration table of docs/configuration.md, generated from the schema
 * (`npx bun scripts/config-table.ts`; test/unit/config/config-doc.test.ts keeps the page in step).
 * @module
 */
import { allowedText } from './load.ts';
import { flagName, settingSchemas } from './schema.ts';

export function configTable(): string {
  const cell = (text: string) => text.replaceAll('|', '\\|');
  const rows = settingSchemas().map(([key, s]) => {
    const def = s.default === undefined ? '—' : `\`${String(s.default)}\``;
    return `| \`${key}\` | \`--${flagName(key)}\` | ${def} | ${cell(allowedText(s))} | ${cell(s.description ?? '')} |`;
  });
  return ['| variable | flag | default | allowed | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}
