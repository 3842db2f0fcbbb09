/**
 * Command line: `neurobuild-ingest [serve] [--flag value ...]`. Every setting of
 * config/schema.ts is a flag; parsing is node:util parseArgs, --help is generated.
 * @module
 */
import { parseArgs } from 'node:util';
import { allowedText } from '../config/load.ts';
import { flagName, settingSchemas } from '../config/schema.ts';

export const COMMANDS = {
  serve: 'Run the ingestion server (default)',
  healthcheck: 'GET /health on 127.0.0.1:PORT; exit 0 when it answers 200 (container HEALTHCHECK)',
  consume: 'consume <sink>: read the readings stream with a consumer group into a sink (postgres, alerts)',
  dlq: 'dlq list | dlq replay [id ...]: show dead-lettered entries, or append them to their stream again',
} as const;
export type Command = keyof typeof COMMANDS;

export interface ParsedArgs {
  command: string;
  /** Further positionals: the sink of `consume`, the action and ids of `dlq`. */
  rest: string[];
  help: boolean;
  version: boolean;
  /** Setting name → raw value, for loadConfig. */
  settings: Record<string, string>;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseCommandLine(argv: string[]): ParsedArgs {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'v' },
  };
  const byFlag = new Map<string, string>();
  for (const [key] of settingSchemas()) {
    options[flagName(key)] = { type: 'string' };
    byFlag.set(flagName(key), key);
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (see --help)`);
  }
  const settings: Record<string, string> = {};
  for (const [flag, value] of Object.entries(parsed.values)) {
    const key = byFlag.get(flag);
    if (key !== undefined && typeof value === 'string') settings[key] = value;
  }
  const command = parsed.positionals[0] ?? 'serve';
  if (parsed.positionals.length > 1 && (command === 'serve' || command === 'healthcheck')) throw new UsageError(`unexpected argument "${parsed.positionals[1]}" (see --help)`);
  return {
    command,
    rest: parsed.positionals.slice(1),
    help: parsed.values.help === true,
    version: parsed.values.version === true,
    settings,
  };
}

export function helpText(version: string): string {
  const lines = [
    `neurobuild-ingest ${version}: sensor data ingestion over MQTT, HTTP and WebSocket into Redis Streams, with live streaming`,
    '',
    'Usage: neurobuild-ingest [command] [--flag value ...]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([c, d]) => `  ${c.padEnd(12)} ${d}`),
    '',
    'Every setting is an environment variable or a flag (the flag wins):',
  ];
  for (const [key, schema] of settingSchemas()) {
    const def = schema.default === undefined ? '' : ` (default: ${JSON.stringify(schema.default)})`;
    lines.push(`  --${flagName(key)}, ${key}${def}`);
    lines.push(`      ${schema.description ?? ''}; ${allowedText(schema)}`);
  }
  lines.push('', '  -h, --help     this text', '  -v, --version  print the version');
  return lines.join('\n');
}
