/**
 * Environment + flags → one validated, frozen Config. Nothing else reads process.env.
 * @module
 */
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import { ConfigSchema, flagName, settingSchemas, type Config } from './schema.ts';
import { AddressSet } from '../util/ip-address.ts';

const checker = TypeCompiler.Compile(ConfigSchema);

/** A setting with a value outside what the schema allows; `message` is the one line to print. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly code = 'INGEST_ERR_CONFIG';
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

/** What a setting accepts, in words, for error lines and --help. */
export function allowedText(schema: TSchema): string {
  if (schema.anyOf) return 'one of ' + (schema.anyOf as TSchema[]).map((s) => String(s.const)).join('|');
  if (schema.type === 'integer') {
    const lo = schema.minimum ?? '-∞';
    const hi = schema.maximum ?? '∞';
    return `an integer from ${lo} to ${hi}`;
  }
  if (schema.pattern) return `a string matching ${schema.pattern}`;
  return 'a non-empty string';
}

function shown(schema: TSchema, raw: unknown): string {
  return schema.secret ? '<redacted>' : JSON.stringify(raw);
}

/**
 * Builds the Config from `env` (variables) and `flags` (already parsed, keyed by setting
 * name); flags win over variables. Unknown variables are ignored, only known ones read.
 * @throws ConfigError naming the first bad setting
 */
export function loadConfig(env: Record<string, string | undefined>, flags: Record<string, string | undefined> = {}): Config {
  const raw: Record<string, unknown> = {};
  const schemas = settingSchemas();
  for (const [key] of schemas) {
    const value = flags[key] ?? env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const converted = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, { ...raw })) as Record<string, unknown>;
  for (const [key, schema] of schemas) {
    if (converted[key] === undefined) continue;
    if (!Value.Check(schema, converted[key])) {
      const fromFlag = flags[key] !== undefined;
      const original = fromFlag ? flags[key] : env[key];
      throw new ConfigError(key, `invalid configuration: ${fromFlag ? `--${flagName(key)}` : key}=${shown(schema, original)} must be ${allowedText(schema)}`);
    }
  }
  if (!checker.Check(converted)) {
    const first = checker.Errors(converted).First();
    throw new ConfigError(first?.path ?? '', `invalid configuration: ${first?.path} ${first?.message}`);
  }
  const config = converted as Config;
  if (config.QUEUE_BACKEND === 'redis' && !redisConfigured(config)) {
    throw new ConfigError('QUEUE_BACKEND', `invalid configuration: QUEUE_BACKEND=redis needs ${SET_REDIS}`);
  }
  try {
    shardsServed(config);
  } catch (err) {
    throw new ConfigError('CONSUMER_SHARDS', `invalid configuration: CONSUMER_SHARDS=${JSON.stringify(config.CONSUMER_SHARDS)}: ${(err as Error).message}`);
  }
  if (config.REDIS_CLUSTER_NODES !== undefined) {
    try {
      if (clusterNodesOf(config).length === 0) throw new Error('no node given');
    } catch (err) {
      throw new ConfigError('REDIS_CLUSTER_NODES', `invalid configuration: REDIS_CLUSTER_NODES: ${(err as Error).message}`);
    }
  }
  if (Boolean(config.MQTT_TLS_CERT_FILE) !== Boolean(config.MQTT_TLS_KEY_FILE)) {
    throw new ConfigError('MQTT_TLS_CERT_FILE', 'invalid configuration: MQTT_TLS_CERT_FILE and MQTT_TLS_KEY_FILE must be set together');
  }
  if (Boolean(config.TLS_CERT_FILE) !== Boolean(config.TLS_KEY_FILE)) {
    throw new ConfigError('TLS_CERT_FILE', 'invalid configuration: TLS_CERT_FILE and TLS_KEY_FILE must be set together');
  }
  if ((config.AUTH_MODE === 'jwt' || config.AUTH_MODE === 'any') && !config.JWT_SECRET && !config.JWT_PUBLIC_KEY_FILE && !config.JWT_JWKS_FILE && !config.DEVICE_AUTH_URL) {
    throw new ConfigError('AUTH_MODE', `invalid configuration: AUTH_MODE=${config.AUTH_MODE} needs JWT_SECRET, JWT_PUBLIC_KEY_FILE, JWT_JWKS_FILE or DEVICE_AUTH_URL`);
  }
  if (config.DEVICE_AUTH_URL && config.AUTH_MODE === 'none') {
    throw new ConfigError('DEVICE_AUTH_URL', 'invalid configuration: DEVICE_AUTH_URL needs AUTH_MODE api-key, jwt or any (with AUTH_MODE=none nothing is checked)');
  }
  if (config.MQTT_TLS_CLIENT_CERT !== 'off' && !config.MQTT_TLS_CA_FILE) {
    throw new ConfigError('MQTT_TLS_CLIENT_CERT', `invalid configuration: MQTT_TLS_CLIENT_CERT=${config.MQTT_TLS_CLIENT_CERT} needs MQTT_TLS_CA_FILE`);
  }
  try {
    AddressSet.parse(config.TRUSTED_PROXIES);
  } catch (err) {
    throw new ConfigError('TRUSTED_PROXIES', `invalid configuration: TRUSTED_PROXIES: ${(err as Error).message}`);
  }
  if (config.ACK_DURABILITY !== 'append' && queueBackendOf(config) === 'memory') {
    throw new ConfigError('ACK_DURABILITY', `invalid configuration: ACK_DURABILITY=${config.ACK_DURABILITY} needs Redis (the embedded queue keeps readings in memory); set ${SET_REDIS}`);
  }
  if (config.WORKERS > 1 && queueBackendOf(config) === 'memory') {
    throw new ConfigError('WORKERS', `invalid configuration: WORKERS > 1 needs Redis (the embedded queue lives in one process); set ${SET_REDIS}`);
  }
  return Object.freeze(config);
}

