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
  consume: 'consume <sink>: read the readings stream with a consumer group into a sink (postgres, alerts, influx)',
  dlq: 'dlq list | dlq replay [id ...]: show dead-lettered entries, or append them to their stream again',
  rejects: 'rejects list | show <id> | replay: the quarantined (rejected) payloads; replay runs them through the pipeline again',
  keys: 'keys import <file.json | ->: store API keys issued elsewhere ({"keys": [{"device_id", "key", "role"?}]}) hashed in the key store',
} as const;
export type Command = keyof typeof COMMANDS;

/** Flags of one command (besides the settings' flags), with their help line. */
export const COMMAND_OPTIONS: Record<string, Record<string, { type: 'string' | 'boolean'; help: string }>> = {
  rejects: {
    'device-id': { type: 'string', help: 'list, replay: only this device\'s entries' },
    code: { type: 'string', help: 'list, replay: only entries with this error code (INVALID_READING or INGEST_ERR_INVALID_READING)' },
    since: { type: 'string', help: 'list, replay: only entries rejected since an ISO 8601 time or a duration ago (30s, 10m, 2h, 7d)' },
    limit: { type: 'string', help: 'list: most entries shown (default 50); replay: most entries replayed (default all)' },
    ids: { type: 'string', help: 'replay: these entries (comma-separated ids) instead of a filter' },
    'dry-run': { type: 'boolean', help: 'replay: decode and validate only; nothing is appended or deleted' },
    json: { type: 'boolean', help: 'list, show, replay: JSON output' },
  },
};

export interface ParsedArgs {
  command: string;
  /** Further positionals: the sink of `consume`, the action and ids of `dlq`. */
  rest: string[];
  help: boolean;
  version: boolean;
  /** Setting name → raw value, for loadConfig. */
  settings: Record<string, string>;
  /** The command's own flags (COMMAND_OPTIONS), by flag name. */
  options: Record<string, string | boolean>;
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
  const commandFlags = new Set<string>();
  for (const own of Object.values(COMMAND_OPTIONS)) {
    for (const [flag, o] of Object.entries(own)) {
      options[flag] = { type: o.type };
      commandFlags.add(flag);
    }
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
  const own: Record<string, string | boolean> = {};
  for (const [flag, value] of Object.entries(parsed.values)) {
    if (!commandFlags.has(flag) || value === undefined) continue;
    if (!COMMAND_OPTIONS[command]?.[flag]) throw new UsageError(`--${flag} is an option of ${Object.keys(COMMAND_OPTIONS).filter((c) => COMMAND_OPTIONS[c]![flag]).join(', ')} only (see --help)`);
    own[flag] = value as string | boolean;
  }
  if (parsed.positionals.length > 1 && (command === 'serve' || command === 'healthcheck')) throw new UsageError(`unexpected argument "${parsed.positionals[1]}" (see --help)`);
  return {
    command,
    rest: parsed.positionals.slice(1),
    help: parsed.values.help === true,
    version: parsed.values.version === true,
    settings,
    options: own,
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
    ...Object.entries(COMMAND_OPTIONS).flatMap(([c, flags]) => [`Options of ${c}:`, ...Object.entries(flags).map(([f, o]) => `  --${(f + (o.type === 'string' ? ' <value>' : '')).padEnd(20)} ${o.help}`), '']),
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