/** Which queue backend the config selects. */
/**
 * How many server processes `serve` runs. WORKERS=0 (auto): one per CPU in production with
 * Redis, else 1. The embedded queue lives in one process, so it never has more than one.
 */
export function workerCount(config: Config, cpus: number): number {
  if (config.WORKERS > 0) return config.WORKERS;
  return config.NODE_ENV === 'production' && queueBackendOf(config) === 'redis' ? cpus : 1;
}

/** Whether per-device rate limits apply (RATE_LIMIT=auto: in production). */
export function rateLimitsOn(config: Config): boolean {
  return config.RATE_LIMIT === 'on' || (config.RATE_LIMIT === 'auto' && config.NODE_ENV === 'production');
}

export function queueBackendOf(config: Config): 'redis' | 'memory' {
  if (config.QUEUE_BACKEND !== 'auto') return config.QUEUE_BACKEND;
  return redisConfigured(config) ? 'redis' : 'memory';
}

/** What to set for Redis, in error messages. */
export const SET_REDIS = 'REDIS_URL, REDIS_HOST or REDIS_CLUSTER_NODES';

/** Whether a Redis (one, or a cluster) is configured. */
export function redisConfigured(config: Config): boolean {
  return Boolean(config.REDIS_URL || config.REDIS_HOST || config.REDIS_CLUSTER_NODES);
}

/** REDIS_CLUSTER_NODES parsed: `host:port` items, comma or space separated (`[v6]:port` for IPv6); [] when unset. */
export function clusterNodesOf(config: Pick<Config, 'REDIS_CLUSTER_NODES'>): { host: string; port: number }[] {
  return (config.REDIS_CLUSTER_NODES ?? '')
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((item) => {
      const m = /^(?:\[([^\]]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(item);
      const port = Number(m?.[3]);
      if (!m || !(port >= 1 && port <= 65535)) throw new Error(`not host:port: ${JSON.stringify(item)}`);
      return { host: (m[1] ?? m[2])!, port };
    });
}

/** CONSUMER_SHARDS as shard numbers, ascending: `all`, or numbers and ranges (`0,2,4-5`) below STREAM_SHARDS. */
export function shardsServed(config: Pick<Config, 'CONSUMER_SHARDS' | 'STREAM_SHARDS'>): number[] {
  const n = config.STREAM_SHARDS;
  const text = config.CONSUMER_SHARDS.trim();
  if (text === 'all') return Array.from({ length: n }, (_, i) => i);
  const out = new Set<number>();
  for (const item of text.split(/[\s,]+/).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(item);
    if (!m) throw new Error(`not a shard number or range: ${JSON.stringify(item)}`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw new Error(`empty range ${item}`);
    if (to >= n) throw new Error(`shard ${to} does not exist (STREAM_SHARDS=${n}: 0 to ${n - 1})`);
    for (let i = from; i <= to; i++) out.add(i);
  }
  if (out.size === 0) throw new Error('no shard given');
  return [...out].sort((a, b) => a - b);
}
